#!/usr/bin/env bash
# Experiment (session 9, not shipped unless it evaluates better): v5 with which-file / next-line rows also at 32K and 64K.
# tome-25m v5: continued training of the shipped v4 directory, aimed at the repository tasks
# (which-file 35% and next-line 20% of the short rows, a 2K stage with fewer files per row), the
# long retrieval rows kept (a quarter of the time). GPU machine, repo root; call 1
# (stage_and_test.sh) left half A in /tmp/shards-a.
set -uo pipefail
export PYTHONUNBUFFERED=1
O=${OUT:-/tmp/v5l-out}
mkdir -p $O
if [ -d /tmp/shards-a ]; then
  python3 training/data/split_shards.py merge /tmp/shards-a training/runs/shards-b2 /tmp/shards
  S=/tmp/shards
else
  echo "shards-a missing (fresh machine): training on half B"; S=training/runs/shards-b2
fi
B=${B:-450}
MIX_SHORT=whichfile:0.35,nextline:0.2,fim:0.05,follows:0.03,quote:0.03,passkey:0.02,multikey:0.02
MIX_LONG=passkey:0.2,passkey_plain:0.1,multikey:0.15,quote:0.05,follows:0.04,whichfile:0.03,fim:0.03
torchrun --nproc_per_node=1 training/train.py --shards $S --ckpt-dir /tmp/v5l-train \
  --out-dir /tmp/v5l-w --init-model resources/models/tome-25m \
  --stages 4096:0.2,16384:0.25,32768:0.15,65536:0.15,131072:0.25 --interleave \
  --stage-mix 4096=$MIX_SHORT --stage-mix 16384=$MIX_SHORT --stage-mix 32768=$MIX_SHORT --stage-mix 65536=$MIX_SHORT \
  --stage-mix 131072=$MIX_LONG \
  --lr 2e-4 --min-lr 2e-5 --warmup 20 --skip-prob 0.5 --skip-from 131072 --far-share 0.3 \
  --time-budget $B --piece-seconds $((B + 70)) --workers 5 --eval-seconds 1e9 --eval-n 8 \
  --save-seconds 120 --log-every 50 2>&1 | tee $O/train.log | grep -E '"event"|"eval"|probe' | cut -c1-600
cp /tmp/v5l-w/weights.pt.part* /tmp/v5l-w/log.jsonl $O/
cat /tmp/v5l-w/weights.pt.part* > /tmp/v5l-weights.pt
python3 training/export.py --checkpoint /tmp/v5l-weights.pt --tokenizer resources/models/tome-25m/tokenizer.model \
  --out /tmp/tome-25m-v5l --dtype int8 && sha256sum /tmp/tome-25m-v5l/* | tee $O/sha256.txt
cp /tmp/tome-25m-v5l/model.safetensors $O/
