#!/bin/bash
# v7 on the 120 Linux UAPI headers ingested by the app (tome-25m-v7/whichfile_linux_headers.sh's
# repository and symbols, /tmp/wf_syms.txt, library /tmp/big-v7.db): `tome ask --choose-path` end
# to end, plain (w 0) and calibrated (w 0.5, the default). CPU; about 90 s a question calibrated.
# N=24 (default) questions; session 14 ran only the first 6 (linux_headers_calibrated_partial.txt).
T=/work/main/build/cpu/app/cli/tome
ok0=0; ok5=0; n=0
while read sym file; do
  n=$((n+1))
  c0=$($T ask big "Which file defines \`$sym\`?" --choose-path --path-prior-weight 0 -q --model /work/main/resources/models/tome-25m --backend cpu --library /tmp/big-v7.db 2>/dev/null)
  s=$(date +%s)
  c5=$($T ask big "Which file defines \`$sym\`?" --choose-path --path-prior-weight 0.5 -q --model /work/main/resources/models/tome-25m --backend cpu --library /tmp/big-v7.db 2>/dev/null)
  [ "$c0" = "$file" ] && ok0=$((ok0+1))
  [ "$c5" = "$file" ] && ok5=$((ok5+1))
  echo "$sym | $file | plain: $c0 | calibrated: $c5 | $(( $(date +%s) - s )) s"
done < <(head -n ${N:-24} /tmp/wf_syms.txt)
echo "n=$n plain=$ok0 calibrated=$ok5"
