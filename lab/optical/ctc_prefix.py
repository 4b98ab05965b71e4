"""CTC prefix scores of a language model's read, line by line: the stage-1 reader's evidence added to the LM's
token choice (joint CTC/attention decoding, Watanabe et al. 2017, "Hybrid CTC/Attention Architecture for
End-to-End Speech Recognition", its prefix score; here the "attention decoder" is the stage-2 LM reader and
the CTC head is the stage-1 reader of the same vision tokens).

A window of a page is read by the LM as lines separated by "\\n"; the stage-1 reader has one CTC sequence per
band (`reader.LineReader`), and the bands it finds ink in, top to bottom, are the lines the LM should write.
`LinePrefixScorer` follows one read: each line of the LM's text is scored against ink bands, as the CTC
probability that their sequence *starts with* the line's text so far (the prefix score: every way the rest
of the band may go), and a finished line (its "\\n", or the end of the read) by the probability of exactly that
text. The end of the read also scores every ink band not yet written as empty, so a read that stops early or
skips a line pays for the ink it left out. The recurrences over frames are first-order linear, so each
character's extension is a few vectorised log-cumulative sums over the band's frames, not a loop over them.

Which bands a line is: a text line that sits across a band boundary leaves its ink in two bands (in base mode,
a line every three bands, ~1 line in 10 on some pages: each band reads part of the line, or a descender's
stroke), so "line j is ink band j" falls out of step there and every later line is scored against the wrong
band (session 26: 4 of 14 base pages derailed). `merge=2` keeps the alignment as hypotheses: a
line is one ink band or two adjacent ones read as one (`merged`: a frame is blank only where both bands are,
its ink the two bands' ink pooled), each hypothesis with its own prefix state, the next line starting after the
bands this one took; the score is the best hypothesis's (Viterbi over the alignment), hypotheses ending on the
same band are recombined at each line's end, and those `prune` nats behind the best are dropped. `merge=1` is
the one-line-one-band scorer. Which to use follows the mode's geometry (`MERGE`): in base and large a text line
spans 2-3 bands, so two adjacent ink bands are almost always one line split (0-4 of ~40 neighbouring ink bands
a page on 13 of 14 held-out pages); in tiny and small consecutive lines sit in adjacent bands (30-60% of them),
so two adjacent ink bands are usually two lines, and merging them lets a read skip one (measured on 14 small
pages: 86.4% with merge 2 against 87.2% with 1; 14 base pages: 93.9% against 85.1%).
"""
from __future__ import annotations

import numpy as np

from lab.optical.reader import BLANK, _LUT

NEG = -1e30
MERGE = {"tiny": 1, "small": 1, "base": 2, "large": 2}   # the most adjacent ink bands a line may take, by mode


def _codes(text: str) -> list[int]:
    """The CTC classes of a text's characters (outside printable ASCII: '?', as the stage-1 targets)."""
    b = np.frombuffer(text.encode("ascii", "replace"), np.uint8)
    return _LUT[np.minimum(b, 127)].tolist()


def _lcse(a: np.ndarray) -> np.ndarray:
    """log cumulative sum of exp, along the last axis."""
    return np.logaddexp.accumulate(a, axis=-1)


class BandPrefix:
    """The CTC prefix state of one text prefix on one band's frames: log r_n[t] (paths ending in the prefix's
    last character at frame t), log r_b[t] (ending in blank), and the prefix score psi."""

    __slots__ = ("logp", "rn", "rb", "psi", "last")

    def __init__(self, logp: np.ndarray):
        """logp: (T, V) log-probabilities of one band's frames (float64). The empty prefix."""
        self.logp = logp
        self.rn = np.full(logp.shape[0], NEG)
        self.rb = np.cumsum(logp[:, BLANK])
        self.psi = 0.0
        self.last = -1

    def extend(self, c: int) -> "BandPrefix":
        """The state of the prefix followed by class c (a new object; self is unchanged)."""
        y, yb = self.logp[:, c], self.logp[:, BLANK]
        T = len(y)
        # paths of the old prefix that may be followed by c at frame t + 1: a repeated character needs a blank
        phi = self.rb if c == self.last else np.logaddexp(self.rb, self.rn)
        start = 0.0 if self.last < 0 else NEG               # the empty prefix: c may be the first frame
        # rn'[t] = logaddexp(rn'[t-1], phi[t-1]) + y[t], rn'[0] = start + y[0]: with C[t] = cumsum(y)[t],
        # rn'[t] = C[t] + logsumexp(start, phi[s] - C[s] for s < t)
        C = np.cumsum(y)
        inner = np.empty(T)
        inner[0] = start
        inner[1:] = phi[:-1] - C[:-1]
        rn = C + _lcse(np.maximum(inner, NEG))
        # rb'[t] = logaddexp(rb'[t-1], rn'[t-1]) + yb[t], rb'[0] = NEG: with D[t] = cumsum(yb)[t]
        D = np.cumsum(yb)
        inner_b = np.full(T, NEG)
        inner_b[1:] = rn[:-1] - D[:-1]
        rb = D + _lcse(inner_b)
        # psi = sum over t of (phi[t-1], or start at t = 0) + y[t]
        first = np.empty(T)
        first[0] = start
        first[1:] = phi[:-1]
        psi = float(np.logaddexp.reduce(first + y))
        out = BandPrefix.__new__(BandPrefix)
        out.logp, out.rn, out.rb, out.psi, out.last = self.logp, np.maximum(rn, NEG), np.maximum(rb, NEG), max(psi, NEG), c
        return out

    def full(self) -> float:
        """log P(the band's sequence is exactly this prefix)."""
        return float(np.logaddexp(self.rn[-1], self.rb[-1]))


def merged(bands: list[np.ndarray]) -> np.ndarray:
    """(T, V) log-probabilities of adjacent bands read as one line: a frame is blank where every band is blank
    (the product), and its non-blank mass is the bands' non-blank probabilities pooled (summed, rescaled)."""
    if len(bands) == 1:
        return bands[0]
    p = np.exp(np.stack(bands))                                   # (k, T, V)
    blank = p[:, :, BLANK].prod(0)
    ink = p.sum(0)
    ink[:, BLANK] = 0.0
    ink *= ((1.0 - blank) / np.maximum(ink.sum(-1), 1e-300))[:, None]
    ink[:, BLANK] = blank
    return np.log(np.maximum(ink, 1e-300))


class LinePrefixScorer:
    """One read's CTC state over its window's ink bands (see the module's docstring)."""

    def __init__(self, bands: list[np.ndarray], merge: int = 2, prune: float = 12.0):
        """bands: (T, V) log-probabilities of each ink band, top to bottom; merge: the most adjacent bands one
        line may take; prune: hypotheses this many nats behind the best are dropped."""
        self.bands = [np.asarray(b, np.float64) for b in bands]
        self.empty = np.concatenate([[0.0], np.cumsum([float(b[:, BLANK].sum()) for b in self.bands])])
        self.merge, self.prune = max(1, merge), prune
        self._merged: dict[tuple[int, int], np.ndarray] = {}
        # a hypothesis: (finished lines' log score, first band after this line, the open line's prefix state)
        self.hyps = self._starts([(0.0, 0)])
        self.score = 0.0          # log CTC score of the text so far (the best hypothesis)

    def _band(self, k: int, n: int) -> np.ndarray:
        if (k, n) not in self._merged:
            self._merged[k, n] = merged(self.bands[k:k + n])
        return self._merged[k, n]

    def _starts(self, ends: list[tuple[float, int]]) -> list:
        """The hypotheses of a new line after finished ones (score, next band), recombined on the band."""
        best: dict[int, float] = {}
        for sc, k in ends:
            best[k] = max(best.get(k, -np.inf), sc)
        out = []
        for k, sc in best.items():
            if k >= len(self.bands):
                out.append((sc, k, None))                              # past the ink: nothing to score
            for n in range(1, min(self.merge, len(self.bands) - k) + 1):
                out.append((sc, k + n, BandPrefix(self._band(k, n))))
        return out

    def _advance(self, text: str, eos: bool):
        """(score, hypotheses) after `text` (and the end of the read if eos), self unchanged."""
        hyps = self.hyps
        for piece_i, piece in enumerate(text.split("\n")):
            if piece_i:                                                # "\n": the open line is finished
                hyps = self._starts([(sc + (st.full() if st is not None else 0.0), k) for sc, k, st in hyps])
            if piece:
                codes = _codes(piece)
                nxt = []
                for sc, k, st in hyps:
                    if st is not None:
                        for c in codes:
                            st = st.extend(c)
                    nxt.append((sc, k, st))
                hyps = self._pruned(nxt)
        if eos:               # the open line finished, and the ink bands never written read as nothing
            ends = [sc + (st.full() if st is not None else 0.0) + self.empty[-1] - self.empty[k]
                    for sc, k, st in hyps]
            return (max(ends) if ends else 0.0), []
        return self._best(hyps), self._pruned(hyps)

    @staticmethod
    def _total(h) -> float:
        return h[0] + (h[2].psi if h[2] is not None else 0.0)

    def _best(self, hyps) -> float:
        return max((self._total(h) for h in hyps), default=0.0)

    def _pruned(self, hyps) -> list:
        top = self._best(hyps)
        return [h for h in hyps if self._total(h) >= top - self.prune]

    def delta(self, text: str, eos: bool = False) -> float:
        """How much the CTC score changes if the read goes on with `text` (then ends, if eos)."""
        return self._advance(text, eos)[0] - self.score

    def push(self, text: str, eos: bool = False) -> None:
        """The read goes on with `text` (then ends, if eos)."""
        self.score, self.hyps = self._advance(text, eos)


def ink_bands(logits, texts: list[str]) -> list[np.ndarray]:
    """The (T, V) log-probabilities of the bands whose greedy CTC read is not blank, top to bottom.
    logits: (bands, T, V) of one window (torch or numpy); texts: the stage-1 reader's text of each band."""
    import torch

    lp = torch.as_tensor(logits).detach().float().log_softmax(-1).double().cpu().numpy()
    return [lp[i] for i, t in enumerate(texts) if t.strip()]
