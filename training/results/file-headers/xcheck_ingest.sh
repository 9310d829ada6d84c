#!/usr/bin/env bash
# The engine's ingest and training/data/tasks.py lay a repository out alike with restated file
# headers: `tome ingest` a folder with tome-25m's config and file_header_every 0 and 128, read the
# session tokens back from the library (kv_rows.tokens, int32), and compare the 128 layout with
# tasks.restate_headers applied to each file of the 0 layout. Repo root, after a CPU build.
#   training/results/file-headers/xcheck_ingest.sh [TOME] [FOLDER]
set -euo pipefail
TOME=${1:-build/cpu/app/cli/tome}
SRC=${2:-ingest}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cp -r resources/models/tome-25m "$W/m0"
cp -r resources/models/tome-25m "$W/m128"
python3 - "$W/m128/config.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["file_header_every"] = 128
json.dump(d, open(sys.argv[1], "w"), indent=2)
PY
for m in m0 m128; do
  "$TOME" ingest "$SRC" --model "$W/$m" --library "$W/$m.db" --session s --threads 2 2>/dev/null | tail -1
done
/usr/bin/python3 - "$W/m0.db" "$W/m128.db" <<'PY'
import sqlite3, sys
import numpy as np
sys.path.insert(0, "training/data")
import tasks, tokenizer as tok

def tokens(db):
    rows = sqlite3.connect(db).execute(
        "select n_tokens, tokens from kv_rows order by token_begin").fetchall()
    parts = [np.frombuffer(blob, dtype="<i4") for _, blob in rows]
    assert all(p.size == n for p, (n, _) in zip(parts, rows))
    return np.concatenate(parts)

once, laid = tokens(sys.argv[1]), tokens(sys.argv[2])
line_end = tasks.line_end_mask(tok.load("resources/models/tome-25m/tokenizer.model"))
FILE, DOC_END = 6, 5
heads = np.nonzero(once == FILE)[0].tolist()
end = int(np.nonzero(once == DOC_END)[0][-1])
want = [once[:heads[0]]]
for k, s in enumerate(heads):
    want.append(tasks.restate_headers(once[s:heads[k + 1] if k + 1 < len(heads) else end], 128,
                                      line_end))
want.append(once[end:])
want = np.concatenate(want)
same = np.array_equal(want, laid)
print(f"{len(heads)} files, {once.size} tokens with one header a file, {laid.size} with headers "
      f"every 128 ({int((laid == FILE).sum()) - len(heads)} restated): "
      f"{'identical to' if same else 'DIFFERENT from'} tasks.restate_headers")
sys.exit(0 if same else 1)
PY
