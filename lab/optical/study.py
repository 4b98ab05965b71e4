"""The optical report's measurements (notebooks/optical.ipynb): the Fox-style table for any reader (the
lab's model, Tesseract, RapidOCR) at each mode's pixel budget, bytes of vision tokens against text, and
robustness to unseen fonts and a scanned look. Readers are callables `(page uint8 (H, W), mode) -> text`.
"""
from __future__ import annotations

import io
import lzma
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from lab.optical import baselines, corpus
from lab.optical import render as R
from lab.optical.encoder import MODES, resample, tokens_for
from lab.optical.metrics import precision, word_accuracy

# DeepSeek-OCR (Wei et al. 2025, "DeepSeek-OCR: Contexts Optical Compression", Table 2, Fox benchmark,
# English pages of 600-1300 text tokens): precision and compression ratio at 64 and 100 vision tokens,
# the four rows the issue quotes. Quoted from the paper, not measured here.
DEEPSEEK_FOX = [
    {"bucket": 600, "tiny": 0.965, "tiny_ratio": 10.5, "small": 0.985, "small_ratio": 6.7},
    {"bucket": 800, "tiny": 0.838, "tiny_ratio": 13.2, "small": 0.968, "small_ratio": 8.5},
    {"bucket": 1000, "tiny": 0.793, "tiny_ratio": 16.5, "small": 0.915, "small_ratio": 10.6},
    {"bucket": 1200, "tiny": 0.591, "tiny_ratio": 19.7, "small": 0.871, "small_ratio": 12.6},
]
DEEPSEEK_SOURCE = "Wei et al. 2025, DeepSeek-OCR, Table 2 (Fox, English, 600-1300 tokens)"


def engine_reader(engine: str):
    return lambda page, mode: baselines.read(engine, resample(page, mode))


def model_reader(model):
    return lambda page, mode: model.ocr([page], mode)[0]


def fox_rows(pages: list[corpus.EvalPage], readers: dict, modes=("tiny", "small")) -> list[dict]:
    """One row per (reader, mode, page): precision, word accuracy, ratio text tokens / vision tokens."""
    rows = []
    for name, read in readers.items():
        for mode in modes:
            for p in pages:
                t0 = time.perf_counter()
                out = read(p.image, mode)
                rows.append({"reader": name, "mode": mode, "vision_tokens": tokens_for(mode), "bucket": p.bucket,
                             "text_tokens": p.text_tokens, "ratio": p.text_tokens / tokens_for(mode),
                             "precision": precision(out, p.text), "word_acc": word_accuracy(out, p.text),
                             "seconds": time.perf_counter() - t0, "sample": out[:120]})
    return rows


def fox_table(rows: list[dict]) -> list[dict]:
    """Mean precision per (reader, mode, bucket), beside DeepSeek-OCR's published row for the mode."""
    out = []
    anchor = {a["bucket"]: a for a in DEEPSEEK_FOX}
    keys = sorted({(r["reader"], r["mode"], r["bucket"]) for r in rows}, key=lambda k: (k[0], MODES[k[1]], k[2]))
    for reader, mode, b in keys:
        sel = [r for r in rows if (r["reader"], r["mode"], r["bucket"]) == (reader, mode, b)]
        a = anchor.get(b, {})
        out.append({"reader": reader, "mode": f"{mode} ({tokens_for(mode)})", "text tokens": f"{b}-{b + 100}",
                    "pages": len(sel), "precision": np.mean([r["precision"] for r in sel]),
                    "word acc.": np.mean([r["word_acc"] for r in sel]), "ratio": np.mean([r["ratio"] for r in sel]),
                    "DeepSeek-OCR precision (quoted)": a.get(mode, "-"), "DeepSeek ratio (quoted)": a.get(f"{mode}_ratio", "-"),
                    "s/page": np.mean([r["seconds"] for r in sel])})
    return out


def versus_anchor(table: list[dict], reader: str, mode: str) -> list[dict]:
    """The reader's precision per bucket where DeepSeek-OCR published one for the mode: the difference in points."""
    out = []
    for r in table:
        q = r["DeepSeek-OCR precision (quoted)"]
        if r["reader"] == reader and r["mode"].startswith(mode) and q != "-":
            out.append({"bucket": r["text tokens"], "ratio": r["ratio"], "lab": r["precision"], "deepseek": q,
                        "points": 100 * (r["precision"] - q)})
    return out


def training_runs(folder: str | Path, runs: list[str]) -> tuple[list[dict], list[dict]]:
    """The learning curve of chained GPU runs (each started from the previous one's weights): the logged loss
    against cumulative steps, and each run's sampled test precision per mode (from reports/<family>_gpu/*.json)."""
    import json

    from lab.data import ROOT

    folder = ROOT / folder          # a relative folder is the repository's (notebooks run in notebooks/)
    curve, evals, offset = [], [], 0
    for run in runs:
        d = json.loads((folder / f"run{run}.stage1.json").read_text())
        for e in d["log"]:
            if "loss" in e:
                curve.append({"run": run, "step": offset + e["step"], "loss": e["loss"]})
        offset += d["log"][-1]["step"] if d["log"] else 0
        evals.append({"run": run, "steps": offset, "seconds": round(d["seconds"]),
                      **{e["mode"]: e["precision"] for e in d["test_sampled"]}})
    return curve, evals


def bytes_rows(pages: list[corpus.EvalPage], token_bytes: dict) -> list[dict]:
    """Per bucket: the page text in UTF-8, compressed by the lab's procedural machine and by xz, beside the
    bytes of real .vtok files (token_bytes: label -> bytes of one page's file, per mode and dtype)."""
    from lab.procedural import machine

    out = []
    for b in sorted({p.bucket for p in pages}):
        sel = [p for p in pages if p.bucket == b]
        raw = [p.text.encode() for p in sel]
        blobs = [machine.compress(t) for t in raw]
        assert all(machine.decompress(z) == t for z, t in zip(blobs, raw))      # sizes of files that decode
        row = {"text tokens": f"{b}-{b + 100}", "pages": len(sel), "UTF-8 bytes": np.mean([len(t) for t in raw]),
               ".proc bytes": np.mean([len(z) for z in blobs]), "xz -9e bytes": np.mean([len(lzma.compress(t, preset=9 | lzma.PRESET_EXTREME)) for t in raw])}
        row.update(token_bytes)
        out.append(row)
    return out


def scanned(image: np.ndarray, seed: int = 0, angle: float = 1.5, blur: float = 0.8, noise: float = 10.0) -> np.ndarray:
    """A scanned look: a small rotation, a slight blur, grey paper with sensor noise, JPEG at quality 60."""
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    im = Image.fromarray(image).rotate(float(rng.uniform(-angle, angle)), resample=Image.Resampling.BICUBIC, fillcolor=255)
    im = im.filter(ImageFilter.GaussianBlur(blur))
    a = np.asarray(im).astype(np.float32) * 0.92 + 8 + rng.normal(0, noise, im.size[::-1])
    buf = io.BytesIO()
    Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=60)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))


def robustness_pages(pages: list[corpus.EvalPage], fonts=R.UNSEEN_FONTS) -> dict[str, list[corpus.EvalPage]]:
    """The same held-out texts re-rendered in fonts never used in training, and scanned-looking copies."""
    out = {"as rendered (DejaVuSans)": pages, "scanned look": [replace(p, image=scanned(p.image, i)) for i, p in enumerate(pages)]}
    for f in fonts:
        lay = R.Layout(width=1280, height=1280, margin=48, font=f, spacing=1.25)
        alt = []
        for p in pages:
            fit = corpus.fit_page(p.text.replace("\n", " "), lay)
            if fit:
                alt.append(replace(p, image=fit[0].image, text=fit[0].text, font=f, size=fit[1]))
        out[f"unseen font {f}"] = alt
    return out


def robustness_rows(sets: dict, readers: dict, mode: str = "small") -> list[dict]:
    rows = []
    for label, pages in sets.items():
        for name, read in readers.items():
            prec = [precision(read(p.image, mode), p.text) for p in pages]
            rows.append({"pages": label, "reader": name, "mode": f"{mode} ({tokens_for(mode)})", "n": len(prec),
                         "precision": float(np.mean(prec)) if prec else float("nan")})
    return rows


# -- stage 2: the language-model reader's campaign ----------------------------------------------------------
def campaign(state: str | Path, logs: str | Path | None = None) -> dict:
    """The stage-2 campaign as tables: its runs (command, resumption, seconds, examples, rate, machine), its
    evaluations (precision through the LM per mode, the other-page control, train pages, the stage-1 reader on
    the same pages, window reads) by cumulative examples and GPU-minutes, and the training loss of every
    logged step (from the run logs in `logs`, if given) -- read from the state's reader.json."""
    import json

    meta = json.loads((Path(state) / "reader.json").read_text())
    runs = [{"run": r["run"], "resumed": r["resumed"], "gpu": r["machine"].get("gpu", "cpu"), "seconds": r["seconds"],
             "steps": r["steps"], "examples": f"{r['examples_from']:,}-{r['examples_to']:,}",
             "examples/s": r["examples_per_s"], "examples/GPU-min": r["examples_per_gpu_minute"],
             "command": r["command"].split("train_lm.py ")[-1]} for r in meta["runs"]]
    keys = [k for k in ("lm_tiny", "lm_small", "lm_base", "lm_control", "reads_gap", "lm_train", "ctc_tiny",
                        "ctc_small", "ctc_base", "lm_win2_small", "lm_win2_control", "nll_win2_small", "nll_win2_control")]
    curve = [{"run": c["run"], "examples": c["examples"], "GPU-min": c["gpu_minutes"],
              **{k: c[k] for k in keys if k in c}} for c in meta["curve"]]
    loss = [(row["examples"], row["loss"], r["run"]) for r in meta["runs"] for row in r["log"]]
    return {"runs": runs, "curve": curve, "loss": loss, "examples": meta["examples"], "steps": meta["step"],
            "gpu_minutes": meta["gpu_seconds"] / 60, "spec": meta["spec"], "config": meta["config"],
            "sha256": meta["sha256"]}
