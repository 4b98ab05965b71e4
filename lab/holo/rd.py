"""Rate-distortion: step search, sweeps of holo modes and Pillow baselines on the same image, BD-rate."""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from lab.baselines import IMAGE, image_point
from lab.holo import codec as C
from lab.metrics import bd_rate, bpp, ms_ssim, psnr


def quality_to_step(quality: float) -> float:
    """0..100 -> quantiser step: 100 -> 0.5, 50 -> 16, 0 -> 512 (a factor 2 every 10 points)."""
    q = float(np.clip(quality, 0, 100))
    return 0.5 * 2 ** ((100 - q) / 10)


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (the JPEG XL baseline runs cjxl as one)."""
    import resource

    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


def measure(img: np.ndarray, params: C.HoloParams, with_msssim: bool = False) -> dict:
    """Encode, decode (timed: wall clock, and CPU time, which a busy machine does not inflate),
    and measure one point from the real file bytes."""
    c0, t0 = cpu_seconds(), time.perf_counter()
    blob = C.encode(img, params)
    c1, t1 = cpu_seconds(), time.perf_counter()
    rec = C.decode_image(blob)
    c2, t2 = cpu_seconds(), time.perf_counter()
    out = {"codec": f"holo-{params.mode}", "step": params.step, "bytes": len(blob), "bpp": bpp(len(blob), img.shape),
           "psnr": psnr(img, rec), "enc_s": t1 - t0, "dec_s": t2 - t1,
           "enc_cpu_s": c1 - c0, "dec_cpu_s": c2 - c1}
    if with_msssim:
        out["ms_ssim"] = ms_ssim(img, rec)
    return out


def search_step(img, params: C.HoloParams, target_bpp=None, target_psnr=None, iters: int = 12, progress=False):
    """Bisection on log(step) for the largest step meeting the target PSNR, or the rate closest to
    (and not above) the target bpp. Returns (params, blob)."""
    from tqdm import tqdm

    lo, hi = np.log(0.25), np.log(1024.0)
    best = None
    for _ in tqdm(range(iters), disable=not progress, desc="step search", delay=1.0):
        mid = (lo + hi) / 2
        p = replace(params, step=float(np.exp(mid)))
        blob = C.encode(img, p)
        if target_psnr is not None:  # the largest step that still reaches the PSNR
            ok = psnr(img, C.decode_image(blob)) >= target_psnr
            lo, hi = (mid, hi) if ok else (lo, mid)
        else:  # the smallest step whose rate is within the budget
            ok = bpp(len(blob), img.shape) <= target_bpp
            lo, hi = (lo, mid) if ok else (mid, hi)
        if ok:
            best = (p, blob)
    if best is None:  # target unreachable: the closest end of the range
        p = replace(params, step=float(np.exp(lo if target_psnr is not None else hi)))
        best = (p, C.encode(img, p))
    return best


def holo_curve(img, params: C.HoloParams, steps, with_msssim=False) -> list[dict]:
    return [measure(img, replace(params, step=float(s)), with_msssim) for s in steps]


def baseline_curve(img, name: str, qualities, with_msssim=False) -> list[dict]:
    out = []
    for q in qualities:
        t0 = time.perf_counter()
        pt = image_point(IMAGE[name], img, q)
        pt["enc_s"] = time.perf_counter() - t0
        rec = pt.pop("rec")
        if with_msssim:
            pt["ms_ssim"] = ms_ssim(img, rec)
        out.append(pt)
    return out


def in_range(points, lo=0.1, hi=1.0, margin=0.25):
    """Points whose bpp lies in [lo*(1-margin), hi*(1+margin)] (keeps the fit anchored at the range ends)."""
    return [p for p in points if lo * (1 - margin) <= p["bpp"] <= hi * (1 + margin)]


def bd_vs(ref_points, test_points, metric="psnr", lo=0.1, hi=1.0) -> float:
    a, b = in_range(ref_points, lo, hi), in_range(test_points, lo, hi)
    return bd_rate([p["bpp"] for p in a], [p[metric] for p in a], [p["bpp"] for p in b], [p[metric] for p in b])
