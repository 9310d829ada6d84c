# PyTorch measurements of a trained model (GPU for long contexts; CPU works for short ones):
# held-out loss / perplexity / bits per byte, needle retrieval by context length and depth, and the
# task accuracies on text reserved for evaluation (sword-comm-mhcc, the held-out repositories).
# Exact match is teacher-forced: every answer token (and the closing EOS) is the argmax given the
# right prefix, which is exactly when greedy decoding produces the answer and stops. The rows come
# from eval_rows.py (torch-free), which eval.py --engine-tasks scores through `tome score` instead.
#
#   python3 training/eval_torch.py --weights weights.pt --shards training/shards \
#       --eval-shards training/evalshards --lengths 4096,16384,32768,65536,131072 --out eval.json
# Several --weights (and as many --out files) score every model on the same rows, built once;
# checkpoints of train.py --arch transformer load too (the comparison in the model card).
import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "data"))
from yoco.config import YocoConfig  # noqa: E402
from yoco.transformer import make_model  # noqa: E402
import eval_rows  # noqa: E402
import tasks  # noqa: E402


def load_weights(path, device):
    """ckpt.pt / weights.pt (train.py; either --arch) or a model directory (export.py)."""
    p = Path(path)
    if p.is_dir():
        from export import load_model_dir
        model = load_model_dir(p)
    else:
        ck = torch.load(p, map_location="cpu", weights_only=False)
        model = make_model(YocoConfig.from_json_dict(ck["config"]), ck.get("arch", "yoco"))
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


def heldout_loss(model, enc, rows, device, amp):
    """Mean CE per token, perplexity and bits per byte over LM rows (eval_rows.heldout_rows)."""
    return eval_rows.loss_summary(enc, rows, [score(model, r, device, amp)[:2] for r in rows])


def task_accuracy(model, rows, device, amp):
    """Exact match over the rows that could be built (None: skipped)."""
    return eval_rows.accuracy_summary([score(model, r, device, amp)[2:] for r in rows
                                       if r is not None])


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True, nargs="+",
                    help="one or more models, each scored on the same rows (built once)")
    ap.add_argument("--shards", default=str(HERE / "shards"))
    ap.add_argument("--eval-shards", default=str(HERE / "evalshards"))
    ap.add_argument("--lengths", default="4096,16384,32768,65536,131072")
    ap.add_argument("--needles", type=int, default=20, help="episodes per length and kind")
    ap.add_argument("--task-n", type=int, default=100,
                    help="task episodes per kind and length (100: at 30-40 a 10-point difference is noise)")
    ap.add_argument("--loss-rows", type=int, default=16)
    ap.add_argument("--task-lengths", default=",".join(map(str, eval_rows.TASK_LENGTHS)),
                    help="lengths of the task rows (eval.py --engine-tasks knows the default only)")
    ap.add_argument("--long-loss", default="",
                    help="T:n,...: n more validation rows of T each (e.g. 8192:8,32768:4)")
    ap.add_argument("--out", nargs="+", help="one JSON file per --weights")
    args = ap.parse_args(argv)
    if args.out and len(args.out) != len(args.weights):
        raise SystemExit("--out needs one file per --weights")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    amp = device.type == "cuda"
    models = [load_weights(w, device) for w in args.weights]
    enc, valid, ev = eval_rows.makers(args.shards, args.eval_shards, models[0].cfg.templates,
                                      models[0].cfg.file_header_every)
    t0 = time.time()
    results = [{"device": torch.cuda.get_device_name() if amp else "cpu", "weights": w,
                "arch": getattr(m, "arch", "yoco"),
                "params": sum(p.numel() for p in m.parameters()),
                "loss": {}, "needle": {}, "tasks": {}} for w, m in zip(args.weights, models)]
    lengths = [int(x) for x in args.lengths.split(",") if x]
    long_loss = [tuple(int(v) for v in x.split(":")) for x in args.long_loss.split(",") if x]
    # The rows of eval_rows.plan, in its order (the makers' random streams depend on it).
    for section, key, rows in eval_rows.plan(valid, ev, lengths, args.needles, args.task_n,
                                             args.loss_rows, long_loss,
                                             [int(x) for x in args.task_lengths.split(",") if x]):
        for w, model, res in zip(args.weights, models, results):
            tag = {"weights": w} if len(models) > 1 else {}
            if section == "loss":
                res["loss"][key] = heldout_loss(model, enc, rows, device, amp)
                if key == "heldout_repos_2048" or key.startswith("valid_") and key != "valid_2048":
                    print(json.dumps({**tag, **res["loss"]}), flush=True)
            elif section == "needle":
                T, kind = key
                res["needle"].setdefault(T, {})[kind] = task_accuracy(model, rows, device, amp)
                if kind == eval_rows.NEEDLE_KINDS[-1]:
                    print(json.dumps({**tag, "T": T, **res["needle"][T]}), flush=True)
            else:
                res["tasks"][key] = task_accuracy(model, rows, device, amp)
                if key.startswith(eval_rows.TASK_KINDS[-1] + "_"):
                    T = key.rsplit("_", 1)[1]
                    print(json.dumps({**tag, **{k: v for k, v in res["tasks"].items()
                                                if k.endswith(T)}}), flush=True)
    for i, res in enumerate(results):
        res["seconds"] = round(time.time() - t0, 1)  # all models together
        if args.out:
            Path(args.out[i]).write_text(json.dumps(res, indent=1))
        print(json.dumps(res))

if __name__ == "__main__":
    main()
