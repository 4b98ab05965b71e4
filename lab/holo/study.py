"""The experiments behind reports/holo.md, as functions the notebook calls and tests can reach."""
from __future__ import annotations

import time

import numpy as np

from lab import df as D
from lab.baselines import IMAGE, match_psnr
from lab.holo import codec as C
from lab.holo import patches as P
from lab.holo import rd
from lab.metrics import bpp, psnr

BASELINES = ("jpeg", "webp", "avif", "jxl")   # the rate-distortion study's baselines
SEED_BASELINES = ("jpeg", "webp", "avif")     # the seed table's (each row a binary search per codec)
REFERENCES = "configs/holo/compressai_kodak.json"


def crop(img: np.ndarray, size: int) -> np.ndarray:
    """Centre crop to size x size (0: no crop)."""
    if not size:
        return img
    h, w = img.shape[:2]
    s = min(size, h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return img[y:y + s, x:x + s]


# ------------------------------------------------------------------------------------- 1. the seed table
def seed_rows(img: np.ndarray, clusters=(256, 1024), seed: int = 0) -> list[dict]:
    """The seed's table: VQ C=256 / C=1024 and patch PCA k=round(Df) (KLT basis), each beside JPEG, WebP
    and AVIF at the same PSNR, and beside holo's own transform codec (all components) at that PSNR."""
    from lab.holo.pca import auto_k, detail_df

    k_df = auto_k(detail_df(P.to_blocks(P.rgb_to_ycbcr(img)[..., 0], 8)), 64)
    configs = [(f"holo VQ C={c}", C.HoloParams(mode="vq", clusters=c, seed=seed)) for c in clusters]
    # the seed's patch PCA keeps k components; quantise finely enough that truncation, not the quantiser,
    # sets the quality: the largest step within 0.25 dB of the step-1 quality
    pk = C.HoloParams(mode="pca", basis="klt", k=k_df, step=1.0)
    limit = psnr(img, C.decode_image(C.encode(img, pk)))
    pk, _ = rd.search_step(img, pk, target_psnr=limit - 0.25, iters=8)
    configs.append((f"holo patch PCA k=1+round(Df)={k_df}, step {pk.step:.2f}", pk))
    rows = []
    for name, params in configs:
        t0 = time.perf_counter()
        blob = C.encode(img, params)
        t_enc = time.perf_counter() - t0
        rec = C.decode_image(blob)
        q = psnr(img, rec)
        row = {"method": name, "bytes": len(blob), "bpp": bpp(len(blob), img.shape), "psnr": q, "enc_s": t_enc}
        for b in SEED_BASELINES:
            m = match_psnr(IMAGE[b], img, q)
            row[f"{b}_bytes"] = m["bytes"] if m else float("nan")
            row[f"{b}_ratio"] = (m["bytes"] / len(blob)) if m else float("nan")
        _, tb = rd.search_step(img, C.HoloParams(mode="pca"), target_psnr=q, iters=10)
        row["holo_pca_bytes"] = len(tb)
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------- 2. rate-distortion, Kodak
def rd_image(img: np.ndarray, cfg: dict, seed: int = 0) -> dict[str, list[dict]]:
    """All curves for one image: holo modes and the Pillow baselines, every point a real file."""
    ms = cfg.get("with_msssim", False)
    curves = {
        "holo-intra": rd.holo_curve(img, C.HoloParams(mode="intra"), cfg["intra_steps"], ms),
        "holo-pca": rd.holo_curve(img, C.HoloParams(mode="pca"), cfg["pca_steps"], ms),
        "holo-residual": rd.holo_curve(img, C.HoloParams(mode="residual", clusters=64, seed=seed),
                                       cfg["residual_steps"], ms),
        "holo-vq": [dict(rd.measure(img, C.HoloParams(mode="vq", clusters=c, seed=seed), ms), clusters=c)
                    for c in cfg["vq_clusters"]],
    }
    for b in BASELINES:
        curves[b] = rd.baseline_curve(img, b, cfg[f"{b}_q"], ms)
    return curves


def _one_thread() -> None:
    """Pool initializer: one BLAS/OpenMP thread per worker (one worker per core; no oversubscription)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _rd_one(args):
    name, img, cfg, seed = args
    return name, rd_image(img, cfg, seed)


def rd_images(images, cfg: dict, seed: int = 0, workers: int = 1) -> dict[str, dict[str, list[dict]]]:
    """rd_image over [(name, img)], in `workers` processes (each image's curves are independent and
    deterministic: the numbers do not depend on the worker count; the per-point times do)."""
    jobs = [(name, img, cfg, seed) for name, img in images]
    if workers <= 1 or len(jobs) < 2:
        return dict(map(_rd_one, jobs))
    import multiprocessing as mp

    # spawn, not fork: a forked child inherits the locks of encoder thread pools (libaom, BLAS) mid-use
    with mp.get_context("spawn").Pool(min(workers, len(jobs)), initializer=_one_thread) as pool:
        return dict(pool.imap(_rd_one, jobs))


def bd_table(per_image: dict[str, dict[str, list[dict]]], metric: str = "psnr", lo=0.1, hi=1.0) -> list[dict]:
    """BD-rate (%) of each holo mode against each baseline, per image and the mean over images."""
    rows = []
    modes = [m for m in next(iter(per_image.values())) if m.startswith("holo")]
    for mode in modes:
        row = {"mode": mode}
        for b in BASELINES:
            vals = [rd.bd_vs(c[b], c[mode], metric, lo, hi) for c in per_image.values()]
            ok = [v for v in vals if np.isfinite(v)]
            row[f"vs {b} (mean %)"] = float(np.mean(ok)) if ok else float("nan")
            row[f"vs {b} (images)"] = f"{len(ok)}/{len(vals)}"
        rows.append(row)
    return rows


def mean_curves(per_image) -> dict[str, dict[str, np.ndarray]]:
    """Average bpp / PSNR / MS-SSIM at each setting over images (the usual Kodak averaging)."""
    out = {}
    for name in next(iter(per_image.values())):
        pts = [c[name] for c in per_image.values()]
        out[name] = {k: np.mean([[p[k] for p in ps] for ps in pts], axis=0)
                     for k in ("bpp", "psnr", "ms_ssim") if k in pts[0][0]}
    return out


def references(path: str = REFERENCES) -> dict:
    """CompressAI's published Kodak curves (quoted numbers with their source; never measured here)."""
    import json

    from lab.data import ROOT

    return json.loads((ROOT / path).read_text())


def reference_rows(mean, refs: dict, lo=0.1, hi=1.0) -> list[dict]:
    """BD-rate of each holo mode's and each baseline's mean Kodak curve against each published learned codec
    (negative = fewer bits than the published curve). Comparable only when the study ran on the 24 full
    images, as the published numbers did."""
    rows = []
    for name, c in mean.items():
        pts = [{"bpp": float(b), "psnr": float(q)} for b, q in zip(c["bpp"], c["psnr"])]
        row = {"codec (this run, mean curve)": name}
        for ref, r in refs["curves"].items():
            rp = [{"bpp": b, "psnr": q} for b, q in zip(r["bpp"], r["psnr"])]
            row[f"vs {ref} %"] = rd.bd_vs(rp, pts, "psnr", lo, hi)
        rows.append(row)
    return rows


def plot_rd(mean, metric="psnr", ax=None, refs: dict | None = None):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for name, c in mean.items():
        if metric in c:
            ax.plot(c["bpp"], c[metric], marker="o", ms=3, label=name, ls="--" if name.startswith("holo") else "-")
    if refs and metric == "psnr":
        for name, r in refs["curves"].items():
            ax.plot(r["bpp"], r["psnr"], ls=":", color="grey", alpha=0.8, lw=1.2)
            i = max(j for j, b in enumerate(r["bpp"]) if b <= 1.6)      # the last point inside the axes
            ax.annotate(name, (r["bpp"][i], r["psnr"][i]), fontsize=6, color="grey")
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel({"psnr": "PSNR (RGB, dB)", "ms_ssim": "MS-SSIM"}[metric])
    ax.set_xlim(0, 1.6)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


# ------------------------------------------------------------------------------------------- 3. Df
def df_rows(images) -> tuple[list[dict], dict]:
    rows, spectra = [], {}
    for name, img in images:
        y = P.rgb_to_ycbcr(img)[..., 0] + 128
        d_patch, lam = D.patch_df(y, 8)
        blocks = y[: y.shape[0] // 8 * 8, : y.shape[1] // 8 * 8]
        b = blocks.reshape(blocks.shape[0] // 8, 8, blocks.shape[1] // 8, 8).transpose(0, 2, 1, 3).reshape(-1, 64)
        lam_ac = D.spectrum(b - b.mean(axis=1, keepdims=True))
        d_img, lam_img = D.image_df(y)
        rows.append({"image": name, "Df 8x8 patches": d_patch, "Df 8x8, patch means removed": D.effective_dim(lam_ac),
                     "Df whole image": d_img,
                     "k for 95% energy (patches)": D.components_for_energy(lam, 0.95)})
        spectra[name] = (lam, lam_ac, lam_img)
    return rows, spectra


def plot_spectra(spectra, ax=None):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    for name, (lam, lam_ac, lam_img) in spectra.items():
        ax[0].semilogy(np.arange(1, len(lam) + 1), lam / lam.sum(), alpha=0.5)
        ax[1].semilogy(np.arange(1, 65), (lam_img / lam_img.sum())[:64], alpha=0.5)
    ax[0].set_title("8x8 patch covariance spectrum (luma)")
    ax[1].set_title("whole-image singular spectrum (first 64)")
    for a in ax:
        a.set_xlabel("component")
        a.set_ylabel("fraction of energy")
        a.grid(alpha=0.3)
    return ax


# ------------------------------------------------------------------------------------------- 4. timing
def timing_rows(images, step: float = 16.0, clusters: int = 256, seed: int = 0, repeat: int = 1) -> list[dict]:
    """Each mode's encode and decode time per image on one thread (BLAS limited to one), in CPU seconds
    (`rd.cpu_seconds`, cjxl's subprocess included): a quiet machine's wall clock, which a busy machine (`make
    reports` on a shared box) does not inflate (with several BLAS threads it would: waiting threads spin), mean
    and max over the images, with the mean wall clock beside them."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _timing(images, step, clusters, seed, repeat)


def _timing(images, step, clusters, seed, repeat) -> list[dict]:
    rows = []
    for mode, params in (("intra", C.HoloParams(mode="intra", step=step)),
                         ("pca", C.HoloParams(mode="pca", step=step)),
                         ("vq", C.HoloParams(mode="vq", clusters=clusters, seed=seed)),
                         ("residual", C.HoloParams(mode="residual", clusters=64, step=step, seed=seed))):
        ms = [rd.measure(img, params) for _, img in images for _ in range(repeat)]
        rows.append(_timing_row(mode, f"step {step}" if mode in ("pca", "intra") else f"C={params.clusters}",
                                len(images), [m["enc_cpu_s"] for m in ms], [m["enc_s"] for m in ms],
                                [m["dec_cpu_s"] for m in ms], [m["dec_s"] for m in ms]))
    for b in BASELINES:
        enc, wall = [], []
        for _, img in images:
            c0, t0 = rd.cpu_seconds(), time.perf_counter()
            IMAGE[b].encode(img, 50)
            enc.append(rd.cpu_seconds() - c0)
            wall.append(time.perf_counter() - t0)
        rows.append(_timing_row(b, "q50", len(images), enc, wall, [], []))
    return rows


def _timing_row(mode, setting, n, enc, enc_wall, dec, dec_wall) -> dict:
    nan = float("nan")
    return {"mode": mode, "setting": setting, "images": n,
            "encode CPU s (mean)": float(np.mean(enc)), "encode CPU s (max)": float(np.max(enc)),
            "decode CPU s (mean)": float(np.mean(dec)) if dec else nan,
            "decode CPU s (max)": float(np.max(dec)) if dec else nan,
            "encode wall s (mean)": float(np.mean(enc_wall)),
            "decode wall s (mean)": float(np.mean(dec_wall)) if dec_wall else nan}


def seed_verdict(rows) -> str:
    ok = [r for r in rows if np.isfinite(r["jpeg_ratio"])]
    if not ok:
        return "Claim 'VQ/PCA is 16-30x smaller than JPEG': not testable here (no JPEG quality reached the PSNR)."
    best = max(ok, key=lambda r: r["jpeg_ratio"])
    worst = min(ok, key=lambda r: r["jpeg_ratio"])
    b = best["jpeg_ratio"]
    v = "supported" if b >= 16 else ("refuted" if b < 16 else "")
    modern = max(max(r["webp_ratio"], r["avif_ratio"]) for r in ok)
    return (f"Claim 'VQ/PCA is 16-30x smaller than JPEG': **{v}**. At equal PSNR the best seed mode "
            f"({best['method']}, {best['bpp']:.3f} bpp) is {b:.2f}x smaller than JPEG and the worst "
            f"({worst['method']}) is {worst['jpeg_ratio']:.2f}x (below 1: JPEG is smaller). Against WebP and "
            f"AVIF the best ratio of any seed mode is {modern:.2f}x. Where VQ beats JPEG it is at very low rates, "
            f"where JPEG itself breaks down; the seed's 16-30x is not reproduced.")


def bd_verdict(rows, goal: float = -20.0, webp_goal: float = -5.0) -> str:
    by = {r["mode"]: r for r in rows}
    pca, intra = by["holo-pca"], by.get("holo-intra")
    v = pca["vs jpeg (mean %)"]
    met = np.isfinite(v) and v <= goal
    out = (f"Goal 'BD-rate <= {goal:.0f}% vs JPEG over 0.1-1.0 bpp on Kodak': holo-pca measures "
           f"**{v:+.1f}%** vs JPEG, {pca['vs webp (mean %)']:+.1f}% vs WebP, {pca['vs avif (mean %)']:+.1f}% "
           f"vs AVIF and {pca.get('vs jxl (mean %)', float('nan')):+.1f}% vs JPEG XL: "
           f"goal **{'met' if met else 'missed'}**. ")
    if intra is None:
        return out
    w = intra["vs webp (mean %)"]
    ok = np.isfinite(w) and w <= webp_goal
    return out + (
        f"Issue 14's bar, BD-rate <= {webp_goal:.0f}% vs WebP: holo-intra (prediction from decoded neighbours, "
        f"RD-chosen 32/16/8 blocks, RDOQ, deblocking, chroma from luma) measures **{w:+.1f}%** vs WebP "
        f"({intra['vs webp (images)']} images), {intra['vs jpeg (mean %)']:+.1f}% vs JPEG, "
        f"{intra['vs avif (mean %)']:+.1f}% vs AVIF and {intra.get('vs jxl (mean %)', float('nan')):+.1f}% vs "
        f"JPEG XL: bar **{'met' if ok else 'missed'}**. The transform-only holo-pca stays at "
        f"{pca['vs webp (mean %)']:+.1f}% vs WebP: what separates the two is prediction, block sizes, RDOQ and "
        "the deblocking filter, not the basis. The structure-finding modes stay for what intra cannot do: "
        "`pca`, `vq` and `residual` files decode with the first k components (focus) and resample their basis "
        "functions (zoom); on rate-distortion in 0.1-1.0 bpp none of them pays against intra (" + ", ".join(
            f"{r['mode']} {r['vs webp (mean %)']:+.1f}% vs WebP" for r in rows if r["mode"] != "holo-intra") + ").")
