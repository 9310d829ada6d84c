# Evaluation THROUGH THE C++ ENGINE: drives `tome generate` (greedy, temperature 0) on prompts
# built from text reserved for evaluation (sword-comm-mhcc; never in training).
#
#   needle: plain-text pass-key retrieval (the "passkey_plain" task of data/tasks.py: filler text
#           with "The pass key is N. Remember it. ..." at a depth, ending "What is the pass key?
#           The pass key is"); correct when the generated text starts with " N".
#   agree:  greedy continuations of held-out text by the engine vs by PyTorch on the same model
#           directory (dequantised weights): how many of the first K tokens match.
#
# `tome generate` takes plain text (it adds BOS; special tokens are not recognised in a prompt),
# so the template tasks (question/answer, repository, fill-in-the-middle) cannot be fed to it yet:
# eval_torch.py measures those through PyTorch.
#
#   python3 training/eval.py --model resources/models/tome-25m --tome build/cpu/app/cli/tome \
#       --lengths 1024,4096,16384 --n 10 --out eval_engine.json
import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "data"))
import shards  # noqa: E402
import tasks  # noqa: E402
import tokenizer as tok  # noqa: E402


def tome_generate(tome, model, prompt, max_tokens, threads=0):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write(prompt)
        path = f.name
    try:
        t0 = time.time()
        r = subprocess.run([tome, "generate", "--model", str(model), "--prompt-file", path,
                            "--max-tokens", str(max_tokens), "--temperature", "0", "--quiet",
                            "--threads", str(threads)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"tome generate failed ({r.returncode}): {r.stderr.strip()}")
        out = r.stdout[:-1] if r.stdout.endswith("\n") else r.stdout  # the CLI ends with \n
        return out, time.time() - t0
    finally:
        Path(path).unlink()


def needle_prompts(maker, enc, T, n):
    """n plain pass-key prompts of ~T tokens at depths spread over 0..1: (prompt text without
    BOS, expected value)."""
    out = []
    for i in range(n):
        tokens, lm, ans = maker.passkey(T, plain=True, depth=i / max(1, n - 1))
        a0 = int(np.argmax(ans)) + 1                      # first answer token
        prompt = enc.decode(tokens[1:a0])                 # the CLI adds BOS itself
        value = enc.decode(tokens[a0:a0 + int(ans.sum()) - 1]).strip().rstrip(".")
        out.append((prompt, value))
    return out


def agreement(model_dir, tome, maker, enc, n, prompt_tokens, k):
    """Greedy K-token continuations: engine vs PyTorch (export.load_model_dir, float32)."""
    import torch
    from export import load_model_dir
    model = load_model_dir(model_dir).eval()
    same = total = 0
    for i in range(n):
        row = maker.lm_row(prompt_tokens)
        text = enc.decode(row[0][:prompt_tokens])
        ids = [tasks.BOS] + enc.encode(text)
        x = torch.tensor([ids])
        cache = model.new_cache()
        gen = []
        with torch.no_grad():
            logits = model.prefill(x, cache)
            for _ in range(k):
                t = int(logits.argmax(-1))
                if t == tasks.EOS:
                    break
                gen.append(t)
                logits = model.decode_step(torch.tensor([t]), cache)
        want = enc.decode(gen)
        got, _ = tome_generate(tome, model_dir, text, k)
        m = 0
        while m < min(len(got), len(want)) and got[m] == want[m]:
            m += 1
        same += m
        total += len(want)
    return {"chars_matching_prefix": same, "chars": total,
            "fraction": round(same / max(1, total), 3)}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="Tome model directory")
    ap.add_argument("--tome", default="build/cpu/app/cli/tome")
    ap.add_argument("--eval-shards", default=str(HERE / "evalshards"))
    ap.add_argument("--lengths", default="1024,4096,16384")
    ap.add_argument("--n", type=int, default=10, help="needle prompts per length")
    ap.add_argument("--agree-n", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    enc = tok.Encoder(tok.load(Path(args.model) / "tokenizer.model"))
    from yoco.config import YocoConfig
    cfg = YocoConfig.load(Path(args.model) / "config.json")
    maker = tasks.TaskMaker(shards.Split(args.eval_shards, "eval"), enc, cfg.templates, seed=99)
    res = {"model": args.model, "tome": args.tome, "needle": {}}
    for T in (int(x) for x in args.lengths.split(",")):
        ok, secs, rows = 0, 0.0, []
        for prompt, value in needle_prompts(maker, enc, T, args.n):
            got, s = tome_generate(args.tome, args.model, prompt, 12, args.threads)
            hit = re.match(r"\s*" + re.escape(value) + r"(\D|$)", got) is not None
            ok += hit
            secs += s
            rows.append({"want": value, "got": got[:24], "ok": hit})
        res["needle"][T] = {"accuracy": round(ok / args.n, 3), "n": args.n,
                            "seconds_per_prompt": round(secs / args.n, 2), "rows": rows}
        print(json.dumps({"T": T, "accuracy": ok / args.n, "n": args.n,
                          "s_per_prompt": round(secs / args.n, 2)}), flush=True)
    if args.agree_n:
        res["agree_engine_vs_pytorch"] = agreement(args.model, args.tome, maker, enc,
                                                   args.agree_n, 256, 32)
        print(json.dumps(res["agree_engine_vs_pytorch"]), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
