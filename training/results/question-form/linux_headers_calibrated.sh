#!/bin/bash
# v7 on the 120 Linux UAPI headers ingested by the app (tome-25m-v7/whichfile_linux_headers.sh's
# repository and symbols, /tmp/wf_syms.txt, library /tmp/big-v7.db): `tome ask --choose-path` end
# to end, plain (w 0) and calibrated (w 0.5, the default), with the wall time of each command. CPU.
# Since session 15 the first calibrated question computes the paths' prior (two content-free
# questions) and keeps it in the library; the others read it back. Its stderr (the estimate) goes
# to $ERR. Session 14 ran only the first 6 questions (three questions, every command computing
# the prior again: linux_headers_calibrated_partial.txt).
T=${TOME:-/work/main/build/cpu/app/cli/tome}
M=${MODEL:-/work/main/resources/models/tome-25m}
LIB=${LIB:-/tmp/big-v7.db}
ERR=${ERR:-/tmp/linux_headers_calibrated.err}
: > "$ERR"
ok0=0; ok5=0; n=0
now() { date +%s.%N; }
while read sym file; do
  n=$((n+1))
  a=$(now)
  c0=$($T ask big "Which file defines \`$sym\`?" --choose-path --path-prior-weight 0 -q --model $M --backend cpu --library $LIB 2>/dev/null)
  b=$(now)
  c5=$($T ask big "Which file defines \`$sym\`?" --choose-path --path-prior-weight 0.5 --model $M --backend cpu --library $LIB 2>>"$ERR")
  c=$(now)
  [ "$c0" = "$file" ] && ok0=$((ok0+1))
  [ "$c5" = "$file" ] && ok5=$((ok5+1))
  printf '%s | %s | plain: %s (%.1f s) | calibrated: %s (%.1f s)\n' "$sym" "$file" "$c0" \
    "$(echo "$b - $a" | bc)" "$c5" "$(echo "$c - $b" | bc)"
done < <(head -n ${N:-24} /tmp/wf_syms.txt)
echo "n=$n plain=$ok0 calibrated=$ok5"
