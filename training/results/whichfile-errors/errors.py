#!/usr/bin/env python3
"""Where which-file answers go wrong (issue 4): which-file episodes on held-out repositories,
built as the training rows are (consecutive files of one repository in a window of T tokens, a
symbol that exactly one file of the repository defines), scored through the C++ engine
(`tome score --choose-paths`), and each wrong choice classified:
  - "mentions": the chosen file contains the symbol too (a use, a declaration, a comment);
  - "other": the chosen file does not contain it at all;
plus accuracy by the target file's place in the window (first / middle / last) and by the number
of files in the window. Usage (repo root):
    python3 training/results/whichfile-errors/errors.py --model resources/models/tome-25m \
        --lengths 4096,16384 --n 150 --out OUT.json [--tome build/cpu/app/cli/tome --backend cpu]
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "training"))
sys.path.insert(0, str(ROOT / "training" / "data"))

import eval as tome_eval  # noqa: E402
import shards  # noqa: E402
import tasks  # noqa: E402
import tokenizer as tok  # noqa: E402
from yoco.config import YocoConfig  # noqa: E402

NULL_SYMBOLS = ("N/A", "", "x")   # as whole-repo/whichfile_whole.py
CAL_WEIGHTS = (0.5, 0.75, 1.0)


def episode(maker, T, form=0, nulls_k=3):
    """A which-file episode as the training rows are built (TaskMaker.whichfile_episode), with
    its context asked about the content-free NULL_SYMBOLS too (--calibrate)."""
    ep = maker.whichfile_episode(T, form)
    if ep is None:
        return None
    row, m = ep
    nulls = []
    for null in NULL_SYMBOLS[:nulls_k]:
        r = maker._qa(m["context"], tasks.WHICHFILE_FORMS[form].format(sym=null), m["path"], T)
        if r is None:
            return None
        nulls.append(tome_eval.answer_only(r))
    docs = m["docs"]
    return tome_eval.answer_only(row), {
        "symbol": m["symbol"], "path": m["path"], "nulls": nulls, "docs": docs,
        "files": [maker.split.paths[j] for j in docs], "target_index": docs.index(
            next(j for j in docs if maker.split.paths[j] == m["path"]))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--tome", default="build/cpu/app/cli/tome")
    ap.add_argument("--backend", default="cpu", choices=("cpu", "cuda", "auto"))
    ap.add_argument("--eval-shards", default=str(ROOT / "training" / "evalshards"))
    ap.add_argument("--lengths", default="4096,16384")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--form", type=int, default=0, choices=(0, 1),
                    help="question form: 0 \"Which file defines `SYMBOL`?\", 1 the bare form "
                    "\"Which file defines SYMBOL?\" (tasks.WHICHFILE_FORMS)")
    ap.add_argument("--calibrate", action="store_true",
                    help="also the choice calibrated by the paths' prior under content-free "
                    "questions on the same context (tome score --path-scores), weights CAL_WEIGHTS")
    ap.add_argument("--nulls", type=int, default=3, choices=(1, 2, 3),
                    help="content-free questions for the prior: the first N of NULL_SYMBOLS")
    ap.add_argument("--pointer", action="store_true",
                    help="also the pointer's choice (tome score --pointer: the file the model's "
                    "pointer_heads attend to most from the question's symbol)")
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out")
    args = ap.parse_args()
    cfg = YocoConfig.load(Path(args.model) / "config.json")
    enc = tok.Encoder(tok.load(Path(args.model) / "tokenizer.model"))
    split = shards.Split(args.eval_shards, "eval")
    maker = tasks.TaskMaker(split, enc, cfg.templates, seed=args.seed,
                            file_header_every=cfg.file_header_every)
    text = {}

    def body(i):
        if i not in text:
            text[i] = enc.decode(split.doc(i)).split("\n", 1)[-1]
        return text[i]

    res = {"model": args.model, "form": args.form, "nulls": args.nulls, "file_header_every": cfg.file_header_every, "lengths": {}}
    with tempfile.TemporaryDirectory() as work:
        for T in map(int, args.lengths.split(",")):
            eps = [e for e in (episode(maker, T, args.form, args.nulls) for _ in range(args.n)) if e is not None]
            sc = tome_eval.tome_score(args.tome, args.model, [e[0] for e in eps], work,
                                      args.backend, args.threads, choose_paths=True,
                                      path_scores=args.calibrate, pointer=args.pointer)
            cal = {w: [] for w in (CAL_WEIGHTS if args.calibrate else ())}
            if args.calibrate:
                ns = tome_eval.tome_score(args.tome, args.model,
                                          [r for e in eps for r in e[1]["nulls"]], work,
                                          args.backend, args.threads, choose_paths=True,
                                          path_scores=True)
                k = args.nulls
                # Also the prior from the first kk < k null questions (same rows): "0.5_nulls1" ...
                for kk in range(1, k):
                    for w in CAL_WEIGHTS:
                        cal[f"{w}_nulls{kk}"] = []
                for j, s_ in enumerate(sc):
                    lp = s_["path_logprobs"]
                    for kk in range(1, k + 1):
                        group = ns[j * k:j * k + kk]
                        prior = {p: sum(g["path_logprobs"].get(p) or 0.0 for g in group) / kk
                                 for p in lp}
                        for w in CAL_WEIGHTS:
                            cal[w if kk == k else f"{w}_nulls{kk}"].append(
                                max(lp, key=lambda p: (lp[p] if lp[p] is not None else -1e30)
                                    - w * prior[p]))
            qs = []
            for j, ((_, m), s) in enumerate(zip(eps, sc)):
                by_path = dict(zip(m["files"], m["docs"]))
                mention = [p for p, d in by_path.items() if p != m["path"] and m["symbol"] in body(d)]
                ch = s.get("choice")
                k, nf = m["target_index"], len(m["files"])
                qs.append({"symbol": m["symbol"], "path": m["path"], "files": nf,
                           "target_index": k,
                           "place": "first" if k == 0 else "last" if k == nf - 1 else "middle",
                           "mentioned_elsewhere": len(mention),
                           "depth_chars": body(by_path[m["path"]]).find(m["symbol"]),
                           "exact": bool(s["exact"]), "chosen": bool(s.get("choice_exact")),
                           "choice": ch,
                           **({"pointer": bool(s.get("pointer_exact")),
                               "pointer_choice": s.get("pointer_choice"),
                               "pointer_top": bool(s.get("pointer_top_exact")),
                               "holders": len(s.get("pointer_occurrences") or {})} if args.pointer else {}),
                           **({"choice_cal": {w: cal[w][j] for w in cal}} if cal else {}),
                           "choice_mentions": bool(ch in by_path and ch != m["path"]
                                                   and m["symbol"] in body(by_path[ch]))})
            n = len(qs)
            wrong = [q for q in qs if not q["chosen"]]
            summ = {"n": n, "exact": sum(q["exact"] for q in qs) / n,
                    "chosen": sum(q["chosen"] for q in qs) / n,
                    **({"pointer": sum(q["pointer"] for q in qs) / n,
                        "pointer_top": sum(q["pointer_top"] for q in qs) / n,
                        "pointer_several": [sum(q["pointer"] for q in qs if q["holders"] > 1),
                                            sum(q["holders"] > 1 for q in qs)]} if args.pointer else {}),
                    "wrong": len(wrong),
                    "wrong_choice_mentions": sum(q["choice_mentions"] for q in wrong),
                    "mean_files": sum(q["files"] for q in qs) / n,
                    **{f"chosen_cal_{w}": sum(q["choice_cal"][w] == q["path"] for q in qs) / n
                       for w in cal}}
            for place in ("first", "middle", "last"):
                g = [q for q in qs if q["place"] == place]
                summ[f"chosen_{place}"] = [sum(q["chosen"] for q in g), len(g)]
            for lab, lo, hi in (("shallow", 0, 500), ("mid", 500, 3000), ("deep", 3000, 1 << 40)):
                g = [q for q in qs if lo <= q["depth_chars"] < hi]
                summ[f"chosen_depth_{lab}"] = [sum(q["chosen"] for q in g), len(g)]
            for lab, g in (("alone", [q for q in qs if q["mentioned_elsewhere"] == 0]),
                           ("mentioned", [q for q in qs if q["mentioned_elsewhere"] > 0])):
                summ[f"chosen_{lab}"] = [sum(q["chosen"] for q in g), len(g)]
            res["lengths"][T] = {"summary": summ, "questions": qs}
            print(json.dumps({T: summ}), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
