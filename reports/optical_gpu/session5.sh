#!/bin/bash
# Session 2026-11-24b: chained stage-1 runs on one H100. Usage (device tool, carry .carry/data.tar.xz .carry/whl):
#   RUN=17 INIT=models/optical-reader T=470 bash reports/optical_gpu/session5.sh
#   RUN=18 INIT=/root/ck17 T=470 bash reports/optical_gpu/session5.sh      (same warm machine)
# BENCH=1 adds the GPU encode benchmark of the new weights.
set -o pipefail
if [ ! -d /root/data ]; then
  mkdir -p /root/data && tar xJf .carry/data.tar.xz -C /root/data || exit 1
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .carry/whl/*.whl || exit 1
fi
[ -f .carry/gguf.aa ] && cp .carry/gguf.aa /root/gguf.aa     # first half of the GGUF, for stage 2 in the next call
export PYTHONPATH=/tmp/site:$PWD LAB_DATA=/root/data PYTHONUNBUFFERED=1
python3 scripts/optical_gpu.py stage1 --config configs/optical/gpu.yaml --ckpt /root/ck$RUN --report /root/rep$RUN \
  --init $INIT --time-limit ${T:-470} --eval-pages 16 --set train.easy_batches=0 --set train.eval_pages=8 \
  --set train.lr=${LR:-0.0005} --set train.warmup=50 $EXTRA 2>&1 | grep --line-buffered -v Warning > $OUT/run$RUN.stage1.log
cp /root/rep$RUN/stage1.json $OUT/run$RUN.stage1.json
cp /root/ck$RUN/*.safetensors /root/ck$RUN/config.json $OUT/
if [ -n "$BENCH" ]; then
  python3 scripts/optical_gpu.py bench --ckpt /root/ck$RUN --report /root/bench$RUN 2>&1 | grep --line-buffered -v Warning > $OUT/bench$RUN.log
  cp /root/bench$RUN/bench.json $OUT/bench$RUN.json
fi
tail -n 3 $OUT/run$RUN.stage1.log
