"""Rendering from a decoded .holo: full image, focus (first k components) and zoom.

Zoom resamples the basis functions themselves: each decoded patch is written exactly as a sum of
continuous DCT-II functions, which are evaluated on a grid `scale` times finer than the pixels.
"""
from __future__ import annotations

import numpy as np

from lab.holo import codec as C
from lab.holo import patches as P
from lab.holo import pca as B

MAX_ZOOM_PIXELS = 1 << 24


def focus(blob: bytes, k: int) -> np.ndarray:
    return C.decode_image(blob, k=k)


def components(blob: bytes) -> int:
    """The file's component count (focus and zoom work on sums of components: pca, vq, residual)."""
    kmax = C.info(blob)["k"]
    if kmax is None:
        raise ValueError("an intra-mode file has no components: focus and zoom need a pca, vq or residual file")
    return kmax


def focus_sweep(blob: bytes, ks=None) -> list[tuple[int, np.ndarray]]:
    kmax = components(blob)
    ks = ks or sorted(set(int(round(v)) for v in np.geomspace(1, kmax, num=min(kmax, 8))))
    return [(k, focus(blob, k)) for k in ks]


def _zoom_plane(blocks: np.ndarray, patch: int, f: int, x: float, y: float, w: int, h: int,
                scale: float) -> np.ndarray:
    """Evaluate a plane of pixel blocks on the output grid of the region (x, y, w, h) at `scale`."""
    by, bx = blocks.shape[:2]
    d = B.dct_matrix(patch)
    coef = np.einsum("ki,yxij,lj->yxkl", d, blocks.reshape(by, bx, patch, patch), d)  # exact DCT of each block
    H, W = int(round(h * scale)), int(round(w * scale))
    # output sample u sits at image coordinate x + (u + 0.5)/scale - 0.5; plane coordinate (. + 0.5)/f - 0.5
    px = (x + (np.arange(W) + 0.5) / scale) / f - 0.5
    py = (y + (np.arange(H) + 0.5) / scale) / f - 0.5
    bxi = np.clip(np.floor((px + 0.5) / patch).astype(int), 0, bx - 1)
    byi = np.clip(np.floor((py + 0.5) / patch).astype(int), 0, by - 1)
    tx = np.clip(px - bxi * patch, -0.5, patch - 0.5)
    ty = np.clip(py - byi * patch, -0.5, patch - 0.5)
    fx = B.dct_function(patch, tx)  # (patch, W)
    fy = B.dct_function(patch, ty)  # (patch, H)
    out = np.empty((H, W))
    for r in np.unique(byi):
        rows = np.nonzero(byi == r)[0]
        # t[b, l, i] = sum_k coef[r, b, k, l] fy[k, i]
        t = np.einsum("bkl,ki->bli", coef[r], fy[:, rows])
        out[rows] = np.einsum("jli,lj->ij", t[bxi], fx)
    return out


def zoom(blob: bytes, region: tuple[int, int, int, int], scale: float, k: int | None = None) -> np.ndarray:
    """Render region (x, y, w, h) of the image at `scale` x by resampling the basis functions."""
    x, y, w, h = region
    components(blob)
    hdr, layers = C.decode_layers(blob, k)
    W, H = hdr["width"], hdr["height"]
    if w < 1 or h < 1 or x < 0 or y < 0 or x + w > W or y + h > H:
        raise ValueError(f"region {x},{y},{w},{h} is not inside the {W}x{H} image")
    if not scale > 0 or (w * scale) * (h * scale) > MAX_ZOOM_PIXELS:
        raise ValueError(f"scale must be > 0 and the output at most {MAX_ZOOM_PIXELS} pixels")
    p = hdr["patch"]
    ycc = 0
    for layer in layers:
        ycc = ycc + np.stack([_zoom_plane(bl, p, f, x, y, w, h, scale) for bl, f in layer], axis=-1)
    return P.ycbcr_to_rgb(ycc)


def pixel_zoom(img: np.ndarray, region, scale: float) -> np.ndarray:
    """Nearest-neighbour upscaling of the decoded pixels (for comparison with `zoom`)."""
    x, y, w, h = region
    crop = img[y:y + h, x:x + w]
    H, W = int(round(h * scale)), int(round(w * scale))
    yi = np.minimum((np.arange(H) / scale).astype(int), h - 1)
    xi = np.minimum((np.arange(W) / scale).astype(int), w - 1)
    return crop[yi][:, xi]
