#!/bin/bash
# One device call (H100): the pointer's attention mass for v7 on whole held-out repositories, on
# 16K / 4K which-file windows of the evaluation split, and on 16K windows of the validation split
# (for choosing the heads). Output under $OUT. Run from the repository root.
set -euo pipefail
OUT=${OUT:-/tmp/pointer-out}; mkdir -p "$OUT"
M=resources/models/tome-25m
P=training/results/pointer/pointer_torch.py
VALID=${VALID:-.carry/validshards}
python3 $P --model $M --device cuda --whole --n 30 --out "$OUT/whole.json" 2>&1 | tail -n 8
python3 $P --model $M --device cuda --T 16384 --n 300 --out "$OUT/eval16k.json" 2>&1 | tail -n 2
python3 $P --model $M --device cuda --T 4096 --n 300 --out "$OUT/eval4k.json" 2>&1 | tail -n 2
python3 $P --model $M --device cuda --split valid --shards "$VALID" --T 16384 --n 300 --seed 7 --out "$OUT/valid16k.json" 2>&1 | tail -n 2
python3 training/results/pointer/analyze.py "$OUT"/*.json
