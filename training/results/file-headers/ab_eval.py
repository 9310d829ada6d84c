"""Which-file through the CPU engine for model dirs, each with its own config's layout: the
standard 4K eval rows (eval_rows.plan, as v7's analysis) and 100 rows at 2K (seed 99)."""
import json, sys, tempfile
from pathlib import Path
sys.path.insert(0, "training"); sys.path.insert(0, "training/data")
import eval_rows, tasks, shards
from eval import answer_only, tome_score
from yoco.config import YocoConfig
tome, fake, out = sys.argv[1:4]
models = sys.argv[4:]
report = {}
for model in models:
    cfg = YocoConfig.load(Path(model) / "config.json")
    enc, valid, ev = eval_rows.makers(fake, "training/evalshards", cfg.templates, cfg.file_header_every)
    rows_by = {}
    for section, key, rows in eval_rows.plan(valid, ev, [16384, 131072, 1048576], 100, 100, 48,
                                             task_lengths=(4096,)):
        if section == "tasks" and key == "whichfile_4096":
            rows_by[key] = [r for r in rows[:100] if r is not None]
        del rows
    m = tasks.TaskMaker(shards.Split("training/evalshards", "eval"), enc, cfg.templates, seed=99,
                        file_header_every=cfg.file_header_every)
    rows_by["whichfile_2048"] = [r for r in (m.whichfile(2048) for _ in range(110)) if r is not None][:100]
    for key, rows in rows_by.items():
        with tempfile.TemporaryDirectory() as work:
            sc = tome_score(tome, model, [answer_only(r) for r in rows], work, "cpu", 0, 512, choose_paths=True)
        res = {"chosen": sum(bool(s.get("choice_exact")) for s in sc), "generated": sum(bool(s["exact"]) for s in sc),
               "n": len(sc), "per_row": [[bool(s.get("choice_exact")), bool(s["exact"])] for s in sc]}
        report[f"{model}:{key}"] = res
        print(model, key, {k: v for k, v in res.items() if k != "per_row"}, flush=True)
        Path(out).write_text(json.dumps(report, indent=1))
