#!/usr/bin/env python3
"""Which file defines `SYMBOL`? with the WHOLE held-out repository in context (issue 4's target
wording), through the C++ engine (`tome score --choose-paths`).

Each held-out repository of the evaluation split (lua5.4, jq, leveldb, re2, tmux, ninja-build:
350K-1.09M tokens each) is laid out as the model's config.json says (every file in path order in
the file template, the document template around them; file_header_every when set), followed by
the question template; the answer is the defining file's path. A repository longer than the
model's max_context keeps its files in path order up to that length. Symbols are those of the
corpus's symbol index (the same as the training rows') that exactly one kept file of the
repository defines; N of them a repository are drawn with a fixed seed. Reported: generated
exact (the path and EOS, greedy) and chosen among the context's paths, per repository and over
all. Usage (repo root):
    python3 training/results/whole-repo/whichfile_whole.py --model DIR --tome build/gpu/app/cli/tome \
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

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "training"))
sys.path.insert(0, str(ROOT / "training" / "data"))

import eval as tome_eval  # noqa: E402  (training/eval.py: tome_score, answer_only)
import shards  # noqa: E402
import tasks  # noqa: E402
import tokenizer as tok  # noqa: E402
from yoco.config import YocoConfig  # noqa: E402


def repo_context(maker, files, max_context):
    """The repository's files in path order up to the model's limit in the document template:
    (context ids, kept file indices)."""
    pre, post = maker.doc_wrap()
    kept, ids, size = [], [], pre.size + post.size + 64
    for i in files:
        f = maker.file_ids(i)
        if size + f.size > max_context:
            break
        kept.append(i)
        ids.append(f)
        size += f.size
    return np.concatenate([pre, *ids, post]), kept


def repo_rows(maker, split, files, n, max_context, rng, form=0):
    """Rows for one repository: (rows, symbols, paths, context tokens)."""
    context, kept = repo_context(maker, files, max_context)
    owners = {}
    for i in kept:
        for s in set(split.symbols[i] or []):
            owners.setdefault(s, []).append(i)
    unique = sorted(s for s, o in owners.items() if len(o) == 1)
    picked = rng.sample(unique, min(n, len(unique)))
    rows, paths = [], []
    for s in picked:
        q = maker.tpl("question", question=tasks.WHICHFILE_FORMS[form].format(sym=s))
        ans = np.concatenate((np.asarray(maker.enc.encode(split.paths[owners[s][0]]), np.int64),
                              [tasks.EOS]))
        head = np.concatenate([context, q])
        T = head.size + ans.size - 1
        row = maker.finish([head, ans], head.size, T)
        rows.append(tome_eval.answer_only(row))
        paths.append(split.paths[owners[s][0]])
    return rows, picked, paths, int(context.size), len(kept), len(files)


NULL_SYMBOLS = ("N/A", "", "x")   # content-free questions for the paths' prior (--calibrate)
CAL_WEIGHTS = (0.5, 0.75, 1.0)


def null_rows(maker, split, files, max_context, form=0, k=len(NULL_SYMBOLS)):
    """The same context asked about content-free symbols (NULL_SYMBOLS): rows whose path scores
    give each path's prior under the question template (contextual calibration)."""
    rows = []
    context, kept = repo_context(maker, files, max_context)
    ans = np.concatenate((np.asarray(maker.enc.encode(split.paths[kept[0]]), np.int64), [tasks.EOS]))
    for sym in NULL_SYMBOLS[:k]:
        q = maker.tpl("question", question=tasks.WHICHFILE_FORMS[form].format(sym=sym))
        head = np.concatenate([context, q])
        rows.append(tome_eval.answer_only(maker.finish([head, ans], head.size, head.size + ans.size - 1)))
    return rows


def calibrated(scores, prior, weight):
    """The path maximising log p(path | question) - weight * prior(path)."""
    return max(scores, key=lambda p: (scores[p] if scores[p] is not None else -1e30)
               - weight * prior.get(p, 0.0))


def setup(args):
    """The model's config, its max_context (or --max-context), the evaluation split, a TaskMaker
    on it, and the --repos wanted (checked), from the arguments both whole-repository scripts take
    (--model, --eval-shards, --max-context, --seed, --repos)."""
    cfg = YocoConfig.load(Path(args.model) / "config.json")
    raw = json.loads((Path(args.model) / "config.json").read_text())
    max_context = args.max_context or int(raw.get("max_context", 1 << 20))
    enc = tok.Encoder(tok.load(Path(args.model) / "tokenizer.model"))
    split = shards.Split(args.eval_shards, "eval")
    ev_tok = Path(args.eval_shards) / "tokenizer.model"
    if ev_tok.read_bytes() != (Path(args.model) / "tokenizer.model").read_bytes():
        raise SystemExit(f"{ev_tok} differs from the model's tokenizer.model")
    maker = tasks.TaskMaker(split, enc, cfg.templates, seed=args.seed,
                            file_header_every=cfg.file_header_every)
    want = set(filter(None, args.repos.split(",")))
    names = {split.groups[g] for g in maker.repos}
    if want - names:
        raise SystemExit(f"--repos {','.join(sorted(want - names))}: not a repository of "
                         f"{args.eval_shards} (it has {', '.join(sorted(names))})")
    return cfg, max_context, split, maker, want


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--tome", default="build/cpu/app/cli/tome")
    ap.add_argument("--backend", default="cpu", choices=("cpu", "cuda", "auto"))
    ap.add_argument("--eval-shards", default=str(ROOT / "training" / "evalshards"))
    ap.add_argument("--n", type=int, default=20, help="questions a repository")
    ap.add_argument("--repos", default="", help="comma-separated package names (default: all)")
    ap.add_argument("--max-context", type=int, help="default: the model's max_context")
    ap.add_argument("--form", type=int, default=0, choices=(0, 1),
                    help="question form: 0 \"Which file defines `SYMBOL`?\", 1 the bare form "
                    "\"Which file defines SYMBOL?\" (tasks.WHICHFILE_FORMS)")
    ap.add_argument("--calibrate", action="store_true",
                    help="also every path's score (tome score --path-scores) and the choice "
                    "calibrated by the paths' prior under content-free questions "
                    "(NULL_SYMBOLS), weights CAL_WEIGHTS")
    ap.add_argument("--nulls", type=int, default=3, choices=(1, 2, 3),
                    help="content-free questions for the prior: the first N of NULL_SYMBOLS")
    ap.add_argument("--pointer", action="store_true",
                    help="also the pointer's choice (tome score --pointer: the file the model's "
                    "pointer_heads attend to most from the question's symbol among the files "
                    "holding it; pointer_top: among all files; pointer_several: [right, of] where "
                    "several files hold the symbol)")
    ap.add_argument("--scores", action="store_true",
                    help="keep every path's scores in --out (path_logprobs with --calibrate, "
                    "pointer_mass with --pointer)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out")
    args = ap.parse_args()

    cfg, max_context, split, maker, want = setup(args)
    res = {"model": args.model, "backend": args.backend, "n_per_repo": args.n,
           "max_context": max_context, "form": args.form, "nulls": args.nulls,
           "file_header_every": cfg.file_header_every, "repos": {}}
    tot = {"exact": 0, "chosen": 0, "n": 0, **({"pointer": 0} if args.pointer else {})}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as work:
        for g in sorted(maker.repos):
            name = split.groups[g]
            if want and name not in want:
                continue
            rng = random.Random(f"{args.seed}:{name}")
            rows, syms, paths, ctx, kept, nfiles = repo_rows(maker, split, maker.repos[g], args.n,
                                                             max_context, rng, args.form)
            t1 = time.time()
            sc = tome_eval.tome_score(args.tome, args.model, rows, work, args.backend,
                                      args.threads, choose_paths=True,
                                      path_scores=args.calibrate, pointer=args.pointer)
            ex = sum(bool(s["exact"]) for s in sc)
            pt = sum(bool(s.get("pointer_exact")) for s in sc)
            ptop = sum(bool(s.get("pointer_top_exact")) for s in sc)
            sev = [s for s in sc if len(s.get("pointer_occurrences") or {}) > 1]
            ch = sum(bool(s.get("choice_exact")) for s in sc)
            cal = {}
            if args.calibrate:
                nulls = tome_eval.tome_score(args.tome, args.model,
                                             null_rows(maker, split, maker.repos[g], max_context,
                                                       args.form, args.nulls),
                                             work, args.backend, args.threads, choose_paths=True,
                                             path_scores=True)
                # The prior from all the null rows, and from the first k of them (k < --nulls:
                # what a cheaper prior would have chosen, on the same rows).
                for k in range(1, args.nulls + 1):
                    prior = {}
                    for p in sc[0]["path_logprobs"] if sc else ():
                        v = [x["path_logprobs"].get(p) for x in nulls[:k]]
                        v = [y for y in v if y is not None]
                        prior[p] = sum(v) / len(v) if v else 0.0
                    for w in CAL_WEIGHTS:
                        key = w if k == args.nulls else f"{w}_nulls{k}"
                        cal[key] = [calibrated(x["path_logprobs"], prior, w) for x in sc]
                        tot.setdefault(f"chosen_cal_{key}", 0)
                        tot[f"chosen_cal_{key}"] += sum(c == pth for c, pth in zip(cal[key], paths))
            r = {"context_tokens": ctx, "files": nfiles, "files_in_context": kept, "n": len(rows),
                 "exact": round(ex / max(1, len(rows)), 3),
                 "chosen": round(ch / max(1, len(rows)), 3),
                 **({"pointer": round(pt / max(1, len(rows)), 3),
                     "pointer_top": round(ptop / max(1, len(rows)), 3),
                     "pointer_several": [sum(bool(s.get("pointer_exact")) for s in sev), len(sev)]}
                    if args.pointer else {}),
                 "seconds": round(time.time() - t1, 1),
                 **{f"chosen_cal_{w}": round(sum(c == pth for c, pth in zip(cal[w], paths))
                                             / max(1, len(rows)), 3) for w in cal},
                 "questions": [{"symbol": s, "path": p, "exact": bool(x["exact"]),
                                "chosen": bool(x.get("choice_exact")), "choice": x.get("choice"),
                                **({"choice_cal": {w: cal[w][k] for w in cal},
                                    "logprob": x["path_logprobs"].get(p),
                                    "rank": 1 + sum(v is not None and v > (x["path_logprobs"].get(p) or -1e30)
                                                    for v in x["path_logprobs"].values())}
                                   if cal else {}),
                                **({"pointer_exact": bool(x.get("pointer_exact")),
                                    "pointer_choice": x.get("pointer_choice"),
                                    "pointer_top_exact": bool(x.get("pointer_top_exact")),
                                    "pointer_occurrences": x.get("pointer_occurrences", {})}
                                   if args.pointer else {}),
                                **({"path_logprobs": x["path_logprobs"]} if args.scores and cal else {}),
                                **({"pointer_mass": {k_: round(v, 6) for k_, v in x.get("pointer_mass", {}).items()}}
                                   if args.scores and args.pointer else {})}
                               for k, (s, p, x) in enumerate(zip(syms, paths, sc))]}
            res["repos"][name] = r
            tot["exact"] += ex
            tot["chosen"] += ch
            if args.pointer:
                tot["pointer"] += pt
                tot["pointer_top"] = tot.get("pointer_top", 0) + ptop
                tot["pointer_several"] = [a + b for a, b in zip(tot.get("pointer_several", [0, 0]),
                                                                 r["pointer_several"])]
            tot["n"] += len(rows)
            print(json.dumps({name: {k: v for k, v in r.items() if k != "questions"}}), flush=True)
    n = max(1, tot["n"])
    res["all"] = {"n": tot["n"], "exact": round(tot["exact"] / n, 3),
                  "chosen": round(tot["chosen"] / n, 3),
                  **({"pointer": round(tot["pointer"] / n, 3), "pointer_top": round(tot["pointer_top"] / n, 3),
                      "pointer_several": tot["pointer_several"]} if args.pointer else {}),
                  **{k: round(v / n, 3) for k, v in tot.items() if k.startswith("chosen_cal")},
                  "seconds": round(time.time() - t0, 1)}
    print(json.dumps({"all": res["all"]}), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
