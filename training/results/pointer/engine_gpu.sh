#!/usr/bin/env bash
# One device call (carry [".gpu-debs", "training/evalshards"]): the pointer through the C++ engine
# on the H100. PART=a: build, the pointer's GPU tests, whole held-out repositories (the pointer,
# the plain and the calibrated path choice on the same rows, every path's scores kept).
# PART=b: which-file windows of 4K and 16K tokens (the same three choices).
# PART=c: the pointer's GPU tests, then whole repositories and 4K / 16K windows, the pointer only
#   (its mass per path kept; the answer among the files holding the symbol, and pointer_top, the
#   heads' file among all files, side by side).
#   PART=a training/results/pointer/engine_gpu.sh      # results under $OUT
set -uo pipefail
OUT=${OUT:-/tmp/pointer-engine}
mkdir -p "$OUT"
PART=${PART:-a}
OUT=/tmp/b TARGETS="tome test_choose test_kernels test_cuda_backend" scripts/gpu-run.sh build || exit 1
LIB=/opt/tome-deps/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH="$LIB:$LIB/openblas-pthread:${LD_LIBRARY_PATH:-}"
M=${MODEL:-resources/models/tome-25m}
T=build/gpu/app/cli/tome
if [ "$PART" = a ]; then
  build/gpu/tests/test_choose --gtest_filter='*Pointer*' 2>&1 | grep -E "OK|FAILED|PASSED|Failure|Skipped" | head -n 20
  build/gpu/tests/test_kernels --gtest_filter='*AttentionMass*' 2>&1 | grep -E "OK|FAILED|PASSED|Failure" | head -n 10
  python3 training/results/whole-repo/whichfile_whole.py --model $M --tome $T --backend cuda --n 30 \
    --pointer --calibrate --nulls 2 --scores --out $OUT/whole-v7-pointer.json > $OUT/whole.log 2>&1 \
    || tail -n 20 $OUT/whole.log
  grep -E '^\{' $OUT/whole.log | cut -c1-400
elif [ "$PART" = c ]; then
  build/gpu/tests/test_choose --gtest_filter='*Pointer*' 2>&1 | grep -E "OK|FAILED|PASSED|Failure|Skipped" | head -n 20
  python3 training/results/whole-repo/whichfile_whole.py --model $M --tome $T --backend cuda --n 30 \
    --pointer --scores --out $OUT/whole-v7-pointer.json > $OUT/whole.log 2>&1 || tail -n 20 $OUT/whole.log
  grep -E '^\{' $OUT/whole.log | cut -c1-400
  python3 training/results/whichfile-errors/errors.py --model $M --tome $T --backend cuda \
    --lengths 4096,16384 --n 300 --pointer --out $OUT/windows-v7-pointer.json > $OUT/windows.log 2>&1 \
    || tail -n 20 $OUT/windows.log
  grep -E '^\{' $OUT/windows.log | cut -c1-200
else
  python3 training/results/whichfile-errors/errors.py --model $M --tome $T --backend cuda \
    --lengths 4096,16384 --n 300 --pointer --calibrate --nulls 2 --out $OUT/windows-v7-pointer.json > $OUT/windows.log 2>&1 \
    || tail -n 20 $OUT/windows.log
  grep -E '^\{' $OUT/windows.log | cut -c1-600
fi
