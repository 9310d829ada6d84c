#!/usr/bin/env bash
# Long-range copying of code (issue 4's next-line): tome-25m v7 trained on for B seconds with
# session 12's recipe (v7's stages and mixes, training half A, v7's layout: no restated headers),
# with a share TREE of the 128K stage's rows the task nextline_tree: next-line with the target file
# in the context, anywhere in the row (skipped positions on half of these rows, as the needles,
# emulate distances up to 1M). Taken from the 128K needles (passkey 0.2 -> 0.1) and LM rows.
# Control: v13 (the same recipe, 220 s, without nextline_tree). GPU machine, repo root; carry
# ["training/runs/shards-a"]. The int8 export stays at /tmp/tome-25m-$V and comes back under $OUT
# in 12 MiB parts (cat them).
#   V=v17 training/results/long-copy/train_arm.sh
#   V=v18 B=360 TREE=0.35 STAGES=16384:0.2,131072:0.8 training/results/long-copy/train_arm.sh
# STAGES: the stages' time shares (default v13's); the short mix serves every stage below 128K.
set -uo pipefail
export PYTHONUNBUFFERED=1
V=${V:?V=name}
B=${B:-220}; TREE=${TREE:-0.15}
O=${OUT:-/tmp/$V-out}
mkdir -p $O
[ -f training/runs/shards-a/meta.json ] || { echo "no training/runs/shards-a: carry it"; exit 1; }
MIX_SHORT=whichfile:0.3,nextline:0.15,fim:0.05,follows:0.08,quote:0.1,passkey:0.02,multikey:0.02
MIX_LONG=passkey:0.1,passkey_plain:0.1,multikey:0.15,quote:0.08,follows:0.06,whichfile:0.03,fim:0.03,nextline_tree:$TREE
STAGES=${STAGES:-4096:0.2,16384:0.25,32768:0.15,65536:0.15,131072:0.25}
MIXES=""
for st in ${STAGES//,/ }; do
  L=${st%%:*}
  if [ "$L" -ge 131072 ]; then MIXES="$MIXES --stage-mix $L=$MIX_LONG"; else MIXES="$MIXES --stage-mix $L=$MIX_SHORT"; fi
done
sha256sum resources/models/tome-25m/model.safetensors
rm -rf /tmp/$V-train /tmp/$V-w /tmp/tome-25m-$V
torchrun --nproc_per_node=1 training/train.py --shards training/runs/shards-a --ckpt-dir /tmp/$V-train \
  --out-dir /tmp/$V-w --init-model resources/models/tome-25m --file-header-every 0 \
  --stages $STAGES --interleave $MIXES \
  --lr 2e-4 --min-lr 2e-5 --warmup 20 --skip-prob 0.5 --skip-from 131072 --far-share 0.3 \
  --time-budget $B --piece-seconds $((B + 70)) --workers 5 --eval-seconds 1e9 --eval-n 8 \
  --save-seconds 120 --log-every 50 > /tmp/$V-train.log 2>&1
grep -E '"event": "(start|stop)"' /tmp/$V-train.log | cut -c1-240
tail -n 3 /tmp/$V-train.log | cut -c1-300
cp /tmp/$V-w/log.jsonl $O/$V-log.jsonl
cat /tmp/$V-w/weights.pt.part* > /tmp/$V-weights.pt
python3 training/export.py --checkpoint /tmp/$V-weights.pt --tokenizer resources/models/tome-25m/tokenizer.model \
  --out /tmp/tome-25m-$V --dtype int8 > /dev/null && sha256sum /tmp/tome-25m-$V/* | tee $O/sha256-$V.txt
(cd /tmp/tome-25m-$V && tar cf - config.json model.safetensors | split -b 12M - $O/$V.tar.part)
ls -la $O
