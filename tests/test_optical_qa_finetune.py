"""The answering model's fine-tuning (lab/optical/qa/finetune.py) on the tiny chat model: items from the training
documents only, answer-only loss that falls, an adapter that saves, reloads to the same numbers and is refused
when damaged."""
import pytest

from lab import FormatError, data, models
from lab.optical.qa import finetune as F
from lab.optical.qa.answer import TextAnswerer
from lab.optical.qa.questions import NO_ANSWER


def test_items_come_from_training_documents_only():
    items = F.training_items(pages=12, seed=0)
    assert len(items) >= 24 and all(c and q and a for c, q, a in items)
    assert any(a == NO_ANSWER for *_, a in items)
    test_text = "".join(t for _, t, k in data.page_documents("test") if k == "text")
    assert all(c[:200] not in test_text for c, *_ in items)
    assert F.training_items(pages=12, seed=0) == items


def test_encode_keeps_question_and_answer_when_the_context_is_cut():
    _, tok = models.tiny_lm(models.TINY_CHAT)
    ids, n = F.encode(tok, "x" * 5000, "What is it?", "the answer", max_tokens=300)
    assert len(ids) <= 300 and tok.decode(ids[n:]).startswith(" the answer") and "What is it?" in tok.decode(ids[:n])


def test_kept_logits_are_the_full_logits_at_the_kept_positions():
    import peft
    import torch

    lm, _ = models.tiny_lm(models.TINY_CHAT)
    model = peft.get_peft_model(lm, peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    x = torch.randint(3, 200, (2, 9))
    keep = torch.zeros_like(x, dtype=torch.bool)
    keep[0, 3:5], keep[1, 7] = True, True
    with torch.no_grad():
        full = model(input_ids=x).logits
        got = F.kept_logits(model, x, keep)
    assert got.shape == (3, full.shape[-1]) and torch.allclose(got, full[keep], atol=1e-5)


def test_finetune_lowers_the_answer_loss_and_the_adapter_round_trips(tmp_path):
    items = [(c[:160], q, a) for c, q, a in F.training_items(pages=4, seed=1)[:8]]   # short: bytes are tokens here
    lm, tok = models.tiny_lm(models.TINY_CHAT)
    gold = items
    before = TextAnswerer(lm, tok).answer_nll(gold)
    cfg = F.FinetuneConfig(r=8, alpha=16, lr=1e-2, warmup=2, steps=60, tokens=4096, max_tokens=384)
    model, rec = F.finetune(lm, tok, items, cfg)
    after = TextAnswerer(model, tok).answer_nll(gold)
    assert rec["steps"] == 60 and rec["examples"] >= 60 and rec["curve"][-1]["step"] == 60
    assert sum(after) < 0.9 * sum(before)           # from the uniform 5.55 nats a byte towards the answers
    sha = F.save_adapter(model, tmp_path / "qa", rec)
    again = F.load_adapter(models.tiny_lm(models.TINY_CHAT)[0], tmp_path / "qa")
    assert TextAnswerer(again, tok).answer_nll(gold) == pytest.approx(after, rel=2e-3)
    assert len(sha) == 64 and TextAnswerer(again, tok).answer([(items[0][0], items[0][1])], max_new_tokens=4)
    f = tmp_path / "qa" / "adapter.safetensors"
    f.write_bytes(f.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(FormatError, match="damaged"):
        F.load_adapter(models.tiny_lm(models.TINY_CHAT)[0], tmp_path / "qa")
    with pytest.raises(FormatError, match="not an answering adapter"):
        F.load_adapter(models.tiny_lm(models.TINY_CHAT)[0], tmp_path / "nothing")


def test_finetune_table_gives_intervals_and_judges_the_bar():
    from lab.optical.qa import study as S

    m, h = S.ci95([1] * 70 + [0] * 30)
    assert m == 0.7 and 0.08 < h < 0.10                     # Wilson at n=100: ~±0.089
    assert S.ci95([0.5, 1.5])[1] > 0 and S.ci95([]) != S.ci95([])    # nan for no questions
    rows = []
    for model, hit in (("adapted", 0.75), ("unadapted", 0.1)):
        for cond in ("none", "full"):
            for i in range(200):
                ok = float(cond == "full" and i < hit * 200)
                rows.append({"model": model, "condition": cond, "kind": "cloze" if i % 2 else "unanswerable",
                             "em": ok * (i % 4 != 1), "f1": ok, "contains": ok, "answer_nll": 2.0})
    t = S.finetune_rows(rows)
    assert [(r["model"], r["context"]) for r in t] == [("adapted", "none"), ("adapted", "full"),
                                                       ("unadapted", "none"), ("unadapted", "full")]
    assert t[1]["answer contained"].startswith("0.750 ± 0.0") and t[1]["questions"] == 200
    assert len(S.finetune_rows(rows, by_kind=True)) == 8
    bar = S.finetune_bars(rows)
    assert bar["questions"] == 200 and bar["contains"][0] == 0.75 and bar["unadapted_contains"][0] == 0.1
    assert bar["em"][0] == 0.56 and bar["met"]      # 150 hits less the 38 with i % 4 == 1
    # the answerable (odd i, cloze) alone: 75 of 100 contained, 37 exact (the 38 with i % 4 == 1 are all odd)
    assert bar["answerable"] == 100 and bar["answerable_contains"][0] == 0.75 and bar["answerable_em"][0] == 0.37
    assert not S.finetune_bars([r for r in rows if r["model"] == "unadapted"])["met"]


def test_budget_verdict_and_context_curve_compare_each_context_with_the_full_text():
    from lab.optical.qa import study as S

    rows = []
    for model, cond, b, tokens, hits in (("adapted", "full", None, 700, 8), ("adapted", "bm25", 100, 98, 6),
                                         ("adapted", "first", 100, 100, 3), ("pooled", "pooled", 100, 100, 4),
                                         ("adapted", "bm25", 64, 60, 5), ("adapted", "ocr", 100, 780, 7)):
        rows += [{"model": model, "condition": cond, "budget": b, "pages": 1, "kind": "cloze", "context_tokens": tokens,
                  "contains": float(i < hits), "em": 0.0, "f1": 0.0, "answer_nll": 1.0} for i in range(10)]
    v = S.budget_verdict(rows, 100)
    assert "full text 80%" in v and "bm25-100 60%" in v and "(75% of full text)" in v and "pooled-100 40%" in v
    assert "not measured: vision-100" in v and "ocr-100 70%" in v     # the vision tokens read back into text
    assert S.budget_verdict(rows, 256) is None and S.budget_verdict(rows, 100, pages=4) is None
    assert "is not measured" in S.vision_answer_line(rows)                 # no vision rows yet
    vis = [{"model": "vision", "condition": "vision", "budget": 100, "pages": 1, "contains": float(i < 2)} for i in range(10)]
    line = S.vision_answer_line(rows + vis)
    assert "in 20% of its answers, BM25's 100 text tokens 60%" in line and "does not answer yet" in line
    vis = [dict(r, contains=1.0) for r in vis]
    assert "answers as well as BM25" in S.vision_answer_line(rows + vis)
    curve = S.context_curve(rows)
    assert curve["adapted", "bm25"] == [(60.0, 0.5), (98.0, 0.6)] and curve["pooled", "pooled"] == [(100.0, 0.4)]


def test_vision_qa_curve_sums_a_chain_and_splits_by_kind():
    from lab.optical.qa import study as S

    def run(sha, seconds, examples, hits, frm=None):
        rows = [{"condition": "vision", "pages": 1, "kind": "cloze" if i < 6 else "follows",
                 "contains": float(i in hits), "em": float(i in hits[:1])} for i in range(10)]
        rec = {"seconds": seconds, "examples": examples, **({"from_reader": {"sha256": frm, "examples": 9}} if frm else {})}
        return {"record": rec, "rows": rows, "adapter_sha256": sha}

    out = S.vision_qa_curve([("first", run("a", 180.0, 100, [0])), ("other", run("b", 150.0, 80, [])),
                             ("more", run("c", 280.4, 150, [0, 6, 7], frm="a"))])
    assert [r["QA seconds (total)"] for r in out] == [180, 150, 460] and out[2]["QA examples (total)"] == 250
    assert out[2]["goes on from"] == "first" and out[1]["goes on from"] == "the campaign's state"
    assert out[2]["answer contained"].startswith("0.300 ±") and out[2]["exact match"].startswith("0.100 ±")
    assert out[2]["cloze (6)"] == "0.17" and out[2]["follows (4)"] == "0.50" and list(out[2])[-2:] == ["cloze (6)", "follows (4)"]
    cut = {"record": {"seconds": 290.0, "examples": 120, "from_reader": {"sha256": "c", "examples": 9}}, "rows": [],
           "adapter_sha256": "d", "complete": False}          # a call that ran out before scoring: in the chain, unscored
    out = S.vision_qa_curve([("more", run("c", 280.4, 150, [0, 6, 7])), ("cut", cut),
                             ("last", run("e", 200.0, 50, [0], frm="d"))])
    assert out[1]["answer contained"] == out[1]["exact match"] == "not scored" and out[1]["questions"] == 0
    assert out[2]["QA seconds (total)"] == 770 and out[2]["QA examples (total)"] == 320 and out[2]["goes on from"] == "cut"
