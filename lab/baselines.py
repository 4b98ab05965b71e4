"""Baseline codecs behind one interface: lossless byte codecs and Pillow's lossy image codecs.

    codec = LOSSLESS["xz"];  blob = codec.encode(data);  codec.decode(blob) == data
    codec = IMAGE["jpeg"];   blob = codec.encode(img, quality=75);  img2 = codec.decode(blob)
"""
from __future__ import annotations

import bz2
import io
import lzma
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class LosslessCodec:
    name: str
    setting: str
    encode: Callable[[bytes], bytes]
    decode: Callable[[bytes], bytes]


def _zstd():
    import zstandard

    return (lambda d: zstandard.ZstdCompressor(level=19).compress(d),
            lambda b: zstandard.ZstdDecompressor().decompress(b))


def _brotli():
    import brotli

    return (lambda d: brotli.compress(d, quality=11), brotli.decompress)


_z, _br = _zstd(), _brotli()

LOSSLESS: dict[str, LosslessCodec] = {
    "gzip": LosslessCodec("gzip", "-9 (zlib, gzip container)", lambda d: __import__("gzip").compress(d, 9, mtime=0),
                          lambda b: __import__("gzip").decompress(b)),
    "bzip2": LosslessCodec("bzip2", "-9", lambda d: bz2.compress(d, 9), bz2.decompress),
    "xz": LosslessCodec("xz", "-9e", lambda d: lzma.compress(d, preset=9 | lzma.PRESET_EXTREME), lzma.decompress),
    "zstd": LosslessCodec("zstd", "-19", _z[0], _z[1]),
    "brotli": LosslessCodec("brotli", "-11", _br[0], _br[1]),
}
# zlib kept for quick checks
LOSSLESS_EXTRA = {"zlib": LosslessCodec("zlib", "-9", lambda d: zlib.compress(d, 9), zlib.decompress)}


@dataclass(frozen=True)
class ImageCodec:
    """A Pillow codec at a quality in [lo, hi]; encode(HxWx3 uint8, quality) -> bytes, decode(bytes) -> array."""
    name: str
    pil_format: str
    lo: int
    hi: int
    options: tuple = ()

    def encode(self, img: np.ndarray, quality: int) -> bytes:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(np.asarray(img, np.uint8)).save(buf, format=self.pil_format, quality=int(quality),
                                                          **dict(self.options))
        return buf.getvalue()

    def decode(self, blob: bytes) -> np.ndarray:
        from PIL import Image

        with Image.open(io.BytesIO(blob)) as im:
            return np.asarray(im.convert("RGB"))


IMAGE: dict[str, ImageCodec] = {
    # 4:2:0 chroma, optimised Huffman tables: the strongest setting of baseline JPEG in Pillow
    "jpeg": ImageCodec("JPEG", "JPEG", 1, 95, (("subsampling", 2), ("optimize", True))),
    "webp": ImageCodec("WebP", "WEBP", 0, 100, (("method", 6),)),
    "avif": ImageCodec("AVIF", "AVIF", 0, 100, (("speed", 6),)),
}


def image_point(codec: ImageCodec, img: np.ndarray, quality: int) -> dict:
    """Encode, decode and measure one quality point (real bytes, real decode)."""
    from lab.metrics import bpp, psnr

    blob = codec.encode(img, quality)
    rec = codec.decode(blob)
    return {"codec": codec.name, "quality": int(quality), "bytes": len(blob), "bpp": bpp(len(blob), img.shape),
            "psnr": psnr(img, rec), "rec": rec}


def match_psnr(codec: ImageCodec, img: np.ndarray, target: float) -> dict | None:
    """Smallest-quality point of the codec whose PSNR >= target (binary search; quality is ~monotone)."""
    lo, hi = codec.lo, codec.hi
    best = None
    cache = {}

    def at(q):
        if q not in cache:
            cache[q] = image_point(codec, img, q)
        return cache[q]

    if at(hi)["psnr"] < target:
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if at(mid)["psnr"] >= target:
            hi = mid
        else:
            lo = mid + 1
    best = at(lo)
    return best


def roundtrip_lossless(name: str, data: bytes) -> tuple[bytes, bool]:
    c = LOSSLESS[name]
    blob = c.encode(data)
    return blob, c.decode(blob) == data
