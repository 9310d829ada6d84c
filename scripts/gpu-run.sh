#!/usr/bin/env bash
# On the lent GPU machine (Ubuntu 24.04, CUDA 13, no network): unpack the carried Debian packages
# (.gpu-debs/, from scripts/gpu-deps.sh) into a prefix, build the `gpu` preset, run the GPU, op and
# model tests (compute-sanitizer memcheck on the kernel tests), and write logs under $OUT.
# Usage (device tool): carry [".gpu-debs"], command "scripts/gpu-run.sh [build|test|bench|all]"
# (build: configure and build only; TARGETS="t1 t2" limits the build to those targets;
# PRESET=gpu-sm80 builds and tests the portable Ampere path instead of sm_90a).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
PRESET=${PRESET:-gpu}  # gpu (sm_90a) or gpu-sm80 (the portable path, compute_80 PTX)
BUILD=build/$PRESET
OUT=${OUT:-/tmp/tome-out}
mkdir -p "$OUT"
DEPS=/opt/tome-deps
stamp="$DEPS/.done-$(ls .gpu-debs | md5sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  mkdir -p "$DEPS"
  for f in .gpu-debs/*.deb; do dpkg -x "$f" "$DEPS"; done
  touch "$stamp"
fi
LIB="$DEPS/usr/lib/x86_64-linux-gnu"
export LD_LIBRARY_PATH="$LIB:$LIB/openblas-pthread:${LD_LIBRARY_PATH:-}"
export PKG_CONFIG_SYSROOT_DIR="$DEPS"
export PKG_CONFIG_LIBDIR="$LIB/pkgconfig:$DEPS/usr/share/pkgconfig"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
start=$(date +%s)
cmake --preset "$PRESET" -DCMAKE_PREFIX_PATH="$DEPS/usr" \
  -DTOME_BLAS_LIBRARY="$LIB/openblas-pthread/libopenblas.so.0" \
  -DCBLAS_INCLUDE_DIR="$DEPS/usr/include/x86_64-linux-gnu/openblas-pthread" > "$OUT/configure.log" 2>&1 \
  || { tail -n 40 "$OUT/configure.log"; exit 1; }
# TARGETS="a b": build only those targets (others' half-done edits elsewhere do not stop you).
cmake --build $BUILD -j "$(nproc)" ${TARGETS:+--target $TARGETS} > "$OUT/build.log" 2>&1 || { grep -E "error|Error" "$OUT/build.log" | head -n 40; exit 1; }
echo "build: $(( $(date +%s) - start )) s"
if [ "$what" = test ] || [ "$what" = all ]; then
  ctest --test-dir $BUILD -L "gpu|ops|model" --output-on-failure -j 8 > "$OUT/ctest.log" 2>&1 \
    || echo "ctest: FAILURES (see ctest.log)"
  grep -E "tests passed|FAILED|\(Failed\)" "$OUT/ctest.log" | head -n 20
  $BUILD/tests/test_cuda_backend 2>&1 | grep -E "full forward|decode steps" | tee "$OUT/cuda-vs-cpu.txt"
  if command -v compute-sanitizer > /dev/null; then
    compute-sanitizer --tool memcheck --error-exitcode 1 $BUILD/tests/test_kernels > "$OUT/memcheck.log" 2>&1 \
      && echo "memcheck: clean" || { echo "memcheck: ERRORS"; tail -n 30 "$OUT/memcheck.log"; }
  fi
  $BUILD/tests/test_kernels 2>&1 | grep -E "device 0|PASSED|FAILED|SKIPPED" | head -n 5
fi
if [ "$what" = bench ] || [ "$what" = all ]; then
  for cfg in tome-25m tome-25m-swa; do
    $BUILD/app/cli/tome bench --backend cuda --config $cfg --random-weights --lengths 1024,32768,131072 \
      --decode-tokens 64 2>&1 | tee -a "$OUT/bench-cuda.txt"
  done
  $BUILD/app/cli/tome bench --backend cpu --threads 16 --config tome-25m --random-weights --lengths 1024,32768 \
    --decode-tokens 32 2>&1 | tee "$OUT/bench-cpu16.txt"
fi
