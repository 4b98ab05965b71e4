"""Files the lab writes: output paths checked before any work, atomic writes, image formats by extension.

    out = check_output(args.output, inputs=[args.input], suffixes=(".holo",))   # UsageError, one line
    atomic_write(out, blob)                                                     # temp file + rename

Errors name the path the user gave, never the internal temp file.
"""
from __future__ import annotations

import io
import os
from contextlib import contextmanager
from pathlib import Path

from lab import FormatError, UsageError

IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                 ".tif": "TIFF", ".tiff": "TIFF", ".gif": "GIF"}


def check_output(path: str | os.PathLike, inputs=(), suffixes: tuple[str, ...] | None = None,
                 what: str = "output") -> Path:
    """The output path, or a UsageError naming it: a directory, a missing parent, the input itself, or a
    name whose extension says another format than the one that would be written."""
    p = Path(path)
    if str(path).endswith(("/", os.sep)) or p.is_dir():
        raise UsageError(f"{path}: is a directory; give a file name for the {what}")
    if not p.parent.is_dir():
        raise UsageError(f"{path}: directory {p.parent} does not exist")
    for i in inputs:
        if i is not None and p.exists() and Path(i).exists() and os.path.samefile(p, i):
            raise UsageError(f"{path}: the {what} would overwrite the input")
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise UsageError(f"{path}: the {what} must end in {', '.join(suffixes)}"
                         + (f", not {p.suffix}" if p.suffix else ""))
    return p


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temp file beside `path`, then rename: never a half-written output. An OSError names
    `path`, not the temp file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from None
    finally:
        if tmp.exists():
            tmp.unlink()


def image_format(path: str | os.PathLike) -> str:
    """Pillow format name for an output image path, from its extension (UsageError if unknown)."""
    ext = Path(path).suffix.lower()
    if ext not in IMAGE_FORMATS:
        raise UsageError(f"{path}: unknown image extension {ext or '(none)'}; use one of "
                         + ", ".join(sorted(set(IMAGE_FORMATS))))
    return IMAGE_FORMATS[ext]


def image_bytes(img, fmt: str = "PNG") -> bytes:
    """Encode an HxWx3 uint8 array (or a list of them, as an animated GIF) in a Pillow format."""
    from PIL import Image

    buf = io.BytesIO()
    if isinstance(img, list):
        ims = [Image.fromarray(f) for f in img]
        ims[0].save(buf, format="GIF", save_all=True, append_images=ims[1:], duration=500, loop=0)
    else:
        opts = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
        Image.fromarray(img).save(buf, format=fmt, **opts)
    return buf.getvalue()


def coded_summary(output: str, n_in: int, n_out: int, seconds: float, note: str = "") -> str:
    """The line a codec CLI prints after compressing: sizes, bits per byte, speed."""
    size = (f"empty input: {n_out} bytes (the container only)" if not n_in else
            f"{n_in:,} -> {n_out:,} bytes, {8 * n_out / n_in:.3f} bits/byte")
    return f"{output}: {size}, {n_in / max(seconds, 1e-9) / 1e3:.2f} KB/s{note}"


def code_file(input: str, output: str, fn, suffixes: tuple[str, ...] | None = None, name_errors: bool = False):
    """One file through a codec, as every compress / decompress verb does it: the output checked before any
    work, the input read, `fn(bytes) -> bytes` timed, the result written atomically. Returns (bytes in, bytes
    out, seconds). `name_errors`: a FormatError from `fn` names the input (decoding a damaged file)."""
    import time

    check_output(output, inputs=[input], suffixes=suffixes)
    with open(input, "rb") as f:
        data = f.read()
    t0 = time.perf_counter()
    if name_errors:
        with about(input):
            out = fn(data)
    else:
        out = fn(data)
    dt = time.perf_counter() - t0
    atomic_write(output, out)
    return len(data), len(out), dt


def decoded_summary(output: str, n_out: int, seconds: float) -> str:
    """The line a codec CLI prints after decompressing."""
    return f"{output}: {n_out:,} bytes, {n_out / max(seconds, 1e-9) / 1e3:.2f} KB/s"


@contextmanager
def about(path: str | os.PathLike):
    """Errors about a damaged input name it: a FormatError raised inside gets the path in front of its message."""
    try:
        yield
    except FormatError as e:
        msg = str(e)
        if msg.startswith(str(path)):
            raise
        raise FormatError(f"{path}: {msg}") from None
