"""Effective dimensionality Df = (sum l)^2 / sum l^2 and eigen-spectrum helpers."""
from __future__ import annotations

import numpy as np


def effective_dim(eigenvalues) -> float:
    """Participation ratio of a spectrum: n for a flat spectrum of n equal values, 1 for a single spike."""
    lam = np.asarray(eigenvalues, dtype=np.float64).ravel()
    lam = lam[lam > 0]
    if lam.size == 0:
        return 0.0
    return float(lam.sum() ** 2 / np.square(lam).sum())


def spectrum(samples: np.ndarray, center: bool = True) -> np.ndarray:
    """Eigenvalues (descending) of the covariance of rows of `samples` (n x d)."""
    x = np.asarray(samples, dtype=np.float64)
    if center:
        x = x - x.mean(axis=0, keepdims=True)
    cov = x.T @ x / max(1, x.shape[0] - 1)
    lam = np.linalg.eigvalsh(cov)[::-1]
    return np.clip(lam, 0.0, None)


def patch_df(gray: np.ndarray, patch: int = 8) -> tuple[float, np.ndarray]:
    """Df of the covariance of non-overlapping patch x patch blocks of a 2-D image."""
    h, w = gray.shape[0] // patch * patch, gray.shape[1] // patch * patch
    if h == 0 or w == 0:
        return 0.0, np.zeros(patch * patch)
    g = np.asarray(gray[:h, :w], dtype=np.float64)
    blocks = g.reshape(h // patch, patch, w // patch, patch).transpose(0, 2, 1, 3).reshape(-1, patch * patch)
    lam = spectrum(blocks)
    return effective_dim(lam), lam


def image_df(gray: np.ndarray) -> tuple[float, np.ndarray]:
    """Df of the whole image as a matrix: the spectrum of its column-centred singular values squared."""
    g = np.asarray(gray, dtype=np.float64)
    g = g - g.mean(axis=0, keepdims=True)
    s = np.linalg.svd(g, compute_uv=False)
    lam = s ** 2
    return effective_dim(lam), lam


def components_for_energy(eigenvalues, energy: float = 0.95) -> int:
    lam = np.sort(np.asarray(eigenvalues, dtype=np.float64))[::-1]
    c = np.cumsum(lam) / lam.sum()
    return int(np.searchsorted(c, energy) + 1)
