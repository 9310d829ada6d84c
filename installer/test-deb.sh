#!/usr/bin/env bash
# installer/test-deb.sh [BUILD_DIR]: the installer test. Checks Tome's Debian package (the newest
# BUILD_DIR/tome_*.deb, default build/package, made by `scripts/setup.sh package`), then installs
# it with apt into a clean Debian 12 root (debootstrap minbase) and uses it there from the
# installed files only (installer/test-deb-inside.sh), then purges it. Builds nothing.
# Needs root (sudo when not root) and the Debian mirror ($TOME_DEBIAN_MIRROR, default
# deb.debian.org). The debootstrap'ed root is cached as BUILD_DIR/installer-test/
# bookworm-minbase.tar (delete it to refresh); every run unpacks a fresh copy of it.
set -Eeuo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="$(realpath -m "${1:-$ROOT_DIR/build/package}")"
MIRROR="${TOME_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${TOME_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
SUITE=bookworm
WORK="$BUILD_DIR/installer-test"
CACHE="$WORK/$SUITE-minbase.tar"
CHROOT="$WORK/root"
T0=$SECONDS

fail() { echo "test-deb: FAILED: $*" >&2; exit 1; }
phase() { printf '\n=== %s (%ds)\n' "$*" $((SECONDS - T0)); }

if [ "$(id -u)" -ne 0 ]; then
  command -v sudo > /dev/null || fail "needs root (debootstrap, chroot, mounts) and there is no sudo"
  exec sudo --preserve-env=TOME_DEBIAN_MIRROR,TOME_DEBIAN_SECURITY_MIRROR,TOME_DESKTOP_SMOKE \
    "$0" "$BUILD_DIR"
fi
for tool in debootstrap dpkg-deb unshare chroot; do
  command -v "$tool" > /dev/null || fail "$tool not found (scripts/setup.sh installs it)"
done

# Nothing may stay mounted under the root we delete (the mounts live in a private namespace that
# dies with the test; this is the belt to those braces), and rm never crosses into another mount.
unmount_under() {
  local m
  for m in $(awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r); do
    umount -l "$m" || true
  done
}
remove_root() {
  unmount_under "$1"
  if awk -v p="$1/" 'index($2, p) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
    fail "$1 still has mounts under it: not removing it"
  fi
  rm -rf --one-file-system "$1"
}
cleanup() {
  local rc=$?
  unmount_under "$CHROOT"
  if [ "$rc" -eq 0 ]; then remove_root "$CHROOT"; else echo "test-deb: the root is kept in $CHROOT"; fi
}
trap cleanup EXIT

# --- the package, checked from the outside ------------------------------------------------------

phase "package"
deb=$(ls -t "$BUILD_DIR"/tome_*.deb 2> /dev/null | head -n 1 || true)
[ -n "$deb" ] || fail "no $BUILD_DIR/tome_*.deb: build it with scripts/setup.sh package"
echo "$deb ($(du -h "$deb" | cut -f1))"
dpkg-deb -f "$deb" Package Version Architecture Depends Recommends Suggests
paths=$(dpkg-deb -c "$deb" | awk '{ print $6 }')
for p in ./usr/bin/tome ./usr/share/tome/sample/keeper.md \
  ./usr/share/tome/models/tome-25m/{config.json,model.safetensors,tokenizer.model,MODEL_CARD.md}; do
  grep -qxF "$p" <<< "$paths" || fail "the package lacks $p"
done
if grep -qxF ./usr/share/applications/tome.desktop <<< "$paths"; then
  for p in ./usr/bin/tome-desktop ./usr/share/icons/hicolor/scalable/apps/tome.svg; do
    grep -qxF "$p" <<< "$paths" || fail "the package has the desktop entry but lacks $p"
  done
  echo "desktop app: packaged"
else
  echo "desktop app: not in this package (tome-desktop was not built)"
fi
# CUDA must stay optional: nothing of it among the dependencies, no CUDA library linked.
if dpkg-deb -f "$deb" Depends Pre-Depends | grep -Eiq 'cuda|cublas|nvidia'; then
  fail "the package requires CUDA: $(dpkg-deb -f "$deb" Depends)"
fi
# Any x86-64 CPU: no -march/-mavx flags in the build (target_clones picks AVX2/AVX-512 at run time).
if [ -f "$BUILD_DIR/compile_commands.json" ]; then
  ! grep -Eo -- '-march=[^ "]*|-mavx[^ "]*|-mtune=native' "$BUILD_DIR/compile_commands.json" |
    sort -u | grep . || fail "the package build uses CPU-specific flags (above)"
  echo "compile flags: no -march/-mavx"
fi

# --- a clean Debian 12 root ---------------------------------------------------------------------

mkdir -p "$WORK"
if [ ! -f "$CACHE" ]; then
  phase "debootstrap --variant=minbase $SUITE (cached in $CACHE)"
  remove_root "$WORK/bootstrap"
  debootstrap --variant=minbase "$SUITE" "$WORK/bootstrap" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 ||
    { tail -n 30 "$WORK/debootstrap.log" >&2; fail "debootstrap failed (log: $WORK/debootstrap.log)"; }
  tar -C "$WORK/bootstrap" -cf "$CACHE.tmp" .
  mv "$CACHE.tmp" "$CACHE"
  remove_root "$WORK/bootstrap"
fi
phase "fresh root from $CACHE"
remove_root "$CHROOT"
mkdir -p "$CHROOT"
tar -C "$CHROOT" -xf "$CACHE"
cp /etc/resolv.conf "$CHROOT/etc/resolv.conf"
cat > "$CHROOT/etc/apt/sources.list" << EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
cp "$deb" "$CHROOT/tmp/tome.deb"
cp "$ROOT_DIR/installer/test-deb-inside.sh" "$CHROOT/tmp/test-deb-inside.sh"

# --- install, use, purge inside it ---------------------------------------------------------------

phase "inside the root: install, use, purge"
# A private mount and PID namespace: /proc and /dev/pts are mounted for the root only and everything started in
# it ends with it; the environment is emptied so nothing of this machine's leaks in.
unshare --mount --pid --fork --propagation private /bin/sh -c '
  mount -t proc proc "$1/proc" &&
    mount -t devpts -o newinstance,ptmxmode=0666 devpts "$1/dev/pts" && exec chroot "$1" /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb \
    TOME_DESKTOP_SMOKE="$2" /bin/bash /tmp/test-deb-inside.sh' sh "$CHROOT" \
  "${TOME_DESKTOP_SMOKE:-}" || fail "the test inside the root failed (above)"

phase "ok: installed, used and purged in a clean Debian 12 root"
