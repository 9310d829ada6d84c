#!/usr/bin/env bash
# Tome's one set-up script, behind the README's two commands (Debian 12, from a fresh machine):
#   scripts/setup.sh run    install what is missing, build `release` (CUDA targets when nvcc is found),
#                           open the desktop app on the sample document where there is a display;
#                           else read the sample into a session and ask about it, then generate
#   scripts/setup.sh test   install what is missing, build `dev` (with CUDA when nvcc is found) and
#                           run the default suite, build the Debian package and test it in a clean
#                           Debian 12 root, build `asan` and run its suite, run pytest
#   scripts/setup.sh package  install what is missing, build the Debian package build/package/tome_*.deb
# All install missing Debian packages (apt-get, sudo when not root) and keep a Python virtual
# environment .venv over /usr/bin/python3 with the system site packages (Debian's torch) for
# training/. Idempotent: a second run reinstalls nothing and rebuilds only what changed.
set -Eeuo pipefail

# The model `run` generates with: the embedded default model (resources/models/tome-25m, a
# 26.8M-parameter YOCO trained by training/; see its MODEL_CARD.md).
MODEL="${TOME_MODEL:-resources/models/tome-25m}"
PROMPT="${TOME_PROMPT:-The LORD is my shepherd; I shall not want. He maketh me}"
MAX_TOKENS=48
SAMPLE="${TOME_SAMPLE:-resources/sample/keeper.md}"
QUESTION="${TOME_QUESTION:-What is the pass key?}"

# Exactly what the build, the tests and training/ need (Debian 12 names).
PACKAGES=(
  build-essential cmake ninja-build pkg-config git            # toolchain
  libopenblas-dev nlohmann-json3-dev libsentencepiece-dev      # engine libraries
  sentencepiece libxxhash-dev libcli11-dev                     # spm_train, hashing, the CLI
  libpoppler-cpp-dev libpoppler-glib-dev libzip-dev zlib1g-dev # ingest/: PDF text + outline,
  libxml2-dev libuchardet-dev libgit2-dev                      # EPUB, HTML, encodings, .gitignore
  libsqlite3-dev libzstd-dev                                   # session store (engine/store)
  libcpp-httplib-dev                                           # tome serve (app/server)
  libgtest-dev googletest                                      # tests
  qt6-base-dev qt6-base-dev-tools libqt6svg6 libpoppler-qt6-dev # desktop app (app/desktop): Qt 6
  libgl-dev xvfb xauth fonts-dejavu-core                       # Widgets, PDF pages; Xvfb e2e test
  clang libclang-rt-14-dev llvm                                # asan preset: clang, ASan/UBSan/
                                                               # libFuzzer runtimes, symbolizer
  clang-format                                                 # formatting (.clang-format)
  python3 python3-venv python3-torch python3-numpy             # training/
  python3-sentencepiece python3-pytest
  dpkg-dev file debootstrap                                    # installer/: CPack's dpkg-shlibdeps,
                                                               # the clean-root test
)
SYSTEM_PYTHON=/usr/bin/python3
PYTHON_MODULES="torch, numpy, sentencepiece, pytest"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
JOBS="$(nproc)"
cd "$ROOT"

usage() {
  # The opening comment: its first line and the command lines below it.
  awk 'NR == 2 || (NR > 2 && /^#  /) { print substr($0, 3); next } NR > 2 { exit }' "${BASH_SOURCE[0]}"
  exit 2
}

# --- steps, timing and the summary -------------------------------------------------------------

STEP_NAMES=()
STEP_SECONDS=()
CURRENT_STEP=""
CURRENT_COMMAND=""
START=$SECONDS
BOLD="" PLAIN=""
if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; fi

say() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$PLAIN"; }
die() { printf '\nsetup.sh: %s\n' "$*" >&2; exit 1; }

# step NAME COMMAND...: runs one step, timed; any failure ends the script (set -e).
step() {
  local name=$1 t0=$SECONDS
  shift
  CURRENT_STEP=$name
  CURRENT_COMMAND="$*"
  say "$name"
  "$@"
  STEP_NAMES+=("$name")
  STEP_SECONDS+=($((SECONDS - t0)))
  CURRENT_STEP=""
}

mmss() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }

summary() {
  local rc=$? i
  trap - EXIT
  printf '\n%s==> summary: setup.sh %s%s\n' "$BOLD" "${COMMAND:-}" "$PLAIN"
  for i in "${!STEP_NAMES[@]}"; do
    printf '  %-34s %7s  ok\n' "${STEP_NAMES[$i]}" "$(mmss "${STEP_SECONDS[$i]}")"
  done
  if [ -n "$CURRENT_STEP" ]; then
    printf '  %-34s %7s  FAILED\n' "$CURRENT_STEP" ""
  fi
  printf '  %-34s %7s  %s\n' "total" "$(mmss $((SECONDS - START)))" \
    "$([ "$rc" -eq 0 ] && echo ok || echo "FAILED (exit $rc)")"
  exit "$rc"
}

on_error() {
  local what=$BASH_COMMAND
  [ "$what" = '"$@"' ] && what=$CURRENT_COMMAND
  printf '\nsetup.sh: step "%s": "%s" failed (exit %s, line %s)\n' \
    "$CURRENT_STEP" "$what" "$1" "$2" >&2
}

# --- environment -------------------------------------------------------------------------------

install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "all ${#PACKAGES[@]} Debian packages are installed"
    return
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo > /dev/null || die "not root and no sudo: install ${missing[*]}"
    sudo=(sudo)
  fi
  echo "installing: ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
}

# .venv over the system python with its site packages; rebuilt only when missing or different.
setup_venv() {
  local cfg="$VENV/pyvenv.cfg"
  if [ -x "$VENV/bin/python" ] && [ -f "$cfg" ] &&
    grep -qx 'home = /usr/bin' "$cfg" &&
    grep -qx 'include-system-site-packages = true' "$cfg" &&
    "$VENV/bin/python" -c "import $PYTHON_MODULES" 2> /dev/null; then
    echo "reusing $VENV ($("$VENV/bin/python" --version))"
    return
  fi
  if [ -e "$VENV" ]; then
    echo "replacing $VENV: not a working venv over $SYSTEM_PYTHON with system site packages"
    rm -rf "$VENV"
  fi
  "$SYSTEM_PYTHON" -m venv --system-site-packages "$VENV"
  "$VENV/bin/python" -c "import $PYTHON_MODULES; print('venv:', torch.__version__, 'torch')"
}

# nvcc on PATH, or the toolkit's default place (added to PATH for CMake).
find_nvcc() {
  if ! command -v nvcc > /dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH="/usr/local/cuda/bin:$PATH"
  fi
  command -v nvcc > /dev/null
}

# --- build and run -----------------------------------------------------------------------------

# configure_and_build PRESET [cmake -D options...] [-- build options...]
configure_and_build() {
  local preset=$1 configure=() build=()
  shift
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do configure+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  build=("$@")
  cmake --preset "$preset" "${configure[@]}"
  cmake --build --preset "$preset" --parallel "$JOBS" "${build[@]}"
}

cmd_run() {
  local preset=release  # TOME_CUDA=AUTO: the CUDA targets join when nvcc is found
  if find_nvcc; then
    echo "nvcc: $(command -v nvcc): the release build includes the CUDA targets"
  else
    echo "no nvcc: CPU-only release build"
  fi
  local desktop="build/$preset/app/desktop/tome-desktop" targets=(--target tome)
  if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then targets+=(tome-desktop); fi
  step "build $preset (${targets[*]:1})" configure_and_build "$preset" -- "${targets[@]}"
  if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -x "$desktop" ]; then
    # A display: the desktop app, planning the sample document (Read, then ask about it).
    step "tome-desktop (sample document)" "$desktop" "$SAMPLE"
    return
  fi
  step "tome ingest + ask (sample document)" read_and_ask "build/$preset/app/cli/tome"
  step "tome generate" generate "build/$preset/app/cli/tome"
}

# The main job: read the bundled sample document into a session of the user's library (a second
# run finds it read already) and ask a question about it.
read_and_ask() {
  local tome=$1
  [ -d "$MODEL" ] || die "$MODEL: no such model directory"
  "$tome" ingest "$SAMPLE" --session sample --model "$MODEL"
  echo "Question: $QUESTION"
  printf 'Answer: '
  "$tome" ask sample "$QUESTION" --model "$MODEL"
  echo
}

generate() {
  local tome=$1
  [ -d "$MODEL" ] || die "$MODEL: no such model directory"
  echo "Model: $MODEL (a small model: expect fluent-ish text, not wisdom)"
  echo "Prompt: $PROMPT"
  "$tome" generate --model "$MODEL" --prompt "$PROMPT" --max-tokens "$MAX_TOKENS" \
    --temperature 0.7 --top-p 0.9 --repeat-penalty 1.2 --seed 1
  echo
}

# The Debian package (installer/package.cmake): the `package` preset (Release, any x86-64 CPU; the
# CUDA backend when nvcc is found, cuBLAS loaded at run time) and CPack.
build_package() {
  configure_and_build package -- --target package
  echo "package: $(ls -t build/package/tome_*.deb | head -n 1)"
}

cmd_package() {
  if find_nvcc; then
    echo "nvcc: $(command -v nvcc): the package includes the CUDA backend"
  else
    echo "no nvcc: CPU-only package"
  fi
  step "build package (.deb)" build_package
}

cmd_test() {
  local cuda=()
  if find_nvcc; then
    cuda=(-DTOME_CUDA=ON)  # AUTO would fall back to CPU quietly; CUDA targets must compile
    echo "nvcc: $(command -v nvcc): the dev build includes the CUDA backend"
  else
    echo "no nvcc: the dev build is CPU only"
  fi
  step "build dev" configure_and_build dev "${cuda[@]}"
  step "ctest default (dev)" ctest --preset default --parallel "$JOBS"
  step "build package (.deb)" build_package
  step "installer test (clean Debian 12)" installer/test-deb.sh build/package
  step "build asan" configure_and_build asan
  step "ctest asan" ctest --preset asan --parallel "$JOBS"
  step "pytest training/tests" "$VENV/bin/python" -m pytest training/tests -q
}

# --- main --------------------------------------------------------------------------------------

main() {
  [ $# -eq 1 ] || usage
  COMMAND=$1
  case "$COMMAND" in
    run | test | package) ;;
    *) usage ;;
  esac
  trap summary EXIT
  trap 'on_error $? $LINENO' ERR
  step "Debian packages" install_packages
  step "python venv (.venv)" setup_venv
  "cmd_$COMMAND"
}

# Sourcing the script (to try one function) defines everything and runs nothing.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
