"""The holo codec: modes `pca` (transform codec on a DCT or per-image KLT basis), `vq` (k-means codebook
of PCA-reduced patches), `residual` (VQ coarse layer + transform-coded residual) and `intra` (prediction
from decoded neighbours, rate-distortion-chosen 32/16/8 blocks, RDOQ, deblocking: lab.holo.intra).

    blob = encode(img, HoloParams(mode="pca", step=12))
    img2 = decode_image(blob)            # full reconstruction
    img3 = decode_image(blob, k=4)       # "focus": only the first 4 components of every patch
                                         # (pca/vq/residual; intra blocks are predicted, not sums of components)
"""
from __future__ import annotations

import struct
from dataclasses import asdict, dataclass, replace

import numpy as np

from lab import FormatError
from lab.df import effective_dim
from lab.holo import format as fmt
from lab.holo import patches as P
from lab.holo import pca as B
from lab.holo import vq as V
from lab.holo.coefcode import Decoder, Encoder

MODES = ("vq", "pca", "residual", "intra")
BASES = ("dct", "klt")
N_GROUPS = 4  # reconstruction-offset groups per channel type (by component index)


@dataclass(frozen=True)
class HoloParams:
    mode: str = "pca"          # vq | pca | residual | intra
    k: int = 0                 # coded components per patch (0: all; -1: auto = 1 + round(Df of detail))
    clusters: int = 256        # VQ codebook size C
    vq_dims: int = 16          # PCA dimensions the codebook lives in
    patch: int = 8
    step: float = 16.0         # quantiser step (pixel units, orthonormal transform)
    chroma_step: float = 1.0   # chroma step = step * chroma_step
    subsample: bool = True     # 4:2:0 chroma for the transform layer
    basis: str = "dct"         # dct | klt | auto (auto: the smaller file)
    deadzone: float = 0.30     # rounding offset of the dead-zone quantiser (0.5 = plain rounding)
    rd_lambda: float = 0.1     # intra: Lagrange multiplier of D + lambda * R, in units of step^2 per bit
    seed: int = 0

    def validate(self) -> "HoloParams":
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if self.patch not in (4, 8, 16):
            raise ValueError("patch must be 4, 8 or 16")
        if self.basis not in BASES + ("auto",):
            raise ValueError("basis must be dct, klt or auto")
        if not (self.step > 0 and self.chroma_step > 0):
            raise ValueError("step sizes must be positive")
        if not 0 < self.rd_lambda <= 100:
            raise ValueError("rd_lambda must be in (0, 100]")
        if not 1 <= self.clusters <= 65536:
            raise ValueError("clusters must be in 1..65536")
        if not 1 <= self.vq_dims <= 3 * self.patch ** 2:
            raise ValueError("vq_dims out of range")
        if self.k < -1 or self.k > self.patch ** 2:
            raise ValueError(f"k must be -1 (auto), 0 (all) or 1..{self.patch ** 2}")
        return self


# ---------------------------------------------------------------------------------------------- params
_PARM = struct.Struct("<BBHHHBBfff")  # mode patch K clusters vq_dims subsample basis step chroma df


def _pack_parm(mode, patch, K, clusters, vq_dims, subsample, basis, step, chroma, df) -> bytes:
    return _PARM.pack(MODES.index(mode), patch, K, clusters, vq_dims, int(subsample), BASES.index(basis),
                      step, chroma, df)


def _unpack_parm(b: bytes) -> dict:
    if len(b) != _PARM.size:
        raise FormatError("corrupt .holo file (bad parameter section)")
    m, patch, K, clusters, vq_dims, sub, basis, step, chroma, df = _PARM.unpack(b)
    if m >= len(MODES) or patch not in (4, 8, 16) or basis >= len(BASES) or sub > 1:
        raise FormatError("corrupt .holo file (invalid parameters)")
    if not (1 <= K <= patch * patch) or not (1 <= vq_dims <= 3 * patch * patch) or (clusters < 1 and m in (0, 2)):
        raise FormatError("corrupt .holo file (invalid parameters)")
    if not (np.isfinite(step) and step > 0 and np.isfinite(chroma) and chroma > 0):
        raise FormatError("corrupt .holo file (invalid step size)")
    return dict(mode=MODES[m], patch=patch, K=K, clusters=clusters, vq_dims=vq_dims, subsample=bool(sub),
                basis=BASES[basis], step=float(step), chroma=float(chroma), df=float(df))


# --------------------------------------------------------------------------------------- transform layer
def _planes(ycc: np.ndarray, subsample: bool) -> list[tuple[np.ndarray, int]]:
    """YCbCr image -> [(plane, factor)] with chroma at half resolution when subsampling."""
    f = 2 if subsample else 1
    out = [(ycc[..., 0], 1)]
    for c in (1, 2):
        out.append((P.downsample2(ycc[..., c]) if subsample else ycc[..., c], f))
    return out


def _groups(K: int) -> np.ndarray:
    """Component index -> reconstruction-offset group (0: DC, then 1..N_GROUPS-1 by frequency)."""
    g = np.minimum(N_GROUPS - 1, 1 + (np.arange(K) >= 6) + (np.arange(K) >= 20))
    g[0] = 0
    return g


def _quantise(c: np.ndarray, q: float, dz: float) -> np.ndarray:
    return (np.sign(c) * np.floor(np.abs(c) / q + dz)).astype(np.int64)


def _offsets(c: np.ndarray, lv: np.ndarray, q: float, groups: np.ndarray) -> np.ndarray:
    """Per-group reconstruction offset theta (in 1/64 step units): decoder uses (|l| - theta) * q."""
    th = np.zeros(N_GROUPS, np.int64)
    a, m = np.abs(c) / q, np.abs(lv)
    for g in range(1, N_GROUPS):
        sel = (m > 0) & (groups[None, None, :] == g)
        if sel.any():
            th[g] = int(np.clip(np.rint(64 * np.mean(m[sel] - a[sel])), 0, 40))
    return th


def _dequantise(lv: np.ndarray, q: float, theta: np.ndarray, groups: np.ndarray) -> np.ndarray:
    t = theta[groups].astype(np.float64) / 64
    m = np.abs(lv).astype(np.float64)
    return np.sign(lv) * np.where(m > 0, m - t[None, None, :], 0.0) * q


def _choose_k(params: HoloParams, df: float) -> int:
    n = params.patch ** 2
    if params.k == -1:
        return B.auto_k(df, n)
    return n if params.k == 0 else params.k


def _encode_transform(planes, params: HoloParams, basis_name: str, K: int, enc: Encoder, sections: dict):
    """Transform-code planes [(plane, factor)] on the chosen basis; adds BASE/RECO items."""
    n = params.patch ** 2
    blocks = [P.to_blocks(p, params.patch) for p, _ in planes]
    if basis_name == "klt":
        vec, _ = B.klt_basis(blocks[0])
        rot = B.basis_to_rotation(vec[:, :K])
        cls = np.minimum(3, np.abs(np.arange(n)[:, None] - np.arange(K)[None, :]))
        enc.ints(rot, cls, 4)
        basis = B.rotation_to_basis(rot)
    else:
        basis = B.dct_basis(params.patch)[:, :K]
    groups = _groups(K)
    levels, thetas = [], []
    for i, bl in enumerate(blocks):
        q = params.step * (params.chroma_step if i else 1.0)
        c = bl @ basis
        lv = _quantise(c, q, params.deadzone)
        levels.append(lv)
        thetas.append(_offsets(c, lv, q, groups))
    enc.planes(levels, [0, 1, 1])
    sections["RECO"] = np.concatenate(thetas).astype(np.uint8).tobytes()


def _decode_transform(dec: Decoder, hdr: dict, sections: dict, shapes: list, k: int | None):
    """-> list of (pixel blocks (by, bx, n), factor) and the levels, reading BASE/RECO."""
    patch, K = hdr["patch"], hdr["K"]
    n = patch * patch
    if hdr["basis"] == "klt":
        cls = np.minimum(3, np.abs(np.arange(n)[:, None] - np.arange(K)[None, :]))
        rot = dec.ints(n * K, cls, 4).reshape(n, K)
        if np.abs(rot).max(initial=0) > 4 * B.ROT_SCALE:
            raise FormatError("corrupt .holo file (basis out of range)")
        basis = B.rotation_to_basis(rot)
    else:
        basis = B.dct_basis(patch)[:, :K]
    reco = sections.get("RECO", b"")
    if len(reco) != 3 * N_GROUPS:
        raise FormatError("corrupt .holo file (bad reconstruction section)")
    theta = np.frombuffer(reco, np.uint8).astype(np.int64).reshape(3, N_GROUPS)
    groups = _groups(K)
    bshapes = [(-(-h // patch), -(-w // patch), K) for h, w, _ in shapes]
    levels = dec.planes(bshapes, [0, 1, 1])
    out = []
    for i, (lv, (h, w, f)) in enumerate(zip(levels, shapes)):
        if k is not None and k < K:
            lv = lv.copy()
            lv[..., k:] = 0
        q = hdr["step"] * (hdr["chroma"] if i else 1.0)
        c = _dequantise(lv, q, theta[i], groups)
        out.append((c @ basis.T, f))
    return out


# ---------------------------------------------------------------------------------------------- VQ layer
def _encode_vq(ycc: np.ndarray, params: HoloParams, enc: Encoder, sections: dict) -> np.ndarray:
    """Codebook + labels; returns the decoded VQ reconstruction (YCbCr, full resolution)."""
    h, w = ycc.shape[:2]
    p = params.patch
    n3 = 3 * p * p
    pt = np.concatenate([P.to_blocks(ycc[..., c], p) for c in range(3)], axis=2)
    by, bx = pt.shape[:2]
    x = pt.reshape(-1, n3)
    d = min(params.vq_dims, n3)
    mu, vec, _ = V.pca(x, d)
    z = (x - mu) @ vec
    cent = V.kmeans(z, params.clusters, params.seed)
    cq, cs = V.quantise_columns(cent)
    vq_, vs = V.quantise_columns(vec)
    mu16 = mu.astype(np.float16)
    book = _vq_book(mu16, vq_, vs, cq, cs, None)
    lab = V.nearest(x, book).reshape(by, bx)
    C = len(cent)
    nbits = max(1, int(np.ceil(np.log2(C))))
    sections["BOOK"] = (struct.pack("<HB", C, d) + mu16.tobytes() + vs.tobytes() + vq_.tobytes()
                        + cs.tobytes() + cq.tobytes())
    enc.labels(lab, nbits)
    rec = book[lab]
    return np.stack([P.from_blocks(rec[..., c * p * p:(c + 1) * p * p], h, w, p) for c in range(3)], axis=-1)


def _vq_book(mu, vq_, vs, cq, cs, k):
    vec = V.dequantise_columns(vq_, vs)
    cent = V.dequantise_columns(cq, cs)
    if k is not None:
        vec, cent = vec[:, :k], cent[:, :k]
    return mu.astype(np.float64)[None, :] + cent @ vec.T


def _decode_vq(dec: Decoder, book_bytes: bytes, patch: int, h: int, w: int, k: int | None):
    n3 = 3 * patch * patch
    if len(book_bytes) < 3:
        raise FormatError("corrupt .holo file (bad codebook section)")
    C, d = struct.unpack_from("<HB", book_bytes)
    if C == 0:
        C = 65536
    if d < 1 or d > n3:
        raise FormatError("corrupt .holo file (bad codebook section)")
    need = 3 + 2 * n3 + 2 * d + n3 * d + 2 * d + C * d
    if len(book_bytes) != need:
        raise FormatError("corrupt .holo file (codebook section has the wrong size)")
    o = 3
    mu = np.frombuffer(book_bytes, np.float16, n3, o); o += 2 * n3
    vs = np.frombuffer(book_bytes, np.float16, d, o); o += 2 * d
    vq_ = np.frombuffer(book_bytes, np.int8, n3 * d, o).reshape(n3, d); o += n3 * d
    cs = np.frombuffer(book_bytes, np.float16, d, o); o += 2 * d
    cq = np.frombuffer(book_bytes, np.int8, C * d, o).reshape(C, d)
    if not (np.isfinite(mu).all() and np.isfinite(vs).all() and np.isfinite(cs).all()):
        raise FormatError("corrupt .holo file (codebook is not finite)")
    book = _vq_book(mu, vq_, vs, cq, cs, k)
    nbits = max(1, int(np.ceil(np.log2(C))))
    by, bx = -(-h // patch), -(-w // patch)
    lab = dec.labels((by, bx), nbits)
    if lab.max(initial=0) >= C:
        raise FormatError("corrupt .holo file (label out of range)")
    rec = book[lab]
    nn = patch * patch
    return [(rec[..., c * nn:(c + 1) * nn], 1) for c in range(3)]


# ------------------------------------------------------------------------------------------- public API
def encode(img: np.ndarray, params: HoloParams = HoloParams()) -> bytes:
    """Encode an HxWx3 uint8 RGB image into .holo bytes."""
    params.validate()
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if img.ndim != 3 or img.shape[2] not in (3, 4) or img.dtype != np.uint8:
        raise ValueError("expected an HxWx3 uint8 RGB image")
    img = img[..., :3]
    h, w = img.shape[:2]
    fmt.check_dims(w, h)
    if params.mode == "intra" and params.basis != "dct":
        params = replace(params, basis="dct")       # intra's transform is its own DCT of 8, 16 or 32
    if params.basis == "auto":
        a = encode(img, replace(params, basis="dct"))
        b = encode(img, replace(params, basis="klt"))
        return a if len(a) <= len(b) else b
    ycc = P.rgb_to_ycbcr(img)
    df = B.detail_df(P.to_blocks(ycc[..., 0], params.patch))
    K = _choose_k(params, df)
    enc = Encoder()
    sections: dict[str, bytes] = {}
    basis = params.basis
    if params.mode == "intra":
        from lab.holo import intra

        planes = [p for p, _ in _planes(ycc, params.subsample)]
        steps = [params.step, params.step * params.chroma_step, params.step * params.chroma_step]
        data, sections["DBLK"], _ = intra.encode_planes(planes, steps, params.rd_lambda, params.subsample)
        K = params.patch ** 2
    elif params.mode in ("vq", "residual"):
        vq_rec = _encode_vq(ycc, params, enc, sections)
        if params.mode == "residual":
            _encode_transform(_planes(ycc - vq_rec, params.subsample), params, basis, K, enc, sections)
    else:
        _encode_transform(_planes(ycc, params.subsample), params, basis, K, enc, sections)
    clusters = min(params.clusters, 65535) if params.mode in ("vq", "residual") else 0
    parm = _pack_parm(params.mode, params.patch, K, clusters, params.vq_dims, params.subsample, basis,
                      params.step, params.chroma_step, df)
    sections = {"PARM": parm, **sections, "DATA": data if params.mode == "intra" else enc.finish()}
    return fmt.pack(w, h, sections)


def decode_layers(blob: bytes, k: int | None = None):
    """Parse and entropy-decode; -> (header dict, layers), each layer a list of 3 (pixel blocks, factor)."""
    c = fmt.unpack(blob)
    if "PARM" not in c.sections or "DATA" not in c.sections:
        raise FormatError("corrupt .holo file (missing sections)")
    hdr = _unpack_parm(c.sections["PARM"])
    hdr.update(width=c.width, height=c.height)
    if hdr["mode"] == "intra":
        if k is not None:
            raise ValueError("an intra-mode file has no components to keep: its blocks are predicted from their "
                             "neighbours (focus and zoom need a pca, vq or residual file)")
        return hdr, [_decode_intra(c, hdr)]
    kmax = hdr["vq_dims"] if hdr["mode"] == "vq" else hdr["K"]
    if k is not None and not 1 <= k <= kmax:
        raise ValueError(f"k must be in 1..{kmax} for this file ({hdr['mode']} mode, {kmax} components), not {k}")
    try:
        dec = Decoder(c.sections["DATA"])
    except (ValueError, IndexError):
        raise FormatError("corrupt .holo file (bad data section)") from None
    h, w, p = c.height, c.width, hdr["patch"]
    f = 2 if hdr["subsample"] else 1
    shapes = [(h, w, 1), (-(-h // f), -(-w // f), f), (-(-h // f), -(-w // f), f)]
    layers = []
    if hdr["mode"] in ("vq", "residual"):
        if "BOOK" not in c.sections:
            raise FormatError("corrupt .holo file (missing codebook)")
        kv = None if k is None or hdr["mode"] == "residual" else k
        layers.append(_decode_vq(dec, c.sections["BOOK"], p, h, w, kv))
    if hdr["mode"] in ("pca", "residual"):
        layers.append(_decode_transform(dec, hdr, c.sections, shapes, k))
    return hdr, layers


def _decode_intra(c, hdr: dict) -> list:
    """-> [(plane, factor)] for Y, Cb, Cr (pixel planes, not blocks)."""
    from lab.holo import intra

    if "DBLK" not in c.sections:
        raise FormatError("corrupt .holo file (missing deblocking section)")
    h, w = hdr["height"], hdr["width"]
    f = 2 if hdr["subsample"] else 1
    shapes = [(h, w)] + [(-(-h // f), -(-w // f))] * 2
    steps = [hdr["step"], hdr["step"] * hdr["chroma"], hdr["step"] * hdr["chroma"]]
    planes = intra.decode_planes(c.sections["DATA"], c.sections["DBLK"], shapes, steps, hdr["subsample"])
    return [(p, fc) for p, fc in zip(planes, (1, f, f))]


def render_ycc(hdr: dict, layers) -> np.ndarray:
    h, w, p = hdr["height"], hdr["width"], hdr["patch"]
    ycc = np.zeros((h, w, 3))
    if hdr["mode"] == "intra":
        for c, (plane, f) in enumerate(layers[0]):
            ycc[..., c] = plane if f == 1 else P.upsample2(plane, h, w)
        return ycc
    for layer in layers:
        for c, (bl, f) in enumerate(layer):
            plane = P.from_blocks(bl, -(-h // f), -(-w // f), p)
            ycc[..., c] += plane if f == 1 else P.upsample2(plane, h, w)
    return ycc


def decode_image(blob: bytes, k: int | None = None) -> np.ndarray:
    """Decode .holo bytes into an HxWx3 uint8 RGB image (optionally with only the first k components)."""
    hdr, layers = decode_layers(blob, k)
    return P.ycbcr_to_rgb(render_ycc(hdr, layers))


decode = decode_image


def info(blob: bytes) -> dict:
    """Header facts and section sizes (no pixel decoding)."""
    c = fmt.unpack(blob)
    hdr = _unpack_parm(c.sections.get("PARM", b""))
    out = {"bytes": len(blob), "width": c.width, "height": c.height, "version": c.version,
           "bpp": 8 * len(blob) / (c.width * c.height), "mode": hdr["mode"], "patch": hdr["patch"],
           "k": hdr["vq_dims"] if hdr["mode"] == "vq" else (None if hdr["mode"] == "intra" else hdr["K"]),
           "clusters": hdr["clusters"] if hdr["mode"] in ("vq", "residual") else None,
           "basis": hdr["basis"] if hdr["mode"] in ("pca", "residual") else None, "step": hdr["step"],
           "subsample": hdr["subsample"], "df": round(hdr["df"], 3), "sections": c.section_sizes()}
    return out


def params_dict(p: HoloParams) -> dict:
    return asdict(p)


__all__ = ["HoloParams", "encode", "decode", "decode_image", "decode_layers", "render_ycc", "info",
           "effective_dim"]


def fuzz_target():
    """Small .holo files in every mode (lab.formats registry: `make fuzz`)."""
    from lab.formats import Target

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:40, 0:56]
    img = np.stack([128 + 80 * np.sin(x / 7) * np.cos(y / 9), 90 + 2 * x + y, np.where(x > y, 200, 50)], -1)
    img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    params = [HoloParams(step=8), HoloParams(basis="klt", k=12, step=4), HoloParams(mode="vq", clusters=8),
              HoloParams(mode="residual", clusters=4, step=12), HoloParams(patch=4, subsample=False, step=6),
              HoloParams(patch=16, k=-1, step=20), HoloParams(mode="intra", step=10),
              HoloParams(mode="intra", step=24, subsample=False)]
    samples = [encode(img[: 17 + 7 * i, : 23 + 5 * i], p) for i, p in enumerate(params)]
    return Target(".holo", fmt.MAGIC, fmt.VERSION, fmt._HEAD, samples, decode_image)
