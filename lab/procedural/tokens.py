"""Invertible tokenisation of arbitrary bytes: words, numbers, and every other byte on its own.

`tokenize(b"Once upon, a time")` -> [b"Once", b" ", b"upon", b",", b" ", b"a", b" ", b"time"];
`b"".join(tokenize(x)) == x` for every byte string x (text or binary).

The machine's vocabulary is adaptive: `Vocabulary` gives ids in order of first appearance and a recency
(move-to-front) list; a token outside it is escaped, i.e. spelled out byte by byte by the literal model.
"""
from __future__ import annotations

import re

import numpy as np

TOKEN_RE = re.compile(rb"[A-Za-z]+|[0-9]+|[\x00-\xff]", re.S)
ESCAPE = -1


def tokenize(data: bytes) -> list[bytes]:
    return TOKEN_RE.findall(data)


def detokenize(tokens) -> bytes:
    return b"".join(tokens)


def is_letter(arr: np.ndarray) -> np.ndarray:
    a = np.asarray(arr)
    return ((a >= 65) & (a <= 90)) | ((a >= 97) & (a <= 122))


def word_starts(data: bytes) -> np.ndarray:
    """Boolean mask of positions where a letter run begins."""
    a = np.frombuffer(data, np.uint8)
    let = is_letter(a)
    prev = np.concatenate([[False], let[:-1]])
    return let & ~prev


def token_starts(data: bytes) -> np.ndarray:
    """Boolean mask of token starts (a letter/digit run starts, or any other byte)."""
    a = np.frombuffer(data, np.uint8)
    let = is_letter(a)
    dig = (a >= 48) & (a <= 57)
    prev_let = np.concatenate([[False], let[:-1]])
    prev_dig = np.concatenate([[False], dig[:-1]])
    return ~((let & prev_let) | (dig & prev_dig))


class Vocabulary:
    """Adaptive vocabulary: ids by first appearance, plus a move-to-front list of recent tokens."""

    def __init__(self, mtf_size: int = 64):
        self.ids: dict[bytes, int] = {}
        self.recent: list[bytes] = []
        self.mtf_size = mtf_size

    def lookup(self, tok: bytes) -> int:
        return self.ids.get(tok, ESCAPE)

    def add(self, tok: bytes) -> int:
        if tok not in self.ids:
            self.ids[tok] = len(self.ids)
        if tok in self.recent:
            self.recent.remove(tok)
        self.recent.insert(0, tok)
        del self.recent[self.mtf_size:]
        return self.ids[tok]

    def __len__(self) -> int:
        return len(self.ids)
