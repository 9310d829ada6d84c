#!/usr/bin/env bash
# CPU arm C (2026-11-23), beside ab.sh's A and B: the same 130 steps at 2K from v7 with one
# header a file, but 70% of the which-file episodes ask for a symbol whose first occurrence is
# >= 500 characters after its file's header (train.py --whichfile-deep 0.7), the failure case of
# tome-25m-v7/whichfile_analysis_cpu.txt. Evaluated with ab_eval.py as A and B.
#   W=/work/exp VENV=/work/exp/venv training/results/file-headers/ab_deep.sh   (repo root)
set -euo pipefail
W=${W:-/work/exp}
PY=${VENV:-.venv}/bin/python
rm -rf "$W/ab-C"
OMP_NUM_THREADS=2 $PY training/train.py --shards training/shards \
  --ckpt-dir "$W/ab-C" --out-dir "$W/ab-C/out" --init-model resources/models/tome-25m \
  --stages 2048:1 --total-steps 130 --tokens-per-step 8192 --lr 1e-4 --min-lr 1e-5 --warmup 10 \
  --task-mix whichfile:0.5 --whichfile-deep 0.7 --workers 1 --cpu-bf16 \
  --eval-seconds 1e9 --save-seconds 300 --log-every 10 > "$W/ab-C.log" 2>&1
cat "$W/ab-C/out"/weights.pt.part0* > "$W/ab-C/w.pt"
$PY training/export.py --checkpoint "$W/ab-C/w.pt" \
  --tokenizer resources/models/tome-25m/tokenizer.model --out "$W/model-C" --dtype int8
