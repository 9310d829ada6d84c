#!/usr/bin/env bash
# The YOCO vs same-size Transformer comparison of resources/models/tome-25m/MODEL_CARD.md: both
# trained from scratch, back to back on one GPU, with the v1 recipe's short stages (512, 2048,
# 8192 tokens, equal shares of the time budget; lr 1.5e-3, 200 warm-up steps, cosine to 1.5e-4,
# 64K tokens per step, the v1 task mix, seed 0), the same shards and the same seconds of training
# (each run's own throughput probe turns the budget into steps), then scored together on the same
# held-out rows by eval_torch.py (loss at 2K/8K/32K, needle and task rows at 4K/16K).
#   training/compare.sh SHARDS EVALSHARDS BUDGET_SECONDS OUTDIR        (GPU machine, repo root)
set -euo pipefail
S=${1:-training/shards}
E=${2:-training/evalshards}
B=${3:-230}
O=${4:-${OUT:-/tmp/cmp-out}}
mkdir -p "$O"
export PYTHONUNBUFFERED=1
for A in yoco transformer; do
  torchrun --nproc_per_node=1 training/train.py --arch $A --shards "$S" --ckpt-dir /tmp/cmp-$A \
    --out-dir /tmp/cmp-out-$A --stages 512:0.2,2048:0.2,8192:0.2 --time-budget "$B" \
    --piece-seconds $((B + 45)) --workers 10 --eval-seconds 1e9 --save-seconds 120 \
    2>&1 | tee "$O/train-$A.log" | grep -E '"event"|"eval"' | cut -c1-400
done
timeout 150 python3 training/eval_torch.py --weights /tmp/cmp-yoco/ckpt.pt \
  /tmp/cmp-transformer/ckpt.pt --shards "$S" --eval-shards "$E" --lengths 4096,16384 \
  --needles 20 --task-n 30 --loss-rows 48 --long-loss 8192:8,32768:4 \
  --out "$O/eval-yoco.json" "$O/eval-transformer.json" | grep -v '^{"device"'
cp /tmp/cmp-out-yoco/weights.pt.part* "$O/"
