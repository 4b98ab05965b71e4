"""The stage-2 reader fine-tuned to answer from vision tokens (lab/optical/qa/vision_qa.py) on a tiny random
encoder and the tiny chat LM: triplets from rendered training pages whose answers are on the page, a loss that
falls, a saved reader that loads as the campaign's does (same numbers), and the study's vision condition."""
import copy

import pytest
import torch

from lab import data, models
from lab.optical import vision
from lab.optical.decoder import LMReader, ReaderSpec
from lab.optical.qa import vision_qa as V
from lab.optical.qa.questions import NO_ANSWER


def _norm(s):
    return " ".join(s.split())


@pytest.fixture(scope="module")
def small():
    trip = V.triplets(4, seed=0, per_page=3)
    enc = vision.load("random:0").model
    return trip, enc, V.encode_pages(enc, trip.pages, "tiny")


def _reader(enc):
    torch.manual_seed(0)
    lm, tok = models.tiny_lm(models.TINY_CHAT)
    return LMReader(lm, tok, copy.deepcopy(enc.reader), enc.enc_cfg.dim, ReaderSpec(r=8, alpha=16))


def test_triplets_are_questions_about_rendered_training_pages(small):
    trip, _, toks = small
    assert len(trip.pages) == 4 and toks.shape[0] == 4 and len(trip.items) >= 8
    assert all(0 <= i < len(trip.pages) and q and a for i, q, a in trip.items)
    answerable = [(i, a) for i, _, a in trip.items if a != NO_ANSWER]
    assert answerable and any(a == NO_ANSWER for _, _, a in trip.items)
    assert sum(_norm(a) in _norm(trip.pages[i].text) for i, a in answerable) >= 0.8 * len(answerable)
    test_text = _norm("".join(t for _, t, k in data.page_documents("test") if k == "text"))
    assert all(_norm(p.text)[:200] not in test_text for p in trip.pages)
    again = V.triplets(4, seed=0, per_page=3, workers=2)          # the same, rendered in two processes
    assert again.items == trip.items and [p.text for p in again.pages] == [p.text for p in trip.pages]


def test_rendered_pages_kept_for_a_later_run_train_the_same(small, tmp_path):
    """save_pages / load_pages (the next device call's pages rendered while this one trains): tokens, texts and
    questions come back as rendered, and training on them gives the same record as on the rendered pages."""
    trip, enc, toks = small
    V.save_pages(tmp_path / "p.pt", {"tiny": toks}, trip, seed=7)
    assert [f.name for f in tmp_path.iterdir()] == ["p.pt"]          # no temporary file left beside it
    t2, trip2, seed = V.load_pages(tmp_path / "p.pt", "cpu")
    assert seed == 7 and list(t2) == ["tiny"] and torch.equal(t2["tiny"], toks) and trip2.items == trip.items
    assert [p.text for p in trip2.pages] == [p.text for p in trip.pages]
    cfg = V.VisionQAConfig(steps=2, batch=4, transcribe=0.5, modes=("tiny",))
    a, b = V.train(_reader(enc), toks, trip, cfg), V.train(_reader(enc), t2, trip2, cfg)
    assert [c["loss"] for c in a["curve"]] == [c["loss"] for c in b["curve"]] and a["examples"] == b["examples"] == 8
    torch.save({"seed": 3, "tokens": toks, "texts": [p.text for p in trip.pages], "items": trip.items},
               tmp_path / "old.pt")                             # a file of one tensor (before modes): small's
    assert list(V.load_pages(tmp_path / "old.pt", "cpu")[0]) == ["small"]


def test_several_modes_take_turns_and_a_missing_mode_is_refused(small):
    """--modes tiny small: every page in both modes, the steps alternate (a batch holds one mode's tokens: 64 or
    100 slots), and a mode without tokens is a ValueError before any step."""
    trip, enc, _ = small
    toks = V.encode_modes(enc, trip.pages, ("tiny", "small"))
    assert {m: t.shape[1] for m, t in toks.items()} == {"tiny": 64, "small": 100}
    reader, seen = _reader(enc), []
    contexts = reader.contexts
    reader.contexts = lambda t, **kw: seen.append(t.shape[1]) or contexts(t, **kw)
    rec = V.train(reader, toks, trip, V.VisionQAConfig(steps=4, batch=4, transcribe=0.5, modes=("tiny", "small")))
    assert len(seen) == rec["steps"] >= 2 and set(seen) == {64, 100} and seen[0] != seen[1]
    with pytest.raises(ValueError, match="base"):
        V.train(_reader(enc), toks, trip, V.VisionQAConfig(steps=1, batch=4, modes=("small", "base")))


def test_reader_learns_the_answers_and_saves_as_a_campaign_reader(small, tmp_path):
    from lab.optical.train_lm import STATE_VERSION, load_reader, model_sha

    trip, enc, toks = small
    reader = _reader(enc)
    few = V.Triplets(trip.pages, trip.items[:4])          # four answers to learn (bytes are tokens here)
    cfg = V.VisionQAConfig(lr=1e-2, proj_lr=1e-2, warmup=2, steps=50, batch=4, transcribe=0.0)

    def loss(r):
        with torch.no_grad():
            i = [i for i, _, _ in few.items]
            ctx = r.contexts(toks[i], prompt=[q for _, q, _ in few.items])
            return float(r.loss_on(ctx, r.answer_ids([a for _, _, a in few.items]))[0])
    before = loss(reader.eval())
    rec = V.train(reader, toks, few, cfg)
    assert rec["steps"] == 50 and rec["examples"] == 200 and [c["step"] for c in rec["curve"]] == [25, 50]
    assert loss(reader) < 0.93 * before         # 5.63 -> 5.06 nats a byte (a random tiny LM learns slowly)
    mixed = V.train(_reader(enc), toks, few, V.VisionQAConfig(steps=2, batch=4, transcribe=0.5))
    assert mixed["examples"] == 8 and mixed["curve"][-1]["step"] == 2       # half of each batch transcribes
    meta = {"version": STATE_VERSION, "lm": models.TINY_CHAT, "spec": ReaderSpec(r=8, alpha=16).to_dict(),
            "stage1_sha256": model_sha(enc), "sha256": "campaign", "runs": [{"run": "c1"}], "curve": [1]}
    V.save(reader, tmp_path / "vqa", meta, rec)
    again, m2 = load_reader(tmp_path / "vqa", enc)
    assert m2["qa"]["steps"] == 50 and m2["from"] == "campaign" and "runs" not in m2
    i, q, a = trip.items[0]

    def nll(r):
        with torch.no_grad():
            return float(r.loss_on(r.contexts(toks[i:i + 1], prompt=[q]), r.answer_ids([a]))[0])
    assert nll(again) == pytest.approx(nll(reader), rel=2e-2)            # fp16 shards


def test_contexts_take_one_prompt_a_row_and_the_study_asks_the_reader(small):
    from lab.optical.qa import study as S
    from lab.optical.qa.questions import QA

    trip, enc, toks = small
    reader = _reader(enc).eval()
    both = reader.contexts(toks[:2], prompt=["Who is it?", "What is it about, then?"])
    one = reader.contexts(toks[:1], prompt="Who is it?")
    assert torch.equal(both[0], one[0]) and both[1].shape[0] > both[0].shape[0] - 8
    with pytest.raises(ValueError, match="prompts"):
        reader.contexts(toks[:2], prompt=["one"])
    qas = [QA(f"q{k}", "p0", "doc", "cloze", q, a, "train") for k, (_, q, a) in enumerate(trip.items[:2])]
    preds, positions, nll = S.vision_answers(reader, [[toks[0]], [toks[0], toks[1]]], qas, max_new_tokens=3)
    assert len(preds) == 2 and all(isinstance(p, str) for p in preds)
    assert positions[1] == positions[0] + reader.positions(toks[1:2])[0] and all(x > 0 for x in nll)
