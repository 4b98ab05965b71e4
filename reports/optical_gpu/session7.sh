#!/bin/bash
# Session 2026-11-24e: can SmolLM2 + LoRA learn to read ONE vector at all? (scripts/optical_probe.py), one warm H100.
# Calls 1-2 as in reports/llm_gpu/session2.sh (bible + gguf.aa, then gguf.ab joined and sha256-checked), then:
#   PROBE=1: oracle, shuffled, oracle-mlp; LoRA 6e-4, projector 2e-3, 400 steps of 64 (ran out of the call's 420 s
#            during oracle-mlp: its rows are in the log only)
#   PROBE=2: oracle-mlp, LoRA 2e-3, projector 3e-3, 1000 steps
#   PROBE=3: oracle-mlp with every LM weight trained too (--full), LM 1e-4, projector 3e-3, 1000 steps
set -o pipefail
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}   # scripts/ import lab from the tree (no sys.path edits in scripts)
source scripts/device_smollm2.sh && device_smollm2_join || exit 1
T=/root/data/canterbury-large/bible.txt
case "$PROBE" in
1) python3 scripts/optical_probe.py --text $T --device cuda --steps 400 --out $OUT/probe_oracle.json 2>&1 \
     | grep --line-buffered -v -i "warn\|GGUF tensors" | tee $OUT/probe_oracle.log | tail -40 ;;
2) python3 scripts/optical_probe.py --text $T --device cuda --conditions oracle-mlp --lr 2e-3 --proj-lr 3e-3 --steps 1000 \
     --out $OUT/probe_oracle_fast.json 2>&1 | grep --line-buffered -v -i "warn\|GGUF tensors\|detach\|log.append" \
     | tee $OUT/probe_oracle_fast.log | tail -12 ;;
3) python3 scripts/optical_probe.py --text $T --device cuda --conditions oracle-mlp --full --lr 1e-4 --proj-lr 3e-3 \
     --steps 1000 --out $OUT/probe_oracle_full.json 2>&1 | grep --line-buffered -v -i "warn\|GGUF tensors\|detach\|log.append" \
     | tee $OUT/probe_oracle_full.log | tail -8 ;;
*) echo "PROBE=1|2|3"; exit 2 ;;
esac
