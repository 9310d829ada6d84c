#!/bin/bash
# Where the 24 structs of whichfile_linux_headers.sh sit in their files (characters from the file's
# start, i.e. after its <|file|> header) and whether v7 chose the right file
# (whichfile_linux_headers.txt); then the medians the model card quotes. After
# whichfile_linux_headers.sh (it leaves /tmp/wf_syms.txt; /tmp/bigrepo as its header says).
cd "$(dirname "$0")"
while read -r sym file; do
  off=$(python3 -c "import sys; print(open('/tmp/bigrepo/' + sys.argv[1]).read().find('struct ' + sys.argv[2] + ' {'))" "$file" "$sym")
  ok=$(awk -F' [|] ' -v s="$sym" '$1 == s { sub(/^choose: /, "", $3); print ($3 == $2) ? "right" : "missed" }' whichfile_linux_headers.txt)
  echo "$sym $off $ok"
done < /tmp/wf_syms.txt | tee /tmp/wf_offsets.txt
python3 - <<'PY'
import statistics as s
rows = [l.split() for l in open("/tmp/wf_offsets.txt")]
med = lambda k: s.median(int(r[1]) for r in rows if k is None or r[2] == k)
print(f"median offset: all {med(None)}, right {med('right')}, missed {med('missed')}")
PY
