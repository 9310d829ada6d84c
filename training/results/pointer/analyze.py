#!/usr/bin/env python3
"""Accuracy of the attention pointer from pointer_torch.py output: for each (layer, head), the
file with the most mass at the symbol's last token (the token before the closing backtick);
the head set of --heads summed; the text-search baselines (the only file with the symbol; the
file with the most occurrences). Usage: analyze.py OUT.json [--heads 0.1,0.5,1.0]"""
import argparse
import json
import lzma

import numpy as np


def load(path):
    """pointer_torch.py output, plain or .xz."""
    raw = lzma.open(path).read() if str(path).endswith(".xz") else open(path, "rb").read()
    return json.loads(raw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("--heads", default="0.1,0.5,1.0,1.1,1.2,2.0,2.2")
    args = ap.parse_args()
    heads = [tuple(map(int, h.split("."))) for h in args.heads.split(",")]
    for f in args.files:
        qs = load(f)["questions"]
        n = 0
        per = None
        c = dict(set=0, alone_n=0, alone=0, most=0, mentioned_n=0, mentioned=0)
        for q in qs:
            if q["mass"] is None:
                continue
            M = np.asarray(q["mass"])   # L, H, F at the symbol's last token
            t = q["target"]
            per = (M.argmax(-1) == t).astype(float) + (0 if per is None else per)
            s = sum(M[l, h] for l, h in heads)
            occ = np.asarray(q["occ"])
            n += 1
            c["set"] += s.argmax() == t
            c["most"] += occ.argmax() == t
            if (occ > 0).sum() <= 1:
                c["alone_n"] += 1
                c["alone"] += s.argmax() == t
            else:
                c["mentioned_n"] += 1
                c["mentioned"] += s.argmax() == t
        print(f"{f}: n {n}; head set {100 * c['set'] / n:.1f}%; "
              f"symbol in one file: {c['alone']}/{c['alone_n']}; in several: {c['mentioned']}/{c['mentioned_n']}; "
              f"text search (most occurrences) {100 * c['most'] / n:.1f}%")
        print(np.round(100 * per / n, 1))


if __name__ == "__main__":
    main()
