"""Sentence embeddings of page text for the memory bank's semantic search, behind one interface:

    emb = MiniLM()                     # all-MiniLM-L6-v2 (lab.models, offline wheel), 384 dimensions
    emb = HashingEmbedder(256)         # a bag of hashed words: no model, for tests and tiny demos
    v = emb.embed(["text", ...])       # (n, dim) float32, L2-normalised (cosine = dot product)

`name` identifies the embedder; a bank records it and refuses queries embedded by another.
"""
from __future__ import annotations

import hashlib
import re

import numpy as np

_WORD = re.compile(r"[a-z0-9]+")


def _normalise(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=1, keepdims=True)
    return (v / np.maximum(n, 1e-12)).astype(np.float32)


class HashingEmbedder:
    """Words (lower-case alphanumeric runs) hashed into `dim` signed buckets, counts damped by log1p. Not a
    language model: similar only where the words are the same. Deterministic across processes."""

    def __init__(self, dim: int = 256):
        self.dim = dim
        self.name = f"hashing-{dim}"

    def _bucket(self, w: str) -> tuple[int, float]:
        h = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
        return h % self.dim, 1.0 if (h >> 63) & 1 else -1.0

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            words, counts = np.unique(_WORD.findall(t.lower()), return_counts=True)
            for w, c in zip(words, counts):
                b, s = self._bucket(str(w))
                out[i, b] += s * np.log1p(c)
        return _normalise(out)


class MiniLM:
    """all-MiniLM-L6-v2 (sentence-transformers' model; mean pooling over the tokens, 256 at most, then
    L2 normalisation, as the model card says). Loaded on first use from `lab.models`."""

    name = "all-minilm-l6-v2"
    dim = 384

    def __init__(self, device: str = "cpu", batch: int = 32):
        self.device, self.batch = device, batch
        self._model = None

    def _load(self):
        if self._model is None:
            from lab import models

            self._model, self._tok = models.load_embedder(self.name, self.device)
        return self._model, self._tok

    def embed(self, texts: list[str]) -> np.ndarray:
        import torch

        if not texts:
            return np.zeros((0, self.dim), np.float32)
        model, tok = self._load()
        out = []
        with torch.no_grad():
            for i in range(0, len(texts), self.batch):
                enc = tok(list(texts[i:i + self.batch]), padding=True, truncation=True, max_length=256,
                          return_tensors="pt").to(self.device)
                h = model(**enc).last_hidden_state
                m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
                out.append(((h * m).sum(1) / m.sum(1).clamp(min=1)).float().cpu().numpy())
        return _normalise(np.concatenate(out))


def by_name(name: str):
    """An embedder from its recorded name (a bank reopens with the embedder it was built with)."""
    if name == MiniLM.name:
        return MiniLM()
    m = re.fullmatch(r"hashing-(\d+)", name)
    if m and 8 <= int(m.group(1)) <= 65536:
        return HashingEmbedder(int(m.group(1)))
    raise ValueError(f"unknown embedder {name!r} (all-minilm-l6-v2, hashing-N)")
