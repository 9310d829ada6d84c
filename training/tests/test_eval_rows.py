# The rows file of `tome score` (training/eval_rows.py; docs/model-format.md "Scoring rows"): the
# writer and reader round-trip, the bytes follow the documented layout, malformed files are refused,
# and (when $TOME names a built `tome`) the C++ reader accepts what Python writes and scores it.
import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TRAINING = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TRAINING))

import eval_rows  # noqa: E402


def random_rows(seed=0, lengths=(1, 7, 300)):
    rng = np.random.default_rng(seed)
    rows = []
    for T in lengths:
        tokens = rng.integers(0, 512, T + 1).astype(np.int64)
        lm = rng.random(T) < 0.7
        ans = np.zeros(T, bool)
        ans[T // 2:] = True
        rows.append((tokens, lm, ans))
    return rows


def test_round_trip(tmp_path):
    rows = random_rows()
    p = tmp_path / "x.rows"
    eval_rows.write_rows(p, rows)
    back = eval_rows.read_rows(p)
    assert len(back) == len(rows)
    for (t, lm, a), (t2, lm2, a2) in zip(rows, back):
        assert (t == t2).all() and (lm == lm2).all() and (a == a2).all()
        assert t2.dtype == np.int64 and lm2.dtype == bool and a2.dtype == bool
    eval_rows.write_rows(p, [])
    assert eval_rows.read_rows(p) == []


def test_layout_is_the_documented_one(tmp_path):
    tokens = np.array([1, 300, 2], np.int64)
    p = tmp_path / "x.rows"
    eval_rows.write_rows(p, [(tokens, np.array([True, False]), np.array([False, True]))])
    want = (b"TOMEROWS" + struct.pack("<III", 1, 1, 2) + struct.pack("<3i", 1, 300, 2) +
            bytes([1, 0]) + bytes([0, 1]))
    assert p.read_bytes() == want


def test_malformed_refused(tmp_path):
    p = tmp_path / "x.rows"
    eval_rows.write_rows(p, random_rows())
    good = p.read_bytes()
    bad = {"magic": b"X" + good[1:], "version": good[:8] + struct.pack("<I", 2) + good[12:],
           "truncated": good[:-1], "trailing": good + b"\0",
           "count": good[:12] + struct.pack("<I", 4) + good[16:],
           "zero T": good[:16] + struct.pack("<I", 0) + good[20:],
           "mask": good[:-1] + b"\2"}
    for what, b in bad.items():
        p.write_bytes(b)
        with pytest.raises(ValueError, match=re.escape(str(p))):
            eval_rows.read_rows(p)
    with pytest.raises(ValueError):
        eval_rows.write_rows(p, [(np.zeros(3, np.int64), np.zeros(3, bool), np.zeros(3, bool))])
    with pytest.raises(ValueError):
        eval_rows.write_rows(p, [(np.zeros(1, np.int64), np.zeros(0, bool), np.zeros(0, bool))])


@pytest.mark.skipif(not os.environ.get("TOME"), reason="set TOME to a built tome binary")
def test_tome_score_reads_python_rows(tmp_path):
    rows = random_rows(1, lengths=(5, 40))
    rows[1] = (rows[1][0], np.zeros(40, bool), rows[1][2])  # an answer-only row
    p = tmp_path / "x.rows"
    eval_rows.write_rows(p, rows)
    model = TRAINING.parent / "tests" / "golden" / "gret-f32"
    r = subprocess.run([os.environ["TOME"], "score", "--model", str(model), "--rows", str(p),
                        "--backend", "cpu", "--threads", "1", "--quiet"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=True)
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["row"] for o in out] == [0, 1]
    assert out[0]["n"] == int(rows[0][1].sum()) and out[1]["n"] == 0 and out[1]["ce"] == 0
    assert out[0]["answer_n"] == int(rows[0][2].sum()) and out[1]["answer_n"] == 20
    assert out[1]["prefilled"] == 20 and out[1]["scored"] == 20
    assert isinstance(out[1]["exact"], bool) and out[1]["answer_ce"] > 0


def test_pointer_summary_counts_only_the_rows_it_read():
    sc = [{"pointer_exact": True}, {"pointer_exact": False}, {"pointer_exact": True}, {"exact": True}]
    assert eval_rows.pointer_summary(sc) == {"exact": round(2 / 3, 3), "n": 3}
    assert eval_rows.pointer_summary([]) == {"exact": 0.0, "n": 0}
    # With the engine's pointer_top_exact and pointer_occurrences: the heads alone among all files,
    # and the rows where several files hold the symbol.
    sc = [{"pointer_exact": True, "pointer_top_exact": False, "pointer_occurrences": {"a": 1}},
          {"pointer_exact": True, "pointer_top_exact": True, "pointer_occurrences": {"a": 2, "b": 1}},
          {"pointer_exact": False, "pointer_top_exact": False, "pointer_occurrences": {"a": 1, "c": 4}},
          {"pointer_exact": False, "pointer_top_exact": True, "pointer_occurrences": {}}]
    assert eval_rows.pointer_summary(sc) == {"exact": 0.5, "n": 4, "top": 0.5,
                                             "several": {"n": 2, "exact": 0.5}}
