#!/usr/bin/env bash
# tome-25m v9 (experiment) through the engine on the GPU, the rows of v4 / v5 / v5l's evaluation (task rows
# n = 100 a kind at 4K / 16K, which-file also among the context's paths; needles at 16K / 128K;
# held-out losses). GPU machine, repo root, after train.sh (the model in /tmp/tome-25m-v9).
set -uo pipefail
export PYTHONUNBUFFERED=1
O=${OUT:-/tmp/v9-eval}
mkdir -p $O
TARGETS="tome" scripts/gpu-run.sh build || exit 1
LIB=/opt/tome-deps/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH="$LIB:$LIB/openblas-pthread:${LD_LIBRARY_PATH:-}"
S=/tmp/shards; [ -d $S ] || S=/tmp/shards-a
ROWS="--torch-lengths 16384,131072,1048576 --torch-needles 100 --torch-task-n 100 --task-lengths 4096,16384 --loss-rows 48"
E="python3 training/eval.py --engine-tasks --backend cuda --tome build/gpu/app/cli/tome --shards $S --eval-shards training/evalshards $ROWS"
run() { local out=$1; shift; $E --out $O/$out "$@" 2>/tmp/$out.err | grep -v '^{"device"' || tail -n 20 /tmp/$out.err; }
run eval-v9.json --model /tmp/tome-25m-v9 --lengths 16384,131072 --n 100
