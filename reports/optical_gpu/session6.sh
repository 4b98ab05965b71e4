#!/bin/bash
# Session 2026-11-24c: stage 2 (projector + LoRA on SmolLM2) with a lines curriculum, on one warm H100, in
# consecutive calls (tree + carry <= 64 MiB a call, so the encoder and the two GGUF halves travel separately):
#   STEP=setup bash reports/optical_gpu/session6.sh     carry .carry/data.tar.xz .carry/whl; copies models/optical-reader
#   STEP=half  bash reports/optical_gpu/session6.sh     carry .carry/gguf.aa (models/optical-reader out of the index)
#   STEP=train RUN=22 T=460 bash reports/optical_gpu/session6.sh               carry .carry/gguf.ab: join, sha256, train, evaluate
#   STEP=train RUN=23 T=460 INIT_LM=/root/ck EXTRA="--set lm.lines_start=8" bash ...   continues run 22's adapter
#   STEP=qa bash reports/optical_gpu/session6.sh      carry .carry/gguf.ab: the full-size "Answering from vision tokens"
#                                                     study (scripts/optical_qa_study.py); setup may carry outputs/run22/lm
set -o pipefail
case "$STEP" in
setup)
  mkdir -p /root/data && tar xJf .carry/data.tar.xz -C /root/data || exit 1
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .carry/whl/*.whl || exit 1
  rm -rf /root/ck && cp -r models/optical-reader /root/ck && ls -la /root/ck && nvidia-smi -L
  if [ -d outputs/run22/lm ]; then cp -r outputs/run22/lm /root/ck/lm; fi ;;
half)
  cp .carry/gguf.aa /root/gguf.aa && ls -la /root/gguf.aa ;;
train|qa)
  M=/root/models/smollm2-135m-instruct
  if [ ! -f $M/SmolLM2-135M-Instruct.Q4_1.gguf ]; then
    mkdir -p $M && cat /root/gguf.aa .carry/gguf.ab > $M/SmolLM2-135M-Instruct.Q4_1.gguf || exit 1
  fi
  echo "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53  $M/SmolLM2-135M-Instruct.Q4_1.gguf" | sha256sum -c || exit 1
  export PYTHONPATH=/tmp/site:$PWD LAB_DATA=/root/data LAB_MODELS=/root/models PYTHONUNBUFFERED=1
  if [ "$STEP" = qa ]; then
    python3 scripts/optical_qa_study.py --device cuda --model /root/ck --out $OUT/${QA_NAME:-qa_study}.json $QA_ARGS 2>&1 \
      | grep --line-buffered -v -i "warn\|GGUF tensors" > $OUT/${QA_NAME:-qa_study}.log
    tail -n 30 $OUT/${QA_NAME:-qa_study}.log; exit 0
  fi
  python3 scripts/optical_gpu.py stage2 --config configs/optical/gpu.yaml --ckpt /root/ck --report $OUT \
    --time-limit ${T:-460} ${INIT_LM:+--init-lm $INIT_LM} $EXTRA 2>&1 | grep --line-buffered -v -i "warn\|GGUF tensors" > $OUT/run$RUN.stage2.log
  mv $OUT/stage2.json $OUT/run$RUN.stage2.json
  tail -n 12 $OUT/run$RUN.stage2.log ;;
*) echo "STEP=setup|half|train"; exit 2 ;;
esac
