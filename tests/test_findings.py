"""The reports' tables and verdicts live in lab (notebooks only display them): each is computed from the rows it
cites, so a changed measurement changes the sentence."""
import json

import numpy as np
import pytest

from lab.llm import findings as F
from lab.optical import study as S
from lab.optical.qa import study as QS

GPU = ["reports/llm_gpu/llm_gpu_kv.json", "reports/llm_gpu/llm_gpu_kv2.json", "reports/llm_gpu/llm_gpu_kv3.json"]


def test_gpu_kv_merge_and_the_kv_sentences_follow_the_rows(tmp_path):
    gpu = F.merge_gpu_kv(GPU)
    keys = [(r["label"], r["text"]) for r in gpu["kv"]]
    assert len(keys) == len(set(keys)) and ("h2o 256 tok", "bible-test") in keys
    assert all(r["delta_%"] == 0 for r in gpu["kv"] if r["method"] == "full")
    lines = F.kv_lines(gpu, [])
    k3 = [r for r in gpu["kv"] if r["label"] == "kivi 3b"]
    assert f"KIVI 3-bit {k3[0]['ratio']:.1f}x at {k3[0]['delta_%']:+.1f}%" in lines[0]
    assert "**met**" in lines[1]
    # the same sentence says "not met" when eviction costs more than 5%
    for r in gpu["kv"]:
        if r["method"] in ("h2o", "sinks"):
            r["delta_%"] = 9.0
    assert "**not met**" in F.kv_lines(gpu, [])[1]
    assert F.merge_gpu_kv([str(tmp_path / "missing.json")]) is None


def test_labels_come_from_the_methods():
    assert F.label("h2o", budget=256, store="eigen", keep=0.25, bits=4) == "h2o keep 0.25 256 tok 4b"
    with pytest.raises(ValueError):
        F.label("kivi", budget=3)


def test_df_and_similarity_verdicts():
    rows = [{"layer": i, "hidden_df": 1.5, "hidden_df_no_outliers": 40.0, "k_df_layer": 20.0, "v_df_layer": 60.0}
            for i in range(6)]
    lines = F.df_lines(rows, [{"df": 100.0}, {"df": 300.0}], "this run")
    assert "**1.50**" in lines[1] and "Refuted" in lines[1] and "Not reproduced" in lines[2] and "100-300" in lines[3]
    H = np.random.default_rng(0).standard_normal((4, 300, 64)).astype(np.float32)
    sim = F.similarity_rows(H)
    assert len(sim) == 3 and all(-1 <= r["corr"] <= 1 for r in sim)
    cross = [{"corr": 0.95}, {"corr": 0.97}]
    other = [{"hidden_df": 10.0, "outlier_dims": 0}, {"hidden_df": 30.0, "outlier_dims": 0}]
    v = F.similarity_verdict(sim, cross, rows, other, "a", "b")
    assert "**not reproduced.**" in v and "0.950-0.970, below" in v and "no outlier dimension" in v


def _qa_rows():
    rows = []
    for cond, budget, hit in (("full", None, 1.0), ("first", 100, 0.0), ("bm25", 100, 1.0), ("ocr", 100, 1.0), ("none", None, 0.0)):
        for q in range(4):
            rows.append({"question": f"q{q}", "kind": "cloze", "condition": cond, "budget": budget, "pages": 1,
                         "em": hit * (q % 2), "f1": hit, "contains": hit * (q < 2), "answer_nll": 2.0,
                         "context_tokens": 1000 if cond == "full" else 100, "seconds": 0.1})
    return rows


def test_qa_tables_and_verdict():
    t = QS.report_rows(_qa_rows())
    assert [r["context"] for r in t] == ["full", "first", "bm25", "ocr", "none"]
    assert t[0]["answer contained"] == 0.5 and t[1]["budget / page"] == 100 and t[0]["budget / page"] == "-"
    lines = QS.verdict(_qa_rows(), "this run")
    assert "~10.0x fewer" in lines[0] and "answer contained 50%" in lines[0] and "100% of full text" in lines[0]
    assert "With 4 questions" in lines[-1]
    bank = QS.bank_rows([{"policy": p, "bank_tokens": 10, "retrieved_gold": 1.0, "em": 0.0, "f1": 0.5, "contains": 1.0,
                          "context_tokens": 50, "seconds": 0.2} for p in ("full", "full", "lru")])
    assert [(r["bank"], r["questions"]) for r in bank] == [("full", 2), ("lru", 1)]


def test_fox_and_campaign_verdicts(tmp_path):
    table = [{"reader": "lab encoder + reader", "mode": "tiny", "text tokens": "600-700", "precision": 0.8, "ratio": 10.0,
              "DeepSeek-OCR precision (quoted)": 0.965},
             {"reader": "tesseract", "mode": "tiny", "text tokens": "600-700", "precision": 0.3, "ratio": 10.0,
              "DeepSeek-OCR precision (quoted)": 0.965}]
    lines = S.fox_verdict(table, ["tiny"], ["tesseract"])
    assert "600-700: 80%" in lines[0] and "-16 points at 10.0x" in lines[0] and "At ~10x: 80%" in lines[0] and lines[1].startswith("- tesseract")
    camp = S.campaign("models/optical-lm-reader", ["reports/optical_gpu/campaign/c2_windows_cpu.json",
                                                   "reports/optical_gpu/campaign/c4_windows_cpu.json",
                                                   "reports/optical_gpu/campaign/c6_windows_cpu.json",
                                                   "reports/optical_gpu/campaign/c35_windows_cpu.json"])
    w = json.loads(open("reports/optical_gpu/campaign/c35_windows_cpu.json").read())
    assert [r["examples"] for r in camp["windows"]] == [154724, 287707, 374325, w["examples"]]
    assert w["examples"] <= camp["examples"]          # a read of the state at that point; the state may be newer
    assert camp["window_gap"] == pytest.approx(w["nll_win1_control"] - w["nll_win1_small"])
    v = S.campaign_verdict(camp)
    assert f"{camp['examples']:,} examples" in v and f"{w['nll_win1_small']:.2f}" in v
    assert ("begins to read" in v or "reads single rows" in v) == (camp["window_gap"] > 0.2)
    assert f"{w['lm_win1_small']:.0%} of a row against {w['lm_win1_control']:.0%}" in v


def test_campaign_verdict_reads_whole_pages_and_single_rows_apart():
    camp = {"examples": 500, "gpu_minutes": 10.0, "curve": [{"run": "c1", "examples": 100, "lm_small": 0.3,
                                                             "lm_control": 0.25, "reads_gap": 0.05}],
            "windows": [{"examples": 400, "mode": "small", "lm_win1_small": 0.6, "lm_win1_control": 0.3,
                         "nll_win1_small": 2.5, "nll_win1_control": 7.0},
                        {"examples": 500, "mode": "small", "lm_win10_small": 0.35, "lm_win10_control": 0.27,
                         "nll_win10_small": 3.1, "nll_win10_control": 5.0}]}
    v = S.campaign_verdict(camp)
    assert "Whole held-out pages read greedily on the CPU at 500 examples (small mode): 35% against 27%" in v
    assert "+8 points" in v and "single rows at 400 examples" in v and "60% of a row against 30%" in v
    camp["windows"][1].update(lm_win10_small=0.6, lm_win10_control=0.26)
    assert "reads single rows and whole pages" in S.campaign_verdict(camp)
    camp["windows"].append({"examples": 500, "mode": "base", "pages": "Fox-like (14)", "lm_win16_base_g1": 0.915,
                            "lm_win16_control_g1": 0.264, "ctc_win16_base": 0.928})   # the newest base read, guided
    v = S.campaign_verdict(camp)
    assert "**It reads whole pages at the bar in base mode: 91.5% against 26%" in v and "CTC reader 92.8%" in v
    camp["windows"].append({"examples": 600, "mode": "base", "pages": "Fox-like (14)", "lm_win16_base_g1": 0.86,
                            "lm_win16_control_g1": 0.26})                       # a newer state's read below the bar
    assert "at the bar" not in S.campaign_verdict(camp)


def test_campaign_verdict_names_the_guided_reads_beside_the_greedy_ones():
    camp = {"examples": 500, "gpu_minutes": 10.0, "curve": [{"run": "c1", "examples": 100, "lm_small": 0.3,
                                                             "lm_control": 0.25, "reads_gap": 0.05}],
            "windows": [{"examples": 500, "mode": "small", "lm_win10_small": 0.58, "lm_win10_control": 0.25,
                         "nll_win10_small": 1.4, "nll_win10_control": 5.7},
                        {"examples": 500, "mode": "small", "lm_win10_small_g1": 0.73, "lm_win10_control_g1": 0.26}]}
    v = S.campaign_verdict(camp)
    assert "**Read with guidance**" in v and "scale 1" in v
    assert "whole pages in small mode 73% against 26% at 500 examples (greedy 58%)" in v
    assert "Whole held-out pages read greedily on the CPU at 500 examples (small mode): 58% against 25%" in v
    camp["windows"].pop()
    assert "guidance" not in S.campaign_verdict(camp)


def test_campaign_verdict_keeps_real_pdf_pages_apart_from_the_fox_pages():
    camp = {"examples": 500, "gpu_minutes": 10.0, "curve": [{"run": "c1", "examples": 100, "lm_small": 0.3,
                                                             "lm_control": 0.25, "reads_gap": 0.05}],
            "windows": [{"examples": 500, "mode": "small", "pages": "Fox-like (7)", "lm_win10_small": 0.6,
                         "lm_win10_control": 0.26, "nll_win10_small": 3.1, "nll_win10_control": 5.0},
                        {"examples": 500, "mode": "small", "pages": "real PDF (6)", "lm_win10_small": 0.31,
                         "lm_win10_control": 0.22, "nll_win10_small": 4.0, "nll_win10_control": 5.5}]}
    v = S.campaign_verdict(camp)
    assert "(small mode): 60% against 26%" in v                      # the Fox-like read stays the headline
    assert "real PDFs (6 pages of documents it never saw;" in v and "31% against 22% (+9 points)" in v
    assert "CTC" not in v
    camp["windows"][0]["ctc_win10_small"], camp["windows"][1]["ctc_win10_small"] = 0.86, 0.34
    v = S.campaign_verdict(camp)                                      # the stage-1 reader beside both reads
    assert "5.00 nats/token); the stage-1 CTC reader 86% from the same tokens" in v
    assert "(+9 points; the stage-1 CTC reader 34% from the same tokens)" in v
    camp["windows"].append({"examples": 500, "mode": "base", "pages": "Fox-like (7)", "lm_win16_base": 0.45,
                            "lm_win16_control": 0.25, "nll_win16_base": 2.0, "nll_win16_control": 5.0,
                            "ctc_win16_base": 0.95})
    v = S.campaign_verdict(camp)                                      # base mode stands apart from the headline
    assert "(small mode): 60% against 26%" in v
    assert "In base mode (the bar's) at 500 examples: 45% against 25% from another page's tokens; the stage-1 CTC " \
           "reader 95% from the same tokens." in v


def test_campaign_verdict_says_when_greedy_pages_fall_while_the_loss_falls():
    w = lambda ex, read, nll: {"examples": ex, "mode": "small", "lm_win10_small": read, "lm_win10_control": 0.27,   # noqa: E731
                               "nll_win10_small": nll, "nll_win10_control": 6.0}
    camp = {"examples": 600, "gpu_minutes": 10.0, "curve": [{"run": "c1", "examples": 100, "lm_small": 0.3,
                                                             "lm_control": 0.25, "reads_gap": 0.05}],
            "windows": [w(500, 0.60, 3.55), w(600, 0.51, 1.83)]}
    v = S.campaign_verdict(camp)
    assert "at 500 examples: 60% and 3.55 nats/token" in v and "greedy reading fell while the teacher-forced loss fell" in v
    camp["windows"][1] = w(600, 0.65, 1.83)
    assert "at 500 examples: 60%" in S.campaign_verdict(camp) and "fell" not in S.campaign_verdict(camp)
