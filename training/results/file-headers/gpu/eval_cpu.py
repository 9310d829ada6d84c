"""Which-file through the CPU engine (`tome score --choose-paths`) for model dirs, each with its
own config's layout: the standard evaluation rows (eval_rows.plan, seed as v4-v9's table) at the
task lengths given. Usage: eval_cpu.py TOME FAKE_SHARDS OUT.json LENGTHS(4096,16384) MODEL...
FAKE_SHARDS: any shard folder whose valid split eval_rows needs (training/results/file-headers)."""
import json, sys, tempfile
from pathlib import Path
sys.path.insert(0, "training"); sys.path.insert(0, "training/data")
import eval_rows
from eval import answer_only, tome_score
from yoco.config import YocoConfig
tome, fake, out, lengths = sys.argv[1:5]
lengths = tuple(int(x) for x in lengths.split(","))
report = json.loads(Path(out).read_text()) if Path(out).exists() else {}
for model in sys.argv[5:]:
    cfg = YocoConfig.load(Path(model) / "config.json")
    enc, valid, ev = eval_rows.makers(fake, "training/evalshards", cfg.templates, cfg.file_header_every)
    for section, key, rows in eval_rows.plan(valid, ev, [16384, 131072, 1048576], 100, 100, 48,
                                             task_lengths=lengths):
        if section != "tasks" or not key.startswith("whichfile_") or f"{model}:{key}" in report:
            continue
        rows = [r for r in rows[:100] if r is not None]
        with tempfile.TemporaryDirectory() as work:
            sc = tome_score(tome, model, [answer_only(r) for r in rows], work, "cpu", 0, 512, choose_paths=True)
        res = {"chosen": sum(bool(s.get("choice_exact")) for s in sc),
               "generated": sum(bool(s["exact"]) for s in sc), "n": len(sc),
               "per_row": [[bool(s.get("choice_exact")), bool(s["exact"])] for s in sc]}
        report[f"{model}:{key}"] = res
        print(model, key, {k: v for k, v in res.items() if k != "per_row"}, flush=True)
        Path(out).write_text(json.dumps(report, indent=1))
