#!/bin/bash
# The pointer end to end on the CPU: `tome ask --choose-path` (the pointer answers, the default)
# against `--no-pointer` (the calibrated path choice), on the 120 Linux UAPI headers ingested by
# the app (113,364 tokens; tome-25m-v7/whichfile_linux_headers.sh's repository and 24 symbols,
# /tmp/wf_syms.txt), with the wall time of each command. The library must be made with the
# current model (its config.json is in the fingerprint):
#   tome ingest /tmp/bigrepo --session big --model resources/models/tome-25m --backend cpu --library $LIB
T=${TOME:-/work/main/build/cpu/app/cli/tome}
M=${MODEL:-/work/main/resources/models/tome-25m}
LIB=${LIB:-/tmp/big-ptr.db}
ERR=${ERR:-/tmp/linux_headers_pointer.err}
: > "$ERR"
okp=0; okc=0; n=0
now() { date +%s.%N; }
while read sym file; do
  n=$((n+1))
  a=$(now)
  cp_=$($T ask big "Which file defines \`$sym\`?" --choose-path --model $M --backend cpu --library $LIB 2>>"$ERR")
  b=$(now)
  cc=$($T ask big "Which file defines \`$sym\`?" --choose-path --no-pointer --model $M --backend cpu --library $LIB 2>>"$ERR")
  c=$(now)
  [ "$cp_" = "$file" ] && okp=$((okp+1))
  [ "$cc" = "$file" ] && okc=$((okc+1))
  printf '%s | %s | pointer: %s (%.1f s) | calibrated: %s (%.1f s)\n' "$sym" "$file" "$cp_" \
    "$(echo "$b - $a" | bc)" "$cc" "$(echo "$c - $b" | bc)"
done < <(head -n ${N:-24} /tmp/wf_syms.txt)
echo "n=$n pointer=$okp calibrated=$okc"
