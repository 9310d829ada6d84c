#!/usr/bin/env python3
"""Next-line exact match with the WHOLE held-out repository in context (issue 4's target wording),
through the C++ engine (`tome score`).

Each held-out repository of the evaluation split is laid out as in whichfile_whole.py (every file
in path order in the file template, the document template around them, up to the model's
max_context), then the completion template with the cursor at the start of a line of one of its
files: the prefix is that file's text before the line (its last --prefix-chars characters), the
suffix is empty, and the answer is the line, its line end and EOS, as in the training task
"nextline" (tasks.fim with n_lines 1, col 0, empty suffix). Two variants on the same lines:
  unseen  the target file left out of the repository context (the issue's target: code the
          session has not read);
  in_tree the target file in the context as read (the line is in the context verbatim: a copy).
Reported: exact match (every answer token, the EOS included, is the argmax: greedy writes the
line and stops) and exact_text (without the EOS), per repository and over all.
Usage (repo root):
    python3 training/results/whole-repo/nextline_whole.py --model DIR --tome build/gpu/app/cli/tome \
        --backend cuda --n 20 --out OUT.json [--eval-shards training/evalshards] [--repos jq,re2]
"""
import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "training"))
sys.path.insert(0, str(ROOT / "training" / "data"))
sys.path.insert(0, str(HERE))

import eval as tome_eval  # noqa: E402  (training/eval.py: tome_score, answer_only)
import tasks  # noqa: E402
from whichfile_whole import repo_context, setup  # noqa: E402


def pick_lines(maker, split, kept, n, rng):
    """n (file, line index, prefix, line) of the kept files: a line with text, after the first,
    before the last, in a file of at least 4 lines."""
    out, tries = [], 0
    while len(out) < n and tries < 50 * n:
        tries += 1
        f = rng.choice(kept)
        text = maker.enc.decode(split.doc(f)).split("\n", 1)[-1]
        lines = text.split("\n")
        if len(lines) < 4:
            continue
        a = rng.randrange(1, len(lines) - 1)
        if not lines[a].strip():
            continue
        out.append((f, a, "\n".join(lines[:a]) + "\n", lines[a] + "\n"))
    return out


def row(maker, context, prefix, line, prefix_chars):
    comp = maker.tpl("completion", prefix=prefix[-prefix_chars:], suffix="")
    head = np.concatenate([context, comp])
    ans = np.concatenate((maker.enc.encode(line), [tasks.EOS])).astype(np.int64)
    return tome_eval.answer_only(maker.finish([head, ans], head.size, head.size + ans.size - 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--tome", default="build/cpu/app/cli/tome")
    ap.add_argument("--backend", default="cpu", choices=("cpu", "cuda", "auto"))
    ap.add_argument("--eval-shards", default=str(ROOT / "training" / "evalshards"))
    ap.add_argument("--n", type=int, default=20, help="lines a repository")
    ap.add_argument("--repos", default="", help="comma-separated package names (default: all)")
    ap.add_argument("--max-context", type=int, help="default: the model's max_context")
    ap.add_argument("--prefix-chars", type=int, default=8192,
                    help="characters of the target file before the line (the 16K training rows' budget)")
    ap.add_argument("--variants", default="unseen,in_tree")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out")
    args = ap.parse_args()

    cfg, max_context, split, maker, want = setup(args)
    variants = [v for v in args.variants.split(",") if v]
    res = {"model": args.model, "backend": args.backend, "n_per_repo": args.n,
           "max_context": max_context, "prefix_chars": args.prefix_chars,
           "file_header_every": cfg.file_header_every, "repos": {}}
    tot = {v: [0, 0, 0] for v in variants}  # exact, rows, exact_text
    t0 = time.time()
    with tempfile.TemporaryDirectory() as work:
        for g in sorted(maker.repos):
            name = split.groups[g]
            if want and name not in want:
                continue
            rng = random.Random(f"{args.seed}:{name}")
            files = maker.repos[g]
            # Room for the completion rows: the prefix and the line.
            full, kept = repo_context(maker, files, max_context - 4096)
            picks = pick_lines(maker, split, kept, args.n, rng)
            r = {"files": len(files), "files_in_context": len(kept), "n": len(picks)}
            for v in variants:
                rows, ctx_sizes = [], []
                for f, a, prefix, line in picks:
                    ctx = full if v == "in_tree" else \
                        repo_context(maker, [i for i in kept if i != f], max_context - 4096)[0]
                    ctx_sizes.append(int(ctx.size))
                    rows.append(row(maker, ctx, prefix, line, args.prefix_chars))
                t1 = time.time()
                sc = tome_eval.tome_score(args.tome, args.model, rows, work, args.backend, args.threads)
                ex = [bool(s["exact"]) for s in sc]
                ext = [bool(s["exact_text"]) for s in sc]
                tot[v][0] += sum(ex)
                tot[v][1] += len(ex)
                tot[v][2] += sum(ext)
                r[v] = {"exact": round(sum(ex) / max(1, len(ex)), 3),
                        "exact_text": round(sum(ext) / max(1, len(ext)), 3),
                        "context_tokens": max(ctx_sizes) if ctx_sizes else 0,
                        "seconds": round(time.time() - t1, 1),
                        "lines": [{"path": split.paths[f], "line": a + 1, "text": line.rstrip("\n"),
                                   "exact": e} for (f, a, _, line), e in zip(picks, ex)]}
            res["repos"][name] = r
            print(json.dumps({name: {k: ({kk: vv for kk, vv in x.items() if kk != "lines"}
                                         if isinstance(x, dict) else x) for k, x in r.items()}}),
                  flush=True)
    res["all"] = {v: {"exact": round(c / max(1, n), 3), "exact_text": round(ct / max(1, n), 3), "n": n}
                  for v, (c, n, ct) in tot.items()}
    res["all"]["seconds"] = round(time.time() - t0, 1)
    print(json.dumps({"all": res["all"]}), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
