#!/bin/bash
# llmzip's GPU figures (reports/shannon.md) on one warm H100, in two consecutive calls (tree + carry <= 64 MiB a
# call, so the GGUF travels in two halves):
#   STEP=setup bash reports/llmzip_gpu/session.sh   carry .carry/data.tar.xz .carry/whl .carry/gguf.aa
#   STEP=run   bash reports/llmzip_gpu/session.sh   carry .carry/gguf.ab: join, sha256, scripts/llmzip_gpu.py $ARGS
set -o pipefail
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}   # scripts/ import lab from the tree (no sys.path edits in scripts)
. scripts/device_smollm2.sh
case "$STEP" in
setup)
  device_setup || exit 1
  cp .carry/gguf.aa /root/gguf.aa && nvidia-smi -L ;;
run)
  device_smollm2_join || exit 1
  python3 ${SCRIPT:-scripts/llmzip_gpu.py} --out $OUT/${NAME:-run1}.json $ARGS 2>&1 | grep --line-buffered -v -i "warn" > $OUT/${NAME:-run1}.log
  tail -n 20 $OUT/${NAME:-run1}.log ;;
*) echo "STEP=setup|run"; exit 2 ;;
esac
