"""Arithmetic coding with static (per-symbol) CDFs through torchac.

Probabilities are quantised to integer CDFs with 16-bit precision where every symbol keeps a
probability of at least 1/2**16, so encoder and decoder see the same integers whatever the device.
torchac compiles its C++ backend on first import (about half a minute, then cached).
"""
from __future__ import annotations

import numpy as np

PRECISION = 16


def probs_to_cdf(probs, precision: int = PRECISION) -> np.ndarray:
    """(n, K) probabilities -> (n, K+1) int32 CDFs, strictly increasing from 0 to 2**precision."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 1:
        p = p[None]
    n, k = p.shape
    total = 1 << precision
    if k > total // 2:
        raise ValueError("too many symbols for the CDF precision")
    p = np.clip(p, 0, None)
    s = p.sum(axis=1, keepdims=True)
    p = np.where(s > 0, p / np.where(s > 0, s, 1), 1.0 / k)
    # each symbol gets 1 count, the rest is shared in proportion, rounded down; remainder to the largest
    free = total - k
    counts = np.floor(p * free).astype(np.int64) + 1
    counts[np.arange(n), counts.argmax(axis=1)] += total - counts.sum(axis=1)
    cdf = np.zeros((n, k + 1), dtype=np.int64)
    np.cumsum(counts, axis=1, out=cdf[:, 1:])
    return cdf.astype(np.int32)


def _as_int16(cdf: np.ndarray):
    import torch

    c = np.asarray(cdf, dtype=np.int64)
    # torchac stores CDF values in int16 (values >= 2**15 wrap around, as its own helpers do)
    c = np.where(c >= (1 << 15), c - (1 << 16), c).astype(np.int16)
    return torch.from_numpy(c)


def encode(symbols, cdf) -> bytes:
    """Encode symbols[i] under cdf[i] (int CDFs from `probs_to_cdf`)."""
    import torch
    import torchac

    sym = torch.from_numpy(np.ascontiguousarray(symbols, dtype=np.int16))
    return torchac.encode_int16_normalized_cdf(_as_int16(cdf), sym)


def decode(blob: bytes, cdf) -> np.ndarray:
    import torchac

    return torchac.decode_int16_normalized_cdf(_as_int16(cdf), blob).numpy().astype(np.int64)
