#!/usr/bin/env bash
# The YOCO vs same-size Transformer comparison of resources/models/tome-25m/MODEL_CARD.md: both
# trained from scratch, back to back on one GPU, with the v1 recipe's short stages (512, 2048,
# 8192 tokens, equal shares of the time budget; lr 1.5e-3, 200 warm-up steps, cosine to 1.5e-4,
# 64K tokens per step, the v1 task mix, seed 0), the same shards and the same seconds of training
# (each run's own throughput probe turns the budget into steps), then scored together on the same
# held-out rows by eval_torch.py (loss at 2K/8K/32K, needle and task rows at 4K/16K).
#   training/compare.sh SHARDS EVALSHARDS BUDGET_SECONDS OUTDIR        (GPU machine, repo root)
# Token-matched variant (the YOCO paper compares at equal training tokens): STEPS_FROM=LOG, the
# train-*.log of an earlier run; every arch then trains that run's step plan exactly (its stage
# lengths and steps as --stages T:steps,... --total-steps SUM: the same stage boundaries, rows
# and lr schedule length) instead of BUDGET seconds. ARCHS picks the archs trained and scored
# (default "yoco transformer"; "yoco-swa" is YOCO with a sliding-window self-decoder, window
# 1024, for the gated retention vs sliding window choice; eval_torch.py's rows are seeded, so
# runs scored apart compare):
#   STEPS_FROM=training/results/compare-transformer/train-transformer.log ARCHS=yoco \
#     training/compare.sh training/runs/shards-a training/evalshards 230 $OUT
set -euo pipefail
S=${1:-training/shards}
E=${2:-training/evalshards}
B=${3:-230}
O=${4:-${OUT:-/tmp/cmp-out}}
ARCHS=${ARCHS:-yoco transformer}
PLAN=(--stages 512:0.2,2048:0.2,8192:0.2 --time-budget "$B" --piece-seconds $((B + 45)))
if [ -n "${STEPS_FROM:-}" ]; then
  read -r ST N < <(python3 -c 'import json, sys
p = [e for e in (json.loads(l) for l in open(sys.argv[1]) if l.startswith("{"))
     if e.get("event") == "start"][0]["plan"]
print(",".join("%d:%d" % (s["T"], s["steps"]) for s in p), sum(s["steps"] for s in p))' \
    "$STEPS_FROM") && [ -n "${N:-}" ] || { echo "no plan in $STEPS_FROM" >&2; exit 1; }
  PLAN=(--stages "$ST" --total-steps "$N" --piece-seconds 1e9)
  echo "token-matched: ${PLAN[*]} (the plan of $STEPS_FROM)"
fi
mkdir -p "$O"
export PYTHONUNBUFFERED=1
W=() J=()
for A in $ARCHS; do
  rm -rf /tmp/cmp-$A /tmp/cmp-out-$A          # from scratch: never resume a stale run
  case $A in
    yoco-swa) AA=(--arch yoco --self-decoder sliding_window --window 1024) ;;
    *) AA=(--arch "$A") ;;
  esac
  torchrun --nproc_per_node=1 training/train.py "${AA[@]}" --shards "$S" --ckpt-dir /tmp/cmp-$A \
    --out-dir /tmp/cmp-out-$A "${PLAN[@]}" --workers 10 --eval-seconds 1e9 --save-seconds 120 \
    2>&1 | tee "$O/train-$A.log" | grep -E '"event"|"eval"' | cut -c1-400
  W+=(/tmp/cmp-$A/ckpt.pt) J+=("$O/eval-$A.json")
done
timeout 150 python3 training/eval_torch.py --weights "${W[@]}" --shards "$S" --eval-shards "$E" \
  --lengths 4096,16384 --needles 20 --task-n 30 --loss-rows 48 --long-loss 8192:8,32768:4 \
  --out "${J[@]}" | grep -v '^{"device"'
if [[ " $ARCHS " == *" yoco "* ]]; then cp /tmp/cmp-out-yoco/weights.pt.part* "$O/"; fi
