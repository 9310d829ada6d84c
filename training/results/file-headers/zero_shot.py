"""Zero-shot: the shipped model (v7, trained with one header a file) on its 4K which-file
evaluation rows (eval_rows.plan, as whichfile_analysis.py) with each file's header restated inside
it ("<|file|>PATH\n" again after a newline once R tokens of the file have passed since the last
header, the rule of tasks.restate_headers), inserted into the rows as built (rows grow by the
copies), scored through `tome score --choose-paths` on the CPU. R 0: the rows unchanged.
  python3 training/results/file-headers/zero_shot.py MODEL TOME SHARDS OUT.json 0,256,128
(repo root; SHARDS: a shard folder with the tokenizer and a validation split). Stopped by hand
after the 4K rows (2026-11-23): zero_shot_v7_4k.txt."""
import json, sys, tempfile
from pathlib import Path
import numpy as np
sys.path.insert(0, "training"); sys.path.insert(0, "training/data")
import eval_rows
from eval import answer_only, tome_score
from yoco.config import YocoConfig

model, tome, shards, out = sys.argv[1:5]
Rs = [int(x) for x in sys.argv[5].split(",")]
cfg = YocoConfig.load(Path(model) / "config.json")
enc, valid, ev = eval_rows.makers(shards, "training/evalshards", cfg.templates)
FILE = cfg.special_tokens["file_start"]["id"]
QUESTION = cfg.special_tokens["question"]["id"]
SPECIAL_MAX = 11
NL = enc.encode("\n")[0]
rows_by = {}
for section, key, rows in eval_rows.plan(valid, ev, [16384, 131072, 1048576], 100, 100, 48):
    if section == "tasks" and key.startswith("whichfile_"):
        rows_by[key] = [r for r in rows[:100] if r is not None]
    del rows

def remind(row, R):
    tokens, lm, ans = row
    t = tokens.tolist()
    a0 = int(ans.argmax())
    q = max(i for i in range(a0 + 1) if t[i] == QUESTION)
    out, path, count, i = [], None, 0, 0
    while i < len(t):
        x = t[i]
        if i < q and x == FILE:
            j = t.index(NL, i)
            path = t[i + 1:j]
            out += t[i:j + 1]
            i, count = j + 1, 0
            continue
        out.append(x)
        if i < q and path is not None:
            if x <= SPECIAL_MAX:
                path = None
            else:
                count += 1
                if x == NL and count >= R and i + 1 < q and t[i + 1] > SPECIAL_MAX:
                    out += [FILE] + path + [NL]
                    count = 0
        i += 1
    n_ins = len(out) - len(t)
    T2 = len(out) - 1
    ans2 = np.zeros(T2, bool); ans2[n_ins:] = ans   # everything inserted is before the answer
    assert ans2[a0 + n_ins] and np.array_equal(np.array(out[a0 + n_ins:]), tokens[a0:])
    return np.array(out, np.int64), np.zeros(T2, bool), ans2, n_ins

report = {}
with tempfile.TemporaryDirectory() as work:
    for key, rows in rows_by.items():
        for R in Rs:
            built, added = [], []
            for r in rows:
                if R > 0:
                    tk, lm, an, n = remind(r, R)
                    built.append((tk, lm, an)); added.append(n)
                else:
                    built.append(answer_only(r)); added.append(0)
            sc = tome_score(tome, model, built, work, "cpu", 0, 512, choose_paths=True)
            res = {"chosen": sum(bool(s.get("choice_exact")) for s in sc),
                   "generated": sum(bool(s["exact"]) for s in sc), "n": len(sc),
                   "mean_added_tokens": round(float(np.mean(added)), 1),
                   "mean_row_tokens": round(float(np.mean([b[0].size - 1 for b in built])), 1),
                   "per_row": [[bool(s.get("choice_exact")), bool(s["exact"])] for s in sc]}
            report[f"{key}_R{R}"] = res
            print(key, "R", R, {k: v for k, v in res.items() if k != "per_row"}, flush=True)
            Path(out).write_text(json.dumps(report, indent=1))
