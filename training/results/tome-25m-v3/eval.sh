#!/usr/bin/env bash
# tome-25m v3 vs v2 through the engine on the GPU (the v2 evaluation's rows). GPU machine, repo root.
set -uo pipefail
export PYTHONUNBUFFERED=1
O=${OUT:-/tmp/v3-eval}
mkdir -p $O
TARGETS="tome" scripts/gpu-run.sh build || exit 1
LIB=/opt/tome-deps/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH="$LIB:$LIB/openblas-pthread:${LD_LIBRARY_PATH:-}"
S=/tmp/shards; [ -d $S ] || S=training/runs/shards-a; [ -d $S ] || S=training/runs/shards-b2
ROWS="--torch-lengths 16384,131072,1048576 --torch-needles 100 --task-lengths 4096,16384 --loss-rows 48"
E="python3 training/eval.py --engine-tasks --backend cuda --tome build/gpu/app/cli/tome --shards $S --eval-shards training/evalshards $ROWS"
run() { local out=$1; shift; $E --out $O/$out "$@" 2>/tmp/$out.err | grep -v '^{"device"' || tail -n 20 /tmp/$out.err; }
run eval-v3.json --model /tmp/tome-25m-v3 --lengths 16384,131072 --n 100
run eval-v2.json --model resources/models/tome-25m --no-needles
run eval-v3-1m.json --model /tmp/tome-25m-v3 --lengths 1048576 --n 100 --no-loss --task-lengths ""
