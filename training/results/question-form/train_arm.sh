#!/usr/bin/env bash
# The which-file question in two forms (issue 4): tome-25m v7 trained on for B seconds with
# session 12's pair.sh recipe (v7's stages and mixes, training half A), with a share BARE of the
# which-file questions asked as "Which file defines SYMBOL?" instead of "Which file defines
# `SYMBOL`?" (train.py --whichfile-bare), the header every FHE tokens. Controls: v12 (FHE 128) and
# v13 (FHE 0), the same recipe with every question in backticks. GPU machine, repo root; carry
# ["training/runs/shards-a"] once (it stays on the warm machine). The int8 export stays at
# /tmp/tome-25m-$V for eval.sh and comes back under $OUT in 12 MiB parts (cat them).
#   V=v15 FHE=128 training/results/question-form/train_arm.sh
#   V=v16 FHE=128 BARE=0 MANY=0.15 training/results/question-form/train_arm.sh
# MANY: the share of the short stages' which-file rows (0.3 of them) built as tasks.whichfile_many
# (excerpts of as many of a repository's files as fit, 15 at 4K to 130 at 32K) instead.
set -uo pipefail
export PYTHONUNBUFFERED=1
V=${V:?V=name}; FHE=${FHE:?FHE=tokens, 0: one header}
B=${B:-220}; BARE=${BARE:-0.5}
O=${OUT:-/tmp/$V-out}
mkdir -p $O
[ -f training/runs/shards-a/meta.json ] || { echo "no training/runs/shards-a: carry it"; exit 1; }
MANY=${MANY:-0}
MIX_SHORT=whichfile:$(python3 -c "print(round(0.3 - $MANY, 4))"),whichfile_many:$MANY,nextline:0.15,fim:0.05,follows:0.08,quote:0.1,passkey:0.02,multikey:0.02
MIX_LONG=passkey:0.2,passkey_plain:0.1,multikey:0.15,quote:0.08,follows:0.06,whichfile:0.03,fim:0.03
sha256sum resources/models/tome-25m/model.safetensors
rm -rf /tmp/$V-train /tmp/$V-w /tmp/tome-25m-$V
torchrun --nproc_per_node=1 training/train.py --shards training/runs/shards-a --ckpt-dir /tmp/$V-train \
  --out-dir /tmp/$V-w --init-model resources/models/tome-25m --file-header-every $FHE \
  --whichfile-bare $BARE \
  --stages 4096:0.2,16384:0.25,32768:0.15,65536:0.15,131072:0.25 --interleave \
  --stage-mix 4096=$MIX_SHORT --stage-mix 16384=$MIX_SHORT --stage-mix 32768=$MIX_SHORT --stage-mix 65536=$MIX_SHORT \
  --stage-mix 131072=$MIX_LONG \
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
