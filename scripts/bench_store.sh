#!/usr/bin/env bash
# Session-store benchmark: save and load 1 GiB of global KV (tome_store_bench), with the disk's own
# sequential write and read speeds (dd, same folder) beside it. Figures go to docs/performance.md.
#   scripts/bench_store.sh [BUILD_DIR] [FOLDER] [GIB]     (defaults: build/dev, /tmp, 1)
set -euo pipefail
BUILD="${1:-build/dev}"
DIR="${2:-/tmp}"
GIB="${3:-1}"
BENCH="$BUILD/engine/store/tome_store_bench"
[ -x "$BENCH" ] || { echo "build tome_store_bench first: cmake --build $BUILD --target tome_store_bench" >&2; exit 1; }
MIB=$(python3 -c "print(int($GIB * 1024))")
TEST="$DIR/tome-dd-test.bin"
echo "== machine: $(nproc) cores, $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ), folder $DIR ($(df -h "$DIR" | awk 'NR==2 {print $1}'))"
echo "== dd sequential write, ${MIB} MiB, 16 MiB blocks, fdatasync at the end"
dd if=/dev/zero of="$TEST" bs=16M count=$((MIB / 16)) conv=fdatasync 2>&1 | tail -1
echo "== dd sequential read, cold (O_DIRECT)"
dd if="$TEST" of=/dev/null bs=16M iflag=direct 2>&1 | tail -1
echo "== dd sequential read, page cache"
dd if="$TEST" of=/dev/null bs=16M 2>&1 | tail -1
rm -f "$TEST"
for args in "--storage f32" "--storage fp8" "--storage f32 --compression zstd"; do
  echo "== tome_store_bench --gib $GIB $args"
  "$BENCH" --dir "$DIR" --gib "$GIB" $args
done
