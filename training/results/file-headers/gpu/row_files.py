"""Distinct files a which-file row holds, per layout (one header / every 128 tokens), for the
standard evaluation rows at 4K and 16K (those eval_cpu.py scores), and how many rows were built.
Usage: row_files.py FAKE_SHARDS (repo root)."""
import sys, numpy as np
sys.path.insert(0, "training"); sys.path.insert(0, "training/data")
import eval_rows
from yoco.config import YocoConfig
cfg = YocoConfig.load("resources/models/tome-25m/config.json")
for every in (0, 128):
    enc, valid, ev = eval_rows.makers(sys.argv[1], "training/evalshards", cfg.templates, every)
    for section, key, rows in eval_rows.plan(valid, ev, [16384, 131072, 1048576], 100, 100, 48,
                                             task_lengths=(4096, 16384)):
        if not (isinstance(key, str) and key.startswith("whichfile_")):
            continue
        rows = [r for r in rows[:100] if r is not None]
        nfiles = []
        for t, _, a in rows:
            q = int(np.argmax(t == 7))
            heads = set(enc.decode(t[s + 1:q]).split("\n", 1)[0] for s in np.nonzero(t[:q] == 6)[0])
            nfiles.append(len(heads))
        print(every, key, len(rows), "rows, mean distinct files", round(float(np.mean(nfiles)), 2), flush=True)
