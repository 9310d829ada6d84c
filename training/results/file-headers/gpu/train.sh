#!/usr/bin/env bash
# Restated file headers at scale (issue 4): tome-25m v7 trained on for B seconds with v7's own
# stages and mixes (training/results/tome-25m-v7/train.sh), every repository laid out with its
# file header stated again every FHE tokens (config.json file_header_every; FHE=0: one header a
# file, the control arm). GPU machine, repo root, after stage.sh; the first training call carries
# ["training/runs/shards-b2"] and merges the halves into /tmp/shards, later calls reuse it.
#   V=v10 FHE=128 training/results/file-headers/gpu/train.sh     # arm B
#   V=v11 FHE=0   training/results/file-headers/gpu/train.sh     # arm A, the control
# With BUILD=1 the engine (preset gpu, carry .gpu-debs) is built beside the training for eval.sh.
set -uo pipefail
export PYTHONUNBUFFERED=1
V=${V:?V=name}; FHE=${FHE:?FHE=tokens, 0: one header}
O=${OUT:-/tmp/$V-out}
mkdir -p $O
if [ ! -f /tmp/shards/meta.json ]; then
  [ -d /tmp/shards-a ] && [ -d training/runs/shards-b2 ] || { echo "no shards: run stage.sh, carry shards-b2"; exit 1; }
  rm -rf /tmp/shards
  python3 training/data/split_shards.py merge /tmp/shards-a training/runs/shards-b2 /tmp/shards || exit 1
fi
[ -f /tmp/init-model/model.safetensors ] || { echo "no /tmp/init-model: run stage.sh first"; exit 1; }
sha256sum /tmp/init-model/model.safetensors
if [ "${BUILD:-0}" = 1 ]; then
  (TARGETS="tome" nice scripts/gpu-run.sh build > /tmp/build-$V.log 2>&1; echo "build rc $?" >> /tmp/build-$V.log) &
  bpid=$!
fi
B=${B:-450}
MIX_SHORT=whichfile:0.3,nextline:0.15,fim:0.05,follows:0.08,quote:0.1,passkey:0.02,multikey:0.02
MIX_LONG=passkey:0.2,passkey_plain:0.1,multikey:0.15,quote:0.08,follows:0.06,whichfile:0.03,fim:0.03
rm -rf /tmp/$V-train /tmp/$V-w
torchrun --nproc_per_node=1 training/train.py --shards /tmp/shards --ckpt-dir /tmp/$V-train \
  --out-dir /tmp/$V-w --init-model /tmp/init-model --file-header-every $FHE \
  --stages 4096:0.2,16384:0.25,32768:0.15,65536:0.15,131072:0.25 --interleave \
  --stage-mix 4096=$MIX_SHORT --stage-mix 16384=$MIX_SHORT --stage-mix 32768=$MIX_SHORT --stage-mix 65536=$MIX_SHORT \
  --stage-mix 131072=$MIX_LONG \
  --lr 2e-4 --min-lr 2e-5 --warmup 20 --skip-prob 0.5 --skip-from 131072 --far-share 0.3 \
  --time-budget $B --piece-seconds $((B + 70)) --workers 5 --eval-seconds 1e9 --eval-n 8 \
  --save-seconds 120 --log-every 50 2>&1 | tee $O/train.log | grep -E '"event"|"eval"|probe' | cut -c1-300
cp /tmp/$V-w/log.jsonl $O/
cat /tmp/$V-w/weights.pt.part* > /tmp/$V-weights.pt
python3 training/export.py --checkpoint /tmp/$V-weights.pt --tokenizer resources/models/tome-25m/tokenizer.model \
  --out /tmp/tome-25m-$V --dtype int8 && sha256sum /tmp/tome-25m-$V/* | tee $O/sha256.txt
# the export comes back in 12 MiB parts (a call returns at most 8 files, each under ~27 MB): cat them
(cd /tmp/tome-25m-$V && tar cf - config.json model.safetensors | split -b 12M - $O/$V.tar.part)
if [ -n "${bpid:-}" ]; then wait $bpid; tail -n 3 /tmp/build-$V.log; fi
