# PyTorch measurements of a trained model (GPU for long contexts; CPU works for short ones):
# held-out loss / perplexity / bits per byte, needle retrieval by context length and depth, and the
# task accuracies on text reserved for evaluation (sword-comm-mhcc, the held-out repositories).
# Exact match is teacher-forced: every answer token (and the closing EOS) is the argmax given the
# right prefix, which is exactly when greedy decoding produces the answer and stops.
#
#   python3 training/eval_torch.py --weights weights.pt --shards training/shards \
#       --eval-shards training/evalshards --lengths 4096,16384,32768,65536,131072 --out eval.json
import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "data"))
from yoco.config import YocoConfig  # noqa: E402
from yoco.model import Yoco  # noqa: E402
import shards  # noqa: E402
import tasks  # noqa: E402
import tokenizer as tok  # noqa: E402


def load_weights(path, device):
    """ckpt.pt / weights.pt (train.py) or a model directory (export.py)."""
    p = Path(path)
    if p.is_dir():
        from export import load_model_dir
        model = load_model_dir(p)
    else:
        ck = torch.load(p, map_location="cpu", weights_only=False)
        model = Yoco(YocoConfig.from_json_dict(ck["config"]))
        model.load_state_dict({k: v.float() for k, v in ck["model"].items()})
    return model.to(device).eval()


@torch.no_grad()
def score(model, row, device, amp):
    """row (tokens [T+1], lm, ans) -> (sum CE over lm targets, n lm targets, exact answer incl
    EOS, exact answer without EOS)."""
    tokens, lm, ans = (torch.from_numpy(x[None]).to(device) for x in row)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        logits = model(tokens[:, :-1])
    tgt = tokens[:, 1:]
    ce = F.cross_entropy(logits.float().flatten(0, 1), tgt.flatten(), reduction="none")
    ce = ce.view(tgt.shape)
    right = logits.argmax(-1) == tgt
    exact = bool((right | ~ans).all()) if ans.any() else None
    ans_no_eos = ans & (tgt != tasks.EOS)
    exact_text = bool((right | ~ans_no_eos).all()) if ans.any() else None
    return (ce * lm).sum().item(), int(lm.sum()), exact, exact_text


def heldout_loss(model, maker, enc, T, n, device, amp, kinds=None):
    """Mean CE per token, perplexity and bits per byte on n LM rows of T from maker's stream
    (kinds: restrict to documents of these kinds, by sampling whole rows from them)."""
    tot_ce = tot_tok = tot_bytes = 0
    rng = np.random.default_rng(7)
    for _ in range(n):
        if kinds is None:
            row = maker.lm_row(T)
        else:
            docs = [i for i in range(len(maker.split)) if maker.split.docs[i, 2] in kinds]
            ids = np.concatenate([maker.split.doc(int(i)) for i in rng.permutation(docs)[:64]])
            s = int(rng.integers(0, max(1, ids.size - T - 1)))
            toks = ids[s:s + T + 1].astype(np.int64)
            row = (toks, np.ones(toks.size - 1, bool), np.zeros(toks.size - 1, bool))
        ce, k, _, _ = score(model, row, device, amp)
        tot_ce, tot_tok = tot_ce + ce, tot_tok + k
        tot_bytes += len(enc.decode(row[0][1:]).encode("utf-8"))
    loss = tot_ce / tot_tok
    return {"loss": round(loss, 4), "ppl": round(math.exp(loss), 2),
            "bits_per_byte": round(tot_ce / math.log(2) / max(1, tot_bytes), 4),
            "tokens": tot_tok}


def task_accuracy(model, make, n, device, amp):
    ok = ok_text = done = 0
    for i in range(n):
        row = make(i)
        if row is None:
            continue
        _, _, e, et = score(model, row, device, amp)
        ok, ok_text, done = ok + e, ok_text + et, done + 1
    return {"exact": round(ok / max(1, done), 3), "exact_text": round(ok_text / max(1, done), 3),
            "n": done}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--shards", default=str(HERE / "shards"))
    ap.add_argument("--eval-shards", default=str(HERE / "evalshards"))
    ap.add_argument("--lengths", default="4096,16384,32768,65536,131072")
    ap.add_argument("--needles", type=int, default=20, help="episodes per length and kind")
    ap.add_argument("--task-n", type=int, default=40)
    ap.add_argument("--loss-rows", type=int, default=16)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    amp = device.type == "cuda"
    model = load_weights(args.weights, device)
    enc = tok.Encoder(tok.load(Path(args.shards) / "tokenizer.model"))
    tpl = model.cfg.templates
    valid = tasks.TaskMaker(shards.Split(args.shards, "valid"), enc, tpl, seed=11)
    ev = tasks.TaskMaker(shards.Split(args.eval_shards, "eval"), enc, tpl, seed=12)
    t0 = time.time()
    res = {"device": torch.cuda.get_device_name() if amp else "cpu", "weights": args.weights,
           "loss": {}, "needle": {}, "tasks": {}}

    res["loss"]["valid_2048"] = heldout_loss(model, valid, enc, 2048, args.loss_rows, device, amp)
    res["loss"]["mhcc_2048"] = heldout_loss(model, ev, enc, 2048, args.loss_rows, device, amp,
                                            kinds=(0,))
    res["loss"]["heldout_repos_2048"] = heldout_loss(model, ev, enc, 2048, args.loss_rows,
                                                     device, amp, kinds=(2,))
    print(json.dumps(res["loss"]), flush=True)

    for T in (int(x) for x in args.lengths.split(",")):
        n = args.needles
        depth = lambda i: (i % 10) / 9  # noqa: E731  depths 0, 1/9, ..., 1
        r = {"passkey": task_accuracy(model, lambda i: ev.passkey(T, depth=depth(i), form=0), n,
                                      device, amp),
             "passkey_plain": task_accuracy(model, lambda i: ev.passkey(T, plain=True,
                                                                          depth=depth(i)),
                                            n, device, amp),
             "multikey": task_accuracy(model, lambda i: ev.multikey(T, depth=depth(i)), n,
                                       device, amp)}
        res["needle"][T] = r
        print(json.dumps({"T": T, **r}), flush=True)

    for T in (4096, 16384):
        res["tasks"][f"quote_{T}"] = task_accuracy(model, lambda i: ev.quote(T), args.task_n,
                                                   device, amp)
        res["tasks"][f"follows_{T}"] = task_accuracy(model, lambda i: ev.follows(T),
                                                     args.task_n, device, amp)
        res["tasks"][f"whichfile_{T}"] = task_accuracy(model, lambda i: ev.whichfile(T),
                                                       args.task_n, device, amp)
        res["tasks"][f"nextline_{T}"] = task_accuracy(
            model, lambda i: ev.fim(T, keep_target=False, empty_suffix=True, n_lines=1, col=0),
            args.task_n, device, amp)
        res["tasks"][f"fim_{T}"] = task_accuracy(model, lambda i: ev.fim(T, keep_target=False),
                                                 args.task_n, device, amp)
        print(json.dumps({k: v for k, v in res["tasks"].items() if k.endswith(str(T))}),
              flush=True)
    res["seconds"] = round(time.time() - t0, 1)
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
