#!/usr/bin/env bash
# Ingest speed on large real documents, fetched by Debian package name (nothing installed; no
# version pinned): the R reference manual (r-doc-pdf, refman.pdf, ~2,400 pages) to text, and the
# cmake source tree (apt-get source cmake, ~22,000 files) walked, filtered and read. Targets
# (issue 5): <= 10 s and <= 5 s on 2 cores. Prints a Markdown table for docs/performance.md.
#   scripts/bench-ingest.sh [--build DIR] [--cache DIR] [--runs N]
# DIR defaults: build/dev (built here if needed: target tome-ingest-report), and
# ~/.cache/tome/bench-ingest for the downloads. Each case runs once (page cache as found: cold
# after a fresh download only if the kernel dropped it) and then N times (default 3) warm; the
# table gives the first run and the median and best warm wall times.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build/dev"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/tome/bench-ingest"
RUNS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD="$(cd "$2" && pwd)"; shift 2 ;;
    --cache) CACHE="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    *) sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 2 ;;
  esac
done
mkdir -p "$CACHE"
CACHE="$(cd "$CACHE" && pwd)"

say() { printf '==> %s\n' "$*" >&2; }

# --- documents -----------------------------------------------------------------------------------

# A binary package's files, unpacked once into $CACHE/root/NAME.
fetch_binary() {
  local name=$1 dest="$CACHE/root/$1"
  if [ ! -d "$dest" ]; then
    say "apt-get download $name"
    mkdir -p "$CACHE/debs" && rm -f "$CACHE/debs/${name}"_*.deb
    (cd "$CACHE/debs" && apt-get download "$name" > /dev/null)
    mkdir -p "$dest.tmp" && dpkg -x "$CACHE/debs/${name}"_*.deb "$dest.tmp" && mv "$dest.tmp" "$dest"
  fi
  echo "$dest"
}

# A source package's upstream tree, through a private apt configuration with deb-src lines (the
# system's sources are not touched), unpacked once into $CACHE/src/NAME.
fetch_source() {
  local name=$1 dest="$CACHE/src/$1" apt="$CACHE/apt"
  if [ ! -d "$dest" ]; then
    mkdir -p "$apt/lists/partial" "$CACHE/src/$name.dl"
    printf 'deb-src http://deb.debian.org/debian bookworm main\ndeb-src http://deb.debian.org/debian-security bookworm-security main\n' \
      > "$apt/sources.list"
    local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o "Dir::State::Lists=$apt/lists")
    say "apt-get update (deb-src, private lists)"
    apt-get "${opts[@]}" update > /dev/null
    say "apt-get source --download-only $name"
    (cd "$CACHE/src/$name.dl" &&
      { apt-get "${opts[@]}" source --download-only "$name" > /dev/null 2>&1 ||
        apt-get "${opts[@]}" source --download-only "$name/bookworm" > /dev/null; })
    mkdir -p "$dest.tmp"
    tar -xf "$(ls "$CACHE/src/$name.dl/${name}"_*.orig.tar.* | head -n 1)" -C "$dest.tmp" --strip-components=1
    mv "$dest.tmp" "$dest"
  fi
  echo "$dest"
}

# --- the tool ------------------------------------------------------------------------------------

TOOL="$BUILD/ingest/tome-ingest-report"
if [ ! -x "$TOOL" ] || [ -n "$(find "$ROOT/ingest" -newer "$TOOL" -name '*.[ch]*' -print -quit)" ]; then
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    say "configuring $BUILD (preset dev)"
    cmake --preset dev -B "$BUILD" > /dev/null
  fi
  say "building tome-ingest-report in $BUILD"
  cmake --build "$BUILD" --target tome-ingest-report --parallel "$(nproc)" > /dev/null
fi

REFMAN="$(fetch_binary r-doc-pdf)/usr/share/R/doc/manual/refman.pdf"
CMAKE_TREE="$(fetch_source cmake)"
[ -f "$REFMAN" ] || { echo "bench-ingest.sh: no refman.pdf in r-doc-pdf" >&2; exit 1; }

# --- runs ----------------------------------------------------------------------------------------

# bench LABEL TARGET_S ARGS...: a warm-up, then RUNS timed runs; prints a table row.
bench() {
  local label=$1 target=$2 times=() t0 t1 i out first
  shift 2
  t0=$(date +%s.%N)
  out="$("$TOOL" "$@")"  # the first run (it fills the page cache), and the report for the summary
  t1=$(date +%s.%N)
  first=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  for ((i = 0; i < RUNS; i++)); do
    t0=$(date +%s.%N)
    "$TOOL" "$@" > /dev/null
    t1=$(date +%s.%N)
    times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')")
  done
  local sorted median best summary
  sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  best=$(echo "$sorted" | head -n 1)
  median=$(echo "$sorted" | sed -n "$(((RUNS + 1) / 2))p")
  summary=$(echo "$out" | grep -E '^  (pages|files|characters):' | sed 's/^ *//; s/  */ /g' |
    paste -sd';' - | sed 's/;/; /g' || true)
  printf '| %s | %.2f | %.2f | %.2f | %s | %s |\n' "$label" "$first" "$median" "$best" "$target" "$summary"
}

say "load before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "$(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')),"\
  "load average before: $(cut -d' ' -f1-3 /proc/loadavg), build: $(grep -m1 CMAKE_BUILD_TYPE: "$BUILD/CMakeCache.txt" | cut -d= -f2),"\
  "warm runs: $RUNS"
echo
echo "| case | first run s | median s | best s | target s | what was read |"
echo "|---|---:|---:|---:|---:|---|"
bench "refman.pdf (r-doc-pdf), all threads" 10 "$REFMAN"
bench "refman.pdf, 1 thread" "-" "$REFMAN" --threads 1
bench "cmake source tree, all threads" 5 "$CMAKE_TREE"
bench "cmake source tree, 1 thread" "-" "$CMAKE_TREE" --threads 1
say "load after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
