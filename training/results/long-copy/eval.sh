#!/usr/bin/env bash
# One model (M, default resources/models/tome-25m; V its label) through the engine on the GPU:
# next-line with the whole held-out repository in context (whole-repo/nextline_whole.py, seed 1 x 100
# lines and seed 0 x 25 lines a repository, the rows v7 was measured on), which-file with the whole
# repository in context (30 questions a repository), eval.py's windows at 4K / 16K (200 fresh
# episodes a kind, "nextline_intree" beside "nextline") and needles at 128K / 1M (n 50).
# GPU machine, repo root; carry [".gpu-debs", "training/evalshards", ".carry"] (.carry/fakeshards:
# the tokenizer and a validation split for eval.py).
set -uo pipefail
export PYTHONUNBUFFERED=1
O=${OUT:-/tmp/lc-out}; M=${M:-resources/models/tome-25m}; V=${V:?V=label}
mkdir -p $O
OUT=/tmp/b TARGETS="tome" scripts/gpu-run.sh build > /tmp/lc-build.log 2>&1 || { tail -n 20 /tmp/lc-build.log; exit 1; }
LIB=/opt/tome-deps/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH="$LIB:$LIB/openblas-pthread:${LD_LIBRARY_PATH:-}"
T=build/gpu/app/cli/tome
sha256sum $M/model.safetensors
for s in 1:100 0:25; do
  python3 training/results/whole-repo/nextline_whole.py --model $M --tome $T --backend cuda \
    --seed ${s%%:*} --n ${s#*:} --out $O/nextline_whole_${V}_seed${s%%:*}.json 2>/tmp/nl.err | grep '"all"' \
    || tail -n 20 /tmp/nl.err
done
python3 training/results/whole-repo/whichfile_whole.py --model $M --tome $T --backend cuda --n 30 \
  --out $O/whichfile_whole_$V.json 2>/tmp/ww.err | grep '"all"' || tail -n 20 /tmp/ww.err
python3 training/eval.py --engine-tasks --backend cuda --tome $T --shards .carry/fakeshards \
  --eval-shards training/evalshards --model $M --torch-lengths 4096 --torch-needles 1 --no-needles \
  --no-loss --loss-rows 1 --torch-task-n 200 --task-lengths 4096,16384 --out $O/eval-tasks-$V.json \
  2>/tmp/et.err | grep -E '^\{"(whichfile|nextline|quote|follows|fim)' | cut -c1-200 || tail -n 20 /tmp/et.err
python3 training/eval.py --engine-tasks --backend cuda --tome $T --shards .carry/fakeshards \
  --eval-shards training/evalshards --model $M --torch-needles 50 --n 50 --no-loss --task-lengths "" \
  --torch-lengths 131072,1048576 --lengths 131072,1048576 --out $O/eval-needles-$V.json \
  2>/tmp/en.err | grep -E '^\{"T"' | cut -c1-200 || tail -n 20 /tmp/en.err
ls $O
