#!/usr/bin/env python3
"""Sum up an Nsight Compute CSV from scripts/gpu-profile.sh: per-kernel GPU time of one prefill
and of the average eager decode step (phases split at the embedding kernel launches: the
bench's warm-up prefill and decode, then the measured prefill, then the decode steps)."""
import collections, csv, re, sys

def load(path):
    with open(path) as f:
        lines = [l for l in f if l.startswith('"')]
    r = csv.reader(lines)
    hdr = next(r); next(r)
    ki, ti, gi = hdr.index('Kernel Name'), hdr.index('gpu__time_duration.sum'), hdr.index('Grid Size')
    return [(row[ki], float(row[ti].replace(',', '')) / 1e3, row[gi]) for row in r]

def short(n):
    n = re.sub(r'^void ', '', n.split('(')[0])
    base, _, targs = n.partition('<')
    return (base.split('::')[-1] + ('<' + targs if targs else ''))[:80]

def table(title, rows, div=1):
    agg = collections.defaultdict(lambda: [0, 0.0])
    for n, t, g in rows:
        a = agg[short(n)]; a[0] += 1; a[1] += t
    total = sum(a[1] for a in agg.values())
    print(f'\n{title}: {len(rows) // div} kernels, {total / div:.1f} us of GPU time')
    for k, (c, t) in sorted(agg.items(), key=lambda x: -x[1][1]):
        print(f'  {t / div:9.1f} us {100 * t / total:5.1f}%  x{c / div:<6g} {k}')

rows = load(sys.argv[1])
emb = [i for i, (n, _, _) in enumerate(rows) if 'embedding' in n]
p0, d0 = emb[2], emb[3]
steps = len(emb) - 3
table('prefill', rows[p0:d0])
table(f'decode step (mean of {steps})', rows[d0:], steps)
