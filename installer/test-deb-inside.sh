#!/usr/bin/env bash
# The part of installer/test-deb.sh that runs inside the clean Debian 12 root (chroot, private mount
# and PID namespaces, an empty environment): installs /tmp/tome.deb with apt (Depends only, no
# Recommends), uses the installed files as a new user would (tome --version, ingest and ask on the
# sample document with the default model, the desktop app offscreen when packaged), then purges the
# package and checks that none of its files is left. Not meant to be run on a real system.
set -Eeuo pipefail
trap 'echo "test-deb (in root): line $LINENO: \"$BASH_COMMAND\" failed" >&2' ERR

DEB=/tmp/tome.deb
USER_NAME=reader
QUESTION="What is the pass key?"
EXPECTED=7341
DESKTOP_SECONDS=15
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8

fail() { echo "test-deb (in root): FAILED: $*" >&2; exit 1; }
phase() { printf '\n--- %s\n' "$*"; }
# as_user CMD...: runs CMD as the unprivileged user in its home, like a login would.
as_user() { runuser -u "$USER_NAME" -- env HOME="/home/$USER_NAME" "$@"; }

version=$(dpkg-deb -f "$DEB" Version)
# The package's paths, and those that exist before it is installed (/usr, /usr/bin, ...): after the
# purge every other one must be gone.
dpkg-deb --fsys-tarfile "$DEB" | tar -t | sed -e 's|^\./|/|' -e 's|/$||' | grep -v '^/\?$' \
  > /tmp/tome-paths
while read -r p; do [ -e "$p" ] && echo "$p"; done < /tmp/tome-paths > /tmp/tome-paths-before || true

phase "apt-get install ./tome.deb (its Depends only)"
apt-get update -q
apt-get install -y -q --no-install-recommends "$DEB"
[ "$(dpkg-query -W -f='${db:Status-Status}' tome)" = installed ] || fail "tome is not installed"
apt-get check -q

phase "tome --version"
[ "$(command -v tome)" = /usr/bin/tome ] || fail "tome is not /usr/bin/tome on PATH"
out=$(tome --version)
echo "$out"
[ "$out" = "tome $version" ] || fail "tome --version printed '$out', expected 'tome $version'"

phase "tome ingest + ask on the sample document, as a new user, with the default model"
useradd --create-home --shell /bin/bash "$USER_NAME"
as_user tome ingest /usr/share/tome/sample/keeper.md --session sample
answer=$(as_user tome ask sample "$QUESTION")
echo "Q: $QUESTION"
echo "A: $answer"
case "$answer" in *"$EXPECTED"*) ;; *) fail "expected $EXPECTED in the answer" ;; esac
library="/home/$USER_NAME/.local/share/tome/library.db"
[ -f "$library" ] || fail "no library at $library"
as_user tome sessions | grep -q sample || fail "tome sessions does not list the session"
# $TOME_MODEL overrides the default model: a missing folder must be refused, by name.
if err=$(as_user env TOME_MODEL=/nonexistent-model tome ask sample "$QUESTION" 2>&1); then
  fail "TOME_MODEL=/nonexistent-model was not used (tome ask succeeded)"
fi
case "$err" in *nonexistent-model*) ;; *) fail "TOME_MODEL error does not name the folder: $err" ;; esac

if grep -qx /usr/share/applications/tome.desktop /tmp/tome-paths; then
  phase "desktop app: entry, icon, offscreen start"
  entry=/usr/share/applications/tome.desktop
  exe=$(sed -n 's/^Exec=\([^ ]*\).*/\1/p' "$entry" | head -n 1)
  icon=$(sed -n 's/^Icon=//p' "$entry" | head -n 1)
  [ -n "$exe" ] && command -v "$exe" > /dev/null || fail "$entry: Exec=$exe is not installed"
  [ -f "/usr/share/icons/hicolor/scalable/apps/$icon.svg" ] || fail "$entry: no icon '$icon'"
  out=$(as_user env QT_QPA_PLATFORM=offscreen timeout 120 "$exe" ${TOME_DESKTOP_SMOKE:---version} 2>&1) ||
    fail "$exe ${TOME_DESKTOP_SMOKE:---version} (offscreen) failed: $out"
  echo "$out"
  case "$out" in *"$version"*) ;; *) fail "$exe did not print the version $version" ;; esac
  # Started for real (main window, engine worker, the default model): it must still be running
  # after DESKTOP_SECONDS (timeout's 124), not have crashed or quit.
  rc=0
  out=$(as_user env QT_QPA_PLATFORM=offscreen timeout "$DESKTOP_SECONDS" "$exe" 2>&1) || rc=$?
  [ "$rc" -eq 124 ] || fail "$exe (offscreen) ended within ${DESKTOP_SECONDS}s (exit $rc): $out"
  echo "$exe ran ${DESKTOP_SECONDS}s offscreen (main window, default model) and was stopped"
else
  echo "(no desktop app in this package)"
fi

phase "apt-get remove --purge tome"
apt-get remove --purge -y -q tome
if dpkg-query -W -f='${db:Status-Status}\n' tome 2> /dev/null | grep -qv '^not-installed$'; then
  fail "tome is still known to dpkg: $(dpkg-query -W -f='${db:Status-Status}' tome)"
fi
left=""
while read -r p; do
  grep -qxF "$p" /tmp/tome-paths-before && continue
  if [ -e "$p" ] || [ -L "$p" ]; then left+="  $p"$'\n'; fi
done < /tmp/tome-paths
[ -z "$left" ] || fail "files of the package left after the purge:"$'\n'"$left"
[ -f "$library" ] || fail "the purge removed the user's library (user data must stay)"
echo "purged: none of the $(wc -l < /tmp/tome-paths) paths of the package is left; the user's library stays"
