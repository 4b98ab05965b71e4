#!/bin/bash
# The stage-2 reader's campaign on one H200 (lab/optical/train_lm.py; configs/optical/campaign.yaml), one
# session's chain of device calls made back to back on one warm machine. What travels (<= 64 MiB a call):
# the tree without models/ (taken out of the index for the session), and in carry:
#   STEP=a  .carry/a (data.tar.xz: canterbury, canterbury-large, tinystories; whl/: rapidfuzz, gguf, pypdfium2 (py3.12
#           manylinux wheels: pip download --no-deps --only-binary=:all: --platform manylinux_2_17_x86_64
#           --platform manylinux_2_28_x86_64 --python-version 3.12 -d .carry/a/whl NAME==<requirements/cpu.lock's
#           version> (rapidfuzz 3.14 has only 2_28 wheels); the device image lacks them);
#           pdfs.tar when campaign.pdf > 0: the training PDFs by their package paths, from `make documents` here:
#           tar cf .carry/a/pdfs.tar -C / $(python -c "from lab.optical import pdfdocs as P; print(*[P.DOCS[n].file
#           for n in P.names('train')])"); texts.tar.xz when campaign.texts names package corpora (`make corpora`):
#           tar cJf .carry/a/texts.tar.xz -C / usr/share/doc/python3.11/html/_sources usr/share/wordnet/data.{noun,verb,adj,adv}
#           and models/optical-reader (the stage-1 model) or models/optical-reader-pdf (its PDF fine-tune: then
#           STEP=run ARGS="--stage1 model:optical-reader-pdf --move-encoder", the state going on over its tokens)
#   STEP=b  .carry/b (gguf.ab; pdfs_test.tar, made as pdfs.tar with names('test'): the bank study's held-out PDFs,
#           0.8 MB, which step a has no room for: with the tree it passes 64 MiB) and .carry/c/gguf.aa (two of the
#           GGUF's three pieces, kept in /root)
#   STEP=state  models/optical-lm-reader (the campaign's state, once it exists; alone: with a GGUF piece beside it
#           the call passes 64 MiB)
#   STEP=run RUN=<name> TRAIN_S=<s> [ARGS=<more train options>] [NPROC=<GPUs>]  .carry/c/gguf.ac on the first
#           run of a machine; NPROC > 1 launches one process a GPU under torchrun (each banks its share of the spool;
#           the global batch stays configs/optical/campaign.yaml's `tokens`; start the renderer with more --workers)
#   STEP=qa [QA=answering|pooled|vision] QA_S=<s> [QA_ARGS=<more options>]  the answering model's (or the
#           pooled-text competitor's, or the stage-2 reader's answering) fine-tuning and study
#           (scripts/optical_qa_finetune.py -> $OUT/qa_finetune.json, qa_pooled.json or qa_vision.json (+ the
#           vision reader's folder, the campaign's format); vision needs step state; ~15 s to render 6,000 pages), its .log and
#           adapter folder, written to $OUT before scoring: a call cut short keeps it; ~50 s of questions, then QA_S,
#           then ~20 s a scored condition: the one-page table first); QA=answering QA_ARGS="--with-ocr --model
#           optical-reader-pdf" scores `ocr` (the tokens read back by the stage-1 reader) with the adapted model too,
#           --adapter-from <folder> scores a kept adapter without training (session 27: QA_S=180 with --with-ocr
#           ran out of a 480 s call four conditions into scoring, after 62 s of items and the 180 s; the adapter
#           came back, and QA_S=1 QA_ARGS="--adapter-from outputs/qa_adapter ..." carrying that folder scored all
#           ten conditions in 165 s); vision reads with the stage-1 model its
#           state names (optical-reader-pdf from c35 on: step a carries it); needs step a's data and
#           the GGUF (.carry/c/gguf.ac if no run assembled it yet); the adapter stays in /root/ for step bank
#           QA=vision going on from a reader fine-tuned before (session 28: c40's state 180 s, then 280 s more):
#           QA_ARGS="--lm-reader <its folder> --page-seed <new> --pages 4500 --budgets 100 --page-counts 1" (the
#           folder /root/qa_vision of the call before, renamed, or models/optical-qa-vision carried; ~1 s a rendered
#           page over 15 workers is 30 pages/s: 4,500 pages ~150 s, then QA_S, then ~110 s scoring 277 questions);
#           add "--pages-cache /root/qa_pages_<seed>.pt --prerender <next seed>": the pages are kept, and the next
#           call's are rendered in the background while this one trains (session 29: 191 s to render and keep
#           4,500, so QA_S=290 ran the call out before scoring; the next call read its 4,500 pages in 21 s:
#           QA_S=200 + scoring fit in 338 s). Keep QA_S <= 260 in a call that renders, <= 420 in one that reads the cache
#           "--modes tiny small base large" trains on every mode's tokens in turn (each page encoded in each; the
#           cache keeps them all, --prerender renders the same modes) and scores each (~110 s a mode: add
#           "--score-modes small" to score small alone); not yet run on the device
#   STEP=stage1 [S1_S=<s>] [S1_CONFIG=<yaml>] [S1_INIT=<folder>] [S1_ARGS="--set train.pdf=0.45"]  after `RENDER=0 STEP=a`: the stage-1 encoder + CTC reader fine-tuned
#           from models/optical-reader, or S1_INIT (configs/optical/pdf_finetune.yaml: a third of the pages real PDFs,
#           the rendered pages' tokens anchored to the starting model's) -> $OUT/s1/ (weights, stage1.json) and $OUT/s1.log; read it on the CPU with
#           scripts/optical_pdf_probe.py --model <folder>
#   STEP=bank  the memory bank of 60 held-out documents, 60 questions (~0.6 s each on the GPU, 11 banks: ~7 min),
#           every forgetting policy at half and a quarter
#           (scripts/optical_qa_study.py -> $OUT/qa_bank.json), answered by step qa's adapter when there is one
# .carry/*/gguf.a?: lab.models' SmolLM2-135M-Instruct.Q4_1.gguf cut at 14 MiB and 50 MiB (session 1's first
# machine: 12 and 70 MiB, before there was a state to carry). SEED (step a): the page seed, new for each machine.
# RENDER_ARGS (step a): more options for the renderer, e.g. "--set campaign.pdf=0.25" (from c36 on: more real PDF pages).
# Step a starts the page renderer in its own session (setsid): it keeps rendering into /root/spool through
# the calls that follow. Every run resumes /root/state (the exact fp32 state within the session; the first
# run of a session starts from models/optical-lm-reader, its moments re-estimated) and copies the state's
# fp16 adapter shards, reader.json and its log to $OUT (-> models/optical-lm-reader/ and reports/optical_gpu/).
# A session: STEP=a, b, state, then runs (and qa) back to back: the machine goes back after ~30 s idle, a fresh
# one costs 1.5-3.5 device-minutes to start. Check a script's whole pipeline at full size on the CPU first (session
# 7's QA call spent 7 minutes in a quadratic question generator before its first step).
set -o pipefail
export PYTHONPATH=/tmp/site:$PWD LAB_DATA=/root/data LAB_MODELS=/root/models LAB_PKG_ROOT=/root/pkgs PYTHONUNBUFFERED=1 \
  OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
M=/root/models/smollm2-135m-instruct
gguf() {   # SmolLM2's GGUF from its three carried pieces, once a machine, checked
  if [ ! -f $M/SmolLM2-135M-Instruct.Q4_1.gguf ]; then
    AA=/root/gguf.aa; [ -f $AA ] || AA=.carry/c/gguf.aa
    cat $AA /root/gguf.ab .carry/c/gguf.ac > $M/SmolLM2-135M-Instruct.Q4_1.gguf || return 1
  fi
  echo "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53  $M/SmolLM2-135M-Instruct.Q4_1.gguf" | sha256sum -c
}
case "$STEP" in
a)
  mkdir -p /root/data /root/models /root/pkgs $M && tar xJf .carry/a/data.tar.xz -C /root/data || exit 1
  if [ -f .carry/a/pdfs.tar ]; then tar xf .carry/a/pdfs.tar -C /root/pkgs || exit 1; fi
  if [ -f .carry/a/texts.tar.xz ]; then tar xJf .carry/a/texts.tar.xz -C /root/pkgs || exit 1; fi
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .carry/a/whl/*.whl || exit 1
  # the stage-1 model(s) carried (optical-reader, optical-reader-pdf: one at least; the carry limit fits .carry/a and one)
  n=0; for m in optical-reader optical-reader-pdf; do [ -d models/$m ] && { cp -r models/$m /root/models/ || exit 1; n=$((n + 1)); }; done
  [ $n -gt 0 ] || { echo "no stage-1 model carried (models/optical-reader or models/optical-reader-pdf)"; exit 1; }
  if [ -f .carry/a/gguf.aa ]; then cp .carry/a/gguf.aa /root/gguf.aa || exit 1; fi
  [ "${RENDER:-1}" = 1 ] && setsid nohup python3 -m lab.optical.train_lm render --spool /root/spool --pages 400000 --seed "${SEED:-1}" \
    --workers "${WORKERS:-13}" --max-pending 2500 --config configs/optical/campaign.yaml $RENDER_ARGS > /root/render.log 2>&1 < /dev/null &
  [ "${RENDER:-1}" = 1 ] && sleep 40; nproc; nvidia-smi --query-gpu=name,memory.total --format=csv; ls /root/spool | wc -l; tail -3 /root/render.log ;;
b)
  cp .carry/b/gguf.ab /root/gguf.ab && cp .carry/c/gguf.aa /root/gguf.aa || exit 1
  if [ -f .carry/b/pdfs_test.tar ]; then mkdir -p /root/pkgs && tar xf .carry/b/pdfs_test.tar -C /root/pkgs || exit 1; fi
  ls /root/spool | wc -l && tail -2 /root/render.log ;;
state)
  mkdir -p /root/state && cp models/optical-lm-reader/* /root/state/ || exit 1
  ls /root/state; ls /root/spool | wc -l && tail -1 /root/render.log ;;
run)
  gguf || exit 1
  echo "spool: $(ls /root/spool | wc -l) files"; tail -1 /root/render.log
  if [ "${NPROC:-1}" -gt 1 ]; then   # several GPUs: one process each (DDP-style, NVLink multicast off)
    LAUNCH="python3 -m torch.distributed.run --standalone --nproc_per_node $NPROC -m"
    export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
  else LAUNCH="python3 -m"; fi
  $LAUNCH lab.optical.train_lm train --state /root/state --spool /root/spool --seconds "$TRAIN_S" --run "$RUN" \
    --config configs/optical/campaign.yaml $ARGS 2>&1 | grep --line-buffered -v -i "warn\|GGUF tensors" | tee $OUT/$RUN.log
  rc=$?
  cp /root/state/reader.json /root/state/adapter-*.safetensors $OUT/ 2>/dev/null
  exit $rc ;;
qa)
  gguf || exit 1
  case "${QA:-answering}" in pooled) N=qa_pooled ;; vision) N=qa_vision ;; *) N=qa_finetune ;; esac
  # vision: the session's campaign state (/root/state, step state) fine-tuned to answer, its pages rendered here
  if [ "${QA:-answering}" = vision ]; then QA_ARGS="--lm-reader /root/state --workers 15 $QA_ARGS"; fi
  python3 scripts/optical_qa_finetune.py --train "${QA:-answering}" --device cuda --seconds "${QA_S:-240}" --pages 6000 \
    --out $OUT/$N.json --adapter $OUT/$N $QA_ARGS 2>&1 | grep --line-buffered -v -i "warn\|GGUF tensors" | tee $OUT/$N.log | tail -c 4000
  rc=$?; cp -r $OUT/$N /root/ 2>/dev/null; exit $rc ;;   # the adapter is written under $OUT before scoring starts
bank)
  gguf || exit 1
  A=""; [ -f /root/qa_finetune/adapter.json ] && A="--qa-adapter /root/qa_finetune"
  python3 scripts/optical_qa_study.py --device cuda --out $OUT/qa_bank.json --conditions none --budgets 64 --pages 1 \
    --per-doc 1 --bank-budget 400 --bank-docs 60 --bank-questions 60 $A $QA_ARGS 2>&1 \
    | grep --line-buffered -v -i "warn\|GGUF tensors" | tee $OUT/qa_bank.log | tail -c 4000 ;;
stage1)   # the stage-1 reader fine-tuned on real PDF pages (after step a, RENDER=0: no stage-2 spool needed)
  python3 scripts/optical_gpu.py stage1 --config "${S1_CONFIG:-configs/optical/pdf_finetune.yaml}" \
    --init "${S1_INIT:-/root/models/optical-reader}" --ckpt /root/s1 --report $OUT/s1 --time-limit "${S1_S:-400}" --eval-pages 16 $S1_ARGS \
    2>&1 | grep --line-buffered -v -i "warn" | tee $OUT/s1.log | tail -c 3000 ;;
*) echo "STEP=a|b|state|run|qa|bank|stage1"; exit 2 ;;
esac
