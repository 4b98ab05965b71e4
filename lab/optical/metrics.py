"""How well a page's text came back.

- precision: 1 - normalised edit distance = 1 - Levenshtein(pred, ref) / max(len(pred), len(ref)), over
  characters, after collapsing every run of whitespace (line breaks included) to one space. 1.0 is exact.
- word accuracy: 1 - word-level Levenshtein(pred, ref) / (words in ref), clipped at 0 (1 - WER).
- compression ratio: text tokens (SmolLM2's tokenizer) / vision tokens.
"""
from __future__ import annotations

import re

from rapidfuzz.distance import Levenshtein

_WS = re.compile(r"\s+")


def clean(s: str) -> str:
    return _WS.sub(" ", s).strip()


def precision(pred: str, ref: str) -> float:
    p, r = clean(pred), clean(ref)
    if not p and not r:
        return 1.0
    return 1.0 - Levenshtein.distance(p, r) / max(len(p), len(r))


def word_accuracy(pred: str, ref: str) -> float:
    p, r = clean(pred).split(), clean(ref).split()
    if not r:
        return 1.0 if not p else 0.0
    return max(0.0, 1.0 - Levenshtein.distance(p, r) / len(r))
