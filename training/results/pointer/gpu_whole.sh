#!/bin/bash
# One device call (H100, PyTorch): the pointer's per-head attention with whole repositories in
# context, on the validation split's 17 repositories (20K-120K tokens: for choosing heads that
# tell a definition from its uses) and on the evaluation split's 6 (350K-1.04M tokens), both
# read at every token of the symbol (mass_sym). Output under $OUT (xz).
set -euo pipefail
OUT=${OUT:-/tmp/pointer-out}; mkdir -p "$OUT"
M=resources/models/tome-25m
P=training/results/pointer/pointer_torch.py
VALID=${VALID:-.carry/validshards}
python3 $P --model $M --device cuda --whole --split valid --shards "$VALID" --n 40 --seed 7 \
  --out "$OUT/valid-whole.json.xz" 2>&1 | tail -n 3
python3 $P --model $M --device cuda --whole --n 30 --out "$OUT/eval-whole.json.xz" 2>&1 | tail -n 3
