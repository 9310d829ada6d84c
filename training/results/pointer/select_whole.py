#!/usr/bin/env python3
"""Head sets for the pointer chosen on whole repositories of the VALIDATION split
(pointer_torch.py --whole --split valid; the engine's readout: each head's attention averaged
over the symbol's tokens, `mass_sym`), then the chosen sets scored on another file (the
evaluation split) without choosing anything there. Sets compared:
  current: the model's config.json pointer_heads;
  greedy:  heads added one at a time while the validation accuracy rises (ties: fewer heads);
Usage: select_whole.py VALID.json.xz [EVAL.json.xz] [--model DIR]"""
import argparse
import json
import lzma
from pathlib import Path

import numpy as np


def load(path):
    raw = lzma.open(path).read() if str(path).endswith(".xz") else open(path, "rb").read()
    return [q for q in json.loads(raw)["questions"] if q.get("mass_sym") is not None]


def accuracy(qs, heads):
    """(right, right where the symbol is in one file / of them, in several / of them)."""
    ok = [0, 0, 0, 0, 0]
    for q in qs:
        M = np.asarray(q["mass_sym"])
        s = sum(M[l, h] for l, h in heads)
        hit = int(np.argmax(s)) == q["target"]
        several = (np.asarray(q["occ"]) > 0).sum() > 1
        ok[0] += hit
        ok[3 if several else 1] += hit
        ok[4 if several else 2] += 1
    return ok


def fmt(ok, n):
    return f"{100 * ok[0] / n:.1f}% (one file {ok[1]}/{ok[2]}, several {ok[3]}/{ok[4]})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("valid")
    ap.add_argument("eval", nargs="?")
    ap.add_argument("--model", default=str(Path(__file__).resolve().parents[3] / "resources/models/tome-25m"))
    args = ap.parse_args()
    vq = load(args.valid)
    L, H = np.asarray(vq[0]["mass_sym"]).shape[:2]
    current = [tuple(h) for h in json.loads((Path(args.model) / "config.json").read_text()).get("pointer_heads", [])]
    chosen, best = [], -1
    while True:
        cands = [(accuracy(vq, chosen + [(l, h)])[0], (l, h)) for l in range(L) for h in range(H)
                 if (l, h) not in chosen]
        if not cands:
            break
        score, head = max(cands)
        if score <= best:
            break
        chosen.append(head)
        best = score
    sets = {"current": current, "greedy": chosen}
    print(f"validation ({len(vq)} questions):")
    for k, v in sets.items():
        print(f"  {k} {v}: {fmt(accuracy(vq, v), len(vq))}")
    if args.eval:
        eq = load(args.eval)
        print(f"evaluation ({len(eq)} questions; nothing chosen here):")
        for k, v in sets.items():
            print(f"  {k}: {fmt(accuracy(eq, v), len(eq))}")


if __name__ == "__main__":
    main()
