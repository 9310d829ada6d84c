#!/usr/bin/env python3
"""Chooses a model's pointer heads (config.json "pointer_heads", issue 4) from pointer_torch.py
output on the VALIDATION split (never the evaluation split): every cross-decoder head whose
attention at the question's symbol, summed per file, names the target file in at least
--min-accuracy of the questions. Prints the heads with their accuracy; --write adds them to the
model directory's config.json (the other fields as they are). Usage (repo root):
    python3 training/results/pointer/select_heads.py valid16k.json [--min-accuracy 0.9] [--write MODEL_DIR]
"""
import argparse
import json
import lzma
import re
from collections import OrderedDict
from pathlib import Path

import numpy as np


def head_accuracy(questions):
    """[L, H] share of the questions whose symbol-row mass is largest on the target file."""
    qs = [q for q in questions if q["mass"] is not None]
    hits = sum((np.asarray(q["mass"]).argmax(-1) == q["target"]).astype(float) for q in qs)
    return hits / len(qs), len(qs)


def load(path):
    """pointer_torch.py output, plain or .xz."""
    raw = lzma.open(path).read() if str(path).endswith(".xz") else open(path, "rb").read()
    return json.loads(raw)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("--min-accuracy", type=float, default=0.9)
    ap.add_argument("--write", metavar="MODEL_DIR")
    args = ap.parse_args()
    res = load(args.file)
    if res.get("split") != "valid":
        raise SystemExit(f"{args.file}: split {res.get('split')!r}; heads are chosen on the validation split")
    acc, n = head_accuracy(res["questions"])
    heads = [[int(l), int(h)] for l, h in zip(*np.nonzero(acc >= args.min_accuracy))]
    print(f"{n} questions; heads with accuracy >= {args.min_accuracy}:")
    for l, h in heads:
        print(f"  layer {l} head {h}: {100 * acc[l, h]:.1f}%")
    print(json.dumps(heads))
    if args.write:
        p = Path(args.write) / "config.json"
        cfg = json.loads(p.read_text(), object_pairs_hook=OrderedDict)
        cfg["pointer_heads"] = heads
        text = json.dumps(cfg, indent=2, ensure_ascii=False) + "\n"
        # each [layer, head] pair on one line
        text = re.sub(r"\[\s+(\d+),\s+(\d+)\s+\]", r"[\1, \2]", text)
        p.write_text(text)
        print("written to", p)


if __name__ == "__main__":
    main()
