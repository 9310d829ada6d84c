"""Which-file accuracy (chosen) by the number of distinct files in the row, per layout, at 16K:
eval_cpu.json's per-row results against the rows' file counts (the rows as row_files.py builds
them, in eval_cpu.py's order). Usage: by_files.py FAKE_SHARDS (repo root)."""
import json, sys, numpy as np
sys.path.insert(0, "training"); sys.path.insert(0, "training/data")
import eval_rows
from yoco.config import YocoConfig
cfg = YocoConfig.load("resources/models/tome-25m/config.json")
rep = json.load(open("training/results/file-headers/gpu/eval_cpu.json"))
for every, model in ((0, "/tmp/tome-25m-v13"), (128, "/tmp/tome-25m-v12")):
    enc, valid, ev = eval_rows.makers(sys.argv[1], "training/evalshards", cfg.templates, every)
    for section, key, rows in eval_rows.plan(valid, ev, [16384, 131072, 1048576], 100, 100, 48,
                                             task_lengths=(16384,)):
        if key != "whichfile_16384":
            continue
        rows = [r for r in rows[:100] if r is not None]
        nf = []
        for t, _, a in rows:
            q = int(np.argmax(t == 7))
            nf.append(len(set(enc.decode(t[s + 1:q]).split("\n", 1)[0] for s in np.nonzero(t[:q] == 6)[0])))
        ok = [c for c, g in rep[f"{model}:{key}"]["per_row"]]
        for lo, hi in ((1, 4), (5, 7), (8, 10), (11, 99)):
            sel = [o for o, n in zip(ok, nf) if lo <= n <= hi]
            print(every, f"files {lo}-{hi}:", f"{sum(sel)} / {len(sel)}")
