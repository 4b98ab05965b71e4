#!/bin/bash
# Session 2026-11-24e: the one KV row the first sweep missed (H2O-256 on bible-test), on one warm H100.
# Three consecutive device calls (tree + carry <= 64 MiB a call; models/optical-reader taken out of the index):
#   1. carry .carry/gguf.aa .carry/whl .carry/data.tar.xz (bible):  device_setup; cp .carry/gguf.aa /root/gguf.aa
#   2. carry .carry/gguf.ab:                                           device_smollm2_join (+ the optical probe)
#   3. carry .carry/cant.tar.xz (canterbury):                          this script's run step
# .carry/gguf.aa/.ab: `split -b 49181216` of lab.models' SmolLM2-135M-Instruct.Q4_1.gguf.
set -o pipefail
tar xJf .carry/cant.tar.xz -C /root/data && source scripts/device_smollm2.sh && export PYTHONPATH=/tmp/site:$PWD \
  LAB_DATA=/root/data LAB_MODELS=/root/models PYTHONUNBUFFERED=1 && \
  python3 scripts/llm_gpu.py --out $OUT/llm_gpu_kv3.json --parts kv --methods h2o_256 --windows 6 --window 2048 2>&1 \
  | grep --line-buffered -v -i "warn\|GGUF tensors" | tee $OUT/llm_gpu_kv3.log | tail -8

# Later the same session, a fresh H100 (two calls): 1. carry .carry/gguf.aa .carry/whl .carry/data2.tar.xz
# (canterbury, bible, tinystories): device_setup-like unpack + cp .carry/gguf.aa /root/gguf.aa; 2. carry .carry/gguf.ab:
#   source scripts/device_smollm2.sh && device_smollm2_join && python3 scripts/llm_gpu.py --out $OUT/llm_gpu_adapt_mixed2.json \
#     --parts adapt --windows 6 --window 2048 --ranks 48 --adapt-seconds 420 --adapt-text mixed > $OUT/llm_gpu_adapt_mixed2.log
# (the rank-48 latents distilled 2.8x longer than models/llm-latent-r48; not committed as a model: no better off-domain)
