import sys, numpy as np
sys.path.insert(0, "training"); sys.path.insert(0, "training/data")
import eval_rows, tasks, shards
from yoco.config import YocoConfig
cfg = YocoConfig.load("resources/models/tome-25m/config.json")
for every in (0, 128):
    enc, valid, ev = eval_rows.makers("/work/scratch/fakeshards", "training/evalshards", cfg.templates, every)
    for section, key, rows in eval_rows.plan(valid, ev, [16384, 131072, 1048576], 100, 100, 48, task_lengths=(4096,)):
        if key == "whichfile_4096":
            r4 = [r for r in rows[:100] if r is not None]
    m = tasks.TaskMaker(shards.Split("training/evalshards", "eval"), enc, cfg.templates, seed=99, file_header_every=every)
    r2 = [r for r in (m.whichfile(2048) for _ in range(110)) if r is not None][:100]
    for name, rows in (("2K", r2), ("4K", r4)):
        nfiles = []
        for t, _, a in rows:
            q = int(np.argmax(t == 7))
            heads = set(enc.decode(t[s + 1:q]).split("\n", 1)[0] for s in np.nonzero(t[:q] == 6)[0])
            nfiles.append(len(heads))
        print(every, name, len(rows), "mean distinct files", round(float(np.mean(nfiles)), 2))
