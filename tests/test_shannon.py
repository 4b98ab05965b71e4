"""Empirical entropies, adjusted rates and break-even, the wall helpers, the dashboard's reading of reports."""
import json
import math

import numpy as np
import pytest

from lab import dashboard as D
from lab import shannon as S
from lab.entropy import empirical as E


def test_plugin_entropy_known_values():
    assert E.plugin_entropy(bytes(range(256)) * 4, 0) == pytest.approx(8.0)
    assert E.plugin_entropy(b"ab" * 500, 0) == pytest.approx(1.0)
    assert E.plugin_entropy(b"ab" * 500, 1) == 0.0            # each byte determined by the one before
    assert E.plugin_entropy(b"", 3) == 0.0
    with pytest.raises(ValueError):
        E.plugin_entropy(b"abc", 8)


def test_plugin_bias_and_adaptive_rate_on_random_bytes():
    """The plug-in estimate collapses with the order on random data; the adaptive code length does not go below
    8 bits a byte by more than a hair (it is a real code)."""
    r = np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes()
    h = [E.plugin_entropy(r, k) for k in range(4)]
    assert h[0] > 7.9 and h[2] < 1.0 and h == sorted(h, reverse=True)
    assert all(E.adaptive_bits(r, k) / len(r) > 7.95 for k in range(4))
    # on text the adaptive order-2 model beats order 0 and stays above the plug-in H2
    t = b"the quick brown fox jumps over the lazy dog. " * 300
    assert E.adaptive_bits(t, 2) < E.adaptive_bits(t, 0) and E.adaptive_bits(t, 2) / len(t) > E.plugin_entropy(t, 2)


def test_adjusted_rate_and_break_even():
    assert S.adjusted_bpb(1.0, 1000, 125) == pytest.approx(2.0)
    n = S.break_even(100e6, 1.0, 2.0)
    assert n == pytest.approx(8e8)
    assert S.adjusted_bpb(1.0, n, 100e6) == pytest.approx(2.0)        # at break-even both cost the same
    assert math.isinf(S.break_even(10, 2.0, 2.0))


def test_wall_helpers_measure_real_codecs():
    files = [("r", "random", np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes()),
             ("t", "text", b"abc " * 2000)]
    rows = S.measure(files, S.codecs(["gzip", "xz"]))
    assert all(r["round_trip"] for r in rows) and len(rows) == 4
    ex = {e["codec"]: e for e in S.expansion(rows, "random")}
    assert ex["gzip"]["expansion (bytes)"] > 0 and ex["xz"]["expansion (bytes)"] > 0
    rec = S.recompress(b"abc " * 2000, S.codecs(["xz"]), rounds=2)
    assert rec[0]["round 2"] > rec[0]["round 1"]


def test_dashboard_reads_reports_and_flags_goals(tmp_path):
    (tmp_path / "data").mkdir()
    meta = {"machine": "test box", "date": "2026-01-02 03:04 UTC"}
    (tmp_path / "data" / "procedural.json").write_text(json.dumps({"meta": meta, "goals": [
        {"file": "a.txt", "machine bpc": 2.0, "bzip2 -9 bpc (this run)": 2.2, "met": True},
        {"file": "b.txt", "machine bpc": 2.5, "bzip2 -9 bpc (this run)": 2.2, "met": False}]}))
    (tmp_path / "data" / "shannon.json").write_text(json.dumps({"meta": meta, "headline": {
        "llmzip_alice29_bpb": 1.2, "llmzip_gpu_decode_KBps": 86.0, "best_classic_texts_bpb": 2.0,
        "best_classic_texts": "zpaq"}}))
    (tmp_path / "procedural.md").write_text("# P\n\n## 4. Verdicts\n\n- the machine wins.\n| a | b |\n\n## 5. Other\nx\n")
    reps = D.load(tmp_path)
    rows = D.headlines(reps)
    assert [r["met"] for r in rows] == ["yes", "no", "no", "no", "no", "–"]
    assert rows[0]["machine"] == "test box" and rows[0]["date"] == "2026-01-02"
    assert "holo" in D.missing(reps) and "procedural" not in D.missing(reps)
    v = D.verdicts(tmp_path)
    assert v == [{"report": "procedural", "section": "Verdicts", "text": "- the machine wins."}]


def test_dashboard_pdf_row_takes_the_better_lab_reader_with_tesseract_beside_it():
    d = {"meta": {"machine": "m", "date": "2026-12-04 10:00 UTC"}, "pdf": [
        {"reader": "lab encoder + reader", "mode": "small (100)", "pages": 12, "precision": 0.41},
        {"reader": "tesseract", "mode": "small (100)", "pages": 12, "precision": 0.62},
        {"reader": "lab encoder + reader", "mode": "large (400)", "pages": 12, "precision": 0.7}]}
    row = D._pdf_row(d)
    assert row["value"] == "41%, Tesseract 62%" and row["met"] == "no" and "12 pages" in row["result"]
    assert D._pdf_row({"meta": d["meta"]})["value"] == "not measured yet"


def test_heldout_rows_and_the_dashboard_bar():
    measured = [{"file": S.HELDOUT, "codec": c, "bpb": b, "round_trip": True} for c, b in (("zpaq", 2.0), ("xz", 2.6))]
    runs = [{"device": "x86_64", "runs": [{"file": "lab-heldout/lab-issues-2026.txt", "streams": 16, "mix": "all",
                                           "bits_per_byte": 1.2, "round_trip": True, "decode_MBps": 0.0004}]}]
    held = S.heldout_rows(measured, runs)
    assert [r["codec"] for r in held][0].startswith("llmzip") and held[0]["vs zpaq"] == pytest.approx(-40.0)
    h = S.heldout_headline(held)
    assert h["heldout_llmzip_bpb"] == 1.2 and h["heldout_zpaq_bpb"] == 2.0
    (row,) = [r for r in D._shannon({"headline": h}) if "post-cutoff" in r["result"]]
    assert row["met"] == "yes" and "-40%" in row["value"] and row["machine"] == "x86_64"
    assert S.heldout_headline(held[1:]) == {}
    broken = dict(runs[0]["runs"][0], streams=1, bits_per_byte=1.0, round_trip=False)   # a file that did not decode
    held = S.heldout_rows(measured, [{"device": "x86_64", "runs": [broken, *runs[0]["runs"]]}])
    assert "(1 stream, mix all)" in held[0]["codec"] and S.heldout_headline(held)["heldout_llmzip_bpb"] == 1.2


def test_the_estimate_stands_beside_the_real_file_and_never_decides_the_bar():
    """The best whole-file estimate (slices left out) is shown, labelled; met/missed stays the real file's."""
    measured = [{"file": S.HELDOUT, "codec": "zpaq", "bpb": 2.0, "round_trip": True}]
    runs = [{"device": "x86_64", "runs": [{"file": "lab-heldout/lab-issues-2026.txt", "streams": 16, "mix": "all",
                                           "bits_per_byte": 1.5, "round_trip": True, "decode_MBps": 0.0004}]}]
    est = lambda nbytes, adapt, lm, all_: {  # noqa: E731
        "file": "lab-heldout/lab-issues-2026.txt", "bytes": nbytes, "window": 8192, "adapt": adapt,
        "estimate": "code lengths (the coder's view: ...)",
        "rows": [{"setting": "lm", "ideal bpb": lm, "q16x2 bpb": lm + 0.01},
                 {"setting": "all", "ideal bpb": all_, "q16x2 bpb": all_ + 0.01}]}
    mix = S.mix_rows([est(118441, False, 1.6, 1.3), est(118441, True, 1.45, 1.24), est(12000, True, 1.0, 0.9)])
    h = S.heldout_headline(S.heldout_rows(measured, runs), mix=mix)
    assert h["heldout_estimate_bpb"] == pytest.approx(1.25)               # q16x2 of the whole file, not the slice
    assert h["heldout_estimate"] == "1 stream, all + adapt, window 8192, coder's cache"
    (row,) = [r for r in D._shannon({"headline": h}) if "post-cutoff" in r["result"]]
    assert row["met"] == "no" and row["value"] == ("1.500 vs 2.000 (-25%); estimate, 1 stream, all + adapt, "
                                                   "window 8192, coder's cache: 1.250 (-38%)")
    assert S.best_estimate(mix, "canterbury/alice29.txt") == {}


def test_dashboard_reads_the_whole_page_cpu_read_of_the_stage2_reader():
    d = {"meta": {"machine": "m", "date": "2026-12-04"}, "lm_curve": [{"examples": 10, "GPU-min": 1.0}],
         "lm_windows": [{"examples": 5, "mode": "small", "lm_win1_small": 0.6, "lm_win1_control": 0.3},
                        {"examples": 7, "mode": "small", "lm_win10_small": 0.604, "lm_win10_control": 0.265}]}
    (row,) = [r for r in D._optical_lm(d) if "whole held-out pages" in r["result"]]
    assert row["value"] == "60% vs 26% from another page's tokens (+34 points)" and row["met"] == "no"
    assert row["goal / anchor"] == ">= 40 points above the control (small is measured; the 90% bar is base mode's)"
    assert not [r for r in D._optical_lm(d) if "CTC" in r["result"]]       # no stage-1 read in it
    d["lm_windows"][1]["lm_win10_small"] = 0.86                 # small mode: the control gap is its bar, not 90%
    (row,) = [r for r in D._optical_lm(d) if "whole held-out pages" in r["result"]]
    assert row["met"] == "yes"


def test_dashboard_puts_the_stage1_reader_beside_the_cpu_whole_page_reads():
    """Where the CPU read has the CTC reader on the same pages, the LM-vs-CTC bar comes from it (not from an older
    GPU evaluation) and the real-PDF row names it."""
    d = {"meta": {"machine": "m", "date": "2026-12-05"},
         "lm_curve": [{"examples": 10, "GPU-min": 1.0, "lm_tiny": 0.28, "ctc_tiny": 0.74}],
         "lm_windows": [{"examples": 7, "mode": "small", "pages": "Fox-like (7)", "lm_win10_small": 0.6,
                         "lm_win10_control": 0.26, "ctc_win10_small": 0.55},
                        {"examples": 7, "mode": "small", "pages": "real PDF (6)", "lm_win10_small": 0.22,
                         "lm_win10_control": 0.2, "ctc_win10_small": 0.41}]}
    rows = D._optical_lm(d)
    (vs,) = [r for r in rows if "vs stage-1 CTC" in r["result"]]
    assert "whole held-out pages (best mode: small, CPU) after 7 examples" in vs["result"]
    assert vs["value"] == "60% vs 55%" and vs["met"] == "yes"
    (pdf,) = [r for r in rows if "real PDFs" in r["result"]]
    assert pdf["value"] == "22% vs 20% from another page's tokens; stage-1 CTC reader 41%"
    # a base-mode read on the CPU replaces the GPU's older base-mode row; the whole-page row stays small mode's
    d["lm_curve"][0].update(lm_base=0.27, reads_gap=0.003)
    assert any("base mode after 10 examples" in r["result"] for r in D._optical_lm(d))
    d["lm_windows"].append({"examples": 8, "mode": "base", "pages": "Fox-like (7)", "lm_win16_base": 0.5,
                            "lm_win16_control": 0.25, "ctc_win16_base": 0.95})
    rows = D._optical_lm(d)
    (base,) = [r for r in rows if "base mode" in r["result"]]
    assert base["result"].endswith("base mode (CPU) after 8 examples") and base["met"] == "no"
    assert base["value"] == "50% vs 25% from another page's tokens (+25 points); stage-1 CTC reader 95%"
    (page,) = [r for r in rows if "read on the CPU" in r["result"]]
    assert page["value"].startswith("60% vs 26%")                      # small mode's, the curriculum's headline
    assert not [r for r in rows if "'it reads' gap" in r["result"]]     # the CPU reads have the gap
    (vs,) = [r for r in rows if "vs stage-1 CTC" in r["result"]]
    assert "best mode: small" in vs["result"]                         # +5 points beats base's -45


def test_dashboard_takes_the_guided_read_of_the_same_state_when_it_reads_better():
    """A guided read (`train_lm evaluate --guidance 1`) of the same state and mode stands in for the greedy one
    when higher, named, with the greedy figure beside it; a lower one, or one of another state, is not used."""
    d = {"meta": {"machine": "m", "date": "2026-12-05"}, "lm_curve": [{"examples": 10, "GPU-min": 1.0}],
         "lm_windows": [{"examples": 7, "mode": "base", "pages": "Fox-like (7)", "lm_win16_base": 0.72,
                         "lm_win16_control": 0.27, "ctc_win16_base": 0.94},
                        {"examples": 7, "mode": "base", "pages": "Fox-like (7)", "lm_win16_base_g1": 0.91,
                         "lm_win16_control_g1": 0.28},
                        {"examples": 6, "mode": "small", "pages": "Fox-like (7)", "lm_win10_small": 0.58,
                         "lm_win10_control": 0.25, "ctc_win10_small": 0.86},
                        {"examples": 7, "mode": "small", "pages": "Fox-like (7)", "lm_win10_small_g1": 0.7,
                         "lm_win10_control_g1": 0.25}]}
    rows = D._optical_lm(d)
    (base,) = [r for r in rows if "base mode" in r["result"]]
    assert base["value"] == ("91% vs 28% from another page's tokens (+63 points; guided decoding, scale 1; greedy 72%); "
                             "stage-1 CTC reader 94%") and base["met"] == "yes"
    (page,) = [r for r in rows if "read on the CPU" in r["result"]]     # the newest state's read, guided only
    assert page["value"] == "70% vs 25% from another page's tokens (+45 points; guided decoding, scale 1)"
    assert "after 7 examples" in page["result"]
    (vs,) = [r for r in rows if "vs stage-1 CTC" in r["result"]]
    assert vs["value"] == "91% vs 94% (guided decoding, scale 1; greedy 72%)" and vs["met"] == "no"   # base: -3
    d["lm_windows"].append({"examples": 9, "mode": "base", "pages": "Fox-like (7)", "lm_win16_base_g1": 0.93,
                            "lm_win16_control_g1": 0.3})   # a newer state read guided only: it stands, CTC beside it
    (base,) = [r for r in D._optical_lm(d) if "base mode" in r["result"]]
    assert "after 9 examples" in base["result"] and base["value"] == (
        "93% vs 30% from another page's tokens (+63 points; guided decoding, scale 1); stage-1 CTC reader 94%")
    d["lm_windows"].pop()
    d["lm_windows"][1]["lm_win16_base_g1"] = 0.6
    (base,) = [r for r in D._optical_lm(d) if "base mode" in r["result"]]
    assert base["value"].startswith("72% vs 27%") and "guided" not in base["value"]


def test_dashboard_says_how_many_pages_looped_and_were_read_again():
    """A guided read with `--resync`: the row names the pages whose read looped and the score before the re-read."""
    d = {"meta": {"machine": "m", "date": "2026-12-06"}, "lm_curve": [{"examples": 10, "GPU-min": 1.0}],
         "lm_windows": [{"examples": 9, "mode": "base", "pages": 14, "lm_win16_base_g1": 0.91,
                         "lm_win16_control_g1": 0.26, "ctc_win16_base": 0.93, "resync_rows": 2, "win16_g1_looped": [8],
                         "before_resync_win16_base_g1": 0.864}]}
    (base,) = [r for r in D._optical_lm(d) if "Fox-like pages (14), base mode" in r["result"]]
    assert base["value"] == ("91% vs 26% from another page's tokens (+65 points; guided decoding, scale 1; 1 page(s) "
                             "that looped read again 2 rows at a time, 86% before); stage-1 CTC reader 93%")
    assert base["met"] == "yes" and "(14)" in base["result"]
    d["lm_windows"][0]["win16_g1_looped"] = 1                         # the report's form: a count
    assert [r for r in D._optical_lm(d) if "Fox-like pages (14), base mode" in r["result"]][0]["value"] == base["value"]
    d["lm_windows"][0]["win16_g1_looped"] = 0
    assert [r for r in D._optical_lm(d) if "Fox-like pages (14), base mode" in r["result"]][0]["value"] == (
        "91% vs 26% from another page's tokens (+65 points; guided decoding, scale 1; no read looped); stage-1 CTC reader 93%")


def test_dashboard_reports_the_newest_row_by_row_page_read_on_its_own_row():
    """A whole page read window by window (`--by-rows`) is its own row: the newest state's best protocol, the
    control beside it; the whole-page row is not changed by it."""
    d = {"meta": {"machine": "m", "date": "2026-12-06"}, "lm_curve": [{"examples": 10, "GPU-min": 1.0}],
         "lm_windows": [{"examples": 7, "mode": "base", "pages": "Fox-like (7)", "lm_win16_base_g1": 0.81,
                         "lm_win16_control_g1": 0.26},
                        {"examples": 6, "mode": "base", "pages": "Fox-like (7)", "lm_page_by1_base_g1": 0.95,
                         "lm_page_by1_control_g1": 0.2},
                        {"examples": 7, "mode": "base", "pages": "Fox-like (7)", "lm_page_by1_base_g1": 0.872,
                         "lm_page_by1_control_g1": 0.264},
                        {"examples": 7, "mode": "base", "pages": "Fox-like (7)", "lm_page_by2_base_g1": 0.85,
                         "lm_page_by2_control_g1": 0.25}]}
    rows = D._optical_lm(d)
    (by,) = [r for r in rows if "row(s) at a time" in r["result"]]
    assert "pages (7) read 1 cell row(s)" in by["result"] and "after 7 examples" in by["result"]
    assert by["value"] == "87% vs 26% from another page's tokens (+61 points; guided decoding, scale 1)" and by["met"] == "no"
    d["lm_windows"].append({"examples": 7, "mode": "base", "pages": "Fox-like (14)", "lm_page_by2_base_g1": 0.84,
                            "lm_page_by2_control_g1": 0.25})       # more pages outrank a better score on fewer
    (by,) = [r for r in D._optical_lm(d) if "row(s) at a time" in r["result"]]
    assert "pages (14) read 2 cell row(s)" in by["result"] and by["value"].startswith("84% vs 25%")
    (base,) = [r for r in rows if "base mode (CPU)" in r["result"] and "at a time" not in r["result"]]
    assert base["value"].startswith("81% vs 26%")


def test_dashboard_keeps_the_real_pdf_read_of_the_stage2_reader_apart():
    d = {"meta": {"machine": "m", "date": "2026-12-04"}, "lm_curve": [{"examples": 10, "GPU-min": 1.0}],
         "lm_windows": [{"examples": 7, "mode": "small", "pages": "Fox-like (7)", "lm_win10_small": 0.604,
                         "lm_win10_control": 0.265},
                        {"examples": 7, "mode": "small", "pages": "real PDF (6)", "lm_win10_small": 0.235,
                         "lm_win10_control": 0.221}]}
    rows = D._optical_lm(d)
    (fox,) = [r for r in rows if "whole held-out pages" in r["result"]]
    (pdf,) = [r for r in rows if "real PDFs" in r["result"]]
    assert fox["value"].startswith("60% vs 26%") and pdf["value"].startswith("24% vs 22%") and pdf["met"] == "no"


def test_dashboard_rows_of_the_answering_model_and_the_bank_study():
    meta = {"meta": {"machine": "m", "date": "2026-12-05"}}
    rows = D._optical_qa(meta)
    assert rows[0]["value"].startswith("not measured yet") and rows[0]["met"] == "no"
    assert rows[1]["value"].startswith("not measured yet") and len(rows) == 2
    d = {**meta, "qa_finetune": [
        {"model": "adapted", "pages": 1, "context": "full", "budget / page": "-", "answer contained": "0.720 ± 0.050",
         "exact match": "0.480 ± 0.060"},
        {"model": "adapted", "pages": 1, "context": "bm25", "budget / page": 100, "answer contained": "0.500 ± 0.060"},
        {"model": "pooled", "pages": 1, "context": "pooled", "budget / page": 100, "answer contained": "0.400 ± 0.060"}],
         "qa_bank": [{"bank": "none", "kept": "100%", "questions": 8, "answered / 1k stored": 1.0},
                     {"bank": "fade", "kept": "50%", "questions": 8, "answered / 1k stored": 1.5},
                     {"bank": "seed", "kept": "50%", "questions": 8, "answered / 1k stored": 1.75},
                     {"bank": "fade", "kept": "25%", "questions": 8, "answered / 1k stored": 2.0}]}
    rows = D._optical_qa(d)
    assert rows[0]["value"] == "72% contained, 48% EM" and rows[0]["met"] == "no"       # EM under 50%
    assert rows[0]["machine"] == "one GPU (reports/optical_gpu)"       # no run table: the card is not named
    d["qa_runs"] = [{"file": "qa_finetune.json", "device": "NVIDIA H100 80GB HBM3"}, {"file": "x", "device": "NVIDIA H200"},
                    {"file": "cpu.json", "device": "x86_64"}]
    assert D._optical_qa(d)[0]["machine"] == "one H100 / H200 (reports/optical_gpu)"
    del d["qa_runs"]
    assert rows[2]["result"].startswith("memory bank cut to 50%") and rows[2]["value"] == "seed 1.75, fade 1.50"
    assert "seed rule not run" in rows[3]["goal / anchor"] and rows[3]["met"] == "–"
    d["qa_finetune_kinds"] = [
        {"model": "adapted", "kind": "cloze", "questions": 30, "answer contained": "0.600 ± 0.100", "exact match": 0.5},
        {"model": "adapted", "kind": "number", "questions": 10, "answer contained": "1.000 ± 0.050", "exact match": 0.9},
        {"model": "adapted", "kind": "unanswerable", "questions": 20, "answer contained": "1.000 ± 0.0", "exact match": 1.0}]
    assert D._optical_qa(d)[0]["value"] == "72% contained, 48% EM (answerable questions alone: 70% contained, 60% EM)"
    d["qa_finetune"].append({"model": "vision", "pages": 1, "context": "vision", "budget / page": 100,
                             "answer contained": "0.210 ± 0.050"})
    vis = D._optical_qa(d)[1]
    assert vis["value"] == "21%, BM25-100 50%, pooled-100 40%" and vis["met"] == "no"
    d["qa_finetune"].append({"model": "adapted", "pages": 1, "context": "ocr", "budget / page": 100,
                             "answer contained": "0.450 ± 0.050"})     # the tokens read back into text, beside it
    assert D._optical_qa(d)[1]["value"] == "21%, BM25-100 50%, pooled-100 40%, ocr-100 (read back into text) 45%"
    d["qa_bank_full"] = [{"via": v, "bank": b, "kept": k, "questions": 60, "answered / 1k stored": x}
                         for v, b, k, x in [("ocr", "none", "100%", 3.0), ("ocr", "fade", "50%", 4.0),
                                            ("ocr", "seed", "50%", 5.0), ("vision", "fade", "50%", 6.0),
                                            ("vision", "seed", "50%", 2.0), ("text", "fade", "50%", 9.0)]]
    # the full-size bank wins; its text path (the stored text is never cut) is left out
    (row,) = [r for r in D._optical_qa(d) if r["result"].startswith("memory bank")]
    assert row["value"] == "via ocr: seed 5.00, fade 4.00; via vision: fade 6.00, seed 2.00"
    assert "(60 questions, 2 policies)" in row["result"]


def test_mix_rows_name_the_adapted_lm_and_the_view():
    """An estimate of the coder's view with the LM adapted reads `all + adapt`, `coder's cache`; an old sliding-
    window JSON keeps its setting name and window."""
    est = [{"file": "d/f", "bytes": 10, "window": 8192, "adapt": True,
            "estimate": "code lengths from logits computed once (the coder's view: ...); no coder ran",
            "rows": [{"setting": "all", "ideal bpb": 1.2, "q16x2 bpb": 1.21, "streams": 1}]},
           {"file": "d/f", "bytes": 10, "bits_per_byte_ideal": {"lm": 1.5}}]
    a, b = S.mix_rows(est)
    assert (a["setting"], a["LM view"], a["LM window"]) == ("all + adapt", "coder's cache", 8192)
    assert a["coder's quantisation cost %"] == pytest.approx(100 * (1.21 / 1.2 - 1))
    assert (b["setting"], b["LM view"], b["LM window"], b["ideal"]) == ("lm", "sliding window", 1024, 1.5)


def test_llmz_header_bytes_is_what_a_real_file_carries_besides_its_data():
    from lab import container
    from lab.llmzip import codec

    lm, tok, sha = codec.tiny_model()
    for streams in (1, 4):
        blob = codec.compress(b"hello world " * 50, lm, tok, sha, streams=streams)
        assert len(blob) - len(codec.read_header(blob)[1]["DATA"]) == S.llmz_header_bytes(streams)
        fields, sec = codec.read_header(blob)
        v3 = container.pack(codec.MAGIC, 3, codec._HEADS[3], fields[:8], sec)
        assert len(v3) - len(sec["DATA"]) == S.llmz_header_bytes(streams, 3)


def test_dashboard_names_a_whole_page_reads_page_count():
    """The base-mode row says how many pages its read had, from the read's number or study.campaign's label."""
    assert (D._count("Fox-like (14)"), D._count(7), D._count(None)) == (14, 7, 7)


def test_dashboard_holo_speed_row_reads_cpu_seconds_and_old_wall_clock_reports(tmp_path):
    (tmp_path / "data").mkdir()
    meta = {"machine": "test box", "date": "2026-01-02 03:04 UTC"}
    base = {"mode": "intra", "setting": "step 16.0", "images": 24}

    def row(timing):
        (tmp_path / "data" / "holo.json").write_text(json.dumps({"meta": meta, "timing": [{**base, **timing}]}))
        return [r for r in D.headlines(D.load(tmp_path)) if "per Kodak image" in r["result"]][0]

    r = row({"encode CPU s (max)": 0.84, "decode CPU s (max)": 0.132, "encode wall s (mean)": 0.5,
             "decode wall s (mean)": 0.07})
    assert "CPU s" in r["result"] and r["value"] == "0.84 / 0.132" and r["met"] == "yes"
    r = row({"encode CPU s (max)": 0.84, "decode CPU s (max)": 0.21})
    assert r["met"] == "no"
    r = row({"encode s (max)": 1.65, "decode s (max)": 0.258})          # a report from before CPU seconds
    assert "CPU" not in r["result"] and r["value"] == "1.65 / 0.258" and r["met"] == "no"


def test_mix_rows_name_the_adapters_rate_where_it_is_not_v3s():
    """Rows adapted at v3's 3e-5 (or an older JSON naming no rate) read `+ adapt`; another rate is named."""
    def est(adapter):
        return {"file": "f", "bytes": 10, "window": 8192, "adapt": True, "estimate": "the coder's view",
                **({"adapter": adapter} if adapter else {}), "rows": [{"setting": "lm", "ideal bpb": 1.0}]}
    rows = S.mix_rows([est(None), est({"lr": 3e-5}), est({"lr": 1e-4})])
    assert [r["setting"] for r in rows] == ["lm + adapt", "lm + adapt", "lm + adapt at 1e-4"]


def test_joint_reads_are_their_own_rows_beside_the_lm_alone_and_never_stand_in_for_it():
    """reads.joint parses `--ctc-weight` reads (the LM alone: the guided read of the same state, mode and pages);
    reads.guided leaves them out, so the bars' rows stay the LM alone's; the dashboard gives the joint read its
    own row, with no met/missed."""
    from lab.optical import reads

    joint_file = {"examples": 9, "mode": "small", "pages": 14, "lm_win10_small_g1_ctc0.5": 0.884,
                  "lm_win10_control_g1_ctc0.5": 0.27, "ctc_win10_small": 0.867,
                  "lm_minus_ctc_win10_g1_ctc0.5": [0.017, 0.004], "win10_g1_ctc0.5_looped": [3]}
    alone = {"examples": 9, "mode": "small", "pages": 14, "lm_win10_small_g1": 0.855, "lm_win10_control_g1": 0.264,
             "ctc_win10_small": 0.867}
    assert reads.guided([alone, joint_file]) == {("small", 9, False): ("1", 0.855, 0.264)}
    (r,) = reads.joint([joint_file], [alone])
    assert (r["joint"], r["control"], r["ctc"], r["lm_alone"], r["ctc_weight"], r["guidance"], r["looped"]) == (
        0.884, 0.27, 0.867, 0.855, 0.5, 1.0, 1)
    assert reads.joint([joint_file], [dict(alone, pages=28)])[0]["lm_alone"] is None     # other pages: not beside it
    d = {"meta": {"machine": "m", "date": "2026-12-07"}, "lm_curve": [{"examples": 10, "GPU-min": 1.0}],
         "lm_windows": [alone],
         "lm_joint": [{"mode": "small", "examples": 9, "pages": 14, "CTC weight": 0.5, "joint": 0.884, "control": 0.27,
                       "LM alone": 0.855, "stage-1 CTC": 0.867, "joint - CTC (points)": "+1.7 ± 0.4", "looped": 1}]}
    rows = D._optical_lm(d)
    (j,) = [r for r in rows if "joint decoding" in r["result"]]
    assert j["value"] == ("88.4% vs stage-1 CTC 86.7% (paired +1.7 ± 0.4 points); the LM alone 86%; 27% from another "
                          "page's tokens") and j["met"] == "–" and "(14), small mode" in j["result"]
    (vs,) = [r for r in rows if "vs stage-1 CTC reader" in r["result"]]
    assert vs["value"].startswith("86% vs 87%") and vs["met"] == "no"       # the bar's row: the LM alone
    d["lm_joint"].append({"mode": "base", "examples": 9, "pages": 14, "CTC weight": 0.5, "joint": 0.851, "control": 0.257,
                          "LM alone": 0.91, "stage-1 CTC": 0.929, "joint - CTC (points)": "-7.8 ± 3.5", "looped": 2})
    (j,) = [r for r in D._optical_lm(d) if "joint decoding" in r["result"]]
    assert "small mode" in j["result"] and "base mode" not in j["value"]   # base reads one band a line: not its default
    d["lm_joint"].append({"mode": "base", "examples": 9, "pages": 14, "CTC weight": 0.5, "bands a line": 2, "joint": 0.93,
                          "control": 0.26, "LM alone": 0.91, "stage-1 CTC": 0.929, "joint - CTC (points)": "+0.1 ± 0.5",
                          "looped": 0})    # a newer line alignment of the same state: its reads alone are the row
    (j,) = [r for r in D._optical_lm(d) if "joint decoding" in r["result"]]
    assert "small mode" in j["result"] and j["value"].endswith("; base mode 93.0% (CTC 92.9%, the LM alone 91.0%)")
    d["lm_joint"][-1]["joint"] = 0.95                      # the best mode's read is the row's, with its alignment
    (j,) = [r for r in D._optical_lm(d) if "joint decoding" in r["result"]]
    assert "base mode" in j["result"] and "one to 2 adjacent ink bands" in j["result"] and "small mode 88.4%" in j["value"]
    d["lm_joint"].append({**d["lm_joint"][-1], "pages of": "real PDFs", "joint": 0.99})   # never a Fox-like row
    assert [r for r in D._optical_lm(d) if "joint decoding" in r["result"]][0]["value"].startswith("95.0%")
    d["lm_joint"].append({**d["lm_joint"][-2], "pages of": "Fox-like: lcet10.txt", "joint": 0.90, "LM alone": 0.88,
                          "joint - CTC (points)": "+0.5 ± 0.3"})     # fresh pages: beside the row, never the row
    (j,) = [r for r in D._optical_lm(d) if "joint decoding" in r["result"]]
    assert j["value"].startswith("95.0%") and j["value"].endswith(
        "; 14 fresh pages (lcet10.txt, read after the alignment was chosen) 90.0% vs CTC 92.9% (paired +0.5 ± 0.3), "
        "the LM alone 88.0%")
    assert reads.source({"pages": 14, "fox_docs": ["canterbury/lcet10.txt"]}) == "Fox-like: lcet10.txt"
    assert reads.joint([dict(joint_file, fox_docs=["canterbury/lcet10.txt"])], [alone])[0]["lm_alone"] is None


def test_a_fallback_read_is_a_second_row_shown_beside_its_joint_read_never_as_it():
    """`--fallback f`: reads.joint gives the same reads with the derailed ones replaced as a second row; the
    dashboard's joint row stays the joint read's and names the fallback's figure beside it."""
    from lab.optical import reads

    w = {"examples": 9, "mode": "base", "pages": 14, "ctc_merge": 2, "fallback": 0.5, "lm_win16_base_g1_ctc0.5": 0.80,
         "lm_win16_control_g1_ctc0.5": 0.24, "ctc_win16_base": 0.888, "lm_minus_ctc_win16_g1_ctc0.5": [-0.08, 0.045],
         "fallback0.5_win16_base_g1_ctc0.5": 0.86, "fallback0.5_win16_control_g1_ctc0.5": 0.25,
         "fallback0.5_minus_ctc_win16_g1_ctc0.5": [-0.028, 0.02], "fallback0.5_win16_g1_ctc0.5_replaced": [6]}
    plain, fb = reads.joint([w])
    assert plain["fallback"] is None and plain["joint"] == 0.80
    assert (fb["fallback"], fb["joint"], fb["control"], fb["replaced"], fb["ctc"]) == (0.5, 0.86, 0.25, 1, 0.888)
    row = {"mode": "base", "examples": 9, "pages": 14, "CTC weight": 0.5, "bands a line": 2, "stage-1 CTC": 0.888,
           "LM alone": 0.826, "looped": 4}
    d = {"meta": {"machine": "m", "date": "2026-12-07"}, "lm_curve": [{"examples": 10, "GPU-min": 1.0}],
         "lm_joint": [{**row, "joint": 0.80, "control": 0.24, "joint - CTC (points)": "-8.0 ± 4.5", "fallback below": "",
                       "replaced": ""},
                      {**row, "joint": 0.99, "control": 0.25, "joint - CTC (points)": "+10.2 ± 2.0",
                       "fallback below": 0.5, "replaced": 1}]}
    (j,) = [r for r in D._optical_lm(d) if "joint decoding" in r["result"]]
    assert j["value"].startswith("80.0% vs stage-1 CTC 88.8% (paired -8.0 ± 4.5 points) (derailed reads replaced by "
                                 "the head's text, agreement < 0.5: 99.0%, paired +10.2 ± 2.0)")
