#!/bin/bash
# llmzip's GPU figures (reports/shannon.md) on one warm H100, in two consecutive calls (tree + carry <= 64 MiB a
# call, so the GGUF travels in two halves):
#   STEP=setup bash reports/llmzip_gpu/session.sh   carry .carry/data.tar.xz .carry/whl .carry/gguf.aa
#   STEP=run   bash reports/llmzip_gpu/session.sh   carry .carry/gguf.ab: join, sha256, scripts/llmzip_gpu.py $ARGS
set -o pipefail
case "$STEP" in
setup)
  mkdir -p /root/data && tar xJf .carry/data.tar.xz -C /root/data || exit 1
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .carry/whl/*.whl || exit 1
  cp .carry/gguf.aa /root/gguf.aa && nvidia-smi -L ;;
run)
  M=/root/models/smollm2-135m-instruct
  if [ ! -f $M/SmolLM2-135M-Instruct.Q4_1.gguf ]; then
    mkdir -p $M && cat /root/gguf.aa .carry/gguf.ab > $M/SmolLM2-135M-Instruct.Q4_1.gguf || exit 1
  fi
  echo "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53  $M/SmolLM2-135M-Instruct.Q4_1.gguf" | sha256sum -c || exit 1
  export PYTHONPATH=/tmp/site:$PWD LAB_DATA=/root/data LAB_MODELS=/root/models PYTHONUNBUFFERED=1
  python3 ${SCRIPT:-scripts/llmzip_gpu.py} --out $OUT/${NAME:-run1}.json $ARGS 2>&1 | grep --line-buffered -v -i "warn" > $OUT/${NAME:-run1}.log
  tail -n 20 $OUT/${NAME:-run1}.log ;;
*) echo "STEP=setup|run"; exit 2 ;;
esac
