"""The lab's front page: headline numbers and the seed claims' verdicts, read from every report's JSON and markdown.

    reps = load("reports")               # {name: the JSON that reports/data/<name>.json holds}
    rows = headlines(reps)               # one row per headline number, with its report, machine and date
    verdicts("reports")                  # each report's verdict section, first lines

Nothing here measures: every number comes from a report's JSON (written by its notebook) or from a GPU run's JSON
that the report read; a report that is missing is listed as missing, never filled in.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

from lab.optical import reads

REPORTS = ["holo", "procedural", "vortex", "optical", "optical_memory", "llm", "shannon", "fuzz"]


def _dir(report_dir: str | Path) -> Path:
    from lab.data import ROOT

    p = Path(report_dir)
    return p if p.is_absolute() else ROOT / p


def load(report_dir: str | Path = "reports") -> dict[str, dict]:
    out = {}
    report_dir = _dir(report_dir)
    for name in REPORTS:
        p = Path(report_dir) / "data" / f"{name}.json"
        if p.is_file():
            out[name] = json.loads(p.read_text())
    return out


def _row(rep: str, d: dict, result: str, value: str, target: str, met: bool | None, machine: str | None = None):
    m = d.get("meta", {})
    return {"family": rep, "result": result, "value": value, "goal / anchor": target,
            "met": "–" if met is None else ("yes" if met else "no"), "report": f"[{rep}.md]({rep}.md)",
            "machine": machine or m.get("machine", "?"), "date": m.get("date", "?")[:10]}


def _first(rows, **match):
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items())), None)


def _holo(d):
    out = []
    for r in d.get("bd_psnr", []):
        if r["mode"] == "holo-intra":
            out.append(_row("holo", d, "holo-intra BD-rate vs WebP (Kodak, PSNR)", f"{r['vs webp (mean %)']:+.1f}%",
                            "<= -5% (issue 14)", r["vs webp (mean %)"] <= -5))
            for b, name in (("avif", "AVIF"), ("jxl", "JPEG XL")):
                if f"vs {b} (mean %)" in r:
                    out.append(_row("holo", d, f"holo-intra BD-rate vs {name}", f"{r[f'vs {b} (mean %)']:+.1f}%",
                                    "reported (issue 14)", None))
        if r["mode"] == "holo-pca":
            out.append(_row("holo", d, "holo-pca BD-rate vs JPEG", f"{r['vs jpeg (mean %)']:+.1f}%", "< 0",
                            r["vs jpeg (mean %)"] < 0))
            out.append(_row("holo", d, "holo-pca BD-rate vs WebP", f"{r['vs webp (mean %)']:+.1f}%", "reported", None))
    t = _first(d.get("timing", []), mode="intra")
    if t:
        cpu = "encode CPU s (max)" in t               # CPU seconds from 2026-12-06 on, wall clock before
        e, dd = (t["encode CPU s (max)"], t["decode CPU s (max)"]) if cpu else (t["encode s (max)"], t["decode s (max)"])
        out.append(_row("holo", d, f"holo-intra encode / decode per Kodak image (max, {'CPU ' if cpu else ''}s)",
                        f"{e:.2f} / {dd:.3f}", "<= 2 / <= 0.2 (issue 14)", e <= 2 and dd <= 0.2))
    vq = [r for r in d.get("seed_table", []) if "VQ" in r["method"]]
    if vq:
        best = max(vq, key=lambda r: r["jpeg_ratio"])
        out.append(_row("holo", d, "seed 'VQ is 16-30x smaller than JPEG': JPEG bytes / VQ bytes at equal PSNR",
                        f"{best['jpeg_ratio']:.2f}x", "16-30x (seed)", best["jpeg_ratio"] >= 16))
    return out


def _procedural(d):
    out = [_row("procedural", d, f"machine on {g['file']} (bits/char)", f"{g['machine bpc']:.3f}",
                f"< bzip2 -9 {g['bzip2 -9 bpc (this run)']:.3f}", g["met"]) for g in d.get("goals", [])]
    out += [_row("procedural", d, f"machine on {g['file']} vs 7-Zip PPMd (bits/char)", f"{g['machine bpc']:.3f}",
                 f"< PPMd {g['PPMd bpc']:.3f} (issue 14)", g["below PPMd"]) for g in d.get("ppmd_goals", [])]
    sp = [r for r in d.get("baselines", []) if r["codec"] == "machine" and r["bytes"] >= 100_000]
    if sp:
        enc, dec = min(r["enc MB/s"] for r in sp), min(r["dec MB/s"] for r in sp)
        out.append(_row("procedural", d, "machine encode / decode, slowest file >= 100 KB (MB/s)",
                        f"{enc:.2f} / {dec:.2f}", ">= 0.5 both (issue 14)", min(enc, dec) >= 0.5))
    pg = d.get("process_goal")
    if pg:
        for way, verb in (("enc", "compress"), ("dec", "decompress")):
            out.append(_row("procedural", d, f"whole `lab proc {verb}` process, slowest English text >= 100 KB (MB/s)",
                            f"{pg[way + ' MB/s']:.2f}", ">= 0.5 (issue 29)", pg.get(way + " met", pg["met"])))
    return out


def _vortex(d):
    gpu = "one H100 (reports/vortex_gpu)"
    goals = d.get("gpu_goals", [])
    if goals:  # issue 14's bars, each from its best measured row
        return [_row("vortex", d, f"vortex: {g['goal']}", g["value"], g["bar"], g["met"], machine=gpu) for g in goals]
    runs = [r for r in d.get("gpu_runs", []) if r.get("round-trip")]
    if not runs:
        return []
    b = min(runs, key=lambda r: r["codec bpb"])
    return [_row("vortex", d, f"vortex run {b['run']} on held-out bible (bits/byte, real codec)", f"{b['codec bpb']:.3f}",
                 f"<= 1.6 and <= 0.8 x xz ({0.8 * b['xz -9e bpb']:.3f})",
                 b["codec bpb"] <= min(1.6, 0.8 * b["xz -9e bpb"]), machine=gpu),
            _row("vortex", d, "vortex decode speed", f"{b['dec KB/s']:.0f} KB/s", ">= 200 KB/s", b["dec KB/s"] >= 200,
                 machine=gpu)]


def _optical(d):
    out = []
    rows = [r for r in d.get("fox", []) if r.get("reader") == "lab encoder + reader" and r.get("mode") == "tiny (64)"]
    for r in rows:
        if r["text tokens"] in ("600-700", "1000-1100", "1200-1300") and r.get("DeepSeek-OCR precision (quoted)"):
            q = r["DeepSeek-OCR precision (quoted)"]
            out.append(_row("optical", d, f"Fox-like pages {r['text tokens']} tokens at 64 vision tokens ({r['ratio']:.1f}x)",
                            f"{100 * r['precision']:.0f}%", f"DeepSeek-OCR {100 * q:.1f}% (quoted)", r["precision"] >= q))
    return out


def _count(pages) -> int:
    """The number of pages of a read: its `pages` number, or the one in study.campaign's label ("Fox-like (14)")."""
    digits = "".join(ch for ch in str(pages) if ch.isdigit())
    return int(digits) if digits else 7


def _optical_lm(d):
    """Issue optical IV's bars, from the stage-2 campaign (reports/optical.md, "Stage 2"): the newest whole-page
    reads on the CPU (`train_lm evaluate`, own tokens against another page's, the stage-1 reader beside them) where
    they exist, else the campaign's last evaluation on the GPU."""
    curve = d.get("lm_curve", [])
    if not curve:
        return []
    c, gpu = curve[-1], "one H200 (reports/optical_gpu/campaign)"
    at = f" after {c['examples']:,} examples, {c['GPU-min']:.0f} GPU-min"
    grids = {"tiny": 8, "small": 10, "base": 16}
    guided = reads.guided(d.get("lm_windows", []))
    whole = [w for w in d.get("lm_windows", []) if f"lm_win{grids.get(w['mode'])}_{w['mode']}" in w
             or (w["mode"], w["examples"], reads.is_pdf(w)) in guided]   # a read greedy, guided or both
    pdf = [w for w in whole if reads.is_pdf(w)]
    pages = [w for w in whole if w not in pdf]
    newest = {w["mode"]: w for w in pages}                   # per mode, the newest read (the files are in order)
    base, main = newest.get("base"), ([w for w in pages if w["mode"] != "base"] or pages)

    def read(w):            # (mode, own, other, stage-1 CTC or None, how): the better of greedy and guided
        m = w["mode"]
        same = [v for v in whole if (v["mode"], v["examples"], reads.is_pdf(v)) == (m, w["examples"], reads.is_pdf(w))
                and f"lm_win{grids[m]}_{m}" in v]                   # the greedy read of the same state, if any
        own, other = (same[-1][f"lm_win{grids[m]}_{m}"], same[-1][f"lm_win{grids[m]}_control"]) if same else (None, None)
        ctc = w.get(f"ctc_win{grids[m]}_{m}")
        if ctc is None:     # a guided-only read: the stage-1 reader's score on the same pages from the greedy one
            ctc = next((v[f"ctc_win{grids[m]}_{m}"] for v in reversed(whole) if v["mode"] == m and reads.is_pdf(v) == reads.is_pdf(w)
                        and f"ctc_win{grids[m]}_{m}" in v), None)
        g = guided.get((m, w["examples"], reads.is_pdf(w)))
        if g and (own is None or g[1] > own):
            greedy = "" if own is None else f"; greedy {100 * own:.0f}%"
            rs = next((v for v in reversed(whole) if (v["mode"], v["examples"], reads.is_pdf(v)) == (m, w["examples"], reads.is_pdf(w))
                       and v.get("resync_rows") and f"lm_win{grids[m]}_{m}_g{g[0]}" in v), None)
            if rs:          # `train_lm evaluate --resync`: pages whose read looped were read again a few rows at a time
                n = rs.get(f"win{grids[m]}_g{g[0]}_looped", 0)          # windows that looped (a count in the report)
                n = n if isinstance(n, int) else len(n)
                greedy += (f"; {n} page(s) that looped read again {rs['resync_rows']} rows at a time, "
                           f"{100 * rs[f'before_resync_win{grids[m]}_{m}_g{g[0]}']:.0f}% before" if n else "; no read looped")
            return m, g[1], g[2], ctc, f"; guided decoding, scale {g[0]}{greedy}"
        return m, own, other, ctc, ""

    def ctc_note(ctc):
        return "" if ctc is None else f"; stage-1 CTC reader {100 * ctc:.0f}%"

    out = []
    if base:
        _, own, other, ctc, how = read(base)
        out.append(_row("optical", d, f"stage-2 LM reader, whole held-out Fox-like pages ({_count(base.get('pages'))}), base mode (CPU) after "
                        f"{base['examples']:,} examples", f"{100 * own:.0f}% vs {100 * other:.0f}% from another "
                        f"page's tokens ({100 * (own - other):+.0f} points{how}){ctc_note(ctc)}",
                        ">= 90% and >= 40 points above the control (issue optical IV)", own >= 0.9 and own - other >= 0.4))
    elif "lm_base" in c:
        out.append(_row("optical", d, "stage-2 LM reader, held-out Fox-like pages, base mode" + at,
                        f"{100 * c['lm_base']:.0f}%", ">= 90% (issue optical IV)", c["lm_base"] >= 0.9, machine=gpu))
    by_rows = [(w, k) for w in d.get("lm_windows", []) if w["mode"] == "base" and not reads.is_pdf(w)
               for k in w if k.startswith("lm_page_by") and k.split("_")[3:4] == ["base"]]
    if by_rows:             # the newest whole-page read window by window (`train_lm evaluate --by-rows`): the most
        newest_ex = max(w["examples"] for w, _ in by_rows)          # pages, then the best protocol
        w, k = max(((w, k) for w, k in by_rows if w["examples"] == newest_ex),
                   key=lambda t: (_count(t[0].get("pages")), t[0][t[1]]))
        rows, g = k.split("_")[2][2:], k.split("_")[4:]
        other = w.get(k.replace("_base", "_control"))
        how = f"; guided decoding, scale {g[0][1:]}" if g else ""
        out.append(_row("optical", d, f"stage-2 LM reader, whole held-out Fox-like pages ({_count(w.get('pages'))}) read {rows} cell row(s) at a "
                        f"time, base mode (CPU) after {w['examples']:,} examples", f"{100 * w[k]:.0f}% vs "
                        f"{100 * other:.0f}% from another page's tokens ({100 * (w[k] - other):+.0f} points{how})",
                        ">= 90% and >= 40 points above the control (issue optical IV)", w[k] >= 0.9 and w[k] - other >= 0.4))
    if "reads_gap" in c and not main:
        out.append(_row("optical", d, "stage-2 'it reads' gap: own tokens - another page's" + at,
                        f"{100 * c['reads_gap']:+.1f} points", ">= 40 points", c["reads_gap"] >= 0.4, machine=gpu))
    if pdf:
        m, own, other, ctc, how = read(pdf[-1])
        out.append(_row("optical", d, f"stage-2 LM reader, whole pages of the held-out real PDFs ({m} mode, CPU) after "
                        f"{pdf[-1]['examples']:,} examples", f"{100 * own:.0f}% vs {100 * other:.0f}% from another "
                        f"page's tokens{how}{ctc_note(ctc)}", ">= 85% (issue optical IV, real PDFs)", own >= 0.85))
    if main:
        m, own, other, _, how = read(main[-1])
        out.append(_row("optical", d, f"stage-2 LM reader, whole held-out pages read on the CPU ({m} mode) after "
                        f"{main[-1]['examples']:,} examples", f"{100 * own:.0f}% vs {100 * other:.0f}% from another "
                        f"page's tokens ({100 * (own - other):+.0f} points{how})",
                        ">= 90% (base), >= 40 points above the control" if m == "base" else
                        f">= 40 points above the control ({m} is measured; the 90% bar is base mode's)",
                        (own >= 0.9 or m != "base") and own - other >= 0.4))
    both = [(m, own, ctc, w, how) for (m, own, _, ctc, how), w in ((read(w), w) for w in newest.values()) if ctc is not None]
    pairs = [(m, c[f"lm_{m}"], c[f"ctc_{m}"]) for m in ("tiny", "small", "base") if f"lm_{m}" in c and f"ctc_{m}" in c]
    if both:                # the newest CPU read of each mode, both readers on the same tokens: the best mode's
        m, lm, ctc, w, how = max(both, key=lambda t: t[1] - t[2])
        out.append(_row("optical", d, f"stage-2 LM reader vs stage-1 CTC reader, whole held-out pages (best mode: {m}, "
                        f"CPU) after {w['examples']:,} examples", f"{100 * lm:.0f}% vs {100 * ctc:.0f}%"
                        + (f" ({how[2:]})" if how else ""),
                        "LM >= CTC in one mode", lm >= ctc))
    joint = [r for r in d.get("lm_joint", []) if r.get("stage-1 CTC") is not None]
    fallbacks = [r for r in joint if r.get("fallback below") not in (None, "")]   # the same reads, derailed ones
    joint = [r for r in joint if r.get("fallback below") in (None, "")]           # replaced: beside, never as, a row

    def fallback(r) -> str:  # the read's fallback twin (same state, pages, mode, weight, alignment), where one was made
        key = ("examples", "pages of", "pages", "mode", "CTC weight", "bands a line")
        f = next((f for f in fallbacks if all(f.get(k) == r.get(k) for k in key)), None)
        return "" if f is None else (f" (derailed reads replaced by the head's text, agreement < {f['fallback below']:g}:"
                                     f" {100 * f['joint']:.1f}%, paired {f['joint - CTC (points)']})")

    if joint:               # the LM read jointly with the CTC prefix scores (reports/optical.md): newest state, best mode
        from lab.optical.ctc_prefix import MERGE

        newest_ex = max(r["examples"] for r in joint)    # each mode's read at its line alignment (bands a line)
        newest = [r for r in joint if r["examples"] == newest_ex]
        fresh = [r for r in newest if str(r.get("pages of", "")).startswith("Fox-like: ")]   # pages no read had seen
        joint = [r for r in newest if r.get("pages of", "Fox-like") == "Fox-like"
                 and r.get("bands a line", 1) == MERGE.get(r["mode"], 1)] or newest
        r = max(joint, key=lambda r: r["joint"] - r["stage-1 CTC"])
        alone = "" if r.get("LM alone") is None else f"; the LM alone {100 * r['LM alone']:.0f}%"
        out.append(_row("optical", d, f"stage-2 LM reader + stage-1 CTC prefix scores (joint decoding, weight "
                        f"{r['CTC weight']:g}" + (f", a line scored against one to {r['bands a line']} adjacent ink bands"
                                            if r.get("bands a line", 1) > 1 else "")
                        + f"), whole held-out Fox-like pages ({r['pages']}), {r['mode']} mode (CPU) after "
                        f"{r['examples']:,} examples", f"{100 * r['joint']:.1f}% vs stage-1 CTC {100 * r['stage-1 CTC']:.1f}% "
                        f"(paired {r['joint - CTC (points)']} points){fallback(r)}{alone}; {100 * r['control']:.0f}% from another "
                        "page's tokens" + "".join(
                            f"; {o['mode']} mode {100 * o['joint']:.1f}% (CTC {100 * o['stage-1 CTC']:.1f}%"
                            + ("" if o.get("LM alone") is None else f", the LM alone {100 * o['LM alone']:.1f}%") + ")"
                            for o in joint if o is not r) + "".join(
                            f"; {f['pages']} fresh pages ({f['pages of'][len('Fox-like: '):]}, read after the "
                            f"alignment was chosen) {100 * f['joint']:.1f}% vs CTC {100 * f['stage-1 CTC']:.1f}% (paired "
                            f"{f['joint - CTC (points)']}){fallback(f)}" + ("" if f.get("LM alone") is None
                                                               else f", the LM alone {100 * f['LM alone']:.1f}%")
                            for f in fresh if f["mode"] == r["mode"] and f.get("bands a line", 1) == r.get("bands a line", 1)),
                        "reported beside 'LM >= CTC' (that bar is the LM alone's)", None))
    if not both and pairs:
        m, lm, ctc = max(pairs, key=lambda t: t[1] - t[2])
        out.append(_row("optical", d, f"stage-2 LM reader vs stage-1 CTC reader (best mode: {m})",
                        f"{100 * lm:.0f}% vs {100 * ctc:.0f}%", "LM >= CTC in one mode", lm >= ctc, machine=gpu))
    return out


def _lead(v) -> float:
    """A table cell's value: a number, or the mean of a "mean ± half-width" string (qa.study.finetune_rows)."""
    return float(v) if isinstance(v, (int, float)) else float(str(v).split("±")[0])


def _optical_qa(d):
    """Issue optical V's bars: the answering model from the full text, vision-N against the text competitors at
    100 tokens a page, and the bank's forgetting policies (reports/optical.md sections 5b and 5d)."""
    cards = sorted({m.group(0) for r in d.get("qa_runs", []) if (m := re.search(r"\b[A-Z]\d{3}\b", r.get("device", "")))})
    gpu = f"one {' / '.join(cards) or 'GPU'} (reports/optical_gpu)"
    out = []
    ft = [r for r in d.get("qa_finetune", []) if r.get("model") == "adapted" and r.get("context") == "full"
          and r.get("pages", 1) == 1]
    if ft:
        r = ft[0]
        c, e = (_lead(r[k]) for k in ("answer contained", "exact match"))
        kinds = [k for k in d.get("qa_finetune_kinds", []) if k.get("model") == "adapted"
                 and k.get("kind") != "unanswerable"]
        n = sum(k["questions"] for k in kinds)
        ans = "" if not n else " (answerable questions alone: {:.0f}% contained, {:.0f}% EM)".format(
            *(100 * sum(_lead(k[col]) * k["questions"] for k in kinds) / n for col in ("answer contained", "exact match")))
        out.append(_row("optical", d, "answering model (SmolLM2 + LoRA), held-out pages, from the full text",
                        f"{100 * c:.0f}% contained, {100 * e:.0f}% EM{ans}",
                        ">= 70% contained, >= 50% EM (issue optical V)", c >= 0.7 and e >= 0.5, machine=gpu))
    else:
        out.append(_row("optical", d, "answering model (SmolLM2 + LoRA), held-out pages, from the full text",
                        "not measured yet (GPU run prepared)", ">= 70% contained, >= 50% EM (issue optical V)", False))
    at100 = {(r.get("model"), r.get("context")): _lead(r["answer contained"])
             for r in d.get("qa_finetune", []) if r.get("budget / page") == 100 and r.get("pages", 1) == 1}
    vis = at100.get(("vision", "vision"))
    beside = "".join(f", {name} {100 * at100[k]:.0f}%" for name, k in (("BM25-100", ("adapted", "bm25")),
                                                                        ("pooled-100", ("pooled", "pooled")),
                                                                        ("ocr-100 (read back into text)", ("adapted", "ocr")))
                     if k in at100)
    out.append(_row("optical", d, "vision-100 against BM25-100 and pooled-100 (answer contained, 1 page)",
                    "not measured yet (no stage-2 reader fine-tuned to answer)" if vis is None
                    else f"{100 * vis:.0f}%{beside}",
                    ">= BM25-N, >= pooled-N, >= 90% of full text (issue optical V)",
                    False if vis is None else vis >= max(at100.get(("adapted", "bm25"), 0), at100.get(("pooled", "pooled"), 0)),
                    machine=None if vis is None else gpu))
    full = d.get("qa_bank_full") or []        # the full-size bank (notebook section 5f) before the CPU profile's small one
    bank = [r for r in full or d.get("qa_bank", []) if r.get("bank") != "none" and "answered / 1k stored" in r
            and r.get("via") != "text"]      # the stored text is never cut: no forgetting to compare there
    for kept in sorted({r["kept"] for r in bank}, key=lambda k: -float(k[:-1])):
        at = [r for r in bank if r["kept"] == kept]
        vias = list(dict.fromkeys(r.get("via", "ocr") for r in at))
        value = "; ".join((f"via {v}: " if len(vias) > 1 else "") + ", ".join(
            f"{r['bank']} {r['answered / 1k stored']:.2f}"
            for r in sorted((r for r in at if r.get("via", "ocr") == v), key=lambda r: -r["answered / 1k stored"]))
            for v in vias)
        seed = next((r for r in at if r["bank"] == "seed"), None)
        out.append(_row("optical", d, f"memory bank cut to {kept} of its tokens: answers per 1,000 stored tokens "
                        f"({at[0]['questions']} questions{', ' + str(len({r['bank'] for r in at})) + ' policies' if full else ''})",
                        value, "each policy, the seed's rule among them (issue optical V)" + (
                            "" if seed else "; the seed rule not run"), None))
    return out


def _pdf_row(d):
    """The better of the lab's readers on held-out real PDF pages in small mode, Tesseract's figure beside it."""
    small = [r for r in d.get("pdf", []) if r["mode"].startswith("small")]
    lab = [r for r in small if r["reader"] not in ("tesseract", "rapidocr")]
    if not lab:
        return _row("optical", d, "better reader on held-out real PDF pages, small mode", "not measured yet",
                    ">= 85% (Tesseract beside it)", False)
    best = max(lab, key=lambda r: r["precision"])
    tess = next((f", Tesseract {100 * r['precision']:.0f}%" for r in small if r["reader"] == "tesseract"), "")
    return _row("optical", d, f"better reader on held-out real PDF pages, small mode ({best['reader']}, "
                f"{best['pages']} pages)", f"{100 * best['precision']:.0f}%{tess}", ">= 85% (Tesseract beside it)",
                best["precision"] >= 0.85)


def _memory(d):
    out = []
    r = _first(d.get("recall", []), ranking="bm25") or (d.get("recall") or [None])[0]
    if r:
        out.append(_row("optical_memory", d, f"memory bank recall@1 ({r['ranking']})", f"{100 * r['recall@1']:.1f}%", "–", None))
    s = max(d.get("scale", []), key=lambda r: r["memories"], default=None)
    if s:
        out.append(_row("optical_memory", d, f"search p99 at {s['memories']:,} memories", f"{s['search p99 ms']:.1f} ms",
                        "–", None))
    return out


def _llm(d):
    out = []
    for r in d.get("ratio_at", []):
        if r.get("within") == "+5%" and r["method"] in ("kivi", "sinks", "h2o"):
            out.append(_row("llm", d, f"KV cache {r['method']}: compression within +5% bits/byte (worst text)",
                            f"{r['ratio (worst text)']:.1f}x", ">= 8x at <= +5%", r["ratio (worst text)"] >= 8,
                            machine="one H100 (reports/llm_gpu)"))
    return out


def _shannon(d):
    h = d.get("headline", {})
    out = []
    if h.get("llmzip_alice29_bpb") is not None:
        out.append(_row("shannon", d, "llmzip (SmolLM2) on alice29 at default settings (bits/byte)",
                        f"{h['llmzip_alice29_bpb']:.3f}", "<= 1.15", h["llmzip_alice29_bpb"] <= 1.15,
                        machine="one H100 (reports/llmzip_gpu)"))
        est = (f"; estimate, {h['alice29_estimate']}: {h['alice29_estimate_bpb']:.3f}"
               if h.get("alice29_estimate_bpb") is not None else "")
        out.append(_row("shannon", d, "llmzip on alice29 at the frontier (one GPU, round trip verified)",
                        f"{h['llmzip_alice29_bpb']:.3f}{est}", "<= 0.90 (Nacrith 0.918 with the same model, quoted)",
                        h["llmzip_alice29_bpb"] <= 0.90, machine="one H100 (reports/llmzip_gpu)"))
    if h.get("llmzip_gpu_decode_KBps") is not None:
        out.append(_row("shannon", d, "llmzip decode speed, whole bible", f"{h['llmzip_gpu_decode_KBps']:.0f} KB/s",
                        ">= 1 MB/s (ts_zip on a 4090, quoted)", h["llmzip_gpu_decode_KBps"] >= 1000,
                        machine="one H100 (reports/llmzip_gpu)"))
    if h.get("heldout_llmzip_bpb") is not None:
        gain = 1 - h["heldout_llmzip_bpb"] / h["heldout_zpaq_bpb"]
        out.append(_row("shannon", d, f"llmzip on post-cutoff text ({h['heldout_llmzip']}) vs zpaq -m5",
                        f"{h['heldout_llmzip_bpb']:.3f} vs {h['heldout_zpaq_bpb']:.3f} ({-100 * gain:+.0f}%)"
                        + (f"; estimate, {h['heldout_estimate']}: {h['heldout_estimate_bpb']:.3f} "
                           f"({100 * (h['heldout_estimate_bpb'] / h['heldout_zpaq_bpb'] - 1):+.0f}%)"
                           if h.get("heldout_estimate_bpb") is not None else ""),
                        ">= 35% below zpaq -m5", gain >= 0.35, machine=h["heldout_how"].split(" on ")[-1].split(",")[0]))
    if h.get("best_classic_texts_bpb") is not None:
        out.append(_row("shannon", d, f"best classic codec on the text corpus ({h['best_classic_texts']})",
                        f"{h['best_classic_texts_bpb']:.3f}", "–", None))
    return out


def _fuzz(d):
    s = d.get("summary", [])
    if not s:
        return []
    cases = sum(r["cases"] for r in s)
    bad = sum(r.get("other exceptions", 0) + r.get("hangs", 0) for r in s) + len(d.get("failures", []))
    return [_row("fuzz", d, f"mutated inputs over {len(s)} file formats", f"{cases:,}, {bad} unclean",
                 ">= 10,000 a format, 0 unclean", bad == 0 and min(r["cases"] for r in s) >= 10000)]


EXTRACT = {"holo": _holo, "procedural": _procedural, "vortex": _vortex,
           "optical": lambda d: _optical(d) + _optical_lm(d) + [_pdf_row(d)] + _optical_qa(d),
           "optical_memory": _memory, "llm": _llm, "shannon": _shannon, "fuzz": _fuzz}


def headlines(reps: dict[str, dict]) -> list[dict]:
    out = []
    for name in REPORTS:
        if name in reps:
            out += EXTRACT[name](reps[name])
    return out


def missing(reps: dict[str, dict]) -> list[str]:
    return [n for n in REPORTS if n not in reps]


_VERDICT = re.compile(r"^## (?:\d+\. )?(.*(?:[Vv]erdict|seed's claims|seed's sentences|seed's table).*)$")


def verdicts(report_dir: str | Path = "reports", max_chars: int = 700) -> list[dict]:
    """Each report's verdict section (its heading and first lines, those naming a claim first, cut at max_chars);
    a report whose JSON holds a `verdicts` table ({claim, verdict} rows) gives those rows instead."""
    out = []
    for name in REPORTS:
        p = _dir(report_dir) / f"{name}.md"
        if not p.is_file():
            continue
        j = _dir(report_dir) / "data" / f"{name}.json"
        table = json.loads(j.read_text()).get("verdicts") if j.is_file() else None
        if table:                              # a report that keeps its verdicts as a table: claim by claim
            out += [{"report": name, "section": r["claim"], "text": r["verdict"]} for r in table]
            continue
        lines = p.read_text().splitlines()
        for i, line in enumerate(lines):
            m = _VERDICT.match(line)
            if not m:
                continue
            body = []
            for nxt in lines[i + 1:]:
                if nxt.startswith("## "):
                    break
                if nxt.strip() and not nxt.startswith(("|", "![", "Notebook time")):
                    body.append(nxt.strip())
            body.sort(key=lambda b: "claim" not in b.lower())     # the lines that name a claim first
            text = " ".join(body)
            if len(text) > max_chars:
                text = text[:max_chars].rsplit(" ", 1)[0] + " …"
            out.append({"report": name, "section": m.group(1), "text": text})
    return out


def fmt_value(v) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
