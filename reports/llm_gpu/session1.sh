#!/bin/bash
# Session 2026-11-24d: the GPU figures of reports/llm.md on one warm H100, in consecutive calls (tree + carry
# <= 64 MiB a call, so the GGUF travels in two halves):
#   STEP=setup bash reports/llm_gpu/session1.sh     carry .carry/data.tar.xz .carry/whl
#   STEP=half  bash reports/llm_gpu/session1.sh     carry .carry/gguf.aa
#   STEP=run   bash reports/llm_gpu/session1.sh     carry .carry/gguf.ab: join, sha256, scripts/llm_gpu.py $ARGS
set -o pipefail
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}   # scripts/ import lab from the tree (no sys.path edits in scripts)
. scripts/device_smollm2.sh
case "$STEP" in
setup)
  device_setup || exit 1
  nvidia-smi -L ;;
half)
  cp .carry/gguf.aa /root/gguf.aa && ls -la /root/gguf.aa ;;
run)
  device_smollm2_join || exit 1
  python3 scripts/llm_gpu.py --out $OUT/${NAME:-llm_gpu}.json $ARGS 2>&1 | grep --line-buffered -v -i "warn\|GGUF tensors" > $OUT/${NAME:-llm_gpu}.log
  tail -n 20 $OUT/${NAME:-llm_gpu}.log ;;
*) echo "STEP=setup|half|run"; exit 2 ;;
esac
