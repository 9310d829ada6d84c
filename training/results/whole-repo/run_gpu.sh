#!/usr/bin/env bash
# One device call on a fresh GPU machine (carry [".gpu-debs", "training/evalshards"]): build the
# engine, then which-file with the whole held-out repository in context for the shipped model.
#   training/results/whole-repo/run_gpu.sh [N]      # N questions a repository (default 30)
set -uo pipefail
OUT=${OUT:-/tmp/whole-repo}
mkdir -p "$OUT"
OUT=/tmp/b TARGETS="tome" scripts/gpu-run.sh build || exit 1
LIB=/opt/tome-deps/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH="$LIB:$LIB/openblas-pthread:${LD_LIBRARY_PATH:-}"
python3 training/results/whole-repo/whichfile_whole.py --model ${MODEL:-resources/models/tome-25m} \
  --tome build/gpu/app/cli/tome --backend cuda --n ${1:-30} --out $OUT/whichfile_whole_${V:-v7}.json 2>/tmp/ww.err \
  || tail -n 20 /tmp/ww.err
grep -E "^\[CUDA" /tmp/ww.err | head -n 8
