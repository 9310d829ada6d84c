#!/usr/bin/env bash
# tome-25m v5 needles at 64K and 256K through the engine on the GPU (n = 100 per kind).
set -uo pipefail
O=${OUT:-/tmp/v5-n}
mkdir -p $O
TARGETS="tome" scripts/gpu-run.sh build > /dev/null 2>&1 || { echo build failed; exit 1; }
LIB=/opt/tome-deps/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH="$LIB:$LIB/openblas-pthread:${LD_LIBRARY_PATH:-}"
python3 training/eval.py --engine-tasks --backend cuda --tome build/gpu/app/cli/tome \
  --shards training/runs/v5/valid-shards --eval-shards training/evalshards \
  --model resources/models/tome-25m --torch-lengths 65536,262144 --torch-needles 100 \
  --lengths 65536,262144 --n 100 --no-loss --task-lengths "" --out $O/eval_engine_needles_cuda_64k_256k.json \
  2>/tmp/n.err | grep -v '^{"device"' || tail -n 20 /tmp/n.err
