# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Optical context compression: pages into vision tokens and back, against DeepSeek-OCR's Fox curve
#
# Held-out pages (alice29.txt, lcet10.txt: never trained on) of 600-1300 SmolLM2 text tokens, rendered on a 1280-pixel page and resampled to each resolution mode's pixel budget (tiny 512² = 64 vision tokens, small 640² = 100, base 1024² = 256, large 1280² = 400). Every reader sees the same pixels. DeepSeek-OCR's numbers are quoted from its paper, never measured here.

# %% tags=["parameters"]
profile = "smoke"
report_dir = "outputs/reports"
command = "pytest --nbval-lax notebooks/optical.ipynb"
per_bucket = 1                       # Fox-like pages per bucket of 100 text tokens (cpu profile: 3)
buckets = [600, 1200]                # cpu profile: 600, 700, ..., 1200
modes = ["tiny", "small"]            # cpu profile: all four
engines = ["tesseract"]              # cpu profile: tesseract and rapidocr
engine_modes = []                    # the modes the engines read (empty: all of `modes`; cpu: tiny, small)
engine_per_bucket = 0                # Fox pages per bucket the engines read (0: all; cpu: 1, RapidOCR's ~10 s a page)
tokenizer = "estimate"               # "estimate" (characters / 4, labelled) or a lab.models LM (smollm2-135m-instruct)
model = "optical-reader"             # a lab.models trained model or a checkpoint folder; empty: engines only
pdf_model = ""                       # a second stage-1 model (cpu profile: optical-reader-pdf, fine-tuned on real PDF pages) read beside `model` in the Fox table and on the PDF pages; empty: none
robust_pages = 1                     # pages per robustness set (cpu profile: 6)
gpu_runs = ["14", "15", "16", "17", "18", "19", "20", "21"]   # chained stage-1 runs in reports/optical_gpu/ (the model's history)
qa_lm = ""                           # "Answering from vision tokens": the answering LM (cpu profile: smollm2-135m-instruct); empty: skipped
qa_per_doc = 1                       # held-out pages per test document
qa_per_page = 2                      # extractive questions per page (plus one unanswerable)
qa_questions = 0                     # of those, a seeded choice of this many, both kinds (0: all; cpu profile: 4)
qa_budgets = [100]                   # vision tokens per page (also the text tokens per page of first/bm25)
qa_page_counts = [1]                 # pages of context
qa_bank_budget = 200                 # the bank end to end: vision tokens retrieved per question (0: skipped)
qa_bank_docs = 6                     # held-out documents in the bank (test PDFs + one-page sections of the test texts)
qa_bank_questions = 4                # questions asked of it (seeded choice, answerable kinds)
qa_policies = ["fade"]               # forgetting policies (lab.optical.bank.POLICIES: seed lru fifo importance fade)
qa_keeps = [0.5, 0.25]               # the shares of its tokens each policy cuts the bank to
qa_bank_full = ["reports/optical_gpu/qa_bank_ocr_cpu.json",   # the full-size bank (60 documents, every path and
                "reports/optical_gpu/qa_bank_vision_text_cpu.json",   # policy; optical_qa_study.py --bank-only); its
                "reports/optical_gpu/qa_bank_vision_cpu.json"]   # vision rows (the 950 s reader) replaced by the last's
pdf_per_doc = 0                      # held-out real PDF pages per document (cpu profile: 4; needs `make documents`)
lm_state = "models/optical-lm-reader"  # the stage-2 reader's campaign state (its runs and evaluations); empty: skipped
lm_windows = ["reports/optical_gpu/campaign/c2_windows_cpu.json",   # window reads of the state after c2, c4, c6, c9, c10, c12, c13, c15, c18, c21, c24-c26, c29, c31-c35 (pages: c37, c40 too)
              "reports/optical_gpu/campaign/c4_windows_cpu.json",
              "reports/optical_gpu/campaign/c6_windows_cpu.json",
              "reports/optical_gpu/campaign/c9_windows_cpu.json",
              "reports/optical_gpu/campaign/c9_pages_small_cpu.json",   # whole pages (the grid's 10 rows)
              "reports/optical_gpu/campaign/c9_pdf_pages_small_cpu.json",   # whole pages of the held-out real PDFs
              "reports/optical_gpu/campaign/c10_windows_cpu.json",
              "reports/optical_gpu/campaign/c10_rows5_small_cpu.json",   # windows of 5 cell rows
              "reports/optical_gpu/campaign/c10_pages_small_cpu.json",
              "reports/optical_gpu/campaign/c10_pdf_pages_small_cpu.json",
              "reports/optical_gpu/campaign/c12_windows_cpu.json",
              "reports/optical_gpu/campaign/c12_rows5_small_cpu.json",
              "reports/optical_gpu/campaign/c12_pages_small_cpu.json",
              "reports/optical_gpu/campaign/c12_pdf_pages_small_cpu.json",
              "reports/optical_gpu/campaign/c13_windows_cpu.json",
              "reports/optical_gpu/campaign/c13_rows5_small_cpu.json",
              "reports/optical_gpu/campaign/c13_pages_small_cpu.json",
              "reports/optical_gpu/campaign/c13_pdf_pages_small_cpu.json",
              "reports/optical_gpu/campaign/c13_pages_base_cpu.json",   # whole pages in base mode (16 rows)
              "reports/optical_gpu/campaign/c15_windows_cpu.json",
              "reports/optical_gpu/campaign/c15_rows5_small_cpu.json",
              "reports/optical_gpu/campaign/c15_pages_small_cpu.json",
              "reports/optical_gpu/campaign/c15_pdf_pages_small_cpu.json",
              "reports/optical_gpu/campaign/c15_pages_base_cpu.json",
              "reports/optical_gpu/campaign/c15_pages_small_g1_cpu.json",   # the same pages read with guidance
              "reports/optical_gpu/campaign/c15_pages_base_g1_cpu.json",    # (train_lm evaluate --guidance 1)
              "reports/optical_gpu/campaign/c15_pdf_pages_small_g1_cpu.json",
              "reports/optical_gpu/campaign/c18_windows_cpu.json",
              "reports/optical_gpu/campaign/c18_pages_small_cpu.json",
              "reports/optical_gpu/campaign/c18_pdf_pages_small_cpu.json",
              "reports/optical_gpu/campaign/c18_pages_base_cpu.json",
              "reports/optical_gpu/campaign/c18_pages_small_g1_cpu.json",
              "reports/optical_gpu/campaign/c18_pages_base_g1_cpu.json",
              "reports/optical_gpu/campaign/c21_windows_cpu.json",
              "reports/optical_gpu/campaign/c21_pages_small_cpu.json",
              "reports/optical_gpu/campaign/c21_pdf_pages_small_cpu.json",
              "reports/optical_gpu/campaign/c21_pages_base_cpu.json",
              "reports/optical_gpu/campaign/c21_pages_small_g1_cpu.json",
              "reports/optical_gpu/campaign/c21_pages_base_g1_cpu.json",
              "reports/optical_gpu/campaign/c24_windows_cpu.json",
              "reports/optical_gpu/campaign/c24_pages_base_g1_cpu.json",
              "reports/optical_gpu/campaign/c25_windows_cpu.json",          # c25 on: scheduled sampling
              "reports/optical_gpu/campaign/c25_pages_base_g1_cpu.json",
              "reports/optical_gpu/campaign/c25_pages_small_g1_cpu.json",
              "reports/optical_gpu/campaign/c26_windows_cpu.json",
              "reports/optical_gpu/campaign/c26_pages_small_g1_cpu.json",
              "reports/optical_gpu/campaign/c26_pdf_pages_small_cpu.json",
              "reports/optical_gpu/campaign/c26_pages_base_g1_cpu.json",
              "reports/optical_gpu/campaign/c26_pages_base_by1_g1_cpu.json",   # whole pages read row by row (--by-rows)
              "reports/optical_gpu/campaign/c26_pages_base_by2_g1_cpu.json",
              "reports/optical_gpu/campaign/c29_windows_cpu.json",
              "reports/optical_gpu/campaign/c29_pages_small_g1_cpu.json",
              "reports/optical_gpu/campaign/c29_pdf_pages_small_cpu.json",
              "reports/optical_gpu/campaign/c29_pages_base_g1_cpu.json",
              "reports/optical_gpu/campaign/c29_pages_base_by1_g1_cpu.json",
              "reports/optical_gpu/campaign/c29_pages_base_by2_g1_cpu.json",
              "reports/optical_gpu/campaign/c29_pages14_base_g1_cpu.json",   # 14 pages: half the standard error
              "reports/optical_gpu/campaign/c31_windows_cpu.json",          # c30 on: the learning rate annealed
              "reports/optical_gpu/campaign/c31_pages_small_g1_cpu.json",
              "reports/optical_gpu/campaign/c31_pdf_pages_small_cpu.json",
              "reports/optical_gpu/campaign/c31_pages_base_g1_cpu.json",
              "reports/optical_gpu/campaign/c31_pages_base_by1_g1_cpu.json",
              "reports/optical_gpu/campaign/c31_pages_base_by2_g1_cpu.json",
              "reports/optical_gpu/campaign/c31_pages14_base_g1_cpu.json",
              "reports/optical_gpu/campaign/c31_pages14_base_by1_g1_cpu.json",   # 14 pages window by window
              "reports/optical_gpu/campaign/c31_pages14_base_by2_g1_cpu.json",
              "reports/optical_gpu/campaign/c32_windows_cpu.json",          # c32: 1e-4 continued
              "reports/optical_gpu/campaign/c32_pages14_base_g1_cpu.json",
              "reports/optical_gpu/campaign/c32_pages_small_g1_cpu.json",
              "reports/optical_gpu/campaign/c32_pdf_pages_small_cpu.json",
              "reports/optical_gpu/campaign/c32_pages14_small_g1_cpu.json",   # 14 small pages, CTC on the same windows
              "reports/optical_gpu/campaign/c33_windows_cpu.json",          # c33: 5e-5
              "reports/optical_gpu/campaign/c33_pages14_base_g1_cpu.json",
              "reports/optical_gpu/campaign/c33_pages14_small_g1_cpu.json",
              "reports/optical_gpu/campaign/c33_pages14_base_by2_g1_cpu.json",   # windows picked by the reference
              "reports/optical_gpu/campaign/c34_windows_cpu.json",          # c34: 5e-5 continued
              "reports/optical_gpu/campaign/c34_pages14_base_g1_cpu.json",   # loops read again 2 rows at a time
              "reports/optical_gpu/campaign/c34_pages14_base_by2_g1_cpu.json",   # windows picked by the stage-1 ink
              "reports/optical_gpu/campaign/c34_pages14_base_by8_g1_cpu.json",
              "reports/optical_gpu/campaign/c34_pages14_small_g1_cpu.json",
              "reports/optical_gpu/campaign/c34_pages28_small_g1_cpu.json",   # 28 pages: LM vs CTC, tie or win?
              "reports/optical_gpu/campaign/c34_pages28_base_g1_cpu.json",
              "reports/optical_gpu/campaign/c35_windows_cpu.json",          # c35 on: optical-reader-pdf's tokens
              "reports/optical_gpu/campaign/c35_pages14_small_g1_cpu.json",
              "reports/optical_gpu/campaign/c35_pages14_base_g1_cpu.json",
              "reports/optical_gpu/campaign/c35_pdf_pages_small_cpu.json",
              "reports/optical_gpu/campaign/c37_pages14_small_g1_cpu.json",   # c36-c37: a quarter of the pages real PDFs
              "reports/optical_gpu/campaign/c37_pages14_base_g1_cpu.json",
              "reports/optical_gpu/campaign/c37_pdf_pages_small_cpu.json",
              "reports/optical_gpu/campaign/c37_pdf_pages_base_cpu.json",   # real PDF pages in base mode (256 tokens)
              "reports/optical_gpu/campaign/c40_pages14_small_g1_cpu.json",   # c38-c40: 2.5e-5
              "reports/optical_gpu/campaign/c40_pages14_base_g1_cpu.json"]
lm_joint = ["reports/optical_gpu/campaign/c40_pages14_small_g1_ctc0.5_cpu.json",   # joint decoding: the LM's read
            "reports/optical_gpu/campaign/c40_pages14_base_g1_ctc0.5_cpu.json",    # with the CTC prefix scores (a line
            "reports/optical_gpu/campaign/c40_pages14_small_g1_ctc0.5_m2_cpu.json",  # one band; _m2: one or two
            "reports/optical_gpu/campaign/c40_pages14_base_g1_ctc0.5_m2_fb0.5_cpu.json",   # adjacent bands; _fb0.5:
            # the same read again (the same numbers) with --fallback 0.5, the derailed reads replaced by the head's)
            "reports/optical_gpu/campaign/c40_pdf_pages_base_g1_ctc0.5_m2_cpu.json",  # held-out real PDF pages
            "reports/optical_gpu/campaign/c40_lcet14_base_g1_ctc0.5_m2_fb0.5_cpu.json"]  # 14 pages no read had seen
            # (lcet10; the read of 2026-12-07 16:33 again, the same numbers, with --fallback 0.5)
lm_fresh = ["reports/optical_gpu/campaign/c40_lcet14_base_g1_cpu.json"]   # the LM alone on those (the joint table's)
probe_jsons = ["reports/optical_gpu/probe_oracle.json", "reports/optical_gpu/probe_oracle_fast.json",
               "reports/optical_gpu/probe_oracle_full.json"]   # can the LM read one vector at all? (GPU probes)
qa_gpu = ["reports/optical_gpu/qa_study.json", "reports/optical_gpu/qa_study_400x4.json",   # the full-size study
          "reports/optical_gpu/qa_study_vision.json", "reports/optical_gpu/qa_study_bank.json"]   # (GPU), when present
qa_finetune = ["reports/optical_gpu/qa_finetune.json",   # the answering model and its text-side competitor
               "reports/optical_gpu/qa_pooled.json",     # (scripts/optical_qa_finetune.py, GPU), when present,
               "reports/optical_gpu/qa_vision.json",     # the stage-2 reader fine-tuned to answer (vision-100)
               "reports/optical_gpu/qa_study_vision_cpu.json",   # the same reader at 64 / 256 / 400 (CPU)
               "reports/optical_gpu/qa_study_first_bm25_cpu.json",   # the adapted model's first-N and BM25-N
               "reports/optical_gpu/qa_study_ocr_cpu.json",   # and ocr-N at 64 (CPU; stopped before 400)
               "reports/optical_gpu/qa_unadapted_cpu.json"]  # and the unadapted rows scored on the CPU
qa_vision_runs = [["c13's state, 150 s", "reports/optical_gpu/qa_vision_c13.json"],   # the vision path's curve:
                  ["c26's state, 180 s", "reports/optical_gpu/qa_vision_c26.json"],   # each stage-2 state fine-tuned
                  ["c40's state, 180 s", "reports/optical_gpu/qa_vision_c40_180s.json"],   # to answer (GPU)
                  ["the run above, + 280 s", "reports/optical_gpu/qa_vision_c40_460s.json"],   # (the chain goes on
                  ["the run above, + 290 s", "reports/optical_gpu/qa_vision_c40_750s.json"],   # on fresh pages; the
                  ["the run above, + 200 s", "reports/optical_gpu/qa_vision_c40_950s.json"],   # last is
                  ["the run above, + 250 s", "reports/optical_gpu/qa_vision_c40_1200s.json"],   # committed as
                  ["the run above, + 400 s", "reports/optical_gpu/qa_vision_c40_1600s.json"],   # optical-qa-vision)
                  ["the run above, + 250 s", "reports/optical_gpu/qa_vision_c40_1850s.json"],
                  ["the run above, + 390 s", "reports/optical_gpu/qa_vision.json"]]

# %%
import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from lab.optical import corpus, study as S, vtok
from lab.optical.encoder import VisionEncoder, to_tensor, tokens_for
from lab.report import Report

rep = Report("optical", "Optical context compression: vision tokens vs text (Fox-style)", report_dir, profile, command)
if tokenizer == "estimate":
    count = lambda s: max(1, len(s) // 4)            # noqa: E731
    tok_note = "**estimated** as characters / 4 (smoke run: no tokenizer loaded)"
else:
    from lab import models
    tok = models.load_tokenizer(tokenizer)
    count = lambda s: len(tok(s, add_special_tokens=False)["input_ids"])  # noqa: E731
    tok_note = f"counted by {tokenizer}'s tokenizer on the page's document text"
pages = corpus.fox_pages(count, per_bucket=per_bucket, buckets=tuple(buckets))
readers = {e: S.engine_reader(e) for e in engines}
lab_model = None
if model:
    from lab import models
    from lab.optical import model as M
    lab_model, meta = M.load(models.trained_or_path(model))
    readers = {"lab encoder + reader": S.model_reader(lab_model), **readers}
if pdf_model:
    from lab import models
    from lab.optical import model as M
    pdf_lab_model, pdf_meta = M.load(models.trained_or_path(pdf_model))
    readers = {**{k: r for k, r in readers.items() if k not in engines},
               "lab reader, PDF-tuned": S.model_reader(pdf_lab_model), **{e: readers[e] for e in engines}}
rep.section("Setup", f"- {len(pages)} held-out pages ({', '.join(corpus.FOX_DOCS)}), DejaVuSans at the largest size "
            f"(10-28 px) that fits a 1280-pixel page, margins 48 px; text tokens {tok_note}.\n"
            "- Precision = 1 - normalised edit distance (Levenshtein / max length) between the read text and the page "
            "text, whitespace collapsed (`lab/optical/metrics.py`); word accuracy = matched words / page words. "
            "Ratio = text tokens / vision tokens of the mode.\n"
            "- Readers: " + ", ".join(readers) + ". Tesseract 5 (`--psm 6`) and RapidOCR (PP-OCRv6 ONNX) read the page "
            "resampled to the mode's resolution: the same pixels the lab's encoder gets.\n"
            + ("- **The lab's own reader is not in this table** (no model given)."
               if lab_model is None else f"- The lab's model: {model} (sha256 {meta['sha256'][:12]}...; "
               f"{meta['params']:,} parameters): the encoder + its CTC reader (stage 1). The language-model reader "
               "(stage 2, a campaign across device runs) reads whole pages in section \"Stage 2\" below, from "
               "committed CPU reads (minutes a page), so it is not in this table; `reports/optical_gpu/README.md` has "
               "every training run.")
            + ("" if not pdf_model else f"\n- {pdf_model} (sha256 {pdf_meta['sha256'][:12]}...), \"lab reader, "
               "PDF-tuned\": the same model fine-tuned on the GPU in a chain of runs with a third to 45% of its "
               "pages drawn from the *training* PDFs (`configs/optical/pdf_finetune.yaml`, fonts down to 1/95 of the "
               "page, the rendered pages' tokens anchored to each run's starting weights; "
               "`reports/optical_gpu/pdf*.stage1.json`, `lab models` has its provenance). It is read here beside "
               "the default to show what the fine-tune costs or gains on the Fox-like pages."))
print(len(pages), "pages", [p.text_tokens for p in pages])

# %%
curve, evals = S.training_runs("reports/optical_gpu", gpu_runs)
fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
steps = np.array([c["step"] for c in curve])
loss = np.array([c["loss"] for c in curve])
k = 5
a1.plot(steps, loss, ".", ms=2, alpha=0.4, color="grey")
a1.plot(steps[k - 1:], np.convolve(loss, np.ones(k) / k, "valid"), "k-", lw=1, label=f"mean of {k} logs")
for e in evals[:-1]:
    a1.axvline(e["steps"], color="0.85", lw=0.8)
a1.set_xlabel("optimiser steps (runs chained, each from the last one's weights)")
a1.set_ylabel("stage-1 loss (CTC per char + frame CE)")
a1.set_yscale("log")
a1.legend(fontsize=7)
for mode in ("tiny", "small", "base", "large"):
    a2.plot([e["steps"] for e in evals], [e[mode] for e in evals], "o-", ms=3, label=f"{mode} ({tokens_for(mode)} tok.)")
a2.set_xlabel("optimiser steps at the end of each run")
a2.set_ylabel("precision, 16 sampled test pages")
a2.set_ylim(0, 1)
a2.legend(fontsize=7)
rep.section("Training", f"Stage 1 (encoder + CTC reader) on one H100, GPU runs {gpu_runs[0]}-{gpu_runs[-1]} chained "
            f"({sum(e['seconds'] for e in evals) / 60:.0f} minutes of training; fp32 + TF32; pages rendered on the fly "
            "from the training documents with random fonts and sizes). Right: precision on 16 freshly rendered pages of "
            "the test documents per mode at the end of each run (training font sizes, not the Fox pages below).")
rep.figure(fig, "optical_training.png", "Learning curve of the committed model (reports/optical_gpu/run*.stage1.json).")
plt.close(fig)
display(Markdown(rep.table(evals, key="training")))

# %%
camp = S.campaign(lm_state, lm_windows) if lm_state and Path(lm_state, "reader.json").is_file() else None
if camp:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for run in dict.fromkeys(r for _, _, r in camp["loss"]):
        pts = [(e, l) for e, l, r in camp["loss"] if r == run]
        a1.plot(*zip(*pts), ".-", ms=2, lw=0.8, label=f"run {run}")
    a1.set_xlabel("examples seen (campaign, cumulative)")
    a1.set_ylabel("training loss, nats / answer token")
    a1.legend(fontsize=7)
    ex = [c["examples"] for c in camp["curve"]]
    for k, style in (("lm_tiny", "o-"), ("lm_small", "o-"), ("lm_base", "o-"), ("lm_control", "kx--"), ("lm_train", "s:")):
        a2.plot(ex, [c.get(k, np.nan) for c in camp["curve"]], style, ms=4, label=k[3:])
    for k in ("ctc_small", "ctc_base"):
        a2.axhline(camp["curve"][-1][k], ls=":", lw=0.8, color="grey")
        a2.annotate(f"stage-1 {k[4:]}", (ex[0], camp["curve"][-1][k]), fontsize=6, va="bottom")
    a2.set_xlabel("examples seen")
    for a in (a1, a2):
        a.xaxis.set_major_formatter(plt.FuncFormatter(lambda x, _: f"{x / 1e3:,.0f}k"))
    a2.set_ylabel("precision, held-out Fox-like pages")
    a2.set_ylim(0, 1)
    a2.legend(fontsize=6, ncol=2)
    rep.section("Stage 2: the language-model reader (a campaign across device runs)", (
        f"SmolLM2-135M + LoRA r{camp['spec']['r']} on every linear layer, reading the stage-1 model's tokens through "
        "the slot projector (`lab/optical/projector.py`: each token -> its inked 8-pixel band slots in reading order, "
        "from the frozen stage-1 head's posteriors and the token), after a text prefix; one global schedule over "
        f"{camp['config']['examples']:,} examples (`configs/optical/campaign.yaml`), windows of cell rows growing to "
        f"whole pages. So far: {camp['examples']:,} examples, {camp['steps']:,} steps, {camp['gpu_minutes']:.1f} "
        f"GPU-minutes of training ({' and '.join(sorted({str(r.get('gpu', '?')) for r in camp['runs']}))}). Every evaluation reads 7 held-out Fox-like pages greedily in each mode, "
        "the same pages from *another page's tokens* (control) and 7 fresh train pages; the stage-1 CTC reader's "
        "precision on the same pages is the dotted line. Runs (`reports/optical_gpu/campaign/`, state in "
        f"`{lm_state}`):\n\n" + rep.table(camp["runs"], key="lm_runs") + "\n\nEvaluations:\n\n"
        + rep.table(camp["curve"], key="lm_curve")
        + ("\n\nWindows of held-out pages (the curriculum's examples; teacher-forced nats/token beside greedy "
           "precision, own tokens against another page's; `lm_winR_MODE_g1`: guided decoding; `lm_page_byR_MODE_g1`: "
           "each whole page read as all its windows of R cell rows, each from its own tokens, joined and scored "
           "against the page, `train_lm evaluate --by-rows`):\n\n" + rep.table(camp["windows"], key="lm_windows") if camp["windows"] else "")))
    rep.figure(fig, "optical_lm_campaign.png", "The stage-2 campaign: training loss and held-out precision against "
               "examples seen, across runs.")
    plt.close(fig)

# %%
from lab.optical import reads as RD

joint_rows = RD.joint([json.loads(Path(f).read_text()) for f in lm_joint if Path(f).is_file()],
                      [json.loads(Path(f).read_text()) for f in lm_windows + lm_fresh if Path(f).is_file()])
if joint_rows:
    rep.section("Stage 2 read jointly with the stage-1 CTC scores", (
        "The same whole held-out pages read by the stage-2 LM with, at every token, the stage-1 CTC reader's "
        "evidence from the same vision tokens added: the change in the CTC *prefix score* of the line being written "
        "against the ink band(s) it is written from (joint CTC/attention decoding, Watanabe et al. 2017; "
        "`lab/optical/ctc_prefix.py`, `train_lm evaluate --guidance 1 --ctc-weight W`), among the LM's 8 best "
        "tokens; a read that ends early pays for every ink band it left unwritten. One weight, fixed before "
        "the read (0.5; not tuned on these pages). The control reads the same windows from another page's tokens "
        "(its CTC scores from those tokens too). `joint - CTC`: window by window on the same tokens, [mean, "
        "standard error]. The issue's bar 'LM >= CTC' is the LM alone's (column `LM alone`); this is what the "
        "two readers give together. `bands a line`: 1, line j of the read is scored against the j-th band the "
        "stage-1 reader finds ink in; 2, a line may be one band or two adjacent ones read as one, the alignment "
        "kept as hypotheses (a text line whose ink sits across a band boundary leaves part of it in each band: "
        "with one band a line, every later line is scored against the wrong band). The mode's default "
        "(`lab.optical.ctc_prefix.MERGE`) is 2 in base and large, where a text line spans 2-3 bands, and 1 in tiny "
        "and small, where consecutive lines sit in adjacent bands; it was set after the one-band reads derailed "
        "on 4 of these 14 base pages (diagnosed on two of them) and the two-band read lost on the small ones, so "
        "these pages are not an independent test of that choice; the real PDF pages (never looked at for it) "
        "are, and so are 14 Fox-like pages cut the same way from lcet10.txt alone (`train_lm evaluate --fox-docs "
        "canterbury/lcet10.txt`: the evaluation set's second document, whose pages no read had reached), read after "
        "the choice was made, with the LM alone on the same pages beside them. `fallback below` f (reads from "
        "2026-12-07 on, `--fallback f`): the same reads again, each window's read that agrees with the stage-1 "
        "reader's text of the same window less than f (`lab.optical.metrics.precision` between the two: no "
        "reference looked at) taken as derailed and replaced by that text (`replaced` of them); f = 0.5 was fixed "
        "before these reads, from what a derailed read looks like (a quarter of its page right), not tuned."))
    display(Markdown(rep.table([{"pages of": r["source"], "mode": r["mode"],
                                 "examples": r["examples"], "pages": r["pages"],
                                 "CTC weight": r["ctc_weight"], "bands a line": r["merge"], "joint": r["joint"],
                                 "control": r["control"],
                                 "LM alone": r["lm_alone"], "stage-1 CTC": r["ctc"],
                                 "joint - CTC (points)": (f"{100 * r['joint_minus_ctc'][0]:+.1f} ± "
                                                          f"{100 * r['joint_minus_ctc'][1]:.1f}") if r["joint_minus_ctc"] else "",
                                 "looped": r["looped"],
                                 "fallback below": "" if r["fallback"] is None else r["fallback"],
                                 "replaced": "" if r["fallback"] is None else r["replaced"]}
                                for r in joint_rows], key="lm_joint")))

# %%
rows = S.fox_rows(pages, {k: r for k, r in readers.items() if k not in engines}, modes) \
    + S.fox_rows(S.first_per_bucket(pages, engine_per_bucket), {e: readers[e] for e in engines}, engine_modes or modes)
table = S.fox_table(rows)
rep.section("1. The Fox-style table", f"Mean per bucket; DeepSeek-OCR's precision and ratio quoted from {S.DEEPSEEK_SOURCE} "
            "for the 64- and 100-token modes (its ratio uses its own tokenizer; ours uses the one above)."
            + (f" The OCR engines read the first {engine_per_bucket} page(s) of each bucket in this profile "
               "(column 'pages'); the lab's reader reads every page." if engine_per_bucket and engines else ""))
display(Markdown(rep.table(table, key="fox")))

fig, ax = plt.subplots(figsize=(7, 4.2))
for (name, mode) in sorted({(r["reader"], r["mode"]) for r in rows}):
    sel = [r for r in rows if (r["reader"], r["mode"]) == (name, mode)]
    ax.scatter([r["ratio"] for r in sel], [r["precision"] for r in sel], s=14, label=f"{name}, {mode} ({tokens_for(mode)} tok.)")
for mode, mk in (("tiny", "k-"), ("small", "k--")):
    ax.plot([a[f"{mode}_ratio"] for a in S.DEEPSEEK_FOX], [a[mode] for a in S.DEEPSEEK_FOX], mk,
            label=f"DeepSeek-OCR {tokens_for(mode)} tokens (quoted)")
ax.set_xlabel("compression ratio (text tokens / vision tokens)")
ax.set_ylabel("precision (1 - NED)")
ax.set_ylim(0, 1.02)
ax.legend(fontsize=7)
rep.figure(fig, "optical_fox.png", "Precision against compression ratio, one point per page and reader.")
plt.close(fig)

# %%
from lab.optical import pdfdocs

pdf_table = []
if pdf_per_doc and pdfdocs.available("test"):
    pdf_pages = pdfdocs.eval_pages("test", count, per_doc=pdf_per_doc)
    pdf_rows = S.fox_rows(pdf_pages, {k: r for k, r in readers.items() if k not in engines}, modes) \
        + S.fox_rows(pdf_pages, {e: readers[e] for e in engines}, engine_modes or modes)
    pdf_table = S.pdf_table(pdf_rows)
    rep.section("1b. Real PDF pages (held-out documents)", (
        f"{len(pdf_pages)} body pages ({pdf_per_doc} a document, seeded) of the held-out Debian documentation PDFs "
        f"({', '.join(pdfdocs.names('test'))}; `lab/optical/pdfdocs.py`: package, version, file and sha256 of each), "
        "each rendered by pypdfium2 on a white 1280-pixel square (its longer side fitting) and resampled to each mode's "
        "resolution; the reference is the PDF's own text layer. Every reader sees the same pixels. The default lab "
        "reader never trained on a real PDF page" + (", the PDF-tuned one on pages of the training PDFs; neither on "
        "these documents." if pdf_model else " (nor on these documents).")))
    display(Markdown(rep.table(pdf_table, key="pdf")))
else:
    rep.section("1b. Real PDF pages (held-out documents)", "Not measured in this run: " + (
        "`pdf_per_doc` is 0." if not pdf_per_doc else
        "the Debian documentation packages that hold the PDFs are not installed (`make documents`)."))

# %%
enc = lab_model.encoder if lab_model is not None else VisionEncoder()
enc_sha = meta["sha256"] if lab_model is not None else "0" * 64
token_bytes = {}
with tempfile.TemporaryDirectory() as d:
    import torch
    for mode in modes:
        with torch.no_grad():
            t = enc(to_tensor([pages[0].image], mode))[0].numpy()
        for dtype in ("fp16", "int8"):
            blob = vtok.encode(t, mode, enc_sha, dtype)
            f = Path(d) / f"{mode}.{dtype}.vtok"
            f.write_bytes(blob)
            back, _ = vtok.decode(f.read_bytes())
            assert back.shape == t.shape
            token_bytes[f".vtok {mode} ({tokens_for(mode)}x{t.shape[1]}, {dtype})"] = f.stat().st_size
brows = S.bytes_rows(pages, token_bytes)
rep.section("2. Bytes, not tokens", "The page's text in UTF-8 and compressed losslessly (the lab's procedural machine, "
            "round-trip checked; xz -9e) beside the bytes of real .vtok files of one page (header + tokens; "
            f"{t.shape[1]} numbers per token, fp16 or int8 with per-token scales). A vision token is a vector, "
            "not a word: \"20x fewer tokens\" is a statement about context slots, and these files are the bytes.")
display(Markdown(rep.table(brows, key="bytes")))

# %%
sets = S.robustness_pages(pages[:robust_pages])
rob = S.robustness_rows(sets, readers, "small" if "small" in modes else modes[0])
rep.section("3. Robustness: unseen fonts and a scanned look",
            "The same held-out texts re-rendered in fonts no training page used (Computer Modern cmr10, cmss10) and "
            "scanned-looking copies (rotation up to 1.5°, blur, grey paper, noise, JPEG q60).")
display(Markdown(rep.table(rob, key="robustness")))

# %%
qa_rows, bank_rows, qa_note = [], [], ""
from lab.optical.qa import study as QS
if qa_lm:
    from lab import models
    from lab.optical.qa.answer import TextAnswerer

    lm_, tok_ = models.load_lm(qa_lm)
    answerer = TextAnswerer(lm_.eval(), tok_)
    qpages = QS.study_pages(per_doc=qa_per_doc)
    qas = QS.pick(QS.study_questions(qpages, per_page=qa_per_page), qa_questions)
    qa_rows = QS.run(qpages, qas, ("none", "full", "first", "bm25", "ocr"), tuple(qa_budgets), tuple(qa_page_counts),
                     answerer, lab_model, progress=print)
    if qa_bank_budget:
        bpages = QS.bank_corpus(qa_bank_docs)
        bqas = QS.bank_questions(bpages, qa_bank_questions)
        with tempfile.TemporaryDirectory() as d:
            bank_rows = QS.bank_study(bpages, bqas, str(models.trained_path(model) if model in models.TRAINED else model),
                                      answerer, lab_model, d, budget=qa_bank_budget, policies=tuple(qa_policies),
                                      keeps=tuple(qa_keeps), progress=print)
    qa_note = QS.note(qpages, qas, answerer, qa_lm)


gpu_qa = QS.merge_runs([json.loads(Path(f).read_text()) for f in qa_gpu if Path(f).exists()]) if qa_gpu else None
body = ("Does a language model answer better from N vision tokens of a page than from N text tokens of it? The same "
        "held-out questions (`lab/optical/qa/questions.py`: cloze, what follows, who said, what number, and unanswerable ones "
        "made from another document) answered from: no context (the LM's prior); the full page text (the upper "
        "bound); the first N text tokens of each page; the N text tokens of its sentences BM25 ranks highest for the "
        "question (the honest competitor); and the page's **N vision tokens**. The vision path the seed designed — "
        "the tokens projected into SmolLM2 through a trained projector + LoRA — **does not exist yet**: no stage-2 "
        "reader reads (GPU runs 20-23, `reports/optical_gpu/README.md`: its answers are the LM's prior). What the lab "
        "can measure is the tokens as *storage*: `ocr` = the N vision tokens read back into text by the stage-1 "
        "reader, that text given to the LM (its context length is the text read, listed). Scores: SQuAD's exact match "
        "and token F1 after normalisation, 'answer contained' (the gold span inside the answer; a 135M model "
        "rarely answers in exactly the gold words), an unanswerable question scoring 1 when the model says the answer "
        "is not there; and, more sensitive for so small a model, the gold answer's negative log-likelihood after the "
        "context and question (nats per token, teacher-forced, answerable questions only): lower means the context "
        "told the model more about the answer.\n\n")
if qa_rows:
    body += f"**This run** ({profile} profile): {qa_note}"
else:
    body += "**This run**: not measured (no answering LM in this profile; `make reports` runs it)."
rep.section("5. Answering from vision tokens", body)
if qa_rows:
    display(Markdown(rep.table(QS.report_rows(qa_rows), key="qa")))
if bank_rows:
    rep.section("5b. The memory bank end to end", (
        f"A memory bank of {len({p.document for p in bpages})} held-out documents ({len(bpages)} pages: "
        f"{', '.join(sorted({p.document for p in bpages if p.page.kind == 'pdf'})) or 'no real PDFs here'} as real PDF pages, "
        "the rest one-page sections of the test texts, each its own document; `QS.bank_corpus`), added a day apart "
        "(small mode, 100 vision tokens a page, hashing embeddings). "
        f"{len(bqas)} answerable questions about its pages asked through `OpticalQA` (`lab optical ask --via ocr`) with "
        f"{qa_bank_budget} vision tokens of retrieval budget, so retrieval errors count; then the bank cut to "
        f"{' and '.join(f'{k:.0%}' for k in qa_keeps)} of its tokens by each forgetting policy (on copies; `seed` is the "
        "seed document's rule) and the questions asked again. 'answered / 1k stored' is the answers containing the gold "
        "span per 1,000 vision tokens the bank still holds.\n\n" + "\n".join(QS.bank_verdict(bank_rows))))
    display(Markdown(rep.table(QS.bank_rows(bank_rows), key="qa_bank")))
if gpu_qa:
    rep.section("5c. The full-size study (GPU)", (
        f"On {gpu_qa['machine']['device']}: {gpu_qa['pages']} pages (4 per test document), {gpu_qa['questions']} questions, "
        "budgets of 64/100/256/400 tokens a page, 1 and 4 pages of context; `vision` = GPU run 22's projector + LoRA "
        "(trained to transcribe pages, not to answer; it does not read, section 'Training'), one page. Commands "
        "(`reports/optical_gpu/qa_study*.json`, logs beside them):\n" + "\n".join(f"- `{c}`" for c in gpu_qa["commands"])))
    display(Markdown(rep.table(QS.report_rows(gpu_qa["rows"]), key="qa_gpu")))
    if gpu_qa.get("bank"):
        display(Markdown(rep.table(QS.bank_rows(gpu_qa["bank"]), key="qa_gpu_bank")))
fts = [json.loads(Path(f).read_text()) for f in qa_finetune if Path(f).is_file()]
ft = next((f for f in fts if f.get("train", "answering") == "answering"), None)
ft_rows = [r for f in fts for r in f["rows"]]
if ft:
    ft_bar, rec_ = QS.finetune_bars(ft_rows), ft["record"]
    rep.section("5d. The answering model: SmolLM2 + LoRA fine-tuned to answer from its context (GPU)", (
        f"On {ft['machine'].get('device', '?')}: SmolLM2-135M-Instruct + LoRA (r={rec_['config']['r']}, every linear layer) "
        f"fine-tuned for {rec_['seconds']} s ({rec_['steps']:,} steps, {rec_['examples']:,} examples drawn from {rec_['items']:,} question items) on questions generated from the *training* documents (`lab/optical/qa/finetune.py`), then the "
        f"held-out study questions ({ft['questions']} on {ft['pages']} pages of the test documents) answered from no "
        "context, the full text, its first N tokens and BM25's N (1 and 4 pages of context), with the adapter, and "
        "with it switched off (the unadapted model: none and full). `pooled` is the text-side competitor "
        "(`lab/optical/qa/pooled.py`): each page's tokens mean-pooled into N positions through a projector, with its "
        "own LoRA, trained on the same questions for the same time. `ocr` (where measured): the page rendered and "
        "encoded into N vision tokens, read back into text by the stage-1 CTC reader (the model the command names), "
        "and that text answered by the adapted model (`lab optical ask --via ocr`'s path; the adapter is the "
        "committed `optical-qa-answerer`, its default). `vision` (where measured) is the campaign's "
        "stage-2 reader fine-tuned on (vision tokens, question, answer) triplets of rendered training pages "
        "(`lab/optical/qa/vision_qa.py`, small pages alone), asked after one page's 100 small-mode tokens (GPU) and, "
        "where measured, the reader after 64 / 256 / 400 tokens of the page (tiny / base / large mode; "
        "`scripts/optical_qa_study.py --conditions vision`, CPU; `qa_study_vision_cpu.json` scored its 1,600 s state, "
        "`optical-qa-vision` as committed at 1cab594, sha256 `13472977…`, before the chain's last two runs). Scores are means ± the half-width of their 95% "
        "interval (Wilson). Commands (JSON and logs in `reports/optical_gpu/`):\n"
        + "\n".join(f"- `{f['command']}` ({f['machine'].get('device', '?')}"
                    + (f"; adapter sha256 `{f['adapter_sha256'][:16]}…`" if f.get("adapter_sha256") else "")
                    + (f"; reader sha256 `{f['lm_reader_sha256'][:16]}…`" if f.get("lm_reader_sha256") else "")
                    + ("" if f.get("complete", True) else "; **partial**: the call ended before every condition was scored")
                    + ")" for f in fts) + "\n\n"
        f"**The bar** (issue optical V): from the full page text, answer contained >= 70% and exact match >= 50% on "
        f"held-out pages: **{ft_bar['contains'][0]:.0%} ± {ft_bar['contains'][1]:.0%} contained, {ft_bar['em'][0]:.0%} ± "
        f"{ft_bar['em'][1]:.0%} EM — {'met' if ft_bar['met'] else 'missed'}** (unadapted: "
        f"{ft_bar['unadapted_contains'][0]:.0%} contained, {ft_bar['unadapted_em'][0]:.0%} EM). Without the "
        f"unanswerable questions (the easiest kind to learn: say there is no answer), on the {ft_bar['answerable']} "
        f"answerable ones: {ft_bar['answerable_contains'][0]:.0%} ± {ft_bar['answerable_contains'][1]:.0%} contained, "
        f"{ft_bar['answerable_em'][0]:.0%} ± {ft_bar['answerable_em'][1]:.0%} EM.\n"
        + "\n".join(v for v in (QS.budget_verdict(ft_rows, b, n) for n in (1, 4) for b in (64, 100, 256, 400)) if v)))
    display(Markdown(rep.table([{"file": Path(f).name, "device": j["machine"].get("device", "?"), "train": j.get("train", "answering"),
                                 "complete": j.get("complete", True)}
                                for f, j in zip([f for f in qa_finetune if Path(f).is_file()], fts)], key="qa_runs")))
    display(Markdown(rep.table(QS.finetune_rows(ft_rows), key="qa_finetune")))
    fig, ax = plt.subplots(figsize=(7, 4))
    for (model, cond), pts in QS.context_curve(ft_rows).items():
        if all(p[0] == 0 for p in pts):                   # no context: a level, not a point on the log axis
            ax.axhline(pts[0][1], ls=":", lw=1, color="grey" if model == "unadapted" else "black",
                       label=f"{cond} ({model}): no context")
        else:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"{cond} ({model})")
    ax.set_xscale("log")
    ax.set_xlabel("LM context tokens (mean a question)")
    ax.set_ylabel("answer contained")
    ax.legend(fontsize=7)
    rep.figure(fig, "optical_qa_context.png", "Held-out answers against the LM context they cost (section 5d).")
    display(Markdown(rep.table([r for r in QS.finetune_rows(ft_rows, by_kind=True)
                                if r["context"] == "full" and r["pages"] == 1],
                               key="qa_finetune_kinds")))
vruns = [(label, json.loads(Path(f).read_text())) for label, f in qa_vision_runs if Path(f).is_file()]
if vruns:
    rep.section("5e. The vision path's learning curve (GPU)", (
        "Each row: a stage-2 reader (the campaign's state after the run named) fine-tuned on (vision tokens, question, "
        "answer) triplets of rendered training pages (`scripts/optical_qa_finetune.py --train vision`), scored on the "
        "same held-out questions from one page's 100 small-mode vision tokens; a row that goes on from another "
        "(`--lm-reader` its folder) adds its seconds and examples to that one's (a new warm-up, the same peak rate). "
        "`not scored`: a run whose device call ran out before its scoring (the next goes on from its reader). The "
        "950, 1,600 and 2,240 s runs' 4,500 fresh training pages each were rendered in the background while the run "
        "before trained (`--prerender`, then `--pages-cache`), so their calls spent no time rendering. "
        "The last is committed as `optical-qa-vision`, `lab optical ask --via vision`'s default reader. By kind: "
        "answer contained on each question kind (its count in the column)."))
    display(Markdown(rep.table(QS.vision_qa_curve(vruns), key="qa_vision_curve")))

bank_full = QS.merge_bank_runs([json.loads(Path(f).read_text()) for f in qa_bank_full if Path(f).is_file()])
if bank_full:
    rep.section("5f. The memory bank at full size: every path, every forgetting policy", (
        f"A bank of {bank_full['bank_documents']} held-out documents ({bank_full['bank_pages']} pages: the test PDFs' "
        f"pages and one-page sections of the test texts; `QS.bank_corpus`), made as `lab optical add` makes one "
        f"(encoder `{bank_full['model']}`, embedder {bank_full['bank_embedder']}, small mode, a day "
        f"apart); {bank_full['bank'] and len({r['question'] for r in bank_full['bank']})} answerable questions about its "
        f"pages asked with {bank_full['bank_budget']} vision tokens of retrieval budget (one page), so retrieval errors "
        "count, by each path of `lab optical ask`: `vision` (the stage-2 reader fine-tuned to answer, "
        f"`{Path(str(bank_full['lm_reader'])).name}`, answering from the retrieved tokens), `ocr` (the tokens read "
        f"back into text by the stage-1 reader, answered by `{Path(str(bank_full['qa_adapter'])).name}`) and `text` (the "
        "stored page text: what retrieval alone leaves; that text is never cut, so under forgetting it shows retrieval's "
        "share alone, and its answers per stored vision token are not a storage figure). Then copies of the bank cut to half and a quarter of their "
        "tokens by each forgetting policy (`seed` is the seed document's rule; `fade` keeps every memory at fewer "
        "tokens) and asked again. Machine: " + bank_full["machine"]["device"] + "; commands:\n"
        + "\n".join(f"- `{c}`" for c in bank_full["commands"]) + "\n\n" + "\n".join(QS.bank_verdict(bank_full["bank"]))))
    display(Markdown(rep.table(QS.bank_rows(bank_full["bank"]), key="qa_bank_full")))

# %%
lines = ["The seed claims \"20x compression at ~60% fidelity, 10x at ~90%\"; DeepSeek-OCR reports 59.1% at 19.7x (64 "
         "tokens) and 91.5% at 10.6x (100 tokens) on Fox (quoted)."]
lines += S.fox_verdict(table, modes, engines) if lab_model is not None else \
    ["- **Untested by the lab's own encoder** (no model given)."]
lines.append(S.pdf_verdict(pdf_table))
if camp:
    lines.append(S.campaign_verdict(camp))
lines.append(QS.vision_answer_line(ft_rows))
if ft:
    b100 = QS.budget_verdict(ft_rows, 100, 1)
    lines.append(f"- The answering model (section 5d) answers held-out questions from the full page text: "
                 f"{ft_bar['contains'][0]:.0%} contained, {ft_bar['em'][0]:.0%} EM (unadapted "
                 f"{ft_bar['unadapted_contains'][0]:.0%}); the text competitors at the same budget set the bar a "
                 "vision-N must clear:" + (f"\n  {b100.lstrip('- ')}" if b100 else " not measured."))
lines.append("As storage, read back into text:")
probe = S.probe_verdict([r for f in probe_jsons if Path(f).is_file() for r in json.loads(Path(f).read_text())["runs"]])
if probe:
    lines.append(probe)
if qa_rows:
    lines += QS.verdict(qa_rows, "this run")
if gpu_qa:
    lines += QS.verdict(gpu_qa["rows"], "the GPU study")
if not (qa_rows or gpu_qa):
    lines.append("- not measured in this profile.")
if bank_full:
    lines.append("The memory bank at full size (section 5f), answers per 1,000 stored vision tokens:")
    lines += QS.bank_verdict(bank_full["bank"])
rep.section("6. Verdict", "\n".join(lines))
print("\n".join(lines))
print("wrote", rep.write())
