"""Bases for patches: the DCT-II (fixed), the per-image KLT (PCA) and its compact coding, Df of patches."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from lab.df import effective_dim


@lru_cache(maxsize=8)
def zigzag(patch: int) -> np.ndarray:
    """Zigzag scan: index list of a patch x patch block in increasing frequency."""
    order = sorted(((i, j) for i in range(patch) for j in range(patch)),
                   key=lambda t: (t[0] + t[1], t[1] if (t[0] + t[1]) % 2 else t[0]))
    return np.array([i * patch + j for i, j in order])


def dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix C (n x n): coefficients = C @ x."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    c = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * i + 1) * k / (2 * n))
    c[0] /= np.sqrt(2.0)
    return c


def dct_function(n: int, positions: np.ndarray) -> np.ndarray:
    """Continuous DCT-II basis functions sampled at real positions (pixel units, 0..n-1 centre-aligned):
    returns (n, len(positions)); at integer positions it equals dct_matrix(n)."""
    k = np.arange(n)[:, None]
    c = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * np.asarray(positions, float)[None, :] + 1) * k / (2 * n))
    c[0] /= np.sqrt(2.0)
    return c


@lru_cache(maxsize=8)
def dct_basis(patch: int) -> np.ndarray:
    """(patch*patch, patch*patch) orthonormal 2-D DCT basis; column j is the j-th function in zigzag order."""
    c = dct_matrix(patch)
    full = np.kron(c, c).T  # columns: basis images flattened row-major
    return full[:, zigzag(patch)].copy()


def klt_basis(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-image KLT: eigenvectors of the (uncentred) second-moment matrix of the blocks, by decreasing
    eigenvalue, sign fixed so that each vector correlates positively with its closest DCT function."""
    x = blocks.reshape(-1, blocks.shape[-1]).astype(np.float64)
    m = x.T @ x / len(x)
    lam, vec = np.linalg.eigh(m)
    order = np.argsort(lam)[::-1]
    lam, vec = lam[order], vec[:, order]
    return orient(vec), np.clip(lam, 0, None)


def orient(vec: np.ndarray) -> np.ndarray:
    patch = int(round(np.sqrt(vec.shape[0])))
    d = dct_basis(patch)
    r = d.T @ vec
    s = np.sign(r[np.abs(r).argmax(axis=0), np.arange(vec.shape[1])])
    s[s == 0] = 1
    return vec * s


def detail_df(blocks: np.ndarray) -> float:
    """Df of the patch detail: the spectrum of the blocks with each block's own mean removed.

    Df of raw patches is dominated by the DC variance (about 1-2 on natural images), so the detail
    spectrum is the one that says how many shapes a patch needs. The .holo header records this value."""
    x = blocks.reshape(-1, blocks.shape[-1]).astype(np.float64)
    if len(x) < 2:
        return 0.0
    x = x - x.mean(axis=1, keepdims=True)
    return float(effective_dim(np.linalg.eigvalsh(np.cov(x, rowvar=False))))


def auto_k(df: float, n: int) -> int:
    """`-k auto`: the DC component plus round(Df of the patch detail), in 1..n."""
    return int(min(n, max(1, 1 + round(df))))


# -- compact coding of a KLT basis as a rotation of the DCT basis --------------------------------------
ROT_SCALE = 64  # rotation entries quantised to 1/64


def basis_to_rotation(basis: np.ndarray) -> np.ndarray:
    """Integer matrix R (n x k) with basis ~ DCT @ R / ROT_SCALE (then re-orthonormalised)."""
    patch = int(round(np.sqrt(basis.shape[0])))
    r = dct_basis(patch).T @ basis
    return np.rint(r * ROT_SCALE).astype(np.int64)


def rotation_to_basis(rot: np.ndarray) -> np.ndarray:
    """Decoder side: DCT @ R, orthonormalised column by column (modified Gram-Schmidt, float64)."""
    patch = int(round(np.sqrt(rot.shape[0])))
    b = dct_basis(patch) @ (rot.astype(np.float64) / ROT_SCALE)
    out = np.zeros_like(b)
    for j in range(b.shape[1]):
        v = b[:, j].copy()
        for i in range(j):
            v -= (out[:, i] @ v) * out[:, i]
        nrm = np.linalg.norm(v)
        if nrm < 1e-9:
            # degenerate after quantisation: fall back to the DCT function of the same index
            v = dct_basis(patch)[:, j].copy()
            for i in range(j):
                v -= (out[:, i] @ v) * out[:, i]
            nrm = np.linalg.norm(v)
        out[:, j] = v / nrm
    return out
