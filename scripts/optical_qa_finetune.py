"""The answering model (lab/optical/qa/finetune.py) or its text-side competitor (lab/optical/qa/pooled.py):
SmolLM2 + LoRA fine-tuned on questions from the training documents for --seconds, then the held-out study
questions (qa.study: test documents only) answered; JSON (record, rows) and the adapter folder.

  --train answering: the LM answers from text. Scored adapted (none, full, and first-N / BM25-N at --budgets)
                     and unadapted (none, full), on 1 and --page-counts pages.
  --train vision:    the stage-2 reader (--lm-reader, the campaign's state) fine-tuned on (vision tokens,
                     question, answer) triplets of rendered training pages (lab/optical/qa/vision_qa.py), saved in
                     the campaign's folder format, scored as `vision` at the small mode's 100 tokens, 1 page
                     (--modes: the pages' tokens in several modes, a step each in turn, each scored).
  --train answering --with-ocr: also `ocr` for the adapted model (the page's N vision tokens read back into text
                     by the stage-1 reader --model, that text given to the answering model: the vision tokens as storage).
  --adapter-from F:  --train answering without training: the answering adapter of folder F (a save_adapter folder,
                     e.g. the registered optical-qa-answerer) scored as above.
  --train none:      no training: the unadapted model's rows alone (none, full), e.g. on the CPU beside a GPU
                     run's JSON that ended before them (--out reports/optical_gpu/qa_unadapted_cpu.json).
  --train pooled:    each page's text mean-pooled into N positions through a projector (one reader for every
                     N in --budgets), scored as `pooled` at each N and page count.

    python3 scripts/optical_qa_finetune.py --device cuda --seconds 240 --pages 6000 \
        --out $OUT/qa_finetune.json --adapter $OUT/qa-lora
    python3 scripts/optical_qa_finetune.py --train pooled --device cuda --seconds 240 --pages 6000 \
        --out $OUT/qa_pooled.json --adapter $OUT/qa-pooled
    python3 scripts/optical_qa_finetune.py --lm tiny-random-chat --seconds 20 --pages 20 ...   # the CPU check
    python3 -m torch.distributed.run --standalone --nproc_per_node 8 scripts/optical_qa_finetune.py --device cuda ...
        # answering only: one process a GPU, each takes its share of every global batch; rank 0 saves and scores
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

from lab.report import machine


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--adapter", type=Path, help="the adapter folder written (not with --train none)")
    ap.add_argument("--adapter-from", help="--train answering: score this answering adapter (folder or registered "
                    "name) instead of training one")
    ap.add_argument("--with-ocr", action="store_true", help="--train answering: score `ocr` too (stage-1 --model)")
    ap.add_argument("--train", choices=("answering", "pooled", "vision", "none"), default="answering")
    ap.add_argument("--model", help="the stage-1 model (name or folder) for --train vision and --with-ocr (default: "
                    "the one whose tokens --lm-reader reads; optical-reader for --with-ocr)")
    ap.add_argument("--lm-reader", default="optical-lm-reader", help="--train vision: the reader to start from")
    ap.add_argument("--workers", type=int, default=1, help="--train vision: processes rendering the pages")
    ap.add_argument("--page-seed", type=int, default=0, help="--train vision: the training pages' seed (a run that goes "
                    "on from another's reader with --lm-reader takes a new one: other pages, not the same again)")
    ap.add_argument("--pages-cache", type=Path, help="--train vision: the rendered pages' file (tokens, texts, "
                    "questions): read from it when it exists and holds --page-seed's pages, else written to it")
    ap.add_argument("--render-only", action="store_true", help="--train vision: render --pages-cache's pages and stop "
                    "(run in the background by --prerender)")
    ap.add_argument("--prerender", type=int, metavar="SEED", help="--train vision: once this run's pages are ready, "
                    "render the pages of SEED into --pages-cache's folder (qa_pages_<SEED>.pt) in a background "
                    "process while this run trains, for the next run (--page-seed SEED) to read")
    ap.add_argument("--modes", nargs="+", default=["small"], choices=("tiny", "small", "base", "large"),
                    help="--train vision: the encoder modes of the training pages' tokens (a step takes one, in turn)")
    ap.add_argument("--score-modes", nargs="+", choices=("tiny", "small", "base", "large"),
                    help="--train vision: the modes scored after training (default: --modes; ~110 s each on an H100)")
    ap.add_argument("--lm", default="smollm2-135m-instruct", help="a lab.models LM (or tiny-random-chat)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--pages", type=int, default=6000, help="training pages (each gives ~4 questions)")
    ap.add_argument("--steps", type=int, default=3000, help="the schedule's length (stops earlier at --seconds)")
    ap.add_argument("--lr", type=float, help="peak learning rate (default: 5e-4; --train vision 2e-4)")
    ap.add_argument("--per-doc", type=int, default=15, help="held-out pages per test document")
    ap.add_argument("--per-page", type=int, default=4)
    ap.add_argument("--budgets", type=int, nargs="*", default=[64, 100, 256, 400], help="N: tokens a page")
    ap.add_argument("--page-counts", type=int, nargs="*", default=[1, 4], help="pages of context")
    ap.add_argument("--batch", type=int, default=16)
    a = ap.parse_args()
    if a.adapter_from and a.train != "answering":
        ap.error("--adapter-from is for --train answering")
    if (a.render_only or a.prerender is not None) and not (a.train == "vision" and a.pages_cache):
        ap.error("--render-only and --prerender need --train vision and --pages-cache")
    if a.train != "none" and a.adapter is None and not a.adapter_from and not a.render_only:
        ap.error("--adapter is needed to train")

    import torch

    from lab import models
    from lab.optical import distributed as D
    from lab.optical.qa import finetune as F
    from lab.optical.qa import study as S
    from lab.optical.qa.answer import TextAnswerer

    t0 = time.time()
    device = D.init_distributed(a.device)
    if device.startswith("cuda"):
        torch.backends.cuda.enable_cudnn_sdp(False)     # as scripts/optical_qa_study.py (left-padded batches)
    # the vision reader brings its own LM (the campaign's); only the text trainings use the training items
    lm, tok = models.load_any_lm(a.lm, device) if a.train != "vision" else (None, None)
    if a.train == "vision":   # the stage-1 model whose tokens the reader reads
        from lab.optical.train_lm import stage1_name

        stage1 = a.model or stage1_name(models.trained_or_path(a.lm_reader)) or "optical-reader"
    if a.render_only:         # the pages alone, for a later run (--prerender's background process)
        from lab.optical.model import load as load_model
        from lab.optical.qa import vision_qa as V

        enc, _ = load_model(models.trained_or_path(stage1), device)
        trip = V.triplets(a.pages, seed=a.page_seed, workers=a.workers)
        V.save_pages(a.pages_cache, V.encode_modes(enc, trip.pages, a.modes), trip, a.page_seed)
        print(f"{len(trip.pages)} pages of seed {a.page_seed} -> {a.pages_cache} ({time.time() - t0:.0f} s)", flush=True)
        return 0
    items = F.training_items(a.pages, seed=0) if a.train == "pooled" or (a.train == "answering" and not a.adapter_from) else []
    pages = S.study_pages(per_doc=a.per_doc)
    qas = S.study_questions(pages, per_page=a.per_page)
    print(f"{len(items)} training items; {len(pages)} held-out pages, {len(qas)} questions "
          f"({time.time() - t0:.0f} s)", flush=True)
    progress = lambda r: print(json.dumps(r) if isinstance(r, dict) else r, flush=True)      # noqa: E731
    bf16 = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda"))
    rows, head = [], {"command": "python3 scripts/optical_qa_finetune.py " + " ".join(sys.argv[1:]),
                      "machine": machine(), "lm": a.lm, "train": a.train, "pages": len(pages), "questions": len(qas)}

    def save(part, label, rec, sha, final=False):
        """The JSON so far (after each condition: a call that ends early keeps what was scored)."""
        res = {**head, "adapter_sha256": sha, "record": rec, "rows": rows + [{**r, "model": label} for r in part],
               "seconds": round(time.time() - t0, 1), "complete": final}
        tmp = a.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(res, indent=1))
        tmp.replace(a.out)

    if a.train == "vision":
        from lab.optical.model import load as load_model
        from lab.optical.qa import vision_qa as V
        from lab.optical.train_lm import load_reader

        enc, _ = load_model(models.trained_or_path(stage1), device)
        reader, meta = load_reader(models.trained_or_path(a.lm_reader), enc, device, torch.bfloat16 if device.startswith("cuda") else None)
        cfg = V.VisionQAConfig(lr=a.lr or 2e-4, proj_lr=a.lr or 2e-4, steps=a.steps, batch=a.batch,
                               modes=tuple(a.modes))
        cached = a.pages_cache is not None and a.pages_cache.is_file()
        if cached:
            toks, trip, seed = V.load_pages(a.pages_cache, device)
            if seed != a.page_seed:
                ap.error(f"--pages-cache {a.pages_cache} holds the pages of seed {seed}, not --page-seed {a.page_seed}")
            if set(cfg.modes) - set(toks):
                ap.error(f"--pages-cache {a.pages_cache} holds {', '.join(toks)} tokens, not every mode of --modes")
        else:
            trip = V.triplets(a.pages, seed=a.page_seed, workers=a.workers)
            toks = V.encode_modes(enc, trip.pages, cfg.modes)
            if a.pages_cache:
                V.save_pages(a.pages_cache, toks, trip, a.page_seed)
        if a.prerender is not None:   # the next run's pages, rendered while this one trains
            import subprocess

            nxt = a.pages_cache.with_name(f"qa_pages_{a.prerender}.pt")
            cmd = [sys.executable, __file__, "--train", "vision", "--render-only", "--pages-cache", str(nxt),
                   "--page-seed", str(a.prerender), "--pages", str(a.pages), "--workers", str(max(1, a.workers - 2)),
                   "--device", a.device, "--model", stage1, "--out", str(nxt) + ".json", "--modes", *a.modes]
            with open(str(nxt) + ".log", "w") as log:
                subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            print(f"rendering the pages of seed {a.prerender} into {nxt} in the background", flush=True)
        print(("read from the cache: " if cached else "") + f"{len(trip.pages)} rendered training pages, {len(trip.items)} questions, tokens {', '.join(f'{m} {tuple(t.shape)}' for m, t in toks.items())} "
              f"({time.time() - t0:.0f} s)", flush=True)
        rec = V.train(reader, toks, trip, cfg, seconds=a.seconds, progress=progress)
        rec["from_reader"] = {k: meta.get(k) for k in ("sha256", "examples", "step")}   # the campaign state it started from
        rec["page_seed"] = a.page_seed
        sha = V.save(reader, a.adapter, meta, rec)
        from lab.optical.encoder import tokens_for

        with bf16:
            part = S.run(pages, qas, ("vision",), tuple(tokens_for(m) for m in a.score_modes or cfg.modes), (1,),
                         answerer=TextAnswerer(reader.lm, reader.tok),
                         ocr=enc, lm_reader=reader, progress=progress, on_rows=lambda part: save(part, "vision", rec, sha))
        rows += [{**r, "model": "vision"} for r in part]
    elif a.train == "none":
        with bf16:
            rows += S.run(pages, qas, ("none", "full"), tuple(a.budgets), tuple(a.page_counts),
                          answerer=TextAnswerer(lm, tok, batch=a.batch), progress=progress,
                          on_rows=lambda part: save(part, "unadapted", None, None))
        rows = [{**r, "model": "unadapted"} for r in rows]
        rec = sha = None
    elif a.train == "pooled":
        from lab.optical.qa import pooled as P

        reader = P.PooledReader(lm, tok, P.PooledSpec(n=max(a.budgets))).to(device)
        rec = P.train(reader, items, P.PooledTrainConfig(lr=a.lr or 5e-4, steps=a.steps, batch=a.batch, budgets=tuple(a.budgets)),
                      seconds=a.seconds, progress=progress)
        sha = P.save(reader, a.adapter, rec)
        with bf16:
            part = S.run(pages, qas, ("pooled",), tuple(a.budgets), tuple(a.page_counts),
                         answerer=TextAnswerer(reader.lm, tok, batch=a.batch), pooled=reader, progress=progress,
                         on_rows=lambda part: save(part, "pooled", rec, sha))
        rows += [{**r, "model": "pooled"} for r in part]
    else:
        if a.adapter_from:                              # scored, not trained
            folder = models.trained_or_path(a.adapter_from)
            model = F.load_adapter(lm, folder)
            meta = json.loads((Path(folder) / "adapter.json").read_text())
            rec = {**{k: v for k, v in meta.items() if k not in ("format", "sha256")}, "adapter_from": str(a.adapter_from)}
            sha = meta["sha256"]
        else:
            cfg = F.FinetuneConfig(lr=a.lr or 5e-4, steps=a.steps)
            model, rec = F.finetune(lm, tok, items, cfg, seconds=a.seconds, progress=progress)
            rank = D.rank_world()[0]
            D.finish_distributed()
            if rank != 0:                               # the other ranks' work ends with the training
                return 0
            sha = F.save_adapter(model, a.adapter, rec)
        enc = None
        if a.with_ocr:                                  # the stage-1 encoder + CTC reader that reads the tokens back
            from lab.optical.model import load as load_model

            enc, _ = load_model(models.trained_or_path(a.model or "optical-reader"), device)
        # page counts outermost and the unadapted model's two cheap conditions first: a call that ends early
        # keeps the one-page table whole (the bar's rows, the unadapted beside the adapted)
        for n in a.page_counts:
            for label in ("unadapted", "adapted"):
                ctx = model.disable_adapter() if label == "unadapted" else contextlib.nullcontext()
                conds = (("none", "full", "first", "bm25") + (("ocr",) if enc is not None else ())
                         if label == "adapted" else ("none", "full"))
                with ctx, bf16:
                    part = S.run(pages, qas, conds, tuple(a.budgets), (n,),
                                 answerer=TextAnswerer(model, tok, batch=a.batch), ocr=enc, progress=progress,
                                 on_rows=lambda part, label=label: save(part, label, rec, sha))
                rows += [{**r, "model": label} for r in part]
    save([], "", rec, sha, final=True)
    print(json.dumps(S.finetune_rows(rows)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
