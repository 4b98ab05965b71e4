"""Empirical entropies of a byte string: order-k plug-in estimates and the adaptive code length of an order-k model.

    H_k = H(X_i | X_{i-k..i-1}), the plug-in (maximum-likelihood) conditional entropy in bits per byte. It is biased
    *low*: with n bytes and up to 256**k contexts, most high-order contexts are seen once and look deterministic, so
    H_k falls towards 0 as k grows on any finite file (random bytes included) and is not a rate any coder reaches.
    adaptive_bits(data, k): the code length of a sequential order-k model with the Krichevsky-Trofimov estimator
    (counts + 1/2), a rate a real coder achieves (within a few bytes): the honest counterpart, charged for learning.
"""
from __future__ import annotations

import numpy as np
from scipy.special import gammaln


def _contexts(a: np.ndarray, k: int) -> np.ndarray:
    """For each position i >= k, the k bytes before it as one integer (k <= 7)."""
    ctx = np.zeros(len(a) - k, np.int64)
    for j in range(k):
        ctx = (ctx << 8) | a[j:len(a) - k + j].astype(np.int64)
    return ctx


def _counts(a: np.ndarray, k: int):
    """(counts of each (context, byte) pair, the context of each pair)."""
    ctx = _contexts(a, k)
    pairs = (ctx << 8) | a[k:].astype(np.int64)
    u, c = np.unique(pairs, return_counts=True)
    return c, u >> 8


def plugin_entropy(data: bytes, k: int) -> float:
    """H_k in bits per byte (biased low for k >= 2 on small inputs: see the module's note)."""
    if not 0 <= k <= 7:
        raise ValueError("order 0..7")
    a = np.frombuffer(data, np.uint8)
    if len(a) <= k:
        return 0.0
    c, ctx = _counts(a, k)
    _, inv = np.unique(ctx, return_inverse=True)
    n_ctx = np.bincount(inv, weights=c)
    h = float(-(c * (np.log2(c) - np.log2(n_ctx[inv]))).sum() / c.sum())
    return h if h > 0 else 0.0


def adaptive_bits(data: bytes, k: int, alpha: float = 0.5) -> float:
    """Bits to code the data with an adaptive order-k model, counts + alpha over 256 symbols (KT for alpha = 1/2);
    the first k bytes cost 8 bits each. Bits per byte = adaptive_bits / len(data)."""
    a = np.frombuffer(data, np.uint8)
    if len(a) <= k:
        return 8.0 * len(a)
    c, ctx = _counts(a, k)
    _, inv = np.unique(ctx, return_inverse=True)
    n_ctx = np.bincount(inv, weights=c)
    nats = (gammaln(n_ctx + 256 * alpha) - gammaln(256 * alpha)).sum() - (gammaln(c + alpha) - gammaln(alpha)).sum()
    return float(8 * k + nats / np.log(2))


def profile(data: bytes, orders=range(6)) -> dict:
    """{"H0".."H5": plug-in, "A0".."A5": adaptive bits/byte}."""
    out = {}
    for k in orders:
        out[f"H{k}"] = plugin_entropy(data, k)
        out[f"A{k}"] = adaptive_bits(data, k) / max(len(data), 1)
    return out
