# Splits a shard folder (shards.py) into two halves by document, and merges them back, so that a
# corpus larger than what one `run` call may carry reaches the GPU machine in two calls (a warm
# machine keeps the first half): carry part A (train half + valid + evaluation of progress) with
# the first call, part B with the second, then `merge` there.
#   python3 training/data/split_shards.py split training/shards training/runs/shards-a \
#       training/runs/shards-b
#   python3 training/data/split_shards.py merge training/runs/shards-a training/runs/shards-b \
#       /tmp/shards                                     (on the GPU machine; xz preset 0, fast)
# Part A is a complete shard folder (train half, the whole valid split); part B holds only its
# train half (+ meta.json, tokenizer.model). Code documents of one repository (group) stay
# together; groups keep their indices (meta "groups" is copied whole).
import argparse
import json
import lzma
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import shards  # noqa: E402

META_LISTS = ("paths", "symbols", "sources")


def assign(docs):
    """docs [n, 4] -> part (0/1) per document: repositories (kind code) whole, largest first to
    the lighter part; other documents alternately by index."""
    part = np.zeros(len(docs), dtype=np.int64)
    code = docs[:, 2] == shards.KINDS.index("code")
    part[~code] = np.arange(len(docs))[~code] % 2
    load = [0, 0]
    groups = np.unique(docs[code, 3])
    sizes = {int(g): int(docs[code & (docs[:, 3] == g), 1].sum()) for g in groups}
    for g in sorted(sizes, key=lambda g: -sizes[g]):
        p = int(load[1] < load[0])
        part[code & (docs[:, 3] == g)] = p
        load[p] += sizes[g]
    return part


def subset(split, keep):
    """A Split and document indices -> (tokens uint16, docs [k, 4], meta lists)."""
    pieces, docs, start = [], [], 0
    for i in keep:
        t = split.doc(int(i))
        pieces.append(t)
        docs.append((start, t.size, int(split.docs[i, 2]), int(split.docs[i, 3])))
        start += t.size
    tokens = np.concatenate(pieces) if pieces else np.zeros(0, np.uint16)
    lists = {k: [split.meta["train"][k][int(i)] for i in keep] for k in META_LISTS}
    return tokens, np.asarray(docs, np.int64).reshape(-1, 4), lists


def write_part(folder, src, tokens, docs, lists, with_valid, preset=6):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(src) / "tokenizer.model", folder / "tokenizer.model")
    (folder / "train.tokens.xz").write_bytes(
        lzma.compress(_planes(tokens), preset=preset))
    np.save(folder / "train.docs.npy", docs)
    meta = json.loads((Path(src) / "meta.json").read_text(encoding="utf-8"))
    meta["train"] = {**lists, "n_tokens": int(tokens.size)}
    if with_valid:
        for name in ("valid.tokens.xz", "valid.docs.npy"):
            shutil.copyfile(Path(src) / name, folder / name)
    else:
        meta.pop("valid", None)
    (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def _planes(tokens):
    a = np.ascontiguousarray(tokens, dtype="<u2").view(np.uint8).reshape(-1, 2)
    return np.concatenate((a[:, 1], a[:, 0])).tobytes()


def split(src, out_a, out_b):
    s = shards.Split(src, "train")
    part = assign(s.docs)
    for p, out in ((0, out_a), (1, out_b)):
        keep = np.nonzero(part == p)[0]
        tokens, docs, lists = subset(s, keep)
        write_part(out, src, tokens, docs, lists, with_valid=p == 0)
        size = sum(f.stat().st_size for f in Path(out).iterdir())
        print(f"{out}: {len(keep)} docs, {tokens.size / 1e6:.2f} M tokens, {size / 2**20:.1f} MiB")


def merge(part_a, part_b, out, preset=0):
    a, b = shards.Split(part_a, "train"), shards.Split(part_b, "train")
    tokens = np.concatenate((a.tokens, b.tokens))
    docs_b = b.docs.copy()
    docs_b[:, 0] += a.tokens.size
    docs = np.concatenate((a.docs, docs_b))
    lists = {k: a.meta["train"][k] + b.meta["train"][k] for k in META_LISTS}
    write_part(out, part_a, tokens, docs, lists, with_valid=True, preset=preset)
    print(f"{out}: {len(docs)} docs, {tokens.size / 1e6:.2f} M tokens")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=("split", "merge"))
    ap.add_argument("paths", nargs=3, help="split: SRC A B; merge: A B OUT")
    args = ap.parse_args(argv)
    (split if args.cmd == "split" else merge)(*args.paths)


if __name__ == "__main__":
    main()
