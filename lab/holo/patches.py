"""Image <-> patches, colour conversion and chroma resampling (pure numpy)."""
from __future__ import annotations

import numpy as np

# JPEG (JFIF) full-range YCbCr
_RGB2YCC = np.array([[0.299, 0.587, 0.114],
                     [-0.168735892, -0.331264108, 0.5],
                     [0.5, -0.418687589, -0.081312411]])
_YCC2RGB = np.linalg.inv(_RGB2YCC)


def rgb_to_ycbcr(img: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB -> float64 YCbCr planes, Y level-shifted by -128 (all channels centred on 0)."""
    x = np.asarray(img, np.float64) - 128.0
    return x @ _RGB2YCC.T


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """Inverse of rgb_to_ycbcr, rounded and clipped to uint8."""
    x = np.asarray(ycc, np.float64) @ _YCC2RGB.T + 128.0
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def downsample2(plane: np.ndarray) -> np.ndarray:
    """2x2 box average (edges replicated to even size)."""
    h, w = plane.shape
    p = np.pad(plane, ((0, h % 2), (0, w % 2)), mode="edge")
    return p.reshape(p.shape[0] // 2, 2, p.shape[1] // 2, 2).mean(axis=(1, 3))


def upsample2(plane: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear 2x upsampling with centred sample positions, cropped to h x w."""
    ph, pw = plane.shape
    p = np.pad(plane, 1, mode="edge")
    # output sample i sits at input coordinate (i + 0.5)/2 - 0.5 (+1 for the pad)
    yi = (np.arange(2 * ph) + 0.5) / 2 - 0.5 + 1
    xi = (np.arange(2 * pw) + 0.5) / 2 - 0.5 + 1
    y0, x0 = np.floor(yi).astype(int), np.floor(xi).astype(int)
    fy, fx = (yi - y0)[:, None], (xi - x0)[None, :]
    a = p[y0][:, x0]
    b = p[y0][:, x0 + 1]
    c = p[y0 + 1][:, x0]
    d = p[y0 + 1][:, x0 + 1]
    out = (1 - fy) * ((1 - fx) * a + fx * b) + fy * ((1 - fx) * c + fx * d)
    return out[:h, :w]


def pad_to(plane: np.ndarray, patch: int) -> np.ndarray:
    h, w = plane.shape
    return np.pad(plane, ((0, -h % patch), (0, -w % patch)), mode="edge")


def to_blocks(plane: np.ndarray, patch: int) -> np.ndarray:
    """2-D plane -> (by, bx, patch*patch) blocks, padding by edge replication."""
    p = pad_to(plane, patch)
    by, bx = p.shape[0] // patch, p.shape[1] // patch
    return p.reshape(by, patch, bx, patch).transpose(0, 2, 1, 3).reshape(by, bx, patch * patch)


def from_blocks(blocks: np.ndarray, h: int, w: int, patch: int) -> np.ndarray:
    by, bx = blocks.shape[:2]
    p = blocks.reshape(by, bx, patch, patch).transpose(0, 2, 1, 3).reshape(by * patch, bx * patch)
    return p[:h, :w]


def color_patches(img: np.ndarray, patch: int) -> np.ndarray:
    """HxWx3 -> (by, bx, patch*patch*3) patches of YCbCr (channel-major within a patch)."""
    ycc = rgb_to_ycbcr(img)
    return np.concatenate([to_blocks(ycc[..., c], patch) for c in range(3)], axis=2)


def color_from_patches(patches: np.ndarray, h: int, w: int, patch: int) -> np.ndarray:
    n = patch * patch
    planes = [from_blocks(patches[..., c * n:(c + 1) * n], h, w, patch) for c in range(3)]
    return np.stack(planes, axis=-1)
