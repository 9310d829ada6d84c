#!/usr/bin/env bash
# Both question forms side by side, through the engine on the GPU, for each model of MODELS
# ("name:dir ..."): eval.py's 400 fresh episodes a kind at 4K and 16K (as
# file-headers/gpu/eval_big.sh) with each which-file episode asked again in the bare form
# (--whichfile-bare: tasks.whichfile_bare_T), then which-file with the whole held-out repository
# in context (whole-repo/whichfile_whole.py, 30 questions a repository) in both forms.
# GPU machine, repo root; .gpu-debs and training/evalshards carried once; carry [".carry"] with
# fakeshards/ (the tokenizer and a validation split) and any model not already on the machine.
set -uo pipefail
export PYTHONUNBUFFERED=1
O=${OUT:-/tmp/qf-out}
mkdir -p $O
N=${TASK_N:-400}
OUT=/tmp/b TARGETS="tome" scripts/gpu-run.sh build > /tmp/qf-build.log 2>&1 || { tail -n 20 /tmp/qf-build.log; exit 1; }
grep "build:" /tmp/qf-build.log
LIB=/opt/tome-deps/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH="$LIB:$LIB/openblas-pthread:${LD_LIBRARY_PATH:-}"
for m in ${MODELS:?MODELS=name:dir ...}; do
  V=${m%%:*}; M=${m#*:}
  if [ "${BIG:-1}" = 1 ]; then
    python3 training/eval.py --engine-tasks --backend cuda --tome build/gpu/app/cli/tome \
      --shards .carry/fakeshards --eval-shards training/evalshards --model $M \
      --torch-lengths 4096 --torch-needles 1 --no-needles --no-loss --loss-rows 1 --whichfile-bare \
      --torch-task-n $N --task-lengths 4096,16384 --out $O/eval-big-$V.json 2>/tmp/big-$V.err \
      | grep -E '^\{"whichfile' || tail -n 20 /tmp/big-$V.err
  fi
  for form in ${FORMS:-0 1}; do
    python3 training/results/whole-repo/whichfile_whole.py --model $M --tome build/gpu/app/cli/tome \
      --backend cuda --n 30 --form $form --out $O/whole-$V-form$form.json 2>/tmp/ww-$V.err \
      | grep '"all"' || tail -n 20 /tmp/ww-$V.err
  done
done
ls $O
