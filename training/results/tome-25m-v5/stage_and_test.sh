#!/usr/bin/env bash
# tome-25m v5, call 1 (GPU machine, repo root): keep training half A on the machine for the next
# call (the tree, .gpu-debs and half A do not fit in one call's 64 MiB).
set -uo pipefail
rm -rf /tmp/shards-a && cp -r training/runs/shards-a /tmp/shards-a && ls /tmp/shards-a | head -3
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())"
