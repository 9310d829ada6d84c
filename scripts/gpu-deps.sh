#!/usr/bin/env bash
# Downloads (here, with network) the Debian packages the lent GPU machine lacks for the `gpu`
# preset into .gpu-debs/ (git-ignored, carried with `carry: [".gpu-debs"]`). Nothing is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu-debs
cd .gpu-debs
apt-get download nlohmann-json3-dev libcli11-dev libxxhash-dev libxxhash0 \
  libopenblas-dev libopenblas-pthread-dev libopenblas0-pthread libopenblas0 libgfortran5 libquadmath0 \
  libsentencepiece-dev libsentencepiece0 libgtest-dev libgmock-dev googletest \
  libsqlite3-dev libsqlite3-0 libzstd-dev libzstd1 \
  libcpp-httplib-dev libcpp-httplib0.11 libbrotli-dev libbrotli1 libssl-dev libssl3 zlib1g-dev \
  2>&1 | tail -n 3
du -sh .
