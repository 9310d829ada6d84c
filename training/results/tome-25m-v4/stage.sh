#!/usr/bin/env bash
# tome-25m v4, call 1: keep training half A on the machine for the next call.
set -e
rm -rf /tmp/shards-a && cp -r training/runs/shards-a /tmp/shards-a && ls -la /tmp/shards-a | head -3
