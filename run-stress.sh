#!/usr/bin/env bash
set -uo pipefail
scripts/gpu-run.sh build || exit 1
LIB=/opt/tome-deps/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$LIB:$LIB/openblas-pthread
s=$(date +%s)
timeout 480 ctest --test-dir build/gpu -L "gpu|model" -E "test_kernels|Kernels" -j 12 --repeat until-fail:3 > $OUT/stress.log 2>&1
echo "ctest rc=$? $(( $(date +%s) - s )) s"
grep -E "tests passed|\(Failed\)|Timeout|Not Run" $OUT/stress.log | head -20
