# Digest of the rows eval_torch.py scores in training/compare.sh (shards-a, evalshards, its flags):
# equal digests in two processes / machines = the same held-out rows (they are seeded).
#   /usr/bin/python3 training/results/compare-transformer-tokens/rowhash.py   (repo root)
import hashlib, sys
sys.path.insert(0, "training"); sys.path.insert(0, "training/data")
import eval_rows
from yoco.config import DEFAULT_TEMPLATES
enc, valid, ev = eval_rows.makers("training/runs/shards-a", "training/evalshards", DEFAULT_TEMPLATES)
h = hashlib.sha256(); per = {}
for section, key, rows in eval_rows.plan(valid, ev, [4096, 16384], 20, 30, 48, [(8192, 8), (32768, 4)], [4096, 16384]):
    hk = hashlib.sha256()
    for r in rows:
        if r is None: hk.update(b"none"); continue
        for x in r: hk.update(x.tobytes())
    h.update(hk.digest())
    if section == "loss": per[key] = (hk.hexdigest()[:12], sum(int(r[1].sum()) for r in rows))
print(h.hexdigest()[:16], per)
