#!/usr/bin/env bash
# Models side by side on a larger, fresh set of the repository and quoting rows (MODELS, default:
# v7, the shipped model, and v14, every 128, 131 M tokens, exported on the machine as
# tome-25m-v10): TASK_N (default 400) episodes a kind at 4K and 16K through the engine on the GPU
# (`tome score --backend cuda`), each model's rows laid out as its config says.
# GPU machine, repo root, after .gpu-debs and training/evalshards were carried once; carry
# [".carry"] holding the models (tome-25m-v10/) and fakeshards/ (the tokenizer and a validation
# split). MODELS="name:dir ...": e.g. MODELS="v5:.carry/tome-25m-v5".
set -uo pipefail
export PYTHONUNBUFFERED=1
N=${TASK_N:-400}
OUT=/tmp/b TARGETS="tome" scripts/gpu-run.sh build || exit 1
LIB=/opt/tome-deps/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH="$LIB:$LIB/openblas-pthread:${LD_LIBRARY_PATH:-}"
for m in ${MODELS:-v7:resources/models/tome-25m v14:.carry/tome-25m-v10}; do
  V=${m%%:*}; M=${m#*:}
  python3 training/eval.py --engine-tasks --backend cuda --tome build/gpu/app/cli/tome \
    --shards .carry/fakeshards --eval-shards training/evalshards --model $M \
    --torch-lengths 4096 --torch-needles 1 --no-needles --no-loss --loss-rows 1 \
    --torch-task-n $N --task-lengths 4096,16384 --out ${OUT:-/tmp}/eval-big-$V.json 2>/tmp/big-$V.err \
    | grep -v '^{"device"' || tail -n 20 /tmp/big-$V.err
done
