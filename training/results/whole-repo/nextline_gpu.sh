#!/usr/bin/env bash
# One device call on a fresh GPU machine (carry [".gpu-debs", "training/evalshards"]): build the
# engine, then next-line exact match with the whole held-out repository in context for the shipped
# model (nextline_whole.py: the target file left out, and in the context).
#   training/results/whole-repo/nextline_gpu.sh [N]      # N lines a repository (default 25)
set -uo pipefail
OUT=${OUT:-/tmp/whole-repo}
mkdir -p "$OUT"
OUT=/tmp/b TARGETS="tome" scripts/gpu-run.sh build || exit 1
LIB=/opt/tome-deps/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH="$LIB:$LIB/openblas-pthread:${LD_LIBRARY_PATH:-}"
python3 training/results/whole-repo/nextline_whole.py --model ${MODEL:-resources/models/tome-25m} \
  --tome build/gpu/app/cli/tome --backend cuda --n ${1:-25} --out $OUT/nextline_whole_${V:-v7}.json \
  2>/tmp/nl.err | tee $OUT/nextline.log || tail -n 20 /tmp/nl.err
grep -E "^\[CUDA" /tmp/nl.err | head -n 4
