#!/usr/bin/env bash
# CPU A/B (2026-11-23, no GPU lent): the shipped tome-25m v7 trained on at 2K for 130 steps of
# 4 rows (1.06 M tokens; half the rows which-file episodes, half LM rows) with one header a file
# (arm A, file_header_every 0) and with each file's header restated every 128 tokens (arm B); the
# same seed, so the same rows but for the layout. bf16 autocast on 2 CPU cores (torch 2.x from
# PyPI in a separate venv, VENV; Debian's torch 1.13 ran 3x slower), ~11-14 s a step.
#   W=/work/exp VENV=/work/exp/venv training/results/file-headers/ab.sh     (repo root, shards built)
set -euo pipefail
W=${W:-/work/exp}
PY=${VENV:-.venv}/bin/python
for arm in A:0 B:128; do
  name=${arm%%:*}; every=${arm##*:}
  rm -rf "$W/ab-$name"
  OMP_NUM_THREADS=2 $PY training/train.py --shards training/shards \
    --ckpt-dir "$W/ab-$name" --out-dir "$W/ab-$name/out" --init-model resources/models/tome-25m \
    --stages 2048:1 --total-steps 130 --tokens-per-step 8192 --lr 1e-4 --min-lr 1e-5 --warmup 10 \
    --task-mix whichfile:0.5 --workers 1 --cpu-bf16 --file-header-every $every \
    --eval-seconds 1e9 --save-seconds 300 --log-every 10 > "$W/ab-$name.log" 2>&1
  cat "$W/ab-$name/out"/weights.pt.part0* > "$W/ab-$name/w.pt"
  $PY training/export.py --checkpoint "$W/ab-$name/w.pt" \
    --tokenizer resources/models/tome-25m/tokenizer.model --out "$W/model-$name" --dtype int8
done
