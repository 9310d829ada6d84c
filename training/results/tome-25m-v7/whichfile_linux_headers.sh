#!/bin/bash
# which-file on a real repository ingested by the app: 120 of /usr/include/linux/*.h under 6 KB
# (Debian 12 linux-libc-dev), 113,364 tokens; 24 unique "struct NAME {" definitions. CPU; MODEL= DB= pick the model directory and the library (defaults: the shipped model, /tmp/big.db), T= the tome binary.
#   mkdir -p /tmp/bigrepo/include/linux && cd /usr/include/linux && find . -maxdepth 1 -name "*.h" -size -6k | sort | head -120 | xargs -I{} cp {} /tmp/bigrepo/include/linux/
#   tome ingest /tmp/bigrepo --session big --model resources/models/tome-25m --backend cpu --library ${DB:-/tmp/big.db}
T=${T:-/work/main/build/dev/app/cli/tome}
grep -Hn "^struct [A-Za-z_0-9]* {" /tmp/bigrepo/include/linux/*.h | sed -E 's#^/tmp/bigrepo/([^:]*):[0-9]+:struct ([A-Za-z_0-9]*) \{.*#\2 \1#' | sort | awk '{c[$1]++; f[$1]=$2} END {for (k in c) if (c[k]==1) print k, f[k]}' | sort | awk 'NR%7==3' | head -24 > /tmp/wf_syms.txt
ok_c=0; ok_f=0; n=0
while read sym file; do
  n=$((n+1))
  c=$($T ask big "Which file defines \`$sym\`?" --choose-path -q --model ${MODEL:-/work/main/resources/models/tome-25m} --backend cpu --library ${DB:-/tmp/big.db} 2>/dev/null)
  f=$($T ask big "Which file defines \`$sym\`?" -q -n 24 --temperature 0 --model ${MODEL:-/work/main/resources/models/tome-25m} --backend cpu --library ${DB:-/tmp/big.db} 2>/dev/null)
  [ "$c" = "$file" ] && ok_c=$((ok_c+1))
  [ "$f" = "$file" ] && ok_f=$((ok_f+1))
  echo "$sym | $file | choose: $c | free: $f"
done < /tmp/wf_syms.txt
echo "n=$n choose=$ok_c free=$ok_f"
