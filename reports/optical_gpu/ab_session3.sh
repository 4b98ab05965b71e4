#!/bin/bash
# GPU A/B: conv stem vs residual-CNN stem, both with the grid reader, from scratch on large fonts, in parallel.
set -o pipefail
mkdir -p /root/data && tar xJf .carry/data.tar.xz -C /root/data || exit 1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .carry/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD LAB_DATA=/root/data PYTHONUNBUFFERED=1
T=${T:-300}
common="--set train.easy_batches=100000 --set train.workers=7 --set train.eval_pages=8 --time-limit $T --eval-pages 16 --set reader.kind=grid --set reader.emb=32 --set reader.frame_hidden=128"
python3 scripts/optical_gpu.py stage1 --config configs/optical/gpu.yaml --ckpt /root/ckD --report /root/repD $common --set encoder.stem=res --set train.lr=0.0015 2>&1 | grep -v Warning > $OUT/c_res_lr.log &
python3 scripts/optical_gpu.py stage1 --config configs/optical/gpu.yaml --ckpt /root/ckE --report /root/repE $common --set encoder.stem=res 2>&1 | grep -v Warning > $OUT/d_res.log &
wait
cp /root/repD/stage1.json $OUT/c_res_lr.json; cp /root/repE/stage1.json $OUT/d_res.json
tail -n 2 $OUT/c_res_lr.log $OUT/d_res.log
