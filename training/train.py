# Trains a YOCO (training/yoco) on pre-tokenised shards (data/shards.py) with the long-context
# tasks of data/tasks.py mixed in. bf16 autocast, AdamW (0.9, 0.95), warm-up + cosine, clip 1.0,
# a length curriculum planned in TIME (a throughput probe at the start turns each stage's share of
# --time-budget into steps), checkpoint + resume so one run spans several <= 10-minute commands,
# DDP through torchrun (one process per GPU; rows split across ranks).
#
#   python3 training/train.py --shards training/shards --ckpt-dir /tmp/tome-train \
#       --time-budget 1100 --piece-seconds 520 --out-dir $OUT
#   torchrun --nproc_per_node=8 training/train.py ...            (same flags, several GPUs)
#
# Writes CKPT_DIR/ckpt.pt (model fp32 + optimiser + step + plan + log; resumed automatically),
# CKPT_DIR/log.jsonl, and into --out-dir: weights.pt.partNN (bf16 weights + config + step, split
# in 15 MiB parts: `cat weights.pt.part* > weights.pt`) and log.jsonl. --init-from weights.pt
# resumes from such bf16 weights when the machine (and CKPT_DIR) was lost (optimiser restarts).
#
# Continued training of a shipped model (a model directory; int8 matrices dequantised with their
# row scales) with a fresh optimiser, e.g. the long-context run of tome-25m v2:
#   torchrun --nproc_per_node=1 training/train.py --init-model resources/models/tome-25m \
#       --rope-theta 1e10 --stages 131072:0.6,262144:0.4 --lr 3e-4 --min-lr 3e-5 --warmup 20 \
#       --skip-prob 0.5 --far-share 0.3 --checkpoint-from 262144 --task-mix passkey:0.2,... \
#       --time-budget 860 --piece-seconds 470 ...
# --skip-prob: share of steps whose positions jump once inside the row (0..c-1, then c+s..):
# the row's T tokens then span relative distances up to --skip-max (PoSE-style long-distance
# training at the compute of T). --checkpoint-from T: recompute layers in backward at T and up.
# --skip-from T: jumps only in rows of T and longer.
#
# --interleave: the stages' steps are interleaved (each step goes to the stage furthest behind its
# share of steps, one loader per stage) instead of run one after the other; --stage-mix
# T=task:share,... gives a stage its own task mix. E.g. short which-file / next-line rows mixed
# with long pass-key rows: --stages 4096:0.35,16384:0.35,131072:0.3 --interleave
#   --stage-mix 4096=whichfile:0.2,nextline:0.15,... --stage-mix 131072=passkey:0.3,...
#
# --arch transformer: the same-size plain Transformer (yoco/transformer.py: every layer causal
# GQA attention with its own K/V) with the same recipe, for the comparison in the model card. Its
# checkpoints carry "arch": "transformer"; export.py refuses them (not a Tome model).
import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "data"))
from yoco.config import YocoConfig  # noqa: E402
from yoco.transformer import ARCHS, make_model  # noqa: E402
import shards  # noqa: E402
import tasks  # noqa: E402
import tokenizer as tok  # noqa: E402

PRESETS = {
    "tome-25m": dict(dim=384, n_self_layers=6, n_cross_layers=6, n_self_heads=6, n_heads=6,
                     n_kv_heads=2, ffn_dim=1024),
    "tiny": dict(dim=64, n_self_layers=2, n_cross_layers=2, n_self_heads=4, n_heads=4,
                 n_kv_heads=2, ffn_dim=128),
}
# Share of the rows that are task episodes, by task (the rest are LM rows).
TASK_MIX = {"passkey": 0.12, "passkey_plain": 0.08, "multikey": 0.08, "quote": 0.08,
            "follows": 0.06, "whichfile": 0.04, "fim": 0.04}


def parse_stages(s):
    """"512:0.2,2048:0.3" -> [(512, 0.2), (2048, 0.3)] (time shares, normalised)."""
    st = [(int(a), float(b)) for a, b in (x.split(":") for x in s.split(","))]
    tot = sum(f for _, f in st)
    return [(T, f / tot) for T, f in st]


# ---- distributed helpers ------------------------------------------------------------------------

class Dist:
    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local = int(os.environ.get("LOCAL_RANK", "0"))
        self.on = "WORLD_SIZE" in os.environ
        if torch.cuda.is_available():
            torch.cuda.set_device(self.local)
            self.device = torch.device("cuda", self.local)
        else:
            self.device = torch.device("cpu")
        if self.on:
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    @property
    def main(self):
        return self.rank == 0

    def broadcast(self, obj):
        if not self.on:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def mean(self, x):
        if not self.on:
            return x
        t = torch.tensor(x, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return (t / self.world).item()


# ---- data ----------------------------------------------------------------------------------------

class Rows(torch.utils.data.IterableDataset):
    """Endless batches (tokens, lm_mask, answer_mask) of `rows` x T from a TaskMaker built in the
    parent process (forked into the workers); each worker reseeds."""

    def __init__(self, maker, T, rows, mix, seed):
        self.maker, self.T, self.rows, self.mix, self.seed = maker, T, rows, mix, seed

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid = info.id if info else 0
        m = self.maker
        m.rng.seed(self.seed * 1000 + wid)
        m.nrng = np.random.default_rng(self.seed * 1000 + wid)
        while True:
            b = tasks.batch(m, self.T, self.rows, self.mix)
            yield tuple(torch.from_numpy(x) for x in b)


def loader(maker, T, rows, mix, seed, workers):
    ds = Rows(maker, T, rows, mix, seed)
    kw = {"prefetch_factor": 4} if workers else {}
    return iter(torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers,
                                            pin_memory=torch.cuda.is_available(), **kw))


# ---- model and loss ------------------------------------------------------------------------------

def make_config(args, vocab_size, templates):
    p = dict(PRESETS[args.preset], vocab_size=vocab_size, self_decoder=args.self_decoder,
             window=args.window if args.self_decoder == "sliding_window" else 0,
             rope_theta=args.rope_theta or 500000.0, max_context=args.max_context,
             name=args.name)
    cfg = YocoConfig(**p)
    cfg.templates = dict(templates)
    return cfg.validate()


def parse_mix(s):
    """"passkey:0.2,multikey:0.1" -> {task: share of rows}."""
    mix = {k: float(v) for k, v in (x.split(":") for x in s.split(","))}
    bad = set(mix) - set(tasks.TASKS)
    if bad or sum(mix.values()) > 1.0:
        raise SystemExit(f"--task-mix: unknown tasks {sorted(bad)} or shares over 1")
    return mix


def skip_positions(T, rng, prob, max_pos, device):
    """Positions [T] for one step: 0..T-1, or with probability prob one jump: 0..c-1 then
    c+s..T-1+s (c uniform in 1..T-1, s uniform in 0..max_pos-T): relative distances up to
    max_pos - 1 inside a row of T."""
    pos = torch.arange(T)
    if prob > 0 and max_pos > T and rng.random() < prob:
        c, sk = int(rng.integers(1, T)), int(rng.integers(0, max_pos - T + 1))
        pos[c:] += sk
    return pos.to(device)


def losses(model, tokens, lm_mask, ans_mask, amp, positions=None, checkpoint=False):
    """-> (lm loss, answer loss, n answer rows, n answer rows exactly right) as tensors.
    positions / checkpoint: see Yoco.trunk (None / False: the plain forward)."""
    inp, tgt = tokens[:, :-1], tokens[:, 1:]
    with torch.autocast(tokens.device.type, dtype=torch.bfloat16, enabled=amp):
        logits = model(inp, positions, checkpoint)
    ce = F.cross_entropy(logits.float().flatten(0, 1), tgt.flatten(), reduction="none")
    ce = ce.view(tgt.shape)
    lmf, ansf = lm_mask.float(), ans_mask.float()
    lm = (ce * lmf).sum() / lmf.sum().clamp(min=1)
    ans = (ce * ansf).sum() / ansf.sum().clamp(min=1)
    with torch.no_grad():
        right = (logits.argmax(-1) == tgt) | ~ans_mask
        has = ans_mask.any(-1)
        n_rows, n_ok = has.sum(), (right.all(-1) & has).sum()
    return lm, ans, n_rows, n_ok


@torch.no_grad()
def evaluate(model, maker, T, device, amp, n_lm=8, n_task=8, tasks_=None, seed=1234):
    """Held-out LM loss on n_lm rows of T and exact-match accuracy (teacher forced argmax over
    every answer token incl. EOS == greedy decoding gives exactly the answer) per task."""
    model.eval()
    maker.rng.seed(seed)
    maker.nrng = np.random.default_rng(seed)
    out = {}
    tot = 0.0
    for _ in range(n_lm):
        b = [torch.from_numpy(x[None]).to(device) for x in maker.lm_row(T)]
        lm, _, _, _ = losses(model, *b, amp)
        tot += lm.item()
    out["valid_lm"] = tot / n_lm
    for task in tasks_ or tasks.TASKS:
        ok = n = 0
        ans_loss = 0.0
        for _ in range(n_task):
            r = maker.episode(task, T)
            if r is None:
                continue
            b = [torch.from_numpy(x[None]).to(device) for x in r]
            _, a, nr, nk = losses(model, *b, amp)
            ok, n, ans_loss = ok + nk.item(), n + nr.item(), ans_loss + a.item()
        if n:
            out[f"acc_{task}"] = ok / n
            out[f"ansloss_{task}"] = ans_loss / n
    model.train()
    return out


# ---- schedule, probe, checkpoints ----------------------------------------------------------------

def lr_at(step, total, warmup, lr, min_lr):
    if step < warmup:
        return lr * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * p))


def make_optimizer(model, args, device):
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    kw = dict(lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    if device.type == "cuda":
        kw["fused"] = True
    return torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                              {"params": no_decay, "weight_decay": 0.0}], **kw)


def probe(model, stages, rows_of, vocab, device, amp, reps=3, ckpt_of=lambda T: False):
    """Seconds per optimiser step at each stage length (random tokens; model restored after)."""
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    out = {}
    for T, _ in stages:
        B = rows_of(T)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        x = torch.randint(4, vocab, (B, T + 1), device=device)
        m = torch.ones(B, T, dtype=torch.bool, device=device)
        times = []
        for i in range(reps + 1):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            lm, ans, _, _ = losses(model, x, m, m, amp, checkpoint=ckpt_of(T))
            (lm + ans).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - t0)
        out[T] = float(np.median(times))
        if device.type == "cuda":
            print(json.dumps({"probe_T": T, "s_per_step": round(out[T], 3), "peak_mem_gib": round(
                torch.cuda.max_memory_allocated() / 2**30, 2)}), flush=True)
    model.load_state_dict(saved)
    del opt
    return out


def arch_of(model):
    return getattr(model, "arch", "yoco")


def parse_stage_mixes(items):
    """["4096=whichfile:0.2,fim:0.1", ...] -> {4096: {task: share}}."""
    out = {}
    for it in items or []:
        T, _, mix = it.partition("=")
        if not T.isdigit() or not mix:
            raise SystemExit(f"--stage-mix {it!r}: expected T=task:share,...")
        out[int(T)] = parse_mix(mix)
    return out


def schedule(plan, interleave):
    """The stage index of every step: stages in sequence, or interleaved (each step to the stage
    whose next step is due earliest, (done + 1) / steps; ties to the earlier stage)."""
    if not interleave:
        return [i for i, p in enumerate(plan) for _ in range(p["steps"])]
    done, out = [0] * len(plan), []
    for _ in range(sum(p["steps"] for p in plan)):
        i = min((i for i, p in enumerate(plan) if done[i] < p["steps"]),
                key=lambda i: ((done[i] + 1) / plan[i]["steps"], i))
        done[i] += 1
        out.append(i)
    return out


def save_checkpoint(path, model, opt, state):
    tmp = Path(str(path) + ".tmp")
    torch.save({"config": model.cfg.to_json_dict(), "arch": arch_of(model),
                "model": model.state_dict(),
                "optim": opt.state_dict(), **state}, tmp)
    os.replace(tmp, path)


def export_weights(out_dir, model, state, part_mib=15):
    """bf16 weights + config + step/plan/log, split into parts of part_mib MiB."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / "weights.pt.tmp"
    torch.save({"config": model.cfg.to_json_dict(), "arch": arch_of(model),
                "model": {k: v.detach().to(torch.bfloat16).cpu()
                          for k, v in model.state_dict().items()},
                **{k: state[k] for k in ("step", "plan", "tokens_seen") if k in state}}, tmp)
    blob = tmp.read_bytes()
    tmp.unlink()
    for old in out_dir.glob("weights.pt.part*"):
        old.unlink()
    n = part_mib << 20
    for i in range(0, len(blob), n):
        (out_dir / f"weights.pt.part{i // n:02d}").write_bytes(blob[i:i + n])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shards", default=str(HERE / "shards"))
    ap.add_argument("--ckpt-dir", default="/tmp/tome-train")
    ap.add_argument("--out-dir", default=os.environ.get("OUT"), help="small copies (bf16, log)")
    ap.add_argument("--init-from", help="bf16 weights.pt (from --out-dir) when ckpt.pt is lost")
    ap.add_argument("--init-model", help="a model directory (export.py; int8 dequantised) to "
                    "continue training from, with a fresh optimiser and plan (no ckpt.pt yet)")
    ap.add_argument("--preset", default="tome-25m", choices=sorted(PRESETS))
    ap.add_argument("--arch", default="yoco", choices=ARCHS,
                    help="transformer: the same-size baseline (comparison only, not exportable)")
    ap.add_argument("--name", default="tome-25m")
    ap.add_argument("--self-decoder", default="gated_retention",
                    choices=("gated_retention", "sliding_window"))
    ap.add_argument("--window", type=int, default=1024, help="sliding_window: keys per query")
    ap.add_argument("--rope-theta", type=float,
                    help="default 500000 (new model) or the --init-model's own (given: replaces it)")
    ap.add_argument("--max-context", type=int, default=1 << 20)
    ap.add_argument("--stages", default="512:0.2,2048:0.2,8192:0.2,32768:0.2,131072:0.2",
                    help="T:share-of-time,... (the length curriculum)")
    ap.add_argument("--time-budget", type=float, default=1100.0,
                    help="seconds of training for the whole run (planned at the first start)")
    ap.add_argument("--total-steps", type=int, help="plan by steps instead (split by share)")
    ap.add_argument("--piece-seconds", type=float, default=1e9,
                    help="stop (and checkpoint) after this many seconds of this invocation")
    ap.add_argument("--tokens-per-step", type=int, default=65536)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--min-lr", type=float, default=1.5e-4)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--task-scale", type=float, default=1.0, help="scales TASK_MIX")
    ap.add_argument("--task-mix", help="task:share,... replaces TASK_MIX (rest: LM rows)")
    ap.add_argument("--stage-mix", action="append",
                    help="T=task:share,...: the task mix of the stage of length T (repeatable)")
    ap.add_argument("--interleave", action="store_true",
                    help="interleave the stages' steps instead of running them in sequence")
    ap.add_argument("--whichfile-bare", type=float, default=0.0,
                    help="share of which-file questions in the bare form, \"Which file defines "
                    "SYMBOL?\" (tasks.WHICHFILE_FORMS; else with the symbol in backticks)")
    ap.add_argument("--far-share", type=float, default=0.0,
                    help="share of pass-key needles placed in the first quarter of the row")
    ap.add_argument("--skip-prob", type=float, default=0.0,
                    help="share of steps with one position jump inside the row")
    ap.add_argument("--skip-max", type=int, help="largest position + 1 with a jump "
                    "(default: the config's max_context)")
    ap.add_argument("--skip-from", type=int, default=0,
                    help="position jumps only in rows of T >= this (0: every row)")
    ap.add_argument("--checkpoint-from", type=int, default=0,
                    help="activation checkpointing (layers recomputed) for rows of T >= this "
                    "(0: never)")
    ap.add_argument("--file-header-every", type=int,
                    help="restate a file's header inside it every N tokens (config.json "
                    "file_header_every; 0: once; default: the --init-model's own, else 0)")
    ap.add_argument("--whichfile-deep", type=float, default=0.0,
                    help="share of which-file rows asking for a symbol defined >= 500 characters "
                    "after its file's header")
    ap.add_argument("--answer-weight", type=float, default=1.0, help="extra loss on answers")
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--eval-seconds", type=float, default=120.0)
    ap.add_argument("--eval-n", type=int, default=8,
                    help="held-out rows and episodes per task at each evaluation")
    ap.add_argument("--save-seconds", type=float, default=150.0)
    ap.add_argument("--chunk-size", type=int, default=64, help="gated retention chunk")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-amp", action="store_true")
    ap.add_argument("--cpu-bf16", action="store_true",
                    help="bf16 autocast on the CPU too (no GPU: small experiments)")
    args = ap.parse_args(argv)

    t_start = time.time()
    D = Dist()
    device = D.device
    amp = not args.no_amp and (D.device.type == "cuda" or args.cpu_bf16)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(args.seed + D.rank)
    log_lines = []

    def log(rec):
        if D.main:
            rec = {"t": round(time.time() - t_start, 1), **rec}
            print(json.dumps(rec), flush=True)
            log_lines.append(rec)

    # Data (built once in the parent; loader workers fork it).
    sp = tok.load(Path(args.shards) / "tokenizer.model")
    enc = tok.Encoder(sp)
    meta = json.loads((Path(args.shards) / "meta.json").read_text())
    if enc.encode(meta["check"]["text"]) != meta["check"]["ids"]:
        log({"warning": "this SentencePiece encodes the check text differently from the one "
                        "that made the shards (task questions may tokenise differently)"})
    train_split = shards.Split(args.shards, "train")
    valid_split = shards.Split(args.shards, "valid")

    ckpt_path = Path(args.ckpt_dir) / "ckpt.pt"
    Path(args.ckpt_dir).mkdir(parents=True, exist_ok=True)
    resume = None
    if ckpt_path.exists():
        resume = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    if resume is None and args.init_from:
        resume = torch.load(args.init_from, map_location="cpu", weights_only=False)
        log({"event": "init_from_bf16", "step": resume.get("step")})
    init_sd = None
    arch = args.arch
    if resume is not None:
        cfg = YocoConfig.from_json_dict(resume["config"])
        arch = resume.get("arch", "yoco")
        if arch != args.arch:
            log({"warning": f"resuming a {arch} checkpoint (--arch {args.arch} ignored)"})
    elif args.init_model:
        if arch != "yoco":
            raise SystemExit("--init-model loads a Tome (YOCO) model directory: not with "
                             f"--arch {arch}")
        from export import load_model_dir
        src = load_model_dir(args.init_model)
        cfg, init_sd = src.cfg, src.state_dict()
        if args.rope_theta:
            cfg.rope_theta = args.rope_theta
        cfg.validate()
        log({"event": "init_model", "dir": args.init_model, "rope_theta": cfg.rope_theta})
    else:
        from yoco.config import DEFAULT_TEMPLATES
        if arch != "yoco" and args.self_decoder != "gated_retention":
            raise SystemExit("--self-decoder applies to --arch yoco only")
        cfg = make_config(args, sp.get_piece_size(), DEFAULT_TEMPLATES)
    if resume is None and args.file_header_every is not None:
        cfg.file_header_every = args.file_header_every   # the layout the rows and config.json use
        cfg.validate()
    model = make_model(cfg, arch)
    model.reset_parameters(seed=args.seed)
    model.set_retention(chunk_size=args.chunk_size)
    if init_sd is not None:
        model.load_state_dict(init_sd)
    model.to(device)
    n_params = sum(p.numel() for p in model.parameters())
    stages = parse_stages(args.stages)
    world_rows = lambda T: max(1, args.tokens_per_step // T)  # noqa: E731
    rows_of = lambda T: max(1, world_rows(T) // D.world)  # noqa: E731
    train_maker = tasks.TaskMaker(train_split, enc, cfg.templates, seed=args.seed + 17 * D.rank,
                                  file_header_every=cfg.file_header_every)
    valid_maker = tasks.TaskMaker(valid_split, enc, cfg.templates, seed=4321,
                                  file_header_every=cfg.file_header_every)
    mix = {k: v * args.task_scale
           for k, v in (parse_mix(args.task_mix) if args.task_mix else TASK_MIX).items()}
    stage_mix = {T: {k: v * args.task_scale for k, v in m.items()}
                 for T, m in parse_stage_mixes(args.stage_mix).items()}
    if set(stage_mix) - {T for T, _ in stages}:
        raise SystemExit(f"--stage-mix for lengths not in --stages: "
                         f"{sorted(set(stage_mix) - {T for T, _ in stages})}")
    train_maker.far_share = args.far_share
    train_maker.deep_share = args.whichfile_deep
    train_maker.bare_share = args.whichfile_bare
    skip_max = args.skip_max or cfg.max_context
    ckpt_of = lambda T: bool(args.checkpoint_from) and T >= args.checkpoint_from  # noqa: E731

    opt = make_optimizer(model, args, device)
    state = {"step": 0, "tokens_seen": 0, "log": []}
    if resume is not None:
        model.load_state_dict({k: v.float() for k, v in resume["model"].items()})
        if "optim" in resume:
            opt.load_state_dict(resume["optim"])
        for k in ("step", "plan", "tokens_seen", "log", "probe"):
            if k in resume:
                state[k] = resume[k]
        log({"event": "resume", "step": state["step"], "from": "ckpt" if "optim" in resume
             else "bf16 weights"})
    if "plan" not in state:
        if args.total_steps:
            secs = None
            plan = [{"T": T, "steps": max(1, int(round(f * args.total_steps)))} for T, f in stages]
        else:
            secs = probe(model, stages, rows_of, cfg.vocab_size, device, amp, ckpt_of=ckpt_of)
            secs = {T: D.mean(s) for T, s in secs.items()}
            plan = [{"T": T, "steps": max(1, int(f * args.time_budget / secs[T]))}
                    for T, f in stages]
        state["plan"], state["probe"] = D.broadcast(plan), secs
    plan = state["plan"]
    total = sum(p["steps"] for p in plan)
    order = schedule(plan, args.interleave)
    last_of = {order[s]: s for s in range(len(order))}  # stage -> its last step
    log({"event": "start", "arch": arch, "params": n_params, "config": cfg.to_json_dict(),
         "plan": plan, "interleave": args.interleave, "stage_mix": stage_mix,
         "skip_from": args.skip_from,
         "probe_s_per_step": state.get("probe"), "world": D.world, "device": str(device),
         "torch": torch.__version__, "task_mix": mix, "far_share": args.far_share, "whichfile_deep": args.whichfile_deep,
         "whichfile_bare": args.whichfile_bare,
         "skip_prob": args.skip_prob, "skip_max": skip_max,
         "checkpoint_from": args.checkpoint_from, "lr": [args.lr, args.min_lr, args.warmup]})
    dmodel = torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[D.local] if device.type == "cuda" else None) if D.on else model

    step = state["step"]
    loaders = {}                           # stage index -> batch iterator
    t_log, tok_log = time.time(), 0
    t_eval = t_save = time.time()
    aggs = {}                              # T -> sums since the last log line
    stop = False
    while step < total and not stop:
        si = order[step]
        T = plan[si]["T"]
        if si not in loaders:
            if not args.interleave:
                loaders.clear()            # sequential: the previous stage's workers end
            loaders[si] = loader(train_maker, T, rows_of(T), stage_mix.get(T, mix),
                                 args.seed * 7919 + step * 31 + D.rank, args.workers)
            log({"event": "stage", "T": T, "rows_per_rank": rows_of(T), "step": step,
                 "until": last_of[si] + 1, "task_mix": stage_mix.get(T, mix)})
        tokens, lm_mask, ans_mask = (x.to(device, non_blocking=True) for x in next(loaders[si]))
        lr = lr_at(step, total, args.warmup, args.lr, args.min_lr)
        for g in opt.param_groups:
            g["lr"] = lr
        pos = None
        if args.skip_prob > 0 and T >= args.skip_from:
            pos = skip_positions(T, np.random.default_rng(args.seed * 100003 + step),
                                 args.skip_prob, skip_max, device)
        lm, ans, n_rows, n_ok = losses(dmodel, tokens, lm_mask, ans_mask, amp, pos, ckpt_of(T))
        loss = lm + args.answer_weight * ans
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        state["tokens_seen"] += tokens.shape[0] * T * D.world
        tok_log += tokens.shape[0] * T * D.world
        agg = aggs.setdefault(T, {"lm": 0.0, "ans": 0.0, "rows": 0, "ok": 0, "n": 0})
        agg["lm"] += lm.detach()
        agg["ans"] += ans.detach()
        agg["rows"] += n_rows
        agg["ok"] += n_ok
        agg["n"] += 1
        if step % args.log_every == 0 or step == total:
            now = time.time()
            for T_, agg in sorted(aggs.items()):   # one line per row length in the window
                n = agg["n"]
                log({"step": step, "T": T_, "steps": n, "lr": round(lr, 6),
                     "loss": round(agg["lm"].item() / n, 4),
                     "ans_loss": round(agg["ans"].item() / n, 4),
                     "ans_acc": round(agg["ok"].item() / max(1, agg["rows"].item()), 3),
                     "gnorm": round(gnorm.item(), 3), "tok_s": round(tok_log / (now - t_log)),
                     "tokens": state["tokens_seen"],
                     **({"peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)}
                        if device.type == "cuda" else {})})
            t_log, tok_log = now, 0
            aggs = {}
        stage_done = step - 1 == last_of[si]
        if D.main and (time.time() - t_eval > args.eval_seconds or stage_done or step == total):
            small, n = T <= 8192, args.eval_n     # past 8K: n/4 LM rows, 3n/8 episodes
            ev = evaluate(model, valid_maker, T, device, amp,
                          n_lm=n if small else max(1, n // 4),
                          n_task=n if small else max(1, 3 * n // 8))
            log({"eval": step, "T": T, **{k: round(v, 4) for k, v in ev.items()}})
            t_eval = time.time()
        if step % 10 == 0 or stage_done or T >= 32768:   # long rows: seconds per step
            over = time.time() - t_start > args.piece_seconds
            stop = bool(D.broadcast(over))
        if D.main and (stop or step == total or time.time() - t_save > args.save_seconds):
            state["step"] = step
            state["log"] = state.get("log", []) + log_lines
            log_lines = []
            save_checkpoint(ckpt_path, model, opt, state)
            with open(Path(args.ckpt_dir) / "log.jsonl", "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in state["log"])
            if args.out_dir:
                export_weights(args.out_dir, model, state)
                (Path(args.out_dir) / "log.jsonl").write_text(
                    "".join(json.dumps(r) + "\n" for r in state["log"]))
            t_save = time.time()
    log({"event": "stop", "step": step, "total": total, "done": step >= total,
         "seconds": round(time.time() - t_start, 1)})
    if D.on:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
