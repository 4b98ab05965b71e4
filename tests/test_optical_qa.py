"""Phase 2 of the optical QA issue: question-answer pairs from page text (lab/optical/qa/questions.py, `lab optical qa-data`)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lab import data, models
from lab.optical.qa import questions as qa
from lab.optical.bank.store import MemoryBank


def _pages():
    alice = data.path("canterbury", "alice29.txt").read_text(errors="replace")
    lcet = data.path("canterbury", "lcet10.txt").read_text(errors="replace")
    return ([(f"alice#{i}", "alice", alice[5000 + 1500 * i: 6500 + 1500 * i]) for i in range(6)]
            + [(f"lcet#{i}", "lcet", lcet[9000 + 1500 * i: 10500 + 1500 * i]) for i in range(3)])


def test_questions_are_seeded_extractive_and_split_by_document():
    pages = _pages()
    qs = qa.questions(pages, seed=0)
    assert [(q.question, q.answer) for q in qs] == [(q.question, q.answer) for q in qa.questions(pages, seed=0)]
    assert [q.question for q in qs] != [q.question for q in qa.questions(pages, seed=1)]
    kinds = {q.kind for q in qs}
    assert {"cloze", "follows", "who", "summary", "unanswerable"} <= kinds
    text = {p: t for p, _, t in pages}
    for q in qs:
        page_words = set(qa.normalise(text[q.page]))
        if q.kind in ("cloze", "follows", "who", "number"):
            assert q.answer and set(qa.normalise(q.answer)) <= page_words, q
        if q.kind == "unanswerable":
            assert q.answer == qa.NO_ANSWER
    by_doc = {}
    for q in qs:
        by_doc.setdefault(q.document, set()).add(q.split == "test")
    assert all(len(v) == 1 for v in by_doc.values())          # a test document is test on every page
    assert qa.split_of("alice", "alice#1") == qa.split_of("alice", "alice#1")


def test_training_who_questions_name_the_speaker_before_the_quote():
    """The training documents name speakers before their words ("lily said, '...'"), never as alice29 does:
    `speaker_first` makes training `who` questions of that form, pronouns and adverbs refused as names; the
    held-out questions (made without it) are unchanged."""
    story = [("s#0", "story", 'one day lily went home. lily said, "mom, i found a shiny needle in the garden." '
              'her mom smiled and said, "yes, we can fix your shirt now." then he said, "thank you very much."'),
             ("s#1", "story", 'the boy ran. he said, "i want to go to the park today." she softly said, "no, '
              'not today, it is raining."')]
    who = [q for q in qa.questions(story, seed=0, speaker_first=True) if q.kind == "who"]
    assert [(q.question, q.answer) for q in who] == [('Who said "mom, i found a shiny needle in the garden"?', "lily")]
    assert not any(q.kind == "who" for q in qa.questions(story, seed=0))
    pages = _pages()
    assert ([(q.question, q.answer) for q in qa.questions(pages, seed=0)]
            == [(q.question, q.answer) for q in qa.questions(pages, seed=0, speaker_first=True)])   # alice's kept


def test_questions_split_each_page_into_sentences_once(monkeypatch):
    """The unanswerable kind draws from every other document's pages: their sentences are split once, not once
    per page asking (6,000 training pages took 40 minutes that way; a device run waited on it)."""
    pages = _pages() * 10
    pages = [(f"{p}#{i}", d, t) for i, (p, d, t) in enumerate(pages)]
    calls, split = [], qa.sentences
    monkeypatch.setattr(qa, "sentences", lambda t: calls.append(1) or split(t))
    qs = qa.questions(pages, seed=0)
    assert len(calls) == len(pages) and any(q.kind == "unanswerable" for q in qs)


def test_exact_match_and_token_f1():
    assert qa.exact_match("The Queen!", "queen") == 1.0 and qa.exact_match("a king", "queen") == 0.0
    assert qa.token_f1("queen of hearts", "the Queen") == 0.5
    assert qa.token_f1("", "") == 1.0 and qa.token_f1("x", "") == 0.0


def test_cli_qa_data_writes_jsonl_and_refuses_an_empty_bank(tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "lab", "optical", *map(str, a)],  # noqa: E731
                                    capture_output=True, text=True)
    with MemoryBank.open(tmp_path / "empty", create=True, encoder="random:0", embedder="hashing-64"):
        pass
    r = run("qa-data", tmp_path / "empty", "-o", tmp_path / "e.jsonl")
    assert r.returncode == 2 and "no pages" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "e.jsonl").exists()
    doc = tmp_path / "a.txt"
    doc.write_text(_pages()[0][2] + "\n\n" + _pages()[1][2])
    assert run("add", tmp_path / "bank", doc, "--encoder", "random:0", "--embedder", "hashing-64", "--quiet").returncode == 0
    r = run("qa-data", tmp_path / "bank", "-o", tmp_path / "qa.jsonl", "--seed", "3")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in (tmp_path / "qa.jsonl").read_text().splitlines()]
    assert rows and {"id", "page", "document", "kind", "question", "answer", "split"} <= set(rows[0])
    assert qa.read_jsonl(tmp_path / "qa.jsonl")[0].question == rows[0]["question"]


class _Words:
    """A whitespace tokenizer with the Hugging Face encode/decode signature."""

    def encode(self, s, add_special_tokens=False):
        return s.split()

    def decode(self, ids):
        return " ".join(ids)


def test_text_at_the_same_token_budget():
    page = ("Alice met the Cat in the wood. The Queen shouted at everyone loudly. "
            "The Hatter poured tea for the March Hare. Nobody won the caucus race.")
    tok = _Words()
    assert qa.first_tokens(page, 5, tok) == "Alice met the Cat in"
    got = qa.bm25_tokens(page, "Who poured tea?", 9, tok)
    assert got == "The Hatter poured tea for the March Hare."          # the best sentence that fits
    both = qa.bm25_tokens(page, "Who poured tea for the Queen?", 16, tok)
    assert both.index("Queen") < both.index("Hatter")                  # page order kept
    assert len(both.split()) <= 16
    assert qa.bm25_tokens(page, "zebra", 7, tok) == "Alice met the Cat in the wood."   # no match: page order


def test_ask_answers_from_retrieved_memories_and_refuses_bad_input(tmp_path, tiny_lm):
    """Phase 5's plumbing with a tiny random LM: retrieval within the budget, generation, access counts, and
    the refusals (empty bank, empty or overlong question, missing checkpoint, no lm/ reader, wrong encoder)."""
    import torch

    from lab import FormatError, UsageError
    from lab.optical import model as M, vision
    from lab.optical.qa.ask import OpticalQA
    from lab.optical.decoder import LMReader, ReaderSpec
    from lab.optical.encoder import EncoderConfig

    lm, tok = models.tiny_lm(models.TINY_CHAT)
    enc = vision.load("random:0").model
    with MemoryBank.open(tmp_path / "bank", create=True, encoder="random:0", embedder="hashing-64") as bank:
        qa_ = OpticalQA(bank, LMReader(lm, tok, enc.reader, 32, ReaderSpec(r=2, alpha=4)).eval())
        with pytest.raises(FormatError, match="no memory fits"):
            qa_.ask("the cat")
        doc = tmp_path / "a.txt"
        doc.write_text(_pages()[0][2][:500] + "\n\n\n" + _pages()[6][2][:500])
        assert bank.add([doc], mode="tiny").added >= 1
        ans = qa_.ask("Alice rabbit hole", budget=128, max_new_tokens=4)
        assert isinstance(ans.text, str) and ans.memories and 0 < ans.tokens <= 128
        used = {h.id for h in ans.memories}
        counts = dict(zip(bank.list()["id"], bank.list()["access_count"]))
        assert all(counts[i] == 1 for i in used)
        with pytest.raises(UsageError, match="empty"):
            qa_.ask("   ")
        with pytest.raises(UsageError, match="at most"):
            qa_.ask("cat " * 300)
        with pytest.raises(FormatError, match="no checkpoint"):
            OpticalQA.load(bank, tmp_path / "nope")
        torch.manual_seed(1)               # not random:0's weights (ask() seeds 0 before generating)
        m = M.OpticalModel(EncoderConfig(local_dim=32, local_layers=1, local_heads=2, dim=32, global_layers=1,
                                         global_heads=2), M.ReaderConfig(kind="grid", emb=4, frame_hidden=8))
        M.save(m, tmp_path / "ck")
        with pytest.raises(FormatError, match="refused"):
            OpticalQA.load(bank, tmp_path / "ck")                       # auto -> ocr: the bank's encoder differs
        with pytest.raises(UsageError, match="via"):
            OpticalQA.load(bank, tmp_path / "ck", via="telepathy")
        M.save(enc, tmp_path / "ck0")                                   # the bank's own encoder
        with pytest.raises(FormatError, match="not a language-model reader"):
            OpticalQA.load(bank, tmp_path / "ck0", via="vision", lm_reader=tmp_path / "nolm")


def _tiny_checkpoint(path):
    """A tiny encoder + grid reader saved as a checkpoint (seeded): a bank's encoder and the ocr path's reader."""
    import torch

    from lab.optical import model as M
    from lab.optical.encoder import EncoderConfig

    torch.manual_seed(1)
    m = M.OpticalModel(EncoderConfig(local_dim=32, local_layers=1, local_heads=2, dim=32, global_layers=1,
                                     global_heads=2), M.ReaderConfig(kind="grid", emb=4, frame_hidden=8))
    M.save(m, path)
    return m


def test_ocr_path_reads_memories_into_text_for_the_language_model(tmp_path, tiny_lm):
    """via ocr: the stage-1 reader of the bank's own encoder reads each retrieved memory's tokens into text,
    the (unadapted) LM answers from it; the answer records the path and its context length."""
    import torch

    from lab.optical import model as M
    from lab.optical.qa.answer import TextAnswerer, prompt
    from lab.optical.qa.ask import OpticalQA

    m = _tiny_checkpoint(tmp_path / "ck")
    lm, tok = tiny_lm
    with MemoryBank.open(tmp_path / "bank", create=True, encoder=str(tmp_path / "ck"), embedder="hashing-64") as bank:
        doc = tmp_path / "a.txt"
        doc.write_text(_pages()[0][2][:500])
        assert bank.add([doc], mode="tiny").added == 1
        qa_ = OpticalQA(bank, ocr=M.load(tmp_path / "ck")[0], answerer=TextAnswerer(lm.eval(), tok))
        ans = qa_.ask("Alice rabbit", budget=64, max_new_tokens=3)
        assert ans.via == "ocr" and ans.tokens == 64 and len(ans.memories) == 1 and isinstance(ans.text, str)
        assert ans.context_tokens == TextAnswerer(lm, tok).context_tokens(
            M.load(tmp_path / "ck")[0].reader.read(torch.from_numpy(bank.tokens(ans.memories[0].id)[0])[None])[0])
        assert ans.to_dict()["via"] == "ocr"
    with MemoryBank.open(tmp_path / "bank") as bank:          # via text: the pages' stored text, same retrieval
        qa_ = OpticalQA(bank, answerer=TextAnswerer(lm.eval(), tok), text=True)
        ans = qa_.ask("Alice rabbit", budget=64, max_new_tokens=3)
        assert ans.via == "text" and ans.tokens == 64 and ans.read == [ans.memories[0].text]
        assert ans.memories[0].text.split()[:3] == _pages()[0][2][:500].split()[:3]
        assert ans.context_tokens == TextAnswerer(lm, tok).context_tokens(ans.memories[0].text)
    with pytest.raises(ValueError, match="via text"):
        OpticalQA(bank, reader=object(), answerer=TextAnswerer(lm.eval(), tok), text=True)
    assert prompt(None, "who?").startswith("<|im_start|>user\n") and "Question: who?" in prompt("ctx", "who?")
    assert TextAnswerer(lm.eval(), tok, batch=2).answer([(None, "the cat"), ("the cat sat .", "the cat"),
                                                         ("cat", "sat")], max_new_tokens=2).__len__() == 3


def test_ask_answers_through_an_answering_adapter_and_refuses_a_wrong_one(tmp_path):
    """--qa-adapter: the answering model's LoRA (qa.finetune's folder) on the text LM of the ocr and text paths;
    refused for the vision path, and a folder that is not an adapter is a FormatError naming it."""
    from dataclasses import asdict

    from lab import FormatError, UsageError
    from lab.optical.qa import finetune as F
    from lab.optical.qa.ask import OpticalQA

    _tiny_checkpoint(tmp_path / "ck")
    lm, _ = models.tiny_lm(models.TINY_CHAT)
    cfg = F.FinetuneConfig(r=2, alpha=4)
    F.save_adapter(F.add_lora(lm, cfg), tmp_path / "qa", {"config": asdict(cfg)})
    with MemoryBank.open(tmp_path / "bank", create=True, encoder=str(tmp_path / "ck"), embedder="hashing-64") as bank:
        doc = tmp_path / "a.txt"
        doc.write_text(_pages()[0][2][:500])
        assert bank.add([doc], mode="tiny").added == 1
        for via in ("ocr", "text"):
            qa_ = OpticalQA.load(bank, tmp_path / "ck", via=via, lm_name=models.TINY_CHAT, qa_adapter=tmp_path / "qa")
            assert hasattr(qa_.answerer.lm, "peft_config")           # the adapter is on the answering LM
            ans = qa_.ask("Alice rabbit", budget=64, max_new_tokens=2)
            assert ans.via == via and isinstance(ans.text, str)
        with pytest.raises(UsageError, match="answering adapter"):
            OpticalQA.load(bank, tmp_path / "ck", via="vision", qa_adapter=tmp_path / "qa")
        with pytest.raises(FormatError, match="nothing"):
            OpticalQA.load(bank, tmp_path / "ck", via="text", lm_name=models.TINY_CHAT, qa_adapter=tmp_path / "nothing")


def test_ask_defaults_to_the_committed_answering_adapter_on_smollm2_only(tmp_path, monkeypatch):
    """qa_adapter="default" (the CLI's): the registered optical-qa-answerer for the ocr/text/auto paths when the
    answering LM is SmolLM2 (the LM it was trained on); none for the vision path, another LM, or "none"; the
    vision path reads with the registered optical-qa-vision."""
    from lab.optical.qa import ask as A
    from lab.optical.qa import finetune as F

    folder = models.trained_path(A.ANSWERER)                  # committed, its adapter.json naming the registered sha
    assert F.read_weights(folder, "adapter.safetensors", "adapter.json", "an answering adapter", F.FORMAT)[0][
        "sha256"] == models.TRAINED[A.ANSWERER].sha256
    loaded = []
    monkeypatch.setattr(models, "load_any_lm", lambda name, device: models.tiny_lm(models.TINY_CHAT))
    monkeypatch.setattr(F, "load_adapter", lambda lm, path: loaded.append(Path(path)) or lm)
    _tiny_checkpoint(tmp_path / "ck")
    with MemoryBank.open(tmp_path / "bank", create=True, encoder=str(tmp_path / "ck"), embedder="hashing-64") as bank:
        for via in ("auto", "ocr", "text"):
            A.OpticalQA.load(bank, tmp_path / "ck", via=via)
        assert loaded == [folder] * 3
        A.OpticalQA.load(bank, tmp_path / "ck", via="ocr", qa_adapter="none")
        A.OpticalQA.load(bank, tmp_path / "ck", via="ocr", lm_name=models.TINY_CHAT)
        assert len(loaded) == 3
        from lab.optical import train_lm

        readers = []                                          # the vision path: the committed optical-qa-vision
        monkeypatch.setattr(train_lm, "load_reader", lambda d, enc, device: readers.append(Path(d)) or (object(), {}))
        A.OpticalQA.load(bank, tmp_path / "ck", via="vision")
        assert readers == [models.trained_path(A.VISION_READER)] and len(loaded) == 3
        assert train_lm.read_meta(readers[0])["sha256"] == models.TRAINED[A.VISION_READER].sha256


def test_cli_ask_refusals_are_one_line(tmp_path, capsys):
    from lab.cli import main

    _tiny_checkpoint(tmp_path / "ck")
    with MemoryBank.open(tmp_path / "bank", create=True, encoder=str(tmp_path / "ck"), embedder="hashing-64"):
        pass
    b, ck, nolm = str(tmp_path / "bank"), str(tmp_path / "ck"), str(tmp_path / "nolm")
    capsys.readouterr()             # ask in this process; chat (below) as a real one, its question on stdin
    assert main(["optical", "ask", b, "who?", "--model", ck, "--via", "vision", "--lm-reader", nolm]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "language-model reader" in err, err
    assert main(["optical", "ask", b, "who?"]) == 2
    err = capsys.readouterr().err
    assert "refused" in err and len(err.strip().splitlines()) == 1, err
    r = subprocess.run([sys.executable, "-m", "lab", "optical", "chat", b, "--model", ck, "--via", "vision",
                        "--lm-reader", nolm], input="who?\nquit\n", capture_output=True, text=True)
    assert r.returncode == 2 and "language-model reader" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_ask_explorer_shows_answer_and_pages_and_one_line_errors(tmp_path, tiny_lm):
    """The notebook widget: Enter in the question box asks; the answer and one card (page image + label) per
    memory used appear; an empty question or a budget nothing fits is a message, not an exception; without
    an LM it shows what retrieval finds."""
    from lab.optical import model as M
    from lab.optical.qa.answer import TextAnswerer
    from lab.optical.qa.ask import OpticalQA
    from lab.optical.widgets import AskExplorer

    _tiny_checkpoint(tmp_path / "ck")
    lm, tok = tiny_lm
    with MemoryBank.open(tmp_path / "bank", create=True, encoder=str(tmp_path / "ck"), embedder="hashing-64") as bank:
        doc = tmp_path / "a.txt"
        doc.write_text(_pages()[0][2][:500] + "\n\n\n" + _pages()[6][2][:500])
        assert bank.add([doc], mode="tiny").added >= 1
        ex = AskExplorer(bank, OpticalQA(bank, ocr=M.load(tmp_path / "ck")[0], answerer=TextAnswerer(lm.eval(), tok)),
                         budget=64, max_new_tokens=2)
        ex.question.value = "Alice rabbit"
        assert ex.asked == 1 and "via ocr" in ex.answer.value and len(ex.pages.children) == 1
        img, label = ex.pages.children[0].children
        assert img.value[:8] == b"\x89PNG\r\n\x1a\n" and "[tiny, 64 tokens]" in label.value and "<code>" in label.value
        ex.budget.value = 16
        ex.ask()
        assert "no memory fits 16 tokens" in ex.answer.value and ex.pages.children == ()
        ex.ask("   ")
        assert "empty" in ex.answer.value
        plain = AskExplorer(bank, None, budget=200)
        plain.ask("Alice rabbit")
        assert "retrieval only" in plain.answer.value and len(plain.pages.children) >= 1


def test_qa_jsonl_refuses_what_is_not_qa_records(tmp_path):
    """Bad QA files are one FormatError each (the file, the line, what is wrong); the format is in make fuzz."""
    import json as js

    from lab import FormatError, formats

    good = formats.target("qa").samples[1]
    assert len(qa.parse_jsonl(good)) == 3
    rec = js.loads(good.splitlines()[0])
    for bad, what in ((b"\xff\xfe", "UTF-8"), (b"", "no QA records"), (b"[1, 2]\n", ":1: not a QA record"),
                      (good + b"{\"id\": 3}\n", ":4: not a QA record"),
                      (js.dumps({**rec, "kind": "poem"}).encode(), "wrong type, kind or split"),
                      (js.dumps({**rec, "answer": 7}).encode(), "wrong type")):
        with pytest.raises(FormatError, match=what):
            qa.parse_jsonl(bad, "x.jsonl")
    with pytest.raises(FormatError, match="cannot read"):
        qa.read_jsonl(tmp_path / "missing.jsonl")
    (tmp_path / "q.jsonl").write_bytes(good)
    assert qa.read_jsonl(tmp_path / "q.jsonl") == qa.parse_jsonl(good)


def test_bank_study_asks_a_bank_of_held_out_documents_cut_by_each_policy(tmp_path, tiny_lm):
    """The bank study end to end on tiny models: a bank of one-page sections of the test texts (each its own
    document), questions about them asked through OpticalQA, then each policy cutting copies of the bank to each
    share; rows per (policy, share); the table's answers per stored token and the verdict's ranking."""
    from lab import data
    from lab.optical.qa import study as S
    from lab.optical.qa.answer import TextAnswerer

    m = _tiny_checkpoint(tmp_path / "ck")
    pages = S.bank_corpus(4, pdf_pages=0, res=512)
    assert len({p.document for p in pages}) == 4 and all(" §" in p.document for p in pages)
    train = "".join(t for _, t, k in data.page_documents("train") if k == "text")
    assert all(p.text.split("\n")[1] not in train for p in pages)               # held-out text only
    qas = S.bank_questions(pages, 3)
    assert len(qas) == 3 and len({q.page for q in qas}) == 3 and all(q.kind != "unanswerable" for q in qas)
    from lab.optical.decoder import LMReader, ReaderSpec

    lm, tok = tiny_lm
    reader = LMReader(lm, tok, m.reader, 32, ReaderSpec(r=2, alpha=4)).eval()
    rows = S.bank_study(pages, qas, str(tmp_path / "ck"), TextAnswerer(lm.eval(), tok), m, tmp_path / "b", budget=64,
                        mode="tiny", policies=("seed", "fade"), keeps=(0.5, 0.25), max_new_tokens=2, reader=reader,
                        vias=("ocr", "vision"))
    n = len(rows) // 10         # questions within `ask`'s length (bytes are tokens on the tiny model)
    assert n >= 1 and len(rows) == 10 * n
    assert [r["via"] for r in rows[:2 * n]] == ["ocr"] * n + ["vision"] * n      # both paths on each bank
    t = S.bank_rows(rows)
    assert [(r["bank"], r["kept"], r["via"]) for r in t] == [
        (p, k, v) for p, k in [("none", "100%"), ("seed", "50%"), ("fade", "50%"), ("seed", "25%"), ("fade", "25%")]
        for v in ("ocr", "vision")]
    full = t[0]["bank tokens"]
    assert full == 4 * 64 and all(r["bank tokens"] <= full * float(r["kept"][:-1]) / 100 for r in t[2:])
    assert all(r["questions"] == n for r in t)
    assert all(r["answered / 1k stored"] == round(1000 * r["answer contained"] * n / r["bank tokens"], 2) for r in t)
    lines = S.bank_verdict(rows)
    assert len(lines) == 4 and lines[0].startswith("- bank cut to 50% of its tokens (via ocr)")
    assert "seed" in lines[0] and "fade" in lines[1] and "(via vision)" in lines[2]
    old = [{k: v for k, v in r.items() if k != "via"} for r in rows if r["via"] == "ocr"]   # a study before vias
    assert [r["via"] for r in S.bank_rows(old)] == ["ocr"] * 5


def test_pick_is_a_seeded_choice_of_both_kinds():
    from lab.optical.qa import study as S

    qas = [qa.QA(f"q{i}", f"p{i}", "d", "unanswerable" if i % 3 == 0 else "cloze", "?", "a", "test") for i in range(12)]
    four = S.pick(qas, 4)
    assert len(four) == 4 and four == S.pick(qas, 4) and four != S.pick(qas, 4, seed=1)
    assert sum(q.kind == "unanswerable" for q in four) == 2
    assert [q.id for q in four] == sorted((q.id for q in four), key=lambda i: int(i[1:]))     # the questions' order
    assert S.pick(qas, 0) == qas and S.pick(qas, 20) == qas


def test_merge_bank_runs_replaces_a_path_rerun_and_orders_paths():
    """Bank studies of one bank merged: a later run's rows replace the same (path, policy, share, question),
    the rows come path by path (vision, ocr, text), every command is kept and the last vision run names the reader."""
    from lab.optical.qa import study as S

    def rows(via, contains, n=2):
        return [{"via": via, "policy": p, "keep": k, "question": f"q{i}", "contains": contains}
                for p, k in [("none", 1.0), ("fade", 0.5)] for i in range(n)]

    a = {"command": "a", "lm_reader": None, "bank": rows("ocr", 1.0)}
    b = {"command": "b", "lm_reader": "old", "bank": rows("vision", 0.0) + rows("text", 1.0)}
    c = {"command": "c", "lm_reader": "new", "bank": rows("vision", 0.5)}
    m = S.merge_bank_runs([a, b, c, {"command": "d"}])
    assert m["commands"] == ["a", "b", "c"] and m["lm_reader"] == "new" and len(m["bank"]) == 12
    assert [r["via"] for r in m["bank"]] == ["vision"] * 4 + ["ocr"] * 4 + ["text"] * 4
    assert all(r["contains"] == 0.5 for r in m["bank"][:4])             # the rerun's rows, not the first reader's
    assert S.merge_bank_runs([{"command": "x"}]) is None
