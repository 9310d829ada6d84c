#!/usr/bin/env bash
# One device call (carry [".gpu-debs", "training/evalshards"]): how many content-free questions the
# calibrated which-file choice needs. Both scripts score 3 null questions and also report the
# choice calibrated by the first 1 and 2 of them ("chosen_cal_0.5_nulls1", ...), on the same rows:
# windows of 4K and 16K tokens (errors.py) and whole repositories (whichfile_whole.py).
#   training/results/whichfile-errors/nulls_gpu.sh      # results under $OUT
set -uo pipefail
OUT=${OUT:-/tmp/nulls}
mkdir -p "$OUT"
OUT=/tmp/b TARGETS="tome" scripts/gpu-run.sh build || exit 1
LIB=/opt/tome-deps/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH="$LIB:$LIB/openblas-pthread:${LD_LIBRARY_PATH:-}"
M=${MODEL:-resources/models/tome-25m}
T=build/gpu/app/cli/tome
python3 training/results/whichfile-errors/errors.py --model $M --tome $T --backend cuda \
  --lengths 4096,16384 --n 300 --calibrate --out $OUT/windows-${V:-v7}-nulls.json > $OUT/windows.log 2>&1 \
  || tail -n 20 $OUT/windows.log
python3 training/results/whole-repo/whichfile_whole.py --model $M --tome $T --backend cuda --n 30 \
  --calibrate --out $OUT/whole-${V:-v7}-nulls.json > $OUT/whole.log 2>&1 || tail -n 20 $OUT/whole.log
python3 - "$OUT" <<'PY'
import glob, json, sys
o = sys.argv[1]
for f in ("windows", "whole"):
    for p in glob.glob(f"{o}/{f}-*-nulls.json"):
        d = json.load(open(p))
        parts = [d["all"]] if "all" in d else [v["summary"] for v in d["lengths"].values()]
        for s in parts:
            print(p.split("/")[-1], {k: (round(v, 3) if isinstance(v, float) else v)
                                      for k, v in s.items() if k.startswith("chosen_cal") or k in ("n", "chosen")})
PY
