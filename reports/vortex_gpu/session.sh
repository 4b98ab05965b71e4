#!/bin/bash
# Vortex's GPU figures (reports/vortex.md) on one H100, each call self-contained (carry .carry/data.tar.xz and
# .carry/debs: the benchmark data and the dict-gcide / wordnet-base packages, unpacked with dpkg -x, and
# .carry/vwhl: zstandard and brotli wheels for the baselines, cp312):
#   STEP=speed NAME=speed ARGS="--shapes 8x384x6,6x512x8"   bash reports/vortex_gpu/session.sh
#   STEP=run   NAME=run6  ARGS="--config configs/vortex/gpu_english.yaml --mix english" bash reports/vortex_gpu/session.sh
# Run 10, two calls on one warm machine (the training state stays in outputs/ between them):
#   STEP=run NAME=run10a ARGS="--config configs/vortex/gpu_english.yaml --mix english --time-limit 820 --stop-after 470" bash reports/vortex_gpu/session.sh
#   STEP=run NAME=run10  ARGS="--config configs/vortex/gpu_english.yaml --mix english --time-limit 820 --overlap-from reports/vortex_gpu/run7.json --streams 64,256,512 --text-streams 16 --texts 2" bash reports/vortex_gpu/session.sh
set -o pipefail
mkdir -p /root/data && tar xJf .carry/data.tar.xz -C /root/data || exit 1
mkdir -p /root/pkg && for f in .carry/debs/*.deb; do dpkg -x "$f" /root/pkg || exit 1; done
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .carry/vwhl/*.whl || exit 1
export LAB_DATA=/root/data LAB_PKG_ROOT=/root/pkg PYTHONUNBUFFERED=1 PYTHONPATH=/tmp/site:$PWD
case "$STEP" in
speed) python3 scripts/vortex_speed.py --out $OUT/${NAME}.json $ARGS 2>&1 | tee $OUT/${NAME}.log ;;
run)   python3 scripts/vortex_gpu.py --out $OUT --name $NAME $ARGS 2>&1 | grep --line-buffered -v -i "warn" > $OUT/${NAME}.log
       tail -n 30 $OUT/${NAME}.log ;;
*) echo "STEP=speed|run"; exit 2 ;;
esac
