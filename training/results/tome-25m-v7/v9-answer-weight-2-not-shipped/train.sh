#!/usr/bin/env bash
# Experiment (session 10, shipped only if it evaluates better): tome-25m v7 trained on with v7's
# own recipe and mixes, the answer tokens' loss weighted 2 (--answer-weight 2; v7: 1). GPU
# machine, repo root, after stage.sh (v7 in /tmp/init-model, half A in /tmp/shards-a).
set -uo pipefail
export PYTHONUNBUFFERED=1
O=${OUT:-/tmp/v9-out}
mkdir -p $O
if [ -d /tmp/shards-a ]; then
  python3 training/data/split_shards.py merge /tmp/shards-a training/runs/shards-b2 /tmp/shards
  S=/tmp/shards
else
  echo "shards-a missing (fresh machine): training on half B"; S=training/runs/shards-b2
fi
[ -f /tmp/init-model/model.safetensors ] || { echo "no /tmp/init-model: run stage.sh first"; exit 1; }
sha256sum /tmp/init-model/model.safetensors
B=${B:-450}
MIX_SHORT=whichfile:0.3,nextline:0.15,fim:0.05,follows:0.08,quote:0.1,passkey:0.02,multikey:0.02
MIX_LONG=passkey:0.2,passkey_plain:0.1,multikey:0.15,quote:0.08,follows:0.06,whichfile:0.03,fim:0.03
torchrun --nproc_per_node=1 training/train.py --shards $S --ckpt-dir /tmp/v9-train \
  --out-dir /tmp/v9-w --init-model /tmp/init-model \
  --stages 4096:0.2,16384:0.25,32768:0.15,65536:0.15,131072:0.25 --interleave \
  --stage-mix 4096=$MIX_SHORT --stage-mix 16384=$MIX_SHORT --stage-mix 32768=$MIX_SHORT --stage-mix 65536=$MIX_SHORT \
  --stage-mix 131072=$MIX_LONG \
  --answer-weight 2 --lr 2e-4 --min-lr 2e-5 --warmup 20 --skip-prob 0.5 --skip-from 131072 --far-share 0.3 \
  --time-budget $B --piece-seconds $((B + 70)) --workers 5 --eval-seconds 1e9 --eval-n 8 \
  --save-seconds 120 --log-every 50 2>&1 | tee $O/train.log | grep -E '"event"|"eval"|probe' | cut -c1-300
cp /tmp/v9-w/weights.pt.part* /tmp/v9-w/log.jsonl $O/
cat /tmp/v9-w/weights.pt.part* > /tmp/v9-weights.pt
python3 training/export.py --checkpoint /tmp/v9-weights.pt --tokenizer resources/models/tome-25m/tokenizer.model \
  --out /tmp/tome-25m-v9 --dtype int8 && sha256sum /tmp/tome-25m-v9/* | tee $O/sha256.txt
