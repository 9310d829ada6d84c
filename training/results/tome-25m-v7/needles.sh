#!/usr/bin/env bash
# tome-25m v7 (or V=v8, V=v9) needles through the engine on the GPU at 64K / 256K / 1M (n 100 a
# kind), after eval.sh (the build and /tmp/tome-25m-$V on the machine).
set -uo pipefail
V=${V:-v7}
O=${OUT:-/tmp/$V-eval}
mkdir -p $O
LIB=/opt/tome-deps/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH="$LIB:$LIB/openblas-pthread:${LD_LIBRARY_PATH:-}"
S=/tmp/shards; [ -d $S ] || S=/tmp/shards-a
E() { python3 training/eval.py --engine-tasks --backend cuda --tome build/gpu/app/cli/tome --shards $S \
  --eval-shards training/evalshards --model /tmp/tome-25m-$V --torch-needles 100 --n 100 --no-loss \
  --task-lengths "" "$@"; }
E --torch-lengths 65536,262144 --lengths 65536,262144 --out $O/eval-$V-needles-64k-256k.json 2>/tmp/n.err \
  | grep -v '^{"device"' || tail -n 20 /tmp/n.err
E --torch-lengths 16384,131072,1048576 --lengths 1048576 --out $O/eval-$V-needles-1m.json 2>/tmp/n2.err \
  | grep -v '^{"device"' || tail -n 20 /tmp/n2.err
