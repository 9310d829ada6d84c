"""Where which-file fails: the rows of eval.sh (v4-v9's evaluation: torch lengths 16K / 128K / 1M,
100 needles, 100 task rows, 48 loss rows), scored through `tome score --choose-paths` one row at a
time, with what each row looks like: how many files the context holds, where the target file
sits among them, how far (characters) the symbol's first occurrence is from its file's header,
how far it is from the question, and whether the chosen / generated path is a sibling (same
directory) of the right one.
  python3 training/results/tome-25m-v7/whichfile_analysis.py MODEL_DIR TOME SHARDS OUT.json [cpu|cuda]
(repo root; SHARDS: a training shards directory, for the tokenizer and validation split)."""
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, "training")
sys.path.insert(0, "training/data")
import eval_rows  # noqa: E402
from eval import answer_only, tome_score  # noqa: E402
from yoco.config import YocoConfig  # noqa: E402

model, tome, shards, out = sys.argv[1:5]
backend = sys.argv[5] if len(sys.argv) > 5 else "cpu"
cfg = YocoConfig.load(Path(model) / "config.json")
enc, valid, ev = eval_rows.makers(shards, "training/evalshards", cfg.templates)
FILE = cfg.special_tokens["file_start"]["id"]
QUESTION = cfg.special_tokens["question"]["id"]
rows_by = {}
for section, key, rows in eval_rows.plan(valid, ev, [16384, 131072, 1048576], 100, 100, 48):
    if section == "tasks" and key.startswith("whichfile_"):
        rows_by[key] = [r for r in rows[:100] if r is not None]
    del rows

report = {"model": model, "rows": []}
with tempfile.TemporaryDirectory() as work:
    for key, rows in rows_by.items():
        built = [answer_only(r) for r in rows]
        sc = tome_score(tome, model, built, work, backend, 0, 512, choose_paths=True)
        for r, s in zip(rows, sc):
            tokens, _, ans = r
            t = tokens.tolist()
            a0 = int(ans.argmax()) + 1            # first answer token (targets are tokens[1:])
            q = max(i for i in range(a0) if t[i] == QUESTION)
            question = enc.decode(t[q + 1:a0])
            sym = question.split("`")[1] if "`" in question else ""
            answer = enc.decode([x for x in t[a0:] if x > 3]).strip()
            heads = [i for i in range(q) if t[i] == FILE]
            files = []
            for j, h in enumerate(heads):
                end = heads[j + 1] if j + 1 < len(heads) else q
                txt = enc.decode(t[h + 1:end])
                path, _, body = txt.partition("\n")
                files.append((path, body))
            idx = [i for i, f in enumerate(files) if f[0] == answer]
            ti = idx[0] if idx else -1
            body = files[ti][1] if ti >= 0 else ""
            off = body.find(sym) if sym else -1
            after = sum(len(f[1]) for f in files[ti + 1:]) + (len(body) - off if off >= 0 else 0)
            choice = s.get("choice") or ""
            report["rows"].append({
                "key": key, "symbol": sym, "answer": answer, "files": len(files), "target_index": ti,
                "def_chars_from_header": off, "file_chars": len(body), "chars_to_question": after,
                "generated_exact": bool(s["exact"]), "chosen_exact": bool(s.get("choice_exact")),
                "chosen": choice,
                "chosen_sibling": bool(choice) and choice != answer
                and os.path.dirname(choice) == os.path.dirname(answer)})

Path(out).write_text(json.dumps(report, indent=1))


def acc(rs, k="chosen_exact"):
    return f"{sum(r[k] for r in rs)}/{len(rs)}"


for key in rows_by:
    rs = [r for r in report["rows"] if r["key"] == key]
    print(key, "chosen", acc(rs), "generated", acc(rs, "generated_exact"))
    last = [r for r in rs if r["target_index"] == r["files"] - 1]
    other = [r for r in rs if r["target_index"] != r["files"] - 1]
    print("  target is the last file:", acc(last), " an earlier file:", acc(other))
    for lo, hi in ((0, 500), (500, 2000), (2000, 8000), (8000, 10 ** 9)):
        b = [r for r in rs if lo <= r["def_chars_from_header"] < hi]
        print(f"  definition {lo}-{hi} chars after its header: {acc(b)}")
    for lo, hi in ((0, 2000), (2000, 8000), (8000, 30000), (30000, 10 ** 9)):
        b = [r for r in rs if lo <= r["chars_to_question"] < hi]
        print(f"  definition {lo}-{hi} chars before the question: {acc(b)}")
    wrong = [r for r in rs if not r["chosen_exact"]]
    print("  wrong choices in the right file's directory:", sum(r["chosen_sibling"] for r in wrong),
          "of", len(wrong), "; symbol not found in the target file:",
          sum(r["def_chars_from_header"] < 0 for r in rs))
