# Export / load round trips for every stored dtype, the safetensors writer's layout rules, the
# config.json form and its checks, and the checkpoint -> model directory command line.
import json
import struct
from pathlib import Path

import pytest
import torch

import export
from conftest import random_model, tiny_config
from yoco import safetensors_io
from yoco.config import YocoConfig
from yoco.tensor_table import expected_tensors

REPO = Path(__file__).resolve().parents[2]
TOKENIZER = REPO / "tests" / "data" / "tokenizer" / "tiny.model"


def test_safetensors_roundtrip_all_dtypes():
    t = {"a": torch.randn(3, 5), "b": torch.randn(7).to(torch.float16),
         "c": torch.randn(2, 3).to(torch.bfloat16),
         "d": torch.randint(-127, 128, (4, 3)).to(torch.int8),
         "e": torch.randint(-2**31, 2**31 - 1, (5,), dtype=torch.int32)}
    buf = safetensors_io.encode(t, {"format": "pt"})
    (n,) = struct.unpack("<Q", buf[:8])
    assert n % 8 == 0 and buf[8 + n - 1:8 + n] in (b" ", b"}")
    back, meta = safetensors_io.decode(buf)
    assert list(back) == list(t) and meta == {"format": "pt"}
    for name in t:
        assert back[name].dtype == t[name].dtype and torch.equal(back[name], t[name])
    header = json.loads(buf[8:8 + n])
    offsets = [header[k]["data_offsets"] for k in t]
    assert offsets[0][0] == 0 and all(a[1] == b[0] for a, b in zip(offsets, offsets[1:]))
    assert offsets[-1][1] == len(buf) - 8 - n


@pytest.mark.parametrize("bad", ["short", "past_end", "bytes", "dtype"])
def test_safetensors_rejects_malformed(bad):
    buf = bytearray(safetensors_io.encode({"a": torch.zeros(4)}))
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    if bad == "short":
        buf = buf[:5]
    elif bad == "past_end":
        buf[:8] = struct.pack("<Q", len(buf))
    else:
        if bad == "bytes":
            header["a"]["shape"] = [5]
        else:
            header["a"]["dtype"] = "F64"
        text = json.dumps(header).encode()
        text += b" " * (-len(text) % 8)
        buf = struct.pack("<Q", len(text)) + text + buf[8 + n:]
    with pytest.raises(ValueError):
        safetensors_io.decode(bytes(buf))


@pytest.mark.parametrize("dtype", ["f32", "bf16", "f16", "int8"])
def test_export_load_roundtrip(kind, dtype, tmp_path):
    model = random_model(kind, seed=11, dtype=torch.float32)
    export.export_model(model, tmp_path, dtype, TOKENIZER)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors",
                                                          "tokenizer.model"]
    header, n = safetensors_io.header_of(tmp_path / "model.safetensors")
    assert n % 8 == 0
    names = [k for k in header if k != "__metadata__"]
    table = expected_tensors(model.cfg)
    expect_names = []
    for name, shape, kind_ in table:
        expect_names.append(name)
        if dtype == "int8" and kind_ == "matrix":
            expect_names.append(name + "_scale")
    assert names == expect_names  # table order, data offsets increasing, no holes
    ends = [header[k]["data_offsets"] for k in names]
    assert ends[0][0] == 0 and all(a[1] == b[0] for a, b in zip(ends, ends[1:]))
    stored = {"f32": "F32", "bf16": "BF16", "f16": "F16", "int8": "I8"}[dtype]
    for name, shape, kind_ in table:
        want = "F32" if (dtype == "int8" and kind_ == "norm") else stored
        assert header[name]["dtype"] == want and tuple(header[name]["shape"]) == shape
        if want == "I8":
            assert header[name + "_scale"] == {**header[name + "_scale"], "dtype": "F32",
                                               "shape": [shape[0]]}

    back = export.load_model_dir(tmp_path, torch.float32)
    sd, sb = model.state_dict(), back.state_dict()
    for name, shape, kind_ in table:
        w, r = sd[name], sb[name]
        if dtype == "f32" or (dtype == "int8" and kind_ == "norm"):
            assert torch.equal(w, r), name
        elif dtype in ("bf16", "f16"):
            half = torch.bfloat16 if dtype == "bf16" else torch.float16
            assert torch.equal(r, w.to(half).to(torch.float32)), name
            eps = 2 ** -8 if dtype == "bf16" else 2 ** -11
            assert ((r - w).abs() <= eps * w.abs() + 2.0 ** -25).all(), name  # f16 subnormals
        else:
            step = w.abs().amax(1, keepdim=True) / 127
            assert ((r - w).abs() <= step * 0.5 * (1 + 1e-5)).all(), name
    tokens = torch.randint(12, 512, (1, 20), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        diff = (model(tokens) - back(tokens)).abs().max().item()
    assert diff <= {"f32": 0.0, "bf16": 0.1, "f16": 0.02, "int8": 0.3}[dtype], diff


def test_int8_quantizer():
    w = torch.tensor([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0], [3.0, 1.0, -2.0]])
    q, s = export.quantize_int8(w)
    assert q.dtype == torch.int8 and s.dtype == torch.float32
    assert q[0].tolist() == [64, -127, 32] and q[1].tolist() == [0, 0, 0] and q[2, 0] == 127
    assert torch.allclose(s, torch.tensor([1 / 127, 0.0, 3 / 127]))


def test_config_json_form(tmp_path):
    cfg = tiny_config("gated_retention", name="tome-test")
    d = json.loads(cfg.to_json())
    assert list(d)[:3] == ["format", "format_version", "name"]
    assert d["format"] == "tome-yoco" and d["format_version"] == 1
    assert d["self_decoder"] == {"kind": "gated_retention", "gate_temperature": 4.0}
    assert d["special_tokens"]["eos"] == {"id": 2, "piece": "</s>"}
    assert YocoConfig.from_json_dict(d).to_json_dict() == d
    swa = json.loads(tiny_config("sliding_window").to_json())
    assert swa["self_decoder"] == {"kind": "sliding_window", "window": 5}
    with pytest.raises(ValueError, match="unknown"):
        YocoConfig.from_json_dict({**d, "n_layer": 4})
    with pytest.raises(ValueError):
        YocoConfig.from_json_dict({**d, "n_kv_heads": 3})
    # pointer_heads (the which-file pointer): carried through, checked against the shape
    assert "pointer_heads" not in d
    p = {**d, "pointer_heads": [[0, 1], [1, 0]]}
    assert YocoConfig.from_json_dict(p).to_json_dict() == p
    for bad in ([[d["n_cross_layers"], 0]], [[0, d["n_heads"]]], [[0, 1], [0, 1]], [[0]]):
        with pytest.raises(ValueError, match="pointer_heads"):
            YocoConfig.from_json_dict({**d, "pointer_heads": bad})


def test_special_tokens_checked_against_tokenizer(tmp_path):
    model = random_model("gated_retention", dtype=torch.float32)
    model.cfg.special_tokens["question"] = {"id": 7, "piece": "<|answer|>"}
    with pytest.raises(ValueError, match="question"):
        export.export_model(model, tmp_path, "f32", TOKENIZER)


def test_checkpoint_command_line(tmp_path, capsys):
    model = random_model("sliding_window", seed=2, dtype=torch.float32)
    export.save_checkpoint(model, tmp_path / "ckpt.pt", {"step": 3})
    export.main(["--checkpoint", str(tmp_path / "ckpt.pt"), "--tokenizer", str(TOKENIZER),
                 "--out", str(tmp_path / "m"), "--dtype", "f32", "--check"])
    assert '"max_abs_logit_diff_after_roundtrip": 0.0' in capsys.readouterr().out
