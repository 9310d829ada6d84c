# Tome's tokenizer: training (SentencePiece BPE with the code-friendly flags of DATA.md and the
# special tokens as control symbols at ids 0-11) and encoding exactly as the engine does
# (docs/model-format.md): no dummy prefix, a literal U+2581 encoded as its three byte tokens,
# templates cut at their special pieces with each text run encoded as one piece.
# Usage: python3 training/data/tokenizer.py train --scratch /work/scratch \
#            --out /work/scratch/tokenizer/tome8k
import argparse
import json
import random
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from yoco.config import DEFAULT_SPECIAL_TOKENS  # noqa: E402

CONTROL = [t["piece"] for _, t in sorted(DEFAULT_SPECIAL_TOKENS.items(), key=lambda kv: kv[1]["id"])
           if t["id"] >= 4]
SPM_FLAGS = ["--model_type=bpe", "--character_coverage=1.0", "--byte_fallback=true",
             "--split_digits=true", "--normalization_rule_name=identity",
             "--remove_extra_whitespaces=false", "--allow_whitespace_only_pieces=true",
             "--max_sentence_length=16384", "--add_dummy_prefix=false",
             "--unk_id=0", "--bos_id=1", "--eos_id=2", "--pad_id=3",
             "--control_symbols=" + ",".join(CONTROL)]
SPACE = "\u2581"


def write_training_text(corpus_jsonl, out_path, max_chars=48 << 20, seed=0):
    """A sample of lines (documents' lines, each line a SentencePiece 'sentence') with every
    source kind represented: up to max_chars in all, by kind in proportion 1 prose : 1 doc : 1.2
    code, documents in random order."""
    by_kind = {}
    with open(corpus_jsonl, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            by_kind.setdefault(r["kind"], []).append(r["text"])
    share = {"prose": 1.0, "doc": 1.0, "code": 1.2}
    rng = random.Random(seed)
    total_share = sum(share[k] for k in by_kind)
    n = 0
    with open(out_path, "w", encoding="utf-8") as out:
        for kind, texts in sorted(by_kind.items()):
            budget = max_chars * share[kind] / total_share
            rng.shuffle(texts)
            used = 0
            for t in texts:
                for ln in t.split("\n"):
                    if ln.strip() and len(ln) < 4000:
                        out.write(ln + "\n")
                        used += len(ln) + 1
                if used >= budget:
                    break
            n += used
    return n


def train(corpus_jsonl, model_prefix, vocab_size=8192, work=None, threads=2):
    work = Path(work or Path(model_prefix).parent)
    work.mkdir(parents=True, exist_ok=True)
    text = work / "spm_input.txt"
    write_training_text(corpus_jsonl, text)
    cmd = ["spm_train", f"--input={text}", f"--model_prefix={model_prefix}",
           f"--vocab_size={vocab_size}", f"--num_threads={threads}",
           "--input_sentence_size=4000000", "--shuffle_input_sentence=true", *SPM_FLAGS]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    vocab = Path(f"{model_prefix}.vocab")
    if vocab.exists():
        vocab.unlink()
    text.unlink()
    check(f"{model_prefix}.model", vocab_size)
    return Path(f"{model_prefix}.model")


def load(model_path):
    import sentencepiece as spm
    return spm.SentencePieceProcessor(model_file=str(model_path))


def check(model_path, vocab_size=None):
    """Special tokens at their ids, control symbols, round trip of code-like text."""
    sp = load(model_path)
    if vocab_size is not None:
        assert sp.get_piece_size() == vocab_size, sp.get_piece_size()
    for role, tok in DEFAULT_SPECIAL_TOKENS.items():
        assert sp.id_to_piece(tok["id"]) == tok["piece"], (role, sp.id_to_piece(tok["id"]))
        if tok["id"] >= 1:
            assert sp.is_control(tok["id"]), role
    sample = "def f(x):\n\treturn  x  + 1  # <|doc|> \u2581 caf\u00e9 12345\n\n"
    assert decode(sp, encode(sp, sample)) == sample
    return sp


class Encoder:
    """encode/decode with the engine's rules; byte ids of U+2581 looked up once."""

    def __init__(self, sp):
        self.sp = sp
        self.space_bytes = [sp.piece_to_id(f"<0x{b:02X}>") for b in SPACE.encode("utf-8")]
        self.special = {t["piece"]: t["id"] for t in DEFAULT_SPECIAL_TOKENS.values()}
        self._table = None

    def encode(self, text):
        """Text (user text, never special) -> ids. No dummy prefix (the model is trained
        without one); a literal U+2581 becomes its three byte tokens."""
        if not text:
            return []
        parts = text.split(SPACE)
        out = []
        for i, part in enumerate(parts):
            if i:
                out.extend(self.space_bytes)
            if part:
                out.extend(self.sp.encode(part))
        return out

    def decode(self, ids):
        """ids -> text: special tokens dropped, bytes joined, ill-formed UTF-8 replaced."""
        if self._table is None:
            sp, table = self.sp, []
            for i in range(sp.get_piece_size()):
                if sp.is_control(i) or sp.is_unknown(i):
                    table.append(b"")
                elif sp.is_byte(i):
                    table.append(bytes([int(sp.id_to_piece(i)[3:5], 16)]))
                else:
                    table.append(sp.id_to_piece(i).replace(SPACE, " ").encode("utf-8"))
            self._table = table
        t = self._table
        return b"".join(t[int(i)] for i in ids).decode("utf-8", errors="replace")

    def encode_template(self, template, **values):
        """A config.json template: cut at special pieces (longest first), each text run with its
        {placeholders} filled is encoded as ONE piece of text, special pieces become ids."""
        names = sorted(self.special, key=len, reverse=True)
        pattern = "(" + "|".join(re.escape(n) for n in names) + ")"
        out = []
        for seg in re.split(pattern, template):
            if seg in self.special:
                out.append(self.special[seg])
            elif seg:
                out.extend(self.encode(re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], seg)))
        return out


def encode(sp, text):
    return Encoder(sp).encode(text)


def decode(sp, ids):
    return Encoder(sp).decode(ids)


def main(argv=None):
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--scratch", default="/work/scratch")
    t.add_argument("--out", required=True, help="model prefix (writes PREFIX.model)")
    t.add_argument("--vocab-size", type=int, default=8192)
    t.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    path = train(Path(args.scratch) / "corpus" / "train.jsonl", args.out, args.vocab_size,
                 Path(args.scratch) / "tokenizer", args.threads)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
