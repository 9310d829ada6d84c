# Pre-tokenised corpus shards: what pretokenize.py writes here and train.py reads on the GPU
# machine. A shard folder holds
#   tokenizer.model                   the SentencePiece model the ids come from
#   meta.json                         groups, kinds, per-document source/path/symbols, checks
#   <split>.tokens.xz                 uint16 ids of every document, concatenated (lzma-compressed,
#                                     bytes stored as two planes: high bytes then low bytes)
#   <split>.docs.npy                  int64 [n_docs, 4]: start, length, kind, group
# A code document's tokens are encode(path + "\n" + text) (the body of the file template
# "<|file|>{path}\n{text}"); every other document's tokens are encode(text).
import json
import lzma
from pathlib import Path

import numpy as np

KINDS = ("prose", "doc", "code")
SPLITS = ("train", "valid")


def pack_tokens(ids):
    """uint16 [n] -> compressed bytes (high-byte plane then low-byte plane, xz)."""
    a = np.ascontiguousarray(ids, dtype="<u2").view(np.uint8).reshape(-1, 2)
    planes = np.concatenate((a[:, 1], a[:, 0]))
    return lzma.compress(planes.tobytes(), preset=6)


def unpack_tokens(blob):
    planes = np.frombuffer(lzma.decompress(blob), dtype=np.uint8)
    n = planes.size // 2
    out = np.empty((n, 2), dtype=np.uint8)
    out[:, 1], out[:, 0] = planes[:n], planes[n:]
    return out.reshape(-1).view("<u2").copy()


def write(folder, split, tokens, docs):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{split}.tokens.xz").write_bytes(pack_tokens(tokens))
    np.save(folder / f"{split}.docs.npy", np.asarray(docs, dtype=np.int64).reshape(-1, 4))


class Split:
    """One split in memory: tokens (uint16 numpy), docs [n, 4], and per-doc metadata."""

    def __init__(self, folder, split):
        folder = Path(folder)
        self.tokens = unpack_tokens((folder / f"{split}.tokens.xz").read_bytes())
        self.docs = np.load(folder / f"{split}.docs.npy")
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        self.groups = meta["groups"]
        self.paths = meta[split]["paths"]
        self.symbols = meta[split]["symbols"]
        self.sources = meta[split]["sources"]
        self.meta = meta

    def doc(self, i):
        s, n = int(self.docs[i, 0]), int(self.docs[i, 1])
        return self.tokens[s:s + n]

    def __len__(self):
        return len(self.docs)
