"""Answering from vision tokens at full size (lab/optical/qa/study.py), on the GPU or the CPU: JSON for the
report (notebooks/optical.ipynb reads reports/optical_gpu/qa_study.json when present).

    python3 scripts/optical_qa_study.py --out reports/optical_gpu/qa_study.json --device cuda \
        --per-doc 6 --budgets 64 100 256 400 --pages 1 4 8 [--lm-reader CKPT] [--qa-adapter qa_finetune]
    python3 scripts/optical_qa_study.py --out $OUT/qa_bank.json --device cuda --conditions none --budgets 64 \
        --pages 1 --per-doc 1 --bank-budget 400 --bank-docs 60 --bank-questions 120 --qa-adapter $OUT/qa_finetune
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from lab.report import machine  # noqa: E402



def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default="optical-reader", help="the encoder + stage-1 reader (lab.models name or folder)")
    ap.add_argument("--lm-reader", help="a checkpoint with an lm/ reader: adds the `vision` condition")
    ap.add_argument("--per-doc", type=int, default=6)
    ap.add_argument("--per-page", type=int, default=3)
    ap.add_argument("--budgets", type=int, nargs="+", default=[64, 100, 256, 400])
    ap.add_argument("--pages", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--conditions", nargs="+", help="a subset of none full first bm25 ocr vision (default: all)")
    ap.add_argument("--vision-budgets", type=int, nargs="*", help="budgets of the vision condition (default: all)")
    ap.add_argument("--bank-budget", type=int, default=400)
    ap.add_argument("--policies", nargs="*", default=["seed", "lru", "fifo", "importance", "fade"])
    ap.add_argument("--bank-docs", type=int, default=60, help="held-out documents in the bank (study.bank_corpus)")
    ap.add_argument("--bank-questions", type=int, default=120)
    ap.add_argument("--keeps", type=float, nargs="+", default=[0.5, 0.25], help="shares each policy cuts the bank to")
    ap.add_argument("--bank-vias", nargs="+", default=["ocr"], choices=["ocr", "vision", "text"],
                    help="the bank's answering paths (vision: the --lm-reader answering from the tokens)")
    ap.add_argument("--bank-embedder", default="hashing-256",
                    help="the bank's embedder (`lab optical add` makes all-minilm-l6-v2 banks)")
    ap.add_argument("--bank-only", action="store_true", help="the memory bank alone (no page study before it)")
    ap.add_argument("--qa-adapter", help="the answering model's LoRA folder (scripts/optical_qa_finetune.py)")
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    if "vision" in args.bank_vias and not args.lm_reader:
        ap.error("--bank-vias vision needs --lm-reader (the stage-2 reader fine-tuned to answer)")

    import torch

    from lab import models
    from lab.optical.qa import study as S
    from lab.optical.model import load
    from lab.optical.train_lm import load_reader
    from lab.optical.qa.answer import TextAnswerer

    t0 = time.time()
    if args.device == "cuda":     # cuDNN's attention failed on a long left-padded batch (H100, torch 2.11; try 1)
        torch.backends.cuda.enable_cudnn_sdp(False)
    path = models.trained_or_path(args.model)
    ocr, meta = load(path, args.device)
    lm, tok = models.load_lm(device=args.device)
    if args.qa_adapter:
        from lab.optical.qa.finetune import load_adapter

        lm = load_adapter(lm, models.trained_or_path(args.qa_adapter))
    lm = lm.to(torch.bfloat16) if args.device == "cuda" else lm
    answerer = TextAnswerer(lm.eval(), tok, batch=args.batch)
    lm_reader, reader_meta = (load_reader(models.trained_or_path(args.lm_reader), ocr, args.device) if args.lm_reader
                              else (None, {}))
    pages, qas = [], []
    if not args.bank_only:
        pages = S.study_pages(per_doc=args.per_doc)
        qas = S.study_questions(pages, per_page=args.per_page)
        print(f"{len(pages)} pages, {len(qas)} questions", flush=True)
    conds = tuple(args.conditions or S.CONDITIONS)
    conds = conds if lm_reader is not None else tuple(c for c in conds if c != "vision")
    out = {}

    def save(rows):
        for r in rows:      # which model answered (the report's answering table groups by it)
            r.setdefault("model", "vision" if r["condition"] == "vision" else "adapted" if args.qa_adapter else "unadapted")
        out["rows"] = rows
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(out, default=str))
        tmp.replace(args.out)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    out.update({"command": " ".join(sys.argv), "machine": machine(),
           "train": "none", "encoder_sha256": meta["sha256"], "model": args.model, "lm_reader": args.lm_reader,
           "lm_reader_sha256": reader_meta.get("sha256"), "pages": len(pages), "questions": len(qas)})
    rows = [] if args.bank_only else S.run(pages, qas, conds, tuple(args.budgets), tuple(args.pages), answerer, ocr,
                                           lm_reader, progress=lambda s: print(s, flush=True),
                                           vision_budgets=args.vision_budgets, on_rows=save)
    save(rows)
    if args.policies is not None and args.bank_budget:
        bpages = S.bank_corpus(args.bank_docs)
        bqas = S.bank_questions(bpages, args.bank_questions)
        out.update(bank_documents=len({p.document for p in bpages}), bank_pages=len(bpages),
                   bank_budget=args.bank_budget, bank_vias=args.bank_vias, qa_adapter=args.qa_adapter,
                   bank_embedder=args.bank_embedder)
        with tempfile.TemporaryDirectory() as d:
            out["bank"] = S.bank_study(bpages, bqas, str(path), answerer, ocr, d, budget=args.bank_budget,
                                       policies=tuple(args.policies), keeps=tuple(args.keeps),
                                       progress=lambda s: print(s, flush=True), reader=lm_reader,
                                       vias=tuple(args.bank_vias), embedder=args.bank_embedder)
    out["seconds"] = round(time.time() - t0, 1)
    out["complete"] = True           # a file without it was written by a run stopped before its end (partial)
    save(rows)
    if rows:
        print(S.table(rows).to_string(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
