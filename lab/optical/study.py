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


def first_per_bucket(pages: list[corpus.EvalPage], n: int) -> list[corpus.EvalPage]:
    """The first `n` pages of each bucket, in order (0: every page): the share of the Fox pages a slow reader
    reads in a short profile (RapidOCR takes ~10 s a page on two cores)."""
    if n <= 0:
        return list(pages)
    seen: dict[int, int] = {}
    out = []
    for p in pages:
        if seen.get(p.bucket, 0) < n:
            seen[p.bucket] = seen.get(p.bucket, 0) + 1
            out.append(p)
    return out


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


def pdf_table(rows: list[dict]) -> list[dict]:
    """Real PDF pages (fox_rows over pdfdocs.eval_pages): mean precision per (reader, mode) over every page, with
    the pages' mean text tokens and ratio (real pages are not cut to a bucket)."""
    out = []
    keys = sorted({(r["reader"], r["mode"]) for r in rows}, key=lambda k: (k[0], MODES[k[1]]))
    for reader, mode in keys:
        sel = [r for r in rows if (r["reader"], r["mode"]) == (reader, mode)]
        out.append({"reader": reader, "mode": f"{mode} ({tokens_for(mode)})", "pages": len(sel),
                    "text tokens": np.mean([r["text_tokens"] for r in sel]), "ratio": np.mean([r["ratio"] for r in sel]),
                    "precision": np.mean([r["precision"] for r in sel]),
                    "word acc.": np.mean([r["word_acc"] for r in sel]), "s/page": np.mean([r["seconds"] for r in sel])})
    return out


def pdf_verdict(table: list[dict], mode: str = "small", bar: float = 0.85) -> str:
    """The verdict's line on real PDF pages: each reader in `mode`, the best against the bar."""
    sel = [r for r in table if r["mode"].startswith(mode)]
    if not sel:
        return "- Real PDF pages: not measured (the documentation packages are not installed: `make documents`)."
    best = max(sel, key=lambda r: r["precision"])
    return (f"- Held-out real PDF pages ({sel[0]['pages']} pages of Debian documentation, {mode} mode, the same pixels "
            "for every reader): " + ", ".join(f"{r['reader']} {r['precision']:.0%}" for r in sel)
            + f". Best: {best['reader']} ({best['precision']:.0%}; the bar for the lab's readers: >= {bar:.0%}).")


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
def campaign(state: str | Path, windows=()) -> dict:
    """The stage-2 campaign as tables: its runs (command, resumption, seconds, examples, rate, machine), its
    evaluations (precision through the LM per mode, the other-page control, train pages, the stage-1 reader on
    the same pages, window reads) by cumulative examples and GPU-minutes, and the training loss of every
    logged step -- read from the state's reader.json; `windows`: JSON files of `train_lm evaluate` (held-out
    windows teacher-forced and read greedily, own tokens against another page's), one row each, and the last
    single-row read's gap (nats/token) as `window_gap`; a file whose window is the whole grid is a whole-page read."""
    import json

    meta = json.loads((Path(state) / "reader.json").read_text())
    runs = [{"run": r["run"], "resumed": r["resumed"], "gpu": r["machine"].get("gpu", "cpu"), "seconds": r["seconds"],
             "steps": r["steps"], "examples": f"{r['examples_from']:,}-{r['examples_to']:,}",
             "examples/s": r["examples_per_s"], "examples/GPU-min": r["examples_per_gpu_minute"],
             "command": r["command"].split("train_lm.py ")[-1]} for r in meta["runs"]]
    keys = ("lm_tiny", "lm_small", "lm_base", "lm_control", "reads_gap", "lm_train", "ctc_tiny", "ctc_small",
            "ctc_base")
    curve = [{"run": c["run"], "examples": c["examples"], "GPU-min": c["gpu_minutes"],
              **{k: c[k] for k in keys if k in c},
              **{k: v for k, v in c.items() if k.startswith(("lm_win", "nll_win"))}} for c in meta["curve"]]
    loss = [(row["examples"], row["loss"], r["run"]) for r in meta["runs"] for row in r["log"]]
    wins = [json.loads(Path(f).read_text()) for f in windows if Path(f).is_file()]
    win_rows = [{"examples": w["examples"], "GPU-min": w["gpu_minutes"], "mode": w["mode"],
                 "pages": (f"real PDF ({len(w['pages'])})" if isinstance(w.get("pages"), list)
                           else f"Fox-like ({w.get('pages', 7)})"),
                 **{k: v for k, v in w.items() if k.startswith(("lm_win", "nll_win", "ctc_win", "lm_page_by", "before_resync",
                                                                "resync_rows"))},
                 **{k: len(v) for k, v in w.items() if k.endswith("_looped") and isinstance(v, list)}} for w in wins]
    rows1 = [w for w in wins if "nll_win1_control" in w]
    gap = rows1[-1]["nll_win1_control"] - rows1[-1][f"nll_win1_{rows1[-1]['mode']}"] if rows1 else None
    return {"runs": runs, "curve": curve, "loss": loss, "examples": meta["examples"], "steps": meta["step"],
            "gpu_minutes": meta["gpu_seconds"] / 60, "spec": meta["spec"], "config": meta["config"],
            "sha256": meta["sha256"], "windows": win_rows, "window_gap": gap}


def fox_verdict(table: list[dict], modes, engines, reader: str = "lab encoder + reader") -> list[str]:
    """The verdict's lines on the Fox-style table: the lab's reader per mode (against DeepSeek-OCR's quoted
    buckets, and at ~10x), then each OCR engine on the same pixels."""
    def best(name, mode):
        return {r["text tokens"]: r["precision"] for r in table if r["reader"] == name and r["mode"].startswith(mode)}

    lines = []
    for mode in modes:
        b = best(reader, mode)
        if not b:
            continue
        line = (f"- The lab's encoder + reader at {tokens_for(mode)} tokens: precision "
                + ", ".join(f"{k}: {v:.0%}" for k, v in b.items()) + ".")
        vs = versus_anchor(table, reader, mode)
        if vs:
            line += (" Against DeepSeek-OCR at the same buckets: "
                     + ", ".join(f"{v['points']:+.0f} points at {v['ratio']:.1f}x" for v in vs) + ".")
        at10 = [r for r in table if r["reader"] == reader and r["mode"].startswith(mode) and 9.5 <= r["ratio"] <= 10.5]
        if at10:
            line += f" At ~10x: {at10[0]['precision']:.0%} (the issue's bar: >= 90% at 10x with 64 tokens)."
        lines.append(line)
    for e in engines:
        for mode in modes:
            b = best(e, mode)
            if b:
                lines.append(f"- {e} at the {mode} budget ({tokens_for(mode)} tokens' pixels): precision "
                             + ", ".join(f"{k}: {v:.0%}" for k, v in b.items())
                             + " — what a conventional OCR engine reads from the same pixels.")
    return lines


def _ctc_beside(w: dict, g: int, m: str) -> str:
    """'; the stage-1 CTC reader X% from the same tokens', where a whole-page read has it (train_lm evaluate)."""
    k = f"ctc_win{g}_{m}"
    return f"; the stage-1 CTC reader {w[k]:.0%} from the same tokens" if k in w else ""


def campaign_verdict(camp: dict) -> str:
    """The verdict's line on the stage-2 campaign: greedy whole pages against the other-page control (the
    "it reads" gap) at the last whole-page evaluation and, where measured, held-out single rows (teacher-forced
    nats/token and greedy precision), own tokens against another page's."""
    last = camp["curve"][-1]
    line = (f"- The stage-2 LM reader after {camp['examples']:,} examples ({camp['gpu_minutes']:.0f} GPU-minutes). "
            f"Whole held-out pages (last evaluated at {last['examples']:,} examples, run {last['run']}): "
            f"{last.get('lm_small', float('nan')):.0%} in small mode against "
            f"{last.get('lm_control', float('nan')):.0%} from another page's tokens (the \"it reads\" gap: "
            f"{100 * last.get('reads_gap', float('nan')):+.1f} points; the bar: >= 90% in base mode, 40 points above "
            "the control).")
    whole = [w for w in camp.get("windows") or [] if f"lm_win{MODES[w['mode']] // 64}_{w['mode']}" in w]
    fox = [w for w in whole if not w.get("pages", "").startswith("real PDF")]
    pdf = [w for w in whole if w.get("pages", "").startswith("real PDF")]
    pages = [w for w in fox if w["mode"] != "base"] or fox         # the curriculum's headline mode; base apart
    base = [w for w in fox if w["mode"] == "base" and w not in pages]
    if pages:
        w = pages[-1]
        g, m = MODES[w["mode"]] // 64, w["mode"]
        line += (f" Whole held-out pages read greedily on the CPU at {w['examples']:,} examples ({m} mode): "
                 f"{w[f'lm_win{g}_{m}']:.0%} against {w[f'lm_win{g}_control']:.0%} from another page's tokens "
                 f"({100 * (w[f'lm_win{g}_{m}'] - w[f'lm_win{g}_control']):+.0f} points; teacher-forced "
                 f"{w[f'nll_win{g}_{m}']:.2f} against {w[f'nll_win{g}_control']:.2f} nats/token)"
                 + _ctc_beside(w, g, m))
        prev = [p for p in pages[:-1] if p["mode"] == m]
        if prev:
            p = prev[-1]
            d_read, d_nll = w[f"lm_win{g}_{m}"] - p[f"lm_win{g}_{m}"], w[f"nll_win{g}_{m}"] - p[f"nll_win{g}_{m}"]
            line += (f"; at {p['examples']:,} examples: {p[f'lm_win{g}_{m}']:.0%} and {p[f'nll_win{g}_{m}']:.2f} nats/token"
                     + (" -- **greedy reading fell while the teacher-forced loss fell**: exposure to its own errors over "
                        "a whole page, not what it knows of the page" if d_read < -0.03 and d_nll < 0 else ""))
        line += "."
    if base:
        w, g = base[-1], MODES["base"] // 64
        line += (f" In base mode (the bar's) at {w['examples']:,} examples: {w[f'lm_win{g}_base']:.0%} against "
                 f"{w[f'lm_win{g}_control']:.0%} from another page's tokens{_ctc_beside(w, g, 'base')}.")
    if pdf:
        w = pdf[-1]
        g, m = MODES[w["mode"]] // 64, w["mode"]
        n = w["pages"].split("(")[-1].rstrip(")")
        line += (f" Whole pages of the held-out real PDFs ({n} pages of documents it never saw; a tenth of its "
                 "training pages, since run c10, are other real PDFs' pages): "
                 f"{w[f'lm_win{g}_{m}']:.0%} against {w[f'lm_win{g}_control']:.0%} "
                 f"({100 * (w[f'lm_win{g}_{m}'] - w[f'lm_win{g}_control']):+.0f} points{_ctc_beside(w, g, m)}).")
    line += _guided_sentence(camp.get("windows") or [], whole)
    wins = [w for w in camp.get("windows") or [] if "nll_win1_control" in w]
    if wins:
        def gap(w):
            return w["nll_win1_control"] - w[f"nll_win1_{w['mode']}"]

        w = wins[-1]
        own, m = w[f"nll_win1_{w['mode']}"], w["mode"]
        points = 100 * (w[f"lm_win1_{m}"] - w["lm_win1_control"])
        line += (f" On held-out single rows at {w['examples']:,} examples, teacher-forced, the page's own tokens give "
                 f"{own:.2f} nats/token against {w['nll_win1_control']:.2f} from another page's (a gap of {gap(w):.2f} "
                 "nats" + (f"; {gap(wins[0]):.2f} after {wins[0]['examples']:,} examples" if len(wins) > 1 else "")
                 + f"), and greedy reading gets {w[f'lm_win1_{m}']:.0%} of a row against {w['lm_win1_control']:.0%} "
                 f"({points:+.0f} points).")
        page_points = [100 * (pw[f"lm_win{MODES[pw['mode']] // 64}_{pw['mode']}"]
                              - pw[f"lm_win{MODES[pw['mode']] // 64}_control"]) for pw in pages]
        best = _best_base_read(camp.get("windows") or [])
        if best and best[1] >= 0.9 and best[1] - best[2] >= 0.4:
            ex, own, other, ctc = best
            line += (f" **It reads whole pages at the bar in base mode: {own:.1%} against {other:.0%} from another "
                     f"page's tokens at {ex:,} examples (>= 90%, 40 points above the control)"
                     + (f"; the stage-1 CTC reader {ctc:.1%} on the same windows" if ctc is not None else "") + ".**")
        elif page_points and page_points[-1] >= 15:
            line += (" **It reads single rows and whole pages, short of the bars (>= 90% in base mode, 40 points "
                     "above the control).**")
        elif gap(w) > 1.0 and points >= 15:
            line += " **It reads single rows (far from the bar); whole pages are the next step of the curriculum.**"
        elif gap(w) > 0.2:
            line += " **It begins to read single rows; it does not read pages yet.**"
        else:
            line += " **It does not read yet.**"
    return line


def _best_base_read(windows: list[dict]) -> tuple | None:
    """The newest state's best whole-page read of the held-out Fox-like pages in base mode, greedy or guided:
    (examples, own, other, the stage-1 CTC reader on the same windows or None); None without one."""
    from lab.optical import reads

    g = MODES["base"] // 64
    key, reads_ = f"lm_win{g}_base", []
    for w in windows:
        if w["mode"] != "base" or reads.is_pdf(w):
            continue
        if key in w:
            reads_.append((w["examples"], w[key], w[f"lm_win{g}_control"], w.get(f"ctc_win{g}_base")))
        for k in w:
            if k.startswith(key + "_g") and "_ctc" not in k:        # joint reads (reads.joint) apart
                reads_.append((w["examples"], w[k], w[k.replace("_base_", "_control_")], w.get(f"ctc_win{g}_base")))
    if not reads_:
        return None
    newest = max(r[0] for r in reads_)
    return max((r for r in reads_ if r[0] == newest), key=lambda r: r[1])


def _guided_sentence(windows: list[dict], greedy: list[dict]) -> str:
    """The newest guided whole-page read of each mode (`train_lm evaluate --guidance`), beside the greedy read of
    the same state where there is one; '' without guided reads."""
    from lab.optical import reads

    newest = {(m, pdf): (ex, sc, own, other) for (m, ex, pdf), (sc, own, other) in reads.guided(windows).items()}
    parts = []
    for (m, pdf), (ex, sc, own, other) in newest.items():
        g = MODES[m] // 64
        plain = next((p for p in greedy if p["mode"] == m and p["examples"] == ex and reads.is_pdf(p) == pdf), None)
        parts.append(f"{'real PDF pages' if pdf else 'whole pages'} in {m} mode {own:.0%} against {other:.0%} at "
                     f"{ex:,} examples" + (f" (greedy {plain[f'lm_win{g}_{m}']:.0%})" if plain else ""))
    if not parts:
        return ""
    return (" **Read with guidance** (each token weighed against what the LM writes with no page in its context, "
            f"scale {sc}, within the tokens the page makes plausible: `decoder.generate_guided`): " + "; ".join(parts) + ".")


def probe_verdict(runs: list[dict]) -> str | None:
    """The verdict's line on the oracle probes (scripts/optical_probe.py): how well SmolLM2 + LoRA reads a
    perfect dense code, against its prior; None without probe runs."""
    probe = {r["condition"] + (" full" if r.get("full") else "") + f" {r['steps']}": r for r in runs}
    if not probe:
        return None
    best = max(probe.values(), key=lambda r: r["precision"])
    floor = next((r for k, r in probe.items() if k.startswith("shuffled")), None)
    first = next((r for k, r in probe.items() if k.startswith("oracle ")), None)
    return ("Why no stage-2 reader read at first (GPU probes, `scripts/optical_probe.py`, "
            "`reports/optical_gpu/probe_*.json`): "
            f"given a *perfect* code of {best['chars']} characters in one {best.get('dim', 384)}-number vector "
            "(one fixed random block per character and position: linearly decodable), SmolLM2 + LoRA reads "
            + (f"{first['precision']:.0%} of it after {first['steps'] * first['batch']:,} examples, " if first else "")
            + f"{best['precision']:.0%} (exact {best['exact']:.0%}) after {best['steps'] * best['batch']:,}"
            + (" with every LM weight trained" if best.get("full") else "")
            + (f", against {floor['precision']:.0%} from the code of another snippet (its prior)" if floor else "")
            + ". So the LM can learn to read a dense code, given ~10^6 examples and a high learning rate (DESIGN.md); "
            "the stage-2 reader is now trained as a campaign across sessions (section \"Stage 2\").")
