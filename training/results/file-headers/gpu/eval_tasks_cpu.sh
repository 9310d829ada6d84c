#!/usr/bin/env bash
# The model card's quote / "which line follows" / next-line rows at 4K (the first 50 of each of
# v7's table's 100), through the CPU engine, for v12 and v13 (repo root; the models unpacked in
# /tmp/tome-25m-v12 and -v13 from pair.sh's parts; FAKE= a shard folder with the valid split).
set -uo pipefail
for V in v13 v12; do
  .venv/bin/python training/eval.py --engine-tasks --backend cpu --tome build/cpu/app/cli/tome \
    --shards ${FAKE:?} --eval-shards training/evalshards --model /tmp/tome-25m-$V \
    --torch-lengths 16384,131072,1048576 --torch-needles 100 --torch-task-n 100 --loss-rows 48 \
    --task-lengths 4096 --task-kinds quote,follows,nextline --task-n 50 --no-loss --no-needles \
    --out training/results/file-headers/gpu/eval_tasks_cpu_$V.json 2>/tmp/etc-$V.err | grep -v '^{"device"' \
    || tail -n 5 /tmp/etc-$V.err
done
