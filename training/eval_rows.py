# The evaluation rows, without PyTorch: exactly the rows eval_torch.py scores (the same TaskMakers,
# seeds and order, so the engine and PyTorch see the same episodes), the summaries both report
# (held-out loss / perplexity / bits per byte, exact-match accuracies), and the rows file that
# `tome score` reads (docs/model-format.md, "Scoring rows"):
#   "TOMEROWS", u32 version 1, u32 n_rows, then per row u32 T, i32 tokens[T+1], u8 lm[T],
#   u8 answer[T] (0/1), little-endian, nothing after the last row.
# A row is (tokens [T+1], lm mask [T], answer mask [T]) as data/tasks.py builds it.
import math
import struct
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "data"))
import shards  # noqa: E402
import tasks  # noqa: E402
import tokenizer as tok  # noqa: E402

ROWS_MAGIC = b"TOMEROWS"
ROWS_VERSION = 1
NEEDLE_KINDS = ("passkey", "passkey_plain", "multikey")
TASK_KINDS = ("quote", "follows", "whichfile", "nextline", "fim")
TASK_LENGTHS = (4096, 16384)


# ---- rows file ---------------------------------------------------------------------------------

def write_rows(path, rows):
    """rows: iterable of (tokens [T+1] int, lm [T] bool, answer [T] bool) -> the rows file."""
    rows = list(rows)
    with open(path, "wb") as f:
        f.write(ROWS_MAGIC + struct.pack("<II", ROWS_VERSION, len(rows)))
        for tokens, lm, ans in rows:
            tokens, lm, ans = np.asarray(tokens), np.asarray(lm), np.asarray(ans)
            T = lm.size
            if T < 1 or tokens.shape != (T + 1,) or ans.shape != (T,) or lm.shape != (T,):
                raise ValueError(f"{path}: a row needs tokens [T+1] and masks [T], T >= 1 "
                                 f"(got {tokens.shape}, {lm.shape}, {ans.shape})")
            if tokens.min() < 0 or tokens.max() >= 2 ** 31:
                raise ValueError(f"{path}: token ids must fit int32 and be >= 0")
            f.write(struct.pack("<I", T))
            f.write(tokens.astype("<i4").tobytes())
            f.write(lm.astype(bool).astype(np.uint8).tobytes())
            f.write(ans.astype(bool).astype(np.uint8).tobytes())


def read_rows(path):
    """The rows file -> [(tokens int64 [T+1], lm bool [T], answer bool [T])], every size checked."""
    data = Path(path).read_bytes()
    if len(data) < 16 or data[:8] != ROWS_MAGIC:
        raise ValueError(f"{path}: not a Tome rows file")
    version, n = struct.unpack_from("<II", data, 8)
    if version != ROWS_VERSION:
        raise ValueError(f"{path}: rows file version {version} is not supported")
    off, rows = 16, []
    for i in range(n):
        if off + 4 > len(data):
            raise ValueError(f"{path}: row {i} of {n}: truncated")
        (T,) = struct.unpack_from("<I", data, off)
        need = 4 + 4 * (T + 1) + 2 * T
        if T == 0 or off + need > len(data):
            raise ValueError(f"{path}: row {i} of {n}: bad length T = {T}")
        p = off + 4
        tokens = np.frombuffer(data, "<i4", T + 1, p).astype(np.int64)
        masks = np.frombuffer(data, np.uint8, 2 * T, p + 4 * (T + 1))
        if masks.max() > 1:
            raise ValueError(f"{path}: row {i} of {n}: a mask byte is not 0 or 1")
        rows.append((tokens, masks[:T].astype(bool), masks[T:].astype(bool)))
        off += need
    if off != len(data):
        raise ValueError(f"{path}: {len(data) - off} bytes after the last of {n} rows")
    return rows


# ---- the rows eval_torch.py scores -------------------------------------------------------------

def makers(shards_dir, eval_shards_dir, templates, file_header_every=0):
    """(encoder, validation TaskMaker seed 11, evaluation TaskMaker seed 12), as eval_torch.py;
    file_header_every: the model's config.json layout of repositories (0: one header a file)."""
    enc = tok.Encoder(tok.load(Path(shards_dir) / "tokenizer.model"))
    valid = tasks.TaskMaker(shards.Split(shards_dir, "valid"), enc, templates, seed=11,
                            file_header_every=file_header_every)
    ev = tasks.TaskMaker(shards.Split(eval_shards_dir, "eval"), enc, templates, seed=12,
                         file_header_every=file_header_every)
    return enc, valid, ev


def heldout_rows(maker, T, n, kinds=None):
    """n LM rows of T from maker's stream, or (kinds) from whole documents of those kinds."""
    rng = np.random.default_rng(7)
    rows = []
    for _ in range(n):
        if kinds is None:
            rows.append(maker.lm_row(T))
            continue
        docs = [i for i in range(len(maker.split)) if maker.split.docs[i, 2] in kinds]
        ids = np.concatenate([maker.split.doc(int(i)) for i in rng.permutation(docs)[:64]])
        s = int(rng.integers(0, max(1, ids.size - T - 1)))
        toks = ids[s:s + T + 1].astype(np.int64)
        rows.append((toks, np.ones(toks.size - 1, bool), np.zeros(toks.size - 1, bool)))
    return rows


def needle_rows(ev, T, n):
    """{kind: [row or None] * n}, needles at depths 0, 1/9, ..., 1 (cycled), in eval order."""
    depth = lambda i: (i % 10) / 9  # noqa: E731
    return {
        "passkey": [ev.passkey(T, depth=depth(i), form=0) for i in range(n)],
        "passkey_plain": [ev.passkey(T, plain=True, depth=depth(i)) for i in range(n)],
        "multikey": [ev.multikey(T, depth=depth(i)) for i in range(n)],
    }


def task_rows(ev, T, n, bare=False):
    """{kind: [row or None] * n} for the held-out text/repository tasks, in eval order.
    "nextline_intree" is each "nextline" episode again (the same file, cursor and line) with the
    target file also in the repository context, as when completing in an unchanged file of an
    ingested repository; it is built from a copy of the makers' random state, so the other rows
    are the same with or without it. With bare, "whichfile_bare" is each "whichfile" episode again
    asked in the bare form, "Which file defines SYMBOL?" (tasks.WHICHFILE_FORMS), built the same
    way."""
    out = {}
    out["quote"] = [ev.quote(T) for _ in range(n)]
    out["follows"] = [ev.follows(T) for _ in range(n)]
    out["whichfile"] = []
    if bare:
        out["whichfile_bare"] = []
    for _ in range(n):
        if bare:
            state = (ev.rng.getstate(), ev.nrng.bit_generator.state)
            twin = ev.whichfile(T, form=1)
            ev.rng.setstate(state[0])
            ev.nrng.bit_generator.state = state[1]
        out["whichfile"].append(ev.whichfile(T, form=0))
        if bare:
            out["whichfile_bare"].append(twin if out["whichfile"][-1] is not None else None)
    out["nextline"], out["nextline_intree"] = [], []
    for _ in range(n):
        state = (ev.rng.getstate(), ev.nrng.bit_generator.state)
        twin = ev.fim(T, keep_target=True, empty_suffix=True, n_lines=1, col=0)
        ev.rng.setstate(state[0])
        ev.nrng.bit_generator.state = state[1]
        out["nextline"].append(ev.fim(T, keep_target=False, empty_suffix=True, n_lines=1, col=0))
        out["nextline_intree"].append(twin if out["nextline"][-1] is not None else None)
    out["fim"] = [ev.fim(T, keep_target=False) for _ in range(n)]
    return out


def plan(valid, ev, lengths, needles, task_n, loss_rows, long_loss=(), task_lengths=TASK_LENGTHS,
         bare=False):
    """Every row group of an eval_torch.py run, in its order (the makers' random streams depend on
    it): yields (section, key, rows) with section "loss" (key valid_2048, mhcc_2048,
    heldout_repos_2048), "needle" (key (T, kind)) or "tasks" (key "<kind>_<T>"). long_loss
    [(T, n)]: then n validation rows of T each ("loss", key valid_<T>), last, so that the rows
    before them do not depend on it. task_lengths: the task rows' lengths (eval.py --engine-tasks
    reproduces the default only). bare: task_rows' "whichfile_bare" twins too (the other rows
    stay the same)."""
    yield "loss", "valid_2048", heldout_rows(valid, 2048, loss_rows)
    yield "loss", "mhcc_2048", heldout_rows(ev, 2048, loss_rows, kinds=(0,))
    yield "loss", "heldout_repos_2048", heldout_rows(ev, 2048, loss_rows, kinds=(2,))
    for T in lengths:
        for kind, rows in needle_rows(ev, T, needles).items():
            yield "needle", (T, kind), rows
    for T in task_lengths:
        for kind, rows in task_rows(ev, T, task_n, bare=bare).items():
            yield "tasks", f"{kind}_{T}", rows
    for T, n in long_loss:
        yield "loss", f"valid_{T}", heldout_rows(valid, T, n)


# ---- summaries (the JSON of eval_torch.py) -----------------------------------------------------

def loss_summary(enc, rows, scores):
    """rows and their (ce sum, lm targets) -> loss, ppl, bits_per_byte, tokens."""
    tot_ce = sum(s[0] for s in scores)
    tot_tok = sum(s[1] for s in scores)
    tot_bytes = sum(len(enc.decode(r[0][1:]).encode("utf-8")) for r in rows)
    loss = tot_ce / tot_tok
    return {"loss": round(loss, 4), "ppl": round(math.exp(loss), 2),
            "bits_per_byte": round(tot_ce / math.log(2) / max(1, tot_bytes), 4),
            "tokens": tot_tok}


def choice_summary(scores):
    """`tome score --choose-paths` results -> accuracy of the chosen path over the rows that had
    file paths to choose from, their count, and the mean paths and decode steps per row."""
    had = [s for s in scores if s.get("choice_exact") is not None]
    ok = sum(bool(s["choice_exact"]) for s in had)
    mean = lambda k: round(sum(s[k] for s in had) / max(1, len(had)), 1)  # noqa: E731
    return {"exact": round(ok / max(1, len(had)), 3), "n": len(had), "mean_choices": mean("choices"),
            "mean_steps": mean("choice_steps")}


def pointer_summary(scores):
    """`tome score --pointer` results -> accuracy of the pointer's file (the model's pointer heads,
    results/pointer/, among the files holding the symbol: pointer_exact) over the rows it read (a
    question with a symbol and file headers), and their count; "top": the heads' file among all
    files (pointer_top_exact); "several": the rows where more than one file holds the symbol, and
    the pointer's accuracy there."""
    had = [s for s in scores if s.get("pointer_exact") is not None]
    ok = sum(bool(s["pointer_exact"]) for s in had)
    out = {"exact": round(ok / max(1, len(had)), 3), "n": len(had)}
    if any("pointer_top_exact" in s for s in had):
        out["top"] = round(sum(bool(s.get("pointer_top_exact")) for s in had) / max(1, len(had)), 3)
        sev = [s for s in had if len(s.get("pointer_occurrences") or {}) > 1]
        out["several"] = {"n": len(sev), "exact": round(sum(bool(s["pointer_exact"]) for s in sev) / max(1, len(sev)), 3)}
    return out


def accuracy_summary(results):
    """[(exact, exact_text)] of the rows that were built -> exact, exact_text, n."""
    done = len(results)
    ok = sum(bool(e) for e, _ in results)
    ok_text = sum(bool(et) for _, et in results)
    return {"exact": round(ok / max(1, done), 3), "exact_text": round(ok_text / max(1, done), 3),
            "n": done}
