"""Joint decoding's CTC prefix scores (lab/optical/ctc_prefix.py): exact against every path of a small band,
line by line over a window's ink bands, and in a guided read (decoder.generate_guided with ctc)."""
import itertools

import numpy as np
import pytest
import torch

from lab.optical.ctc_prefix import BandPrefix, LinePrefixScorer, _codes
from lab.optical.reader import BLANK, VOCAB


def _collapse(path):
    out, prev = [], None
    for c in path:
        if c != prev and c != BLANK:
            out.append(c)
        prev = c
    return tuple(out)


def test_prefix_and_full_scores_equal_the_sums_over_every_path():
    """For each label prefix: full() = P(the band reads exactly it), psi = P(its reading starts with it), by
    enumerating all 4^5 frame paths (repeats that need a blank between them included)."""
    rng = np.random.default_rng(0)
    T, V = 5, 4
    lp = np.log(rng.dirichlet(np.ones(V), size=T))
    probs = {}
    for p in itertools.product(range(V), repeat=T):
        s = _collapse(p)
        probs[s] = probs.get(s, 0.0) + np.exp(sum(lp[t, c] for t, c in enumerate(p)))
    assert np.exp(BandPrefix(lp).full()) == pytest.approx(probs[()])
    for pre in [(1,), (1, 1), (1, 2), (2, 1, 2), (3, 3, 3), (1, 2, 3, 1)]:
        st = BandPrefix(lp)
        for c in pre:
            st = st.extend(c)
        assert np.exp(st.full()) == pytest.approx(probs.get(pre, 0.0), rel=1e-9, abs=1e-15)
        assert np.exp(st.psi) == pytest.approx(sum(v for k, v in probs.items() if k[:len(pre)] == pre), rel=1e-9)


def _band(text: str, frames: int = 40, sure: float = 0.95) -> np.ndarray:
    """Log-probabilities of a band that clearly reads `text`: each character on two frames, blanks between."""
    lp = np.full((frames, VOCAB), np.log((1 - sure) / (VOCAB - 1)))
    lp[:, BLANK] = np.log(sure)
    for i, c in enumerate(_codes(text)):
        lp[3 * i + 1:3 * i + 3] = np.log((1 - sure) / (VOCAB - 1))
        lp[3 * i + 1:3 * i + 3, c] = np.log(sure)
    return lp


def test_line_scorer_prefers_the_bands_text_and_charges_a_skipped_or_unwritten_line():
    bands = [_band("cat"), _band("dog")]
    score = lambda text: (lambda s: (s.push(text, eos=True), s.score)[1])(LinePrefixScorer(bands))   # noqa: E731
    right = score("cat\ndog")
    assert right > score("cat\ndig") and right > score("dog") and right > score("cat") > score("")
    assert right > score("cat\ndog\n") - 1e-9          # a line beyond the bands is not scored (nor rewarded)
    s = LinePrefixScorer(bands)                          # deltas add up to the pushed score, token by token
    total = 0.0
    for piece in ["c", "at\nd", "og"]:
        total += s.delta(piece)
        s.push(piece)
    total += s.delta("", eos=True)
    s.push("", eos=True)
    assert total == pytest.approx(s.score) and s.score == pytest.approx(right)
    assert LinePrefixScorer([]).delta("anything", eos=True) == 0.0     # no ink: nothing to score


def _part(text: str, keep, frames: int = 40, sure: float = 0.95) -> np.ndarray:
    """A band that holds only the characters of `text` at positions `keep` (the rest of the line's ink lies in
    the band above or below): blank elsewhere."""
    lp = _band(text, frames, sure)
    for i in range(len(text)):
        if i not in keep:
            lp[3 * i + 1:3 * i + 3] = np.log((1 - sure) / (VOCAB - 1))
            lp[3 * i + 1:3 * i + 3, BLANK] = np.log(sure)
    return lp


def test_a_line_split_across_two_bands_is_read_as_one_and_the_next_line_stays_in_step():
    """The base-mode failure: one text line's ink in two adjacent bands. One-line-one-band scores every later
    line against the wrong band; merge=2 reads the two bands as one line and keeps the rest in step."""
    split = [_part("cat", {0, 1}), _part("cat", {2}), _band("dog"), _band("emu")]
    right, shifted = "cat\ndog\nemu", "ca\nt\ndog\nemu"
    full = lambda text, **kw: (lambda s: (s.push(text, eos=True), s.score)[1])(LinePrefixScorer(split, **kw))  # noqa: E731
    assert full(right) > full(right, merge=1) + 5            # the one-band scorer pays for the split
    aligned = [_band("cat"), _band("dog"), _band("emu")]      # as if it were one band, but for the blank frames
    aligned_score = (lambda s: (s.push(right, eos=True), s.score)[1])(LinePrefixScorer(aligned))   # counted twice
    assert aligned_score + 40 * np.log(0.95) - 0.5 < full(right) <= aligned_score
    assert full(right) > full("cat\nemu\ndog") and full(right) > full("cat\ndog")   # order and omissions still cost
    assert full(shifted, merge=1) > full(right, merge=1)      # (what one-line-one-band preferred)
    s = LinePrefixScorer(split)                               # deltas add up to the pushed score with hypotheses too
    total = 0.0
    for piece in ["c", "at\nd", "og\n", "emu"]:
        total += s.delta(piece)
        s.push(piece)
    total += s.delta("", eos=True)
    s.push("", eos=True)
    assert total == pytest.approx(s.score) and s.score == pytest.approx(full(right))


def test_joint_decoding_raises_the_reads_ctc_score_and_is_plain_guidance_at_weight_zero():
    """generate_guided with a scorer a row: at weight 0 the read is the guided read; at a large weight every
    row's text scores at least as high under its CTC bands as the guided read's does."""
    from lab import models
    from lab.optical import vision
    from lab.optical.decoder import LMReader, ReaderSpec, generate_guided

    stage1 = vision.load("random:0").model
    lm, tok = models.tiny_lm(models.TINY_CHAT)
    r = LMReader(lm, tok, stage1.reader, stage1.enc_cfg.dim, ReaderSpec(r=2, alpha=4)).eval()
    torch.manual_seed(1)
    with torch.no_grad():
        ctx = r.contexts(torch.randn(2, 64, stage1.enc_cfg.dim), (0, 2))
        bands = [[_band("the cat"), _band("a dog")], [_band("one two")]]
        run = lambda w: generate_guided(r.lm, r.tok, r.eos, ctx, r.blind(2), 1.0, 12, loop_tokens=0,    # noqa: E731
                                        ctc=[LinePrefixScorer(b) for b in bands], ctc_weight=w, ctc_top=64)
        plain = generate_guided(r.lm, r.tok, r.eos, ctx, r.blind(2), 1.0, 12, loop_tokens=0)
        assert list(run(0.0)) == list(plain)
        joint = run(5.0)

    def final(text, b):
        s = LinePrefixScorer(b)
        s.push(text)
        return s.score

    assert list(joint) != list(plain)
    for j, p, b in zip(joint, plain, bands):
        assert final(j, b) >= final(p, b) - 1e-6
