"""Vector quantisation of patches: PCA to d dimensions, a k-means codebook (scikit-learn), 8-bit storage."""
from __future__ import annotations

import numpy as np


def pca(x: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, top-d principal directions (columns) and all eigenvalues of the rows of x."""
    mu = x.mean(axis=0)
    xc = x - mu
    cov = xc.T @ xc / max(1, len(x) - 1)
    lam, vec = np.linalg.eigh(cov)
    order = np.argsort(lam)[::-1]
    return mu, vec[:, order[:d]], np.clip(lam[order], 0, None)


def kmeans(z: np.ndarray, clusters: int, seed: int = 0, max_iter: int = 40) -> np.ndarray:
    """k-means centroids (clusters x d) of z; deterministic for a seed."""
    from sklearn.cluster import KMeans

    c = min(clusters, len(np.unique(z, axis=0)))
    km = KMeans(n_clusters=c, n_init=1, max_iter=max_iter, random_state=seed, algorithm="lloyd")
    km.fit(z)
    return km.cluster_centers_


def quantise_columns(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 values and float16 per-column scales with m ~ q * scale / 127."""
    scale = np.abs(m).max(axis=0).astype(np.float16).astype(np.float64)
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(m / scale * 127), -127, 127).astype(np.int8)
    return q, scale.astype(np.float16)


def dequantise_columns(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return q.astype(np.float64) * scale.astype(np.float64) / 127


def nearest(x: np.ndarray, codebook: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Index of the nearest codebook row for each row of x (squared Euclidean)."""
    cn = np.einsum("ij,ij->i", codebook, codebook)
    out = np.empty(len(x), np.int64)
    for s in range(0, len(x), chunk):
        xs = x[s:s + chunk]
        d = cn[None, :] - 2 * xs @ codebook.T
        out[s:s + chunk] = d.argmin(axis=1)
    return out
