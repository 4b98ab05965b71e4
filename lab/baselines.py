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


class ToolMissing(RuntimeError):
    """An external codec's program is not installed (`make setup` installs it with apt)."""


def _tool(cmd: list[str], stdin: bytes | None = None, cwd: str | None = None) -> bytes:
    import shutil
    import subprocess

    if shutil.which(cmd[0]) is None:
        raise ToolMissing(f"{cmd[0]} is not installed (make setup installs it)")
    r = subprocess.run(cmd, input=stdin, capture_output=True, cwd=cwd, timeout=3600)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.decode(errors='replace').strip()[:200]}")
    return r.stdout


def _archiver(add: list[str], extract: list[str]):
    """encode/decode through an archiver that works on files: one member named `f` in a temp directory.
    The archive's own bytes (headers, the member's name) are counted, as its users would see them."""
    import tempfile
    from pathlib import Path

    def enc(d: bytes) -> bytes:
        with tempfile.TemporaryDirectory() as t:
            Path(t, "f").write_bytes(d)
            _tool([a.replace("{arc}", "a.arc") for a in add], cwd=t)
            return Path(t, "a.arc").read_bytes()

    def dec(b: bytes) -> bytes:
        with tempfile.TemporaryDirectory() as t:
            Path(t, "a.arc").write_bytes(b)
            Path(t, "out").mkdir()
            _tool([a.replace("{arc}", "a.arc") for a in extract], cwd=t)
            return Path(t, "out", "f").read_bytes()

    return enc, dec


_zpaq = _archiver(["zpaq", "a", "{arc}", "f", "-m5", "-t1"], ["zpaq", "x", "{arc}", "-to", "out", "-t1"])
_ppmd = _archiver(["7zz", "a", "-t7z", "-m0=PPMd", "-mx=9", "-mmt=1", "{arc}", "f"],
                  ["7zz", "x", "{arc}", "-oout", "-y"])

# Strong context-modelling compressors (Debian packages zpaq, 7zip, bzip3; installed by `make setup`).
# Single-threaded, so that MB/s compares with the other codecs.
STRONG: dict[str, LosslessCodec] = {
    "zpaq": LosslessCodec("zpaq", "-m5 (v7.15, archive of one file)", *_zpaq),
    "ppmd": LosslessCodec("7-Zip PPMd", "-m0=PPMd -mx=9 (order 32, 192 MB; .7z of one file)", *_ppmd),
    "bzip3": LosslessCodec("bzip3", "-b 16 (v1.2)", lambda d: _tool(["bzip3", "-e", "-c", "-j", "1"], d),
                           lambda b: _tool(["bzip3", "-d", "-c", "-j", "1"], b)),
}


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


def _cjxl(img: np.ndarray, *flags: str) -> bytes:
    """libjxl's cjxl on an RGB array (through a PNG), one thread."""
    import tempfile
    from pathlib import Path

    from PIL import Image

    with tempfile.TemporaryDirectory() as t:
        Image.fromarray(np.asarray(img, np.uint8)).save(Path(t, "in.png"), compress_level=1)
        _tool(["cjxl", "in.png", "out.jxl", *flags, "--num_threads=0", "--quiet"], cwd=t)
        return Path(t, "out.jxl").read_bytes()


def _djxl(blob: bytes) -> np.ndarray:
    import tempfile
    from pathlib import Path

    from PIL import Image

    with tempfile.TemporaryDirectory() as t:
        Path(t, "in.jxl").write_bytes(blob)
        _tool(["djxl", "in.jxl", "out.png", "--num_threads=0", "--quiet"], cwd=t)
        with Image.open(Path(t, "out.png")) as im:
            return np.asarray(im.convert("RGB"))


class JxlCodec(ImageCodec):
    """JPEG XL through libjxl's cjxl / djxl (Debian libjxl-tools, installed by `make setup`): `-q` quality
    (remapped by cjxl to a butteraugli distance), effort 7 (the default), one thread."""

    def encode(self, img: np.ndarray, quality: int) -> bytes:
        return _cjxl(img, "-q", str(int(quality)), "-e", "7")

    def decode(self, blob: bytes) -> np.ndarray:
        return _djxl(blob)


IMAGE: dict[str, ImageCodec] = {
    # 4:2:0 chroma, optimised Huffman tables: the strongest setting of baseline JPEG in Pillow
    "jpeg": ImageCodec("JPEG", "JPEG", 1, 95, (("subsampling", 2), ("optimize", True))),
    "webp": ImageCodec("WebP", "WEBP", 0, 100, (("method", 6),)),
    # one encoder thread: libaom's bytes depend on its thread count (2 threads and 1 give different files), so a
    # report's AVIF curve would otherwise change with the machine's cores and, measured here, from run to run
    "avif": ImageCodec("AVIF", "AVIF", 0, 100, (("speed", 6), ("max_threads", 1))),
    "jxl": JxlCodec("JPEG XL", "JXL", 5, 100),   # libjxl 0.7: below -q 5 the distance exceeds its limit of 25
}


@dataclass(frozen=True)
class LosslessImageCodec:
    """encode(HxWx3 uint8) -> bytes, decode(bytes) -> the identical array."""
    name: str
    setting: str
    encode: Callable[[np.ndarray], bytes]
    decode: Callable[[bytes], np.ndarray]


def _pil_lossless(fmt: str, **options):
    def enc(img):
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(np.asarray(img, np.uint8)).save(buf, format=fmt, **options)
        return buf.getvalue()

    def dec(blob):
        from PIL import Image

        with Image.open(io.BytesIO(blob)) as im:
            return np.asarray(im.convert("RGB"))

    return enc, dec


IMAGE_LOSSLESS: dict[str, LosslessImageCodec] = {
    "png": LosslessImageCodec("PNG", "Pillow, optimize, level 9", *_pil_lossless("PNG", optimize=True,
                                                                                   compress_level=9)),
    "webp-lossless": LosslessImageCodec("WebP lossless", "Pillow, lossless, method 6, quality 100",
                                        *_pil_lossless("WEBP", lossless=True, method=6, quality=100)),
    "jxl-lossless": LosslessImageCodec("JPEG XL lossless", "cjxl -d 0 -e 7 (libjxl 0.7)",
                                       lambda img: _cjxl(img, "-d", "0", "-e", "7"), _djxl),
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


def lossless(name: str) -> LosslessCodec:
    """Any byte codec by its key: LOSSLESS, STRONG or LOSSLESS_EXTRA."""
    for table in (LOSSLESS, STRONG, LOSSLESS_EXTRA):
        if name in table:
            return table[name]
    raise KeyError(f"no lossless baseline {name!r}")


def roundtrip_lossless(name: str, data: bytes) -> tuple[bytes, bool]:
    c = lossless(name)
    blob = c.encode(data)
    return blob, c.decode(blob) == data
