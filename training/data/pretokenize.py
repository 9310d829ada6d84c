# corpus (SCRATCH/corpus/{train,valid}.jsonl) + tokenizer -> pre-tokenised shards (shards.py) in a
# git-ignored folder that travels to the GPU machine with `run(carry=[...])`.
# Usage: python3 training/data/pretokenize.py --tokenizer /work/scratch/tokenizer/tome8k.model \
#            --out training/shards [--max-mib 60]
import argparse
import json
import multiprocessing as mp
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import packages  # noqa: E402
import shards  # noqa: E402
import tokenizer as tok  # noqa: E402

_ENC = None


def _init(model_path):
    global _ENC
    _ENC = tok.Encoder(tok.load(model_path))


def _encode(rec):
    text = rec["path"] + "\n" + rec["text"] if rec["kind"] == "code" else rec["text"]
    return np.asarray(_ENC.encode(text), dtype=np.uint16)


def read_jsonl(path, trainable=True):
    with open(path, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if trainable:
                packages.assert_trainable(rec["source"])
            yield rec


def run(corpus_dir, model_path, out, workers=2, log=print, splits=shards.SPLITS, trainable=True):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_path, out / "tokenizer.model")
    groups, meta = [], {}
    enc = tok.Encoder(tok.load(model_path))
    with mp.Pool(workers, initializer=_init, initargs=(str(model_path),)) as pool:
        for split in splits:
            recs = list(read_jsonl(Path(corpus_dir) / f"{split}.jsonl", trainable))
            ids = pool.map(_encode, recs, chunksize=16)
            docs, start, m = [], 0, {"paths": [], "symbols": [], "sources": []}
            for rec, t in zip(recs, ids):
                if rec["group"] not in groups:
                    groups.append(rec["group"])
                docs.append((start, len(t), shards.KINDS.index(rec["kind"]),
                             groups.index(rec["group"])))
                start += len(t)
                m["paths"].append(rec["path"] if rec["kind"] == "code" else "")
                m["symbols"].append(rec.get("symbols", []))
                m["sources"].append(rec["source"])
            tokens = np.concatenate(ids) if ids else np.zeros(0, np.uint16)
            shards.write(out, split, tokens, docs)
            chars = sum(len(r["text"]) for r in recs)
            m["n_tokens"], m["n_chars"] = int(tokens.size), chars
            meta[split] = m
            log(f"{split}: {len(recs)} docs, {tokens.size / 1e6:.2f} M tokens, "
                f"{chars / max(1, tokens.size):.2f} chars/token")
    check_text = "The pass key is 71432.\nWhat is the pass key?"
    meta.update({"groups": groups, "kinds": list(shards.KINDS),
                 "vocab_size": enc.sp.get_piece_size(),
                 "check": {"text": check_text, "ids": enc.encode(check_text)}})
    (out / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    size = sum(p.stat().st_size for p in out.iterdir())
    log(f"shards in {out}: {size / 2**20:.1f} MiB")
    return size


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--scratch", default="/work/scratch")
    ap.add_argument("--tokenizer", default="/work/scratch/tokenizer/tome8k.model")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "shards"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-mib", type=float, default=60.0)
    ap.add_argument("--eval", action="store_true",
                    help="pre-tokenise the evaluation corpus (split 'eval') into --out instead")
    args = ap.parse_args(argv)
    if args.eval:
        run(Path(args.scratch) / "corpus", args.tokenizer, args.out, args.workers,
            splits=("eval",), trainable=False)
        return
    size = run(Path(args.scratch) / "corpus", args.tokenizer, args.out, args.workers)
    if size > args.max_mib * 2**20:
        raise SystemExit(f"shards are {size / 2**20:.1f} MiB, over --max-mib {args.max_mib}: "
                         "lower the corpus caps (corpus.py --cap-*)")


if __name__ == "__main__":
    main()
