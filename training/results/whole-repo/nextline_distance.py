#!/usr/bin/env python3
# Next-line exact match by how far the target file ends before the end of the context (the copy of the
# line lies in that file), from nextline_whole.py JSON files (run from the repo root with the venv):
#   python3 training/results/whole-repo/nextline_distance.py training/results/whole-repo/nextline_whole_v7_*.json
import json, sys
from pathlib import Path
sys.path.insert(0, 'training'); sys.path.insert(0, 'training/data'); sys.path.insert(0, 'training/results/whole-repo')
import shards, tasks, tokenizer as tok
from yoco.config import YocoConfig
cfg = YocoConfig.load(Path('resources/models/tome-25m/config.json'))
enc = tok.Encoder(tok.load(Path('resources/models/tome-25m/tokenizer.model')))
split = shards.Split('training/evalshards', 'eval')
maker = tasks.TaskMaker(split, enc, cfg.templates, seed=0, file_header_every=cfg.file_header_every)
by_name = {split.groups[g]: g for g in maker.repos}
rows = []
for f in sys.argv[1:]:
    d = json.load(open(f))
    for name, r in d['repos'].items():
        files = maker.repos[by_name[name]]
        pre, post = maker.doc_wrap()
        off, end_of = pre.size, {}
        size = pre.size + post.size + 64
        for i in files:
            n = maker.file_ids(i).size
            if size + n > d['max_context'] - 4096: break
            size += n; off += n; end_of[split.paths[i]] = off
        total = off + post.size
        for a, b in zip(r['unseen']['lines'], r['in_tree']['lines']):
            dist = total - end_of[b['path']]
            rows.append((dist, a['exact'], b['exact']))
rows.sort()
import math
qs = [0, 10000, 50000, 150000, 400000, 2000000]
for lo, hi in zip(qs, qs[1:]):
    g = [x for x in rows if lo <= x[0] < hi]
    if g: print(f"{lo:>7}-{hi:<7} n {len(g):3d}  unseen {sum(x[1] for x in g)/len(g):.3f}  in_tree {sum(x[2] for x in g)/len(g):.3f}")
