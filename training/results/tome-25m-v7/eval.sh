#!/usr/bin/env bash
# tome-25m v7 (or V=v8, V=v9: the runs kept beside it) through the engine on the GPU, the rows of
# v4 / v5 / v5l's evaluation (task rows n = 100 a kind at 4K / 16K, which-file also among the
# context's paths; needles at 16K / 128K; held-out losses). GPU machine, repo root, after
# train.sh (the model in /tmp/tome-25m-$V).
set -uo pipefail
export PYTHONUNBUFFERED=1
V=${V:-v7}
O=${OUT:-/tmp/$V-eval}
mkdir -p $O
TARGETS="tome" scripts/gpu-run.sh build || exit 1
LIB=/opt/tome-deps/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH="$LIB:$LIB/openblas-pthread:${LD_LIBRARY_PATH:-}"
S=/tmp/shards; [ -d $S ] || S=/tmp/shards-a
ROWS="--torch-lengths 16384,131072,1048576 --torch-needles 100 --torch-task-n 100 --task-lengths 4096,16384 --loss-rows 48"
E="python3 training/eval.py --engine-tasks --backend cuda --tome build/gpu/app/cli/tome --shards $S --eval-shards training/evalshards $ROWS"
run() { local out=$1; shift; $E --out $O/$out "$@" 2>/tmp/$out.err | grep -v '^{"device"' || tail -n 20 /tmp/$out.err; }
run eval-$V.json --model /tmp/tome-25m-$V --lengths 16384,131072 --n 100
