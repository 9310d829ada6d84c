#!/usr/bin/env bash
# Fuzzes ingest's own parsers with libFuzzer (ASan + UBSan, the `asan` preset): the EPUB
# container as a whole (fuzz_ingest_epub_zip), the EPUB package/navigation parsers and the
# HTML-to-text walk (fuzz_ingest_epub_package), text decoding with the Markdown and PDF clean-up
# passes (fuzz_ingest_text_decode), and the token map's byte image (fuzz_ingest_token_map).
#   scripts/fuzz-ingest.sh [--build DIR] [--seconds N] [TARGET...]
# DIR defaults to build/asan (configured with the asan preset if needed). Each target runs N
# seconds (default 300) from tests/ingest/fuzz/corpus/<name> plus the corpus it grew before
# (DIR/fuzz/ingest_<name>/corpus); a crash is saved next to that corpus and ends the script with
# its path. The ctest smoke runs (label fuzz) are the short version of this.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build/asan"
SECONDS_EACH=300
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD="$2"; shift 2 ;;
    --seconds) SECONDS_EACH="$2"; shift 2 ;;
    -*) sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 2 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(epub_zip epub_package text_decode token_map)

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake --preset asan -B "$BUILD"
fi
BUILD="$(cd "$BUILD" && pwd)"
grep -q '^TOME_FUZZ:BOOL=ON' "$BUILD/CMakeCache.txt" ||
  { echo "fuzz-ingest.sh: $BUILD is not built with TOME_FUZZ=ON (use the asan preset)" >&2; exit 1; }
cmake --build "$BUILD" --parallel "$(nproc)" --target "${TARGETS[@]/#/fuzz_ingest_}"

for name in "${TARGETS[@]}"; do
  dict="$ROOT/tests/ingest/fuzz/epub.dict"
  case "$name" in text_decode | token_map) dict="$ROOT/tests/ingest/fuzz/text.dict" ;; esac
  work="$BUILD/fuzz/ingest_$name"
  mkdir -p "$work/corpus"
  echo "==> fuzz_ingest_$name for $SECONDS_EACH s"
  rc=0
  (cd "$work" && "$BUILD/tests/fuzz_ingest_$name" -max_total_time="$SECONDS_EACH" \
    -print_final_stats=1 -rss_limit_mb=2048 -dict="$dict" -artifact_prefix="$work/" \
    "$work/corpus" "$ROOT/tests/ingest/fuzz/corpus/$name") > "$work/last-run.log" 2>&1 || rc=$?
  grep -av 'encoding error\|parser error\|namespace error\|^ *\^\|^$' "$work/last-run.log" | tail -n 12 || true
  if [ "$rc" -ne 0 ] || ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* > /dev/null 2>&1; then
    echo "fuzz-ingest.sh: fuzz_ingest_$name failed (exit $rc); log: $work/last-run.log" >&2
    ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2> /dev/null >&2 || true
    exit 1
  fi
done
echo "fuzz-ingest.sh: no failures"
