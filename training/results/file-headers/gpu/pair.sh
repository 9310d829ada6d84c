#!/usr/bin/env bash
# Restated file headers at scale, both arms in one call (the run after the first pair was lost
# with its machine): tome-25m v7 trained on for B seconds each with v7's stages and mixes, on
# training half A only (carry ["training/runs/shards-a"]), arm B (headers every 128 tokens,
# V=v12) first, then arm A (one header a file, V=v13). Each int8 export comes back under $OUT in
# 12 MiB parts (cat them), with its training log, for evaluation on the CPU engine.
set -uo pipefail
export PYTHONUNBUFFERED=1
B=${B:-220}
MIX_SHORT=whichfile:0.3,nextline:0.15,fim:0.05,follows:0.08,quote:0.1,passkey:0.02,multikey:0.02
MIX_LONG=passkey:0.2,passkey_plain:0.1,multikey:0.15,quote:0.08,follows:0.06,whichfile:0.03,fim:0.03
sha256sum resources/models/tome-25m/model.safetensors
for arm in v12:128 v13:0; do
  V=${arm%%:*}; FHE=${arm##*:}
  torchrun --nproc_per_node=1 training/train.py --shards training/runs/shards-a --ckpt-dir /tmp/$V-train \
    --out-dir /tmp/$V-w --init-model resources/models/tome-25m --file-header-every $FHE \
    --stages 4096:0.2,16384:0.25,32768:0.15,65536:0.15,131072:0.25 --interleave \
    --stage-mix 4096=$MIX_SHORT --stage-mix 16384=$MIX_SHORT --stage-mix 32768=$MIX_SHORT --stage-mix 65536=$MIX_SHORT \
    --stage-mix 131072=$MIX_LONG \
    --lr 2e-4 --min-lr 2e-5 --warmup 20 --skip-prob 0.5 --skip-from 131072 --far-share 0.3 \
    --time-budget $B --piece-seconds $((B + 70)) --workers 5 --eval-seconds 1e9 --eval-n 8 \
    --save-seconds 120 --log-every 50 > /tmp/$V-train.log 2>&1
  grep -E '"event": "(start|stop)"' /tmp/$V-train.log | cut -c1-200
  cp /tmp/$V-w/log.jsonl $OUT/$V-log.jsonl
  cat /tmp/$V-w/weights.pt.part* > /tmp/$V-weights.pt
  python3 training/export.py --checkpoint /tmp/$V-weights.pt --tokenizer resources/models/tome-25m/tokenizer.model \
    --out /tmp/tome-25m-$V --dtype int8 > /dev/null && sha256sum /tmp/tome-25m-$V/*
  (cd /tmp/tome-25m-$V && tar cf - config.json model.safetensors | split -b 12M - $OUT/$V.tar.part)
done
ls -la $OUT
