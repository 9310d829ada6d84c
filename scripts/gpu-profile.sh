#!/usr/bin/env bash
# On the lent GPU machine, after `scripts/gpu-run.sh build`: per-kernel GPU times of a YOCO-3B
# prefill and of eager decode steps (Nsight Compute, gpu__time_duration only, clocks not locked,
# caches not flushed), as CSV under $OUT, for scripts/kernel_table.py to sum up.
# Usage: scripts/gpu-profile.sh [config] [length] [decode steps]
set -euo pipefail
cd "$(dirname "$0")/.."
cfg=${1:-yoco-3b}; len=${2:-32k}; steps=${3:-4}
OUT=${OUT:-/tmp/tome-out}
mkdir -p "$OUT"
DEPS=/opt/tome-deps; LIB="$DEPS/usr/lib/x86_64-linux-gnu"
export LD_LIBRARY_PATH="$LIB:$LIB/openblas-pthread:${LD_LIBRARY_PATH:-}"
TOME_CUDA_GRAPHS=0 timeout 400 ncu --metrics gpu__time_duration.sum --clock-control none --cache-control none \
  --csv --page raw build/gpu/app/cli/tome bench --backend cuda --config "$cfg" --random-weights \
  --lengths "$len" --decode-tokens "$steps" > "$OUT/ncu-$cfg-$len.csv" 2> "$OUT/ncu-$cfg-$len.err" || tail -5 "$OUT/ncu-$cfg-$len.err"
wc -l "$OUT/ncu-$cfg-$len.csv"
