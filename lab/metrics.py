"""Distortion and rate metrics: PSNR, MS-SSIM, bpp, bpc, compression ratio, BD-rate."""
from __future__ import annotations

import hashlib

import numpy as np
from scipy.ndimage import convolve1d


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB over all channels (RGB 8-bit by default); inf for identical images."""
    m = mse(a, b)
    return float("inf") if m == 0 else float(10 * np.log10(peak * peak / m))


def bpp(nbytes: int, shape) -> float:
    return 8.0 * nbytes / (shape[0] * shape[1])


def bpc(nbytes: int, nchars: int) -> float:
    return 8.0 * nbytes / max(1, nchars)


def ratio(raw: int, compressed: int) -> float:
    return raw / max(1, compressed)


def _gauss(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def _filt(x, g):
    # 'valid' separable gaussian filtering over the first two axes (float32: the images are 8-bit)
    y = convolve1d(x, g, axis=0, mode="constant")
    y = convolve1d(y, g, axis=1, mode="constant")
    r = len(g) // 2
    return y[r:-r or None, r:-r or None]


_G32 = _gauss().astype(np.float32)
_MS_W = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
_REF: dict = {}          # the last reference's per-scale statistics (an RD curve scores many images against one)


def _half(x):
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    return x[:h, :w].reshape(h // 2, 2, w // 2, 2, *x.shape[2:]).mean(axis=(1, 3), dtype=np.float32)


def _ref_stats(a: np.ndarray) -> list:
    """Per scale: (x, mean, variance) of the reference, all channels at once; cached for the last reference
    (one per process: not for threads sharing references)."""
    key = (a.shape, a.dtype.str, hashlib.blake2b(np.ascontiguousarray(a).tobytes(), digest_size=16).digest())
    if _REF.get("key") != key:
        x = np.asarray(a, np.float32)
        stats = []
        for s in range(len(_MS_W)):
            mx = _filt(x, _G32)
            stats.append((x, mx, _filt(x * x, _G32) - mx * mx))
            x = _half(x)
        _REF.clear()
        _REF.update(key=key, stats=stats)
    return _REF["stats"]


def ms_ssim(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """MS-SSIM (Wang et al. 2003), 5 scales, mean over RGB channels; images must be >= 176 px a side.
    Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03; statistics in float32 (8-bit inputs)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"ms_ssim: shapes differ {a.shape} vs {b.shape}")
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    c1, c2 = np.float32((0.01 * peak) ** 2), np.float32((0.03 * peak) ** 2)
    y = np.asarray(b, np.float32)
    mcs = []
    for s, (x, mx, sxx) in enumerate(_ref_stats(a)):
        my = _filt(y, _G32)
        syy = _filt(y * y, _G32) - my * my
        sxy = _filt(x * y, _G32) - mx * my
        cs = (2 * sxy + c2) / (sxx + syy + c2)
        if s < len(_MS_W) - 1:
            mcs.append(np.maximum(cs.mean(axis=(0, 1), dtype=np.float64), 1e-12))
            y = _half(y)
        else:
            ssim = (((2 * mx * my + c1) / (mx * mx + my * my + c1)) * cs).mean(axis=(0, 1), dtype=np.float64)
    vals = np.prod(np.array(mcs) ** _MS_W[:-1, None], axis=0) * np.maximum(ssim, 1e-12) ** _MS_W[-1]
    return float(np.mean(vals))


def bd_rate(rate_a, dist_a, rate_b, dist_b) -> float:
    """Bjontegaard delta rate of B relative to A in percent (negative = B needs fewer bits).

    Cubic fit of log-rate as a function of distortion (PSNR), integrated over the overlapping PSNR range.
    Returns nan if the ranges do not overlap or fewer than 4 points exist on a curve.
    """
    ra, da = np.log(np.asarray(rate_a, float)), np.asarray(dist_a, float)
    rb, db = np.log(np.asarray(rate_b, float)), np.asarray(dist_b, float)
    ok_a, ok_b = np.isfinite(ra) & np.isfinite(da), np.isfinite(rb) & np.isfinite(db)
    ra, da, rb, db = ra[ok_a], da[ok_a], rb[ok_b], db[ok_b]
    if len(da) < 4 or len(db) < 4:
        return float("nan")
    lo, hi = max(da.min(), db.min()), min(da.max(), db.max())
    if hi <= lo:
        return float("nan")
    pa, pb = np.polyfit(da, ra, 3), np.polyfit(db, rb, 3)
    ia, ib = np.polyint(pa), np.polyint(pb)
    avg_a = (np.polyval(ia, hi) - np.polyval(ia, lo)) / (hi - lo)
    avg_b = (np.polyval(ib, hi) - np.polyval(ib, lo)) / (hi - lo)
    return float((np.exp(avg_b - avg_a) - 1) * 100)


def interp_rate_at(rates, dists, target: float) -> float:
    """Rate at a target distortion by piecewise-linear interpolation of log-rate (nan outside the range)."""
    d = np.asarray(dists, float)
    r = np.log(np.asarray(rates, float))
    order = np.argsort(d)
    d, r = d[order], r[order]
    if target < d[0] or target > d[-1]:
        return float("nan")
    return float(np.exp(np.interp(target, d, r)))
