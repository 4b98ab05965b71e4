#!/bin/bash
# Stage 2 (projector + LoRA on SmolLM2) straight after a session5.sh call on the same warm machine, which left
# the GGUF's first half in /root/gguf.aa; this call carries the second half (.carry/gguf.ab), joins them and
# checks the sha256 before anything reads them. Usage: RUN=20 T=330 bash reports/optical_gpu/session5_stage2.sh
set -o pipefail
M=/root/models/smollm2-135m-instruct
mkdir -p $M && cat /root/gguf.aa .carry/gguf.ab > $M/SmolLM2-135M-Instruct.Q4_1.gguf || exit 1
echo "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53  $M/SmolLM2-135M-Instruct.Q4_1.gguf" | sha256sum -c || exit 1
export PYTHONPATH=/tmp/site:$PWD LAB_DATA=/root/data LAB_MODELS=/root/models PYTHONUNBUFFERED=1
python3 scripts/optical_gpu.py stage2 --config configs/optical/gpu.yaml --ckpt /root/ck$RUN --report /root/s2rep$RUN \
  --time-limit ${T:-330} $EXTRA 2>&1 | grep --line-buffered -v -i "warn\|GGUF tensors" > $OUT/run$RUN.stage2.log
cp /root/s2rep$RUN/stage2.json $OUT/run$RUN.stage2.json
cp /root/ck$RUN/lm/adapter.safetensors /root/ck$RUN/lm/config.json $OUT/
tail -n 8 $OUT/run$RUN.stage2.log
