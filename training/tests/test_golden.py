# The committed golden files (tests/golden/) reproduce: regenerating them in memory (into a temp
# folder) gives the same model directories byte for byte and the same values to 9 digits; the
# f32 goldens also agree with the naive loop implementation of YOCO.md.
import json
from pathlib import Path

import numpy as np
import pytest

import make_golden
from export import read_weights
from naive import naive_forward
from yoco.config import YocoConfig

GOLDEN = Path(__file__).resolve().parents[2] / "tests" / "golden"


def _floats_close(a, b, path=""):
    if isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            _floats_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and a and isinstance(a[0], (list, float)):
        np.testing.assert_allclose(np.array(a, dtype=float), np.array(b, dtype=float),
                                   rtol=1e-7, atol=1e-9, err_msg=path)
    else:
        assert a == b, path


@pytest.mark.parametrize("kind", list(make_golden.KINDS))
def test_golden_files_reproduce(kind, tmp_path):
    make_golden.build_kind(kind, tmp_path)
    for dtype in make_golden.DTYPES:
        case = f"{kind}-{dtype}"
        new, old = tmp_path / case, GOLDEN / case
        assert sorted(p.name for p in old.iterdir()) == ["config.json", "golden.json",
                                                         "model.safetensors", "tokenizer.model"]
        for name in ("config.json", "model.safetensors", "tokenizer.model"):
            assert (new / name).read_bytes() == (old / name).read_bytes(), f"{case}/{name}"
        _floats_close(json.loads((new / "golden.json").read_text()),
                      json.loads((old / "golden.json").read_text()), case)


@pytest.mark.parametrize("kind", list(make_golden.KINDS))
def test_golden_f32_matches_naive(kind):
    case = GOLDEN / f"{kind}-f32"
    cfg = YocoConfig.load(case / "config.json")
    weights, _ = read_weights(case / "model.safetensors", cfg)
    gold = json.loads((case / "golden.json").read_text())
    T = gold["positions"][-1] + 1
    ref = naive_forward(cfg, {n: w.numpy() for n, w in weights.items()}, gold["tokens"][:T])
    np.testing.assert_allclose(np.array(gold["logits"]), ref["logits"][gold["positions"]],
                               rtol=1e-5, atol=1e-5)
    for key, rec in gold["intermediates"].items():
        np.testing.assert_allclose(np.array(rec["values"]), ref[key][rec["positions"]],
                                   rtol=1e-5, atol=1e-5, err_msg=key)


def test_golden_folder_is_small():
    size = sum(p.stat().st_size for p in GOLDEN.rglob("*") if p.is_file())
    assert size < 2.2e6, size
