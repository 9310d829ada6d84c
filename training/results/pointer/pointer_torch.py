#!/usr/bin/env python3
"""Where the cross-decoder looks when asked "Which file defines `SYMBOL`?" (issue 4), in PyTorch:
for each cross-decoder layer and head, the attention of the question's rows over the context,
summed per file of the context. Two layouts:
  --whole: each held-out repository whole in context (as whole-repo/whichfile_whole.py);
  default: which-file windows of T tokens (as whichfile-errors/errors.py, TaskMaker rows).
Per question it stores the mass per (layer, head, question row, file), the target file, the
question's tokens and each file's count of the symbol (a text-search baseline), in --out (JSON).
Usage (repo root): python3 training/results/pointer/pointer_torch.py --model DIR [--whole] \
    [--split eval|valid] [--T 4096] [--n 100] --out OUT.json [--device cuda]
"""
import argparse
import json
import random
import re
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "training"))
sys.path.insert(0, str(ROOT / "training" / "data"))
sys.path.insert(0, str(ROOT / "training" / "results" / "whole-repo"))

import shards  # noqa: E402
import tasks  # noqa: E402
import tokenizer as tok  # noqa: E402
from eval_torch import load_weights  # noqa: E402
from yoco import ops  # noqa: E402
from yoco.config import YocoConfig  # noqa: E402


def occurrences(text, sym):
    return len(re.findall(r"(?<![A-Za-z0-9_])" + re.escape(sym) + r"(?![A-Za-z0-9_])", text))


@torch.no_grad()
def context_cache(model, ids, device, chunk=65536):
    cache = model.new_cache()
    t = torch.from_numpy(np.asarray(ids, np.int64))[None].to(device)
    for s in range(0, t.shape[1], chunk):
        model.prefill(t[:, s:s + chunk], cache, logits=False)
    return cache


@torch.no_grad()
def question_probs(model, cache, q_ids, device):
    """Attention [L, H, R, N + R] of the R question rows appended to `cache` (left untouched)."""
    c = model.new_cache()
    c.pos, c.k, c.v = cache.pos, cache.k, cache.v
    c.states = [s.clone() if torch.is_tensor(s) else s for s in cache.states]
    t = torch.from_numpy(np.asarray(q_ids, np.int64))[None].to(device)
    x, qp = model._self_decoder(t, c, "prefill")
    k, v = c.k, c.v
    kpos = torch.arange(c.pos, device=device)
    allowed = kpos[None, :] <= qp[:, None]
    out = []
    for layer in model.cross:
        a = layer.attn
        h = layer.mixer_norm(x)
        cos, sin = ops.rope_cos_sin(qp, a.hd, a.theta, h.dtype)
        q = ops.apply_rope(a.wq(h).view(1, -1, a.H, a.hd), cos, sin).transpose(1, 2)
        kr = k.repeat_interleave(a.H // k.shape[1], 1)
        s = ((q @ kr.transpose(-1, -2)) * a.hd ** -0.5).masked_fill(~allowed, float("-inf"))
        out.append(torch.softmax(s.float(), -1)[0])
        x = layer(x, k, v, qp, kpos)
    return torch.stack(out)


def symbol_row(toks):
    """The question row of the symbol's last token: the token before the one holding the
    closing backtick, or that token itself when the backtick is merged into it."""
    idx = [i for i, t in enumerate(toks) if "`" in t]
    if len(idx) < 2:
        return None
    j = idx[-1]
    return j - 1 if toks[j].startswith("`") else j


def symbol_rows(toks):
    """The rows of all the symbol's tokens, as tome::symbol_tokens: from the token holding its
    first byte (the opening backtick's token when the symbol starts in it) to symbol_row."""
    idx = [i for i, t in enumerate(toks) if "`" in t]
    r = symbol_row(toks)
    if r is None:
        return None
    o = idx[-2]
    first = o + 1 if toks[o].endswith("`") else o
    return list(range(first, r + 1)) if first <= r else [r]


def record(M, toks):
    """What is kept of M [L, H, R, F]: the mass at the symbol's last row, averaged over all its
    rows (mass_sym, the engine's readout) and at the last row."""
    r, rows = symbol_row(toks), symbol_rows(toks)
    return {"toks": toks, "row": r, "mass": None if r is None else M[:, :, r].round(5).tolist(),
            "mass_sym": None if rows is None else M[:, :, rows].mean(2).round(5).tolist(),
            "mass_last": M[:, :, -1].round(5).tolist()}


def file_mass(P, starts, end):
    """P [L, H, R, N]: mass per file [L, H, R, F], file f = [starts[f], starts[f+1] or end)."""
    b = list(starts) + [end]
    cs = torch.cumsum(P, -1)
    z = torch.zeros_like(cs[..., :1])
    cs = torch.cat((z, cs), -1)
    idx = torch.tensor(b, device=P.device)
    edges = cs[..., idx]
    return (edges[..., 1:] - edges[..., :-1]).cpu().numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--eval-shards", default=str(ROOT / "training" / "evalshards"))
    ap.add_argument("--shards", default=str(ROOT / "training" / "shards"))
    ap.add_argument("--split", default="eval", choices=("eval", "valid"))
    ap.add_argument("--whole", action="store_true")
    ap.add_argument("--T", type=int, default=4096)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--max-context", type=int, default=0)
    ap.add_argument("--repos", default="")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    dev = torch.device(args.device)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = load_weights(args.model, dev)
    cfg = YocoConfig.load(Path(args.model) / "config.json")
    enc = tok.Encoder(tok.load(Path(args.model) / "tokenizer.model"))
    FILE, QUESTION = cfg.special_tokens["file_start"]["id"], cfg.special_tokens["question"]["id"]
    res = {"model": args.model, "whole": args.whole, "split": args.split, "questions": []}
    if args.whole:
        import whichfile_whole as W
        if args.split == "valid":   # the validation split's repositories (for choosing heads)
            split = shards.Split(args.shards, "valid")
            maker = tasks.TaskMaker(split, enc, cfg.templates, seed=args.seed,
                                    file_header_every=cfg.file_header_every)
            max_context, want = args.max_context or cfg.max_context, set(filter(None, args.repos.split(",")))
        else:
            _, max_context, split, maker, want = W.setup(args)
        for g in sorted(maker.repos):
            name = split.groups[g]
            if want and name not in want:
                continue
            context, kept = W.repo_context(maker, maker.repos[g], max_context)
            rows, syms, paths, ctx, nk, nf = W.repo_rows(maker, split, maker.repos[g], args.n,
                                                       max_context, random.Random(args.seed))
            cache = context_cache(model, context, dev)
            starts = np.nonzero(context == FILE)[0]
            assert len(starts) == len(kept), (len(starts), len(kept))
            texts = [enc.decode(split.doc(i)).split("\n", 1)[-1] for i in kept]
            kpaths = [split.paths[i] for i in kept]
            for (tokens, _, ans), sym, path in zip(rows, syms, paths):
                a0 = int(np.nonzero(ans)[0][0])
                q_ids = tokens[len(context):a0 + 1]
                P = question_probs(model, cache, q_ids, dev)
                M = file_mass(P[..., :len(context)], starts, len(context))
                res["questions"].append({
                    "repo": name, "symbol": sym, "target": kpaths.index(path), "paths": kpaths,
                    "occ": [occurrences(t, sym) for t in texts],
                    **record(M, [enc.decode([int(t)]) for t in q_ids])})
                del P
            print(name, len(kept), "files", int(context.size), "tokens", flush=True)
            del cache
            if dev.type == "cuda":
                torch.cuda.empty_cache()
    else:
        folder = args.eval_shards if args.split == "eval" else args.shards
        split = shards.Split(folder, args.split)
        maker = tasks.TaskMaker(split, enc, cfg.templates, seed=args.seed,
                                file_header_every=cfg.file_header_every)
        for _ in range(args.n):
            ep = maker.whichfile_episode(args.T, 0)
            if ep is None:
                continue
            (tokens, _, ans), m = ep
            a0 = int(np.nonzero(ans)[0][0])
            prompt = tokens[:a0 + 1]
            qpos = int(np.nonzero(prompt == QUESTION)[0][-1])
            cache = context_cache(model, prompt[:qpos], dev)
            starts = np.nonzero(prompt[:qpos] == FILE)[0]
            files = [split.paths[j] for j in m["docs"]]
            if len(starts) != len(files):
                continue
            P = question_probs(model, cache, prompt[qpos:], dev)
            M = file_mass(P[..., :qpos], starts, qpos)
            texts = [enc.decode(split.doc(j)).split("\n", 1)[-1] for j in m["docs"]]
            res["questions"].append({
                "symbol": m["symbol"], "target": files.index(m["path"]), "paths": files,
                "occ": [occurrences(t, m["symbol"]) for t in texts],
                **record(M, [enc.decode([int(t)]) for t in prompt[qpos:]])})
    text = json.dumps(res) + "\n"
    if args.out.endswith(".xz"):
        import lzma
        Path(args.out).write_bytes(lzma.compress(text.encode()))
    else:
        Path(args.out).write_text(text)
    print(len(res["questions"]), "questions ->", args.out)


if __name__ == "__main__":
    main()
