# Evaluation THROUGH THE C++ ENGINE.
#
# --engine-tasks: the measurements of eval_torch.py, scored by `tome score` instead of PyTorch.
#   The rows are exactly the ones eval_torch.py builds (eval_rows.plan: the same TaskMakers, seeds
#   and order; --torch-lengths/--torch-needles/--torch-task-n name the eval_torch.py run to
#   reproduce, and --lengths/--n/--task-lengths/--task-n pick which of its rows are scored, so the
#   engine sees the same episodes PyTorch saw). Teacher-forced like eval_torch.py: CE over the LM
#   targets (held-out loss, perplexity, bits per byte), exact match = every answer token incl. the
#   closing EOS is the argmax ("exact_text" without the EOS). `tome score` prefills each row up to
#   its answer (self-decoder only) and runs the cross-decoder for the answer (or, for LM rows, at
#   every position). Writes the JSON keys of eval_torch.py (+ model, tome, rows, seconds_by_group).
#   Which-file rows are also answered as `tome ask --choose-path` does (the most likely of the file
#   paths in the row's context, tome::choose): tasks.whichfile_T.paths, and, when the model names
#   pointer heads, as the pointer answers by default (tome score --pointer, results/pointer/):
#   tasks.whichfile_T.pointer, beside the generated answer's exact match.
#
#     python3 training/eval.py --engine-tasks --model resources/models/tome-25m \
#         --tome build/cpu/app/cli/tome --lengths 4096 --n 20 --out eval_engine_tasks.json
#
# Plain mode (default): drives `tome generate` (greedy, temperature 0) on prompts built from text
# reserved for evaluation (sword-comm-mhcc; never in training).
#
#   needle: plain-text pass-key retrieval (the "passkey_plain" task of data/tasks.py: filler text
#           with "The pass key is N. Remember it. ..." at a depth, ending "What is the pass key?
#           The pass key is"); correct when the generated text starts with " N".
#   agree:  greedy continuations of held-out text by the engine vs by PyTorch on the same model
#           directory (dequantised weights): how many of the first K tokens match.
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
import eval_rows  # noqa: E402
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


def tome_score(tome, model, rows, workdir, backend="cpu", threads=0, logits_chunk=512,
               choose_paths=False, path_scores=False, pointer=False):
    """Scores rows through `tome score`: one dict per row (ce, n, exact, exact_text, answer_ce,
    answer_n, ...; with choose_paths also choice_exact, choices, choice_steps: the answer chosen
    among the context's file paths; with path_scores also path_logprobs, every path's; with pointer
    also pointer_exact, pointer_choice, pointer_mass: the file the model's pointer heads name).
    Progress of tome goes to our stderr."""
    path = Path(workdir) / "rows.bin"
    eval_rows.write_rows(path, rows)
    r = subprocess.run([tome, "score", "--model", str(model), "--rows", str(path), "--backend",
                        backend, "--threads", str(threads), "--logits-chunk", str(logits_chunk)]
                       + (["--choose-paths"] if choose_paths else [])
                       + (["--path-scores"] if path_scores else [])
                       + (["--pointer"] if pointer else []),
                       stdout=subprocess.PIPE, stderr=None, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"tome score failed ({r.returncode}) on {path}")
    out = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    if len(out) != len(rows):
        raise RuntimeError(f"tome score printed {len(out)} results for {len(rows)} rows")
    return out


def answer_only(row):
    """A task row with its LM mask cleared: only the answer is scored (eval_torch.py reports
    only exact match for tasks), so `tome score` prefills everything before it."""
    tokens, lm, ans = row
    return tokens, np.zeros_like(lm), ans


def engine_tasks(args):
    from yoco.config import YocoConfig
    cfg = YocoConfig.load(Path(args.model) / "config.json")
    tok_model = Path(args.shards) / "tokenizer.model"
    if tok_model.read_bytes() != (Path(args.model) / "tokenizer.model").read_bytes():
        raise SystemExit(f"{tok_model} differs from the model's tokenizer.model: the rows would "
                         "not be the model's tokens")
    enc, valid, ev = eval_rows.makers(args.shards, args.eval_shards, cfg.templates,
                                      cfg.file_header_every)
    torch_lengths = [int(x) for x in args.torch_lengths.split(",")]
    lengths = [int(x) for x in (args.lengths or "4096,16384").split(",")]
    if args.no_needles:
        lengths = []
    task_lengths = [int(x) for x in args.task_lengths.split(",")] if args.task_lengths else []
    n = args.torch_needles if args.n is None else args.n
    task_n = args.torch_task_n if args.task_n is None else args.task_n
    for T in lengths:
        if T not in torch_lengths:
            raise SystemExit(f"--lengths {T} is not among --torch-lengths {args.torch_lengths} "
                             "(the rows reproduce that eval_torch.py run: add it there)")
    for T in task_lengths:
        if T not in eval_rows.TASK_LENGTHS:
            raise SystemExit(f"--task-lengths {T}: eval_torch.py builds tasks at "
                             f"{eval_rows.TASK_LENGTHS} only")
    if n > args.torch_needles or task_n > args.torch_task_n:
        raise SystemExit("--n / --task-n cannot exceed --torch-needles / --torch-task-n")
    res = {"device": f"tome score ({args.backend}, {args.threads or 'all'} threads)",
           "model": args.model, "tome": args.tome, "loss": {}, "needle": {}, "tasks": {},
           "rows": {"torch_lengths": torch_lengths, "torch_needles": args.torch_needles,
                    "torch_task_n": args.torch_task_n, "loss_rows": args.loss_rows,
                    "needles_scored": n, "tasks_scored": task_n},
           "seconds_by_group": {}}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as work:
        for section, key, rows in eval_rows.plan(valid, ev, torch_lengths, args.torch_needles,
                                                 args.torch_task_n, args.loss_rows,
                                                 bare=args.whichfile_bare):
            if section == "loss" and not args.no_loss:
                t1 = time.time()
                sc = tome_score(args.tome, args.model, rows, work, args.backend, args.threads,
                                args.logits_chunk)
                res["loss"][key] = eval_rows.loss_summary(enc, rows,
                                                          [(s["ce"], s["n"]) for s in sc])
                res["seconds_by_group"][key] = round(time.time() - t1, 1)
                print(json.dumps({key: res["loss"][key]}), flush=True)
            elif section == "needle" and key[0] in lengths:
                T, kind = key
                t1 = time.time()
                built = [answer_only(r) for r in rows[:n] if r is not None]
                sc = tome_score(args.tome, args.model, built, work, args.backend, args.threads,
                                args.logits_chunk)
                res["needle"].setdefault(T, {})[kind] = eval_rows.accuracy_summary(
                    [(s["exact"], s["exact_text"]) for s in sc])
                res["seconds_by_group"][f"{kind}_{T}"] = round(time.time() - t1, 1)
                print(json.dumps({"T": T, kind: res["needle"][T][kind]}), flush=True)
            elif (section == "tasks" and int(key.rsplit("_", 1)[1]) in task_lengths
                  and (not args.task_kinds or key.rsplit("_", 1)[0] in args.task_kinds.split(","))):
                t1 = time.time()
                built = [answer_only(r) for r in rows[:task_n] if r is not None]
                paths = key.startswith("whichfile") and not args.no_choose_paths
                pointer = key.startswith("whichfile") and bool(cfg.pointer_heads) and not args.no_pointer
                sc = tome_score(args.tome, args.model, built, work, args.backend, args.threads,
                                args.logits_chunk, choose_paths=paths, pointer=pointer)
                res["tasks"][key] = eval_rows.accuracy_summary(
                    [(s["exact"], s["exact_text"]) for s in sc])
                if paths:
                    res["tasks"][key]["paths"] = eval_rows.choice_summary(sc)
                if pointer:
                    res["tasks"][key]["pointer"] = eval_rows.pointer_summary(sc)
                res["seconds_by_group"][key] = round(time.time() - t1, 1)
                print(json.dumps({key: res["tasks"][key]}), flush=True)
    res["seconds"] = round(time.time() - t0, 1)
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=1))
    print(json.dumps(res))


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="Tome model directory")
    ap.add_argument("--tome", default="build/cpu/app/cli/tome")
    ap.add_argument("--eval-shards", default=str(HERE / "evalshards"))
    ap.add_argument("--lengths", help="needle lengths (plain: 1024,4096,16384; "
                    "--engine-tasks: 4096,16384)")
    ap.add_argument("--n", type=int, help="needle episodes per length (and kind) scored "
                    "(plain: 10; --engine-tasks: --torch-needles)")
    ap.add_argument("--agree-n", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out")
    et = ap.add_argument_group("--engine-tasks: eval_torch.py's measurements through `tome score`")
    et.add_argument("--engine-tasks", action="store_true")
    et.add_argument("--shards", default=str(HERE / "shards"), help="for the validation split")
    et.add_argument("--torch-lengths", default="4096,16384,32768,65536,131072",
                    help="the eval_torch.py run whose rows are reproduced: its --lengths")
    et.add_argument("--torch-needles", type=int, default=20, help="... its --needles")
    et.add_argument("--torch-task-n", type=int, default=100, help="... its --task-n (eval_torch.py's default)")
    et.add_argument("--loss-rows", type=int, default=16, help="... its --loss-rows")
    et.add_argument("--task-lengths", default="4096,16384",
                    help="task lengths scored (empty: none)")
    et.add_argument("--task-kinds", default="",
                    help="task kinds scored, e.g. whichfile,nextline (default: all)")
    et.add_argument("--task-n", type=int, help="task episodes per kind scored (the first "
                    "of --torch-task-n; default all)")
    et.add_argument("--whichfile-bare", action="store_true",
                    help="also each which-file episode asked in the bare form, \"Which file "
                    "defines SYMBOL?\" (tasks.whichfile_bare_T; the other rows stay the same)")
    et.add_argument("--no-loss", action="store_true", help="skip the held-out loss rows")
    et.add_argument("--no-needles", action="store_true", help="skip the needle rows")
    et.add_argument("--no-choose-paths", action="store_true",
                    help="which-file rows: skip the answer chosen among the context's file paths "
                    "(tome score --choose-paths; reported as tasks.whichfile_T.paths)")
    et.add_argument("--no-pointer", action="store_true",
                    help="which-file rows: skip the pointer's answer (tome score --pointer, when the "
                    "model's config.json names pointer_heads; reported as tasks.whichfile_T.pointer)")
    et.add_argument("--backend", default="cpu", choices=("auto", "cpu", "cuda"))
    et.add_argument("--logits-chunk", type=int, default=512)
    args = ap.parse_args(argv)
    if args.engine_tasks:
        return engine_tasks(args)
    args.lengths = args.lengths or "1024,4096,16384"
    args.n = 10 if args.n is None else args.n
    enc = tok.Encoder(tok.load(Path(args.model) / "tokenizer.model"))
    from yoco.config import YocoConfig
    cfg = YocoConfig.load(Path(args.model) / "config.json")
    maker = tasks.TaskMaker(shards.Split(args.eval_shards, "eval"), enc, cfg.templates, seed=99,
                            file_header_every=cfg.file_header_every)
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
