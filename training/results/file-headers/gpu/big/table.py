#!/usr/bin/env python3
"""The n = 400 rows of eval_big.sh as one table (percent, rows scored), and each model against v7
in standard errors of the difference of two proportions. Usage: table.py [DIR]"""
import json, math, sys
from pathlib import Path

d = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
models = ["v5", "v7", "v13", "v12", "v14"]
res = {m: json.load(open(d / f"eval-big-{m}.json"))["tasks"] for m in models if (d / f"eval-big-{m}.json").exists()}
rows = [("quote, text exact", "quote", "exact_text"), ("which line follows", "follows", "exact_text"),
        ("which-file, generated", "whichfile", "exact"), ("which-file, among the paths", "whichfile", "paths"),
        ("next-line exact", "nextline", "exact"), ("next-line, target file in context", "nextline_intree", "exact"),
        ("fill-in-the-middle exact", "fim", "exact")]


def get(m, kind, T, field):
    r = res[m][f"{kind}_{T}"]
    if field == "paths":
        r = r["paths"]
        return r["exact"], r["n"]
    return r[field], r["n"]


print("| row | T | " + " | ".join(res) + " |")
print("|---|---:|" + "---:|" * len(res))
for name, kind, field in rows:
    for T in (4096, 16384):
        cells = []
        p7, n7 = get("v7", kind, T, field)
        for m in res:
            p, n = get(m, kind, T, field)
            cell = f"{100 * p:.1f} (n {n})"
            if m != "v7":
                se = math.sqrt(p * (1 - p) / n + p7 * (1 - p7) / n7)
                cell += f" {(p - p7) / se:+.1f} SE" if se > 0 else ""
            cells.append(cell)
        print(f"| {name} | {T // 1024}K | " + " | ".join(cells) + " |")
