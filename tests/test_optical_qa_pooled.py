"""The text-side competitor (lab/optical/qa/pooled.py) on the tiny chat model: runs of equal length, N positions
a page in the answering prompt, an answer loss that falls when trained, weights that save, reload to the same
numbers and are refused when damaged."""
import pytest
import torch

from lab import FormatError, models
from lab.optical.qa import finetune as F
from lab.optical.qa import pooled as P
from lab.optical.qa.answer import prompt


@pytest.mark.parametrize("t,n", [(10, 3), (100, 100), (7, 20), (1, 1), (401, 64)])
def test_runs_cut_a_page_into_near_equal_consecutive_runs(t, n):
    r = P.runs(t, n)
    sizes = torch.bincount(r)
    assert len(r) == t and len(sizes) == min(t, n) and (sizes > 0).all() and int(sizes.max() - sizes.min()) <= 1
    assert (r[1:] >= r[:-1]).all()


def test_pooled_pages_take_n_positions_in_the_answering_prompt():
    torch.manual_seed(0)
    lm, tok = models.tiny_lm(models.TINY_CHAT)
    reader = P.PooledReader(lm, tok, P.PooledSpec(n=16, r=4, alpha=8))
    page = "The tea was poured by the Hatter at six o'clock. " * 4           # bytes are tokens here
    q = "Who poured the tea?"
    full = len(tok(prompt(page, q), add_special_tokens=False)["input_ids"])
    ctx = reader.contexts([page, [page, page[:10]]], [q, q])
    assert ctx[0].shape[0] == full - len(tok(page, add_special_tokens=False)["input_ids"]) + 16
    assert ctx[1].shape[0] == ctx[0].shape[0] + 10                         # a short page: one position a token
    assert reader.positions([page, page[:10]]) == 26 and reader.positions(page, n=4) == 4
    assert ctx[0].shape[1] == lm.config.hidden_size
    assert len(reader.answer([page], [q], max_new_tokens=4)) == 1


def test_pooled_reader_learns_answers_and_round_trips(tmp_path):
    torch.manual_seed(0)
    items = [(c[:300], q, a) for c, q, a in F.training_items(pages=3, seed=1)[:6]]
    lm, tok = models.tiny_lm(models.TINY_CHAT)
    reader = P.PooledReader(lm, tok, P.PooledSpec(n=8, r=4, alpha=8))
    pages, qs, ans = map(list, zip(*items))
    before = sum(reader.answer_nll(pages, qs, ans))
    rec = P.train(reader, items, P.PooledTrainConfig(lr=3e-3, warmup=2, steps=40, batch=6, budgets=(8,)))
    after = reader.answer_nll(pages, qs, ans)
    assert rec["steps"] == 40 and rec["examples"] == 240 and rec["curve"][-1]["loss"] < rec["curve"][0]["loss"]
    assert sum(after) < before - 0.5 * len(items)
    sha = P.save(reader, tmp_path / "pr", rec)
    assert len(sha) == 64 and not list((tmp_path / "pr").glob("*.tmp"))
    lm2, _ = models.tiny_lm(models.TINY_CHAT)
    again = P.load(tmp_path / "pr", lm2, tok)
    assert again.answer_nll(pages, qs, ans) == pytest.approx(after, abs=0.05)      # fp16 weights
    w = tmp_path / "pr" / "weights.safetensors"
    w.write_bytes(w.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(FormatError, match="sha256"):
        P.load(tmp_path / "pr", models.tiny_lm(models.TINY_CHAT)[0], tok)
    with pytest.raises(FormatError, match="not a pooled reader"):
        P.load(tmp_path / "nothing", lm2, tok)
