#!/usr/bin/env bash
# tome-25m v8 and v9 (both started from v7), call 1 (GPU machine, repo root): keep training half A and the starting model (v7,
# sent in place of resources/models/tome-25m in this call's tree) on the machine.
set -uo pipefail
rm -rf /tmp/shards-a /tmp/init-model && cp -r training/runs/shards-a /tmp/shards-a && ls /tmp/shards-a | head -3
cp -r resources/models/tome-25m /tmp/init-model && sha256sum /tmp/init-model/model.safetensors
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())"
