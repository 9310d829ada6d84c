#!/usr/bin/env bash
# Restated file headers at scale, call 1 (GPU machine, repo root; carry ["training/runs/shards-a"]):
# keep training half A and the starting model (v7, the shipped resources/models/tome-25m) on the
# machine for the training calls.
set -uo pipefail
rm -rf /tmp/shards-a /tmp/shards /tmp/init-model && cp -r training/runs/shards-a /tmp/shards-a && ls /tmp/shards-a | head -3
cp -r resources/models/tome-25m /tmp/init-model && sha256sum /tmp/init-model/model.safetensors
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())"
