"""The .holo container.

    offset  size  field
    0       4     magic b"HOLO"
    4       1     format version (1)
    5       4     width  (u32, little-endian)
    9       4     height (u32)
    13      1     number of sections n
    14      ...   n sections: tag (4 ASCII bytes), length (u32), payload
    end-4   4     CRC32 of every preceding byte

Every section carries its length; the parser checks magic, version, sizes, the checksum and the
image dimensions before any payload is interpreted, and raises lab.FormatError on anything malformed.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from lab import FormatError

MAGIC = b"HOLO"
VERSION = 1
MAX_SIDE = 1 << 16
MAX_PIXELS = 1 << 28
_HEAD = struct.Struct("<4sBIIB")
_SEC = struct.Struct("<4sI")


@dataclass(frozen=True)
class Container:
    width: int
    height: int
    sections: dict[str, bytes]
    version: int = VERSION

    def section_sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.sections.items()}


def check_dims(width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise FormatError(f"image dimensions {width}x{height} are empty")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise FormatError(f"image dimensions {width}x{height} exceed the limit ({MAX_SIDE} a side, "
                          f"{MAX_PIXELS} pixels)")


def pack(width: int, height: int, sections: dict[str, bytes]) -> bytes:
    check_dims(width, height)
    if len(sections) > 255:
        raise ValueError("too many sections")
    parts = [_HEAD.pack(MAGIC, VERSION, width, height, len(sections))]
    for tag, payload in sections.items():
        t = tag.encode("ascii")
        if len(t) != 4:
            raise ValueError(f"section tag {tag!r} must be 4 ASCII characters")
        parts.append(_SEC.pack(t, len(payload)))
        parts.append(payload)
    body = b"".join(parts)
    return body + struct.pack("<I", zlib.crc32(body))


def unpack(blob: bytes) -> Container:
    if len(blob) == 0:
        raise FormatError("empty file: not a .holo file")
    if len(blob) < 4 or blob[:4] != MAGIC:
        raise FormatError("not a .holo file (bad magic)")
    if len(blob) < _HEAD.size + 4:
        raise FormatError(f"truncated .holo file ({len(blob)} bytes)")
    magic, version, width, height, nsec = _HEAD.unpack_from(blob, 0)
    if version != VERSION:
        raise FormatError(f"unsupported .holo version {version} (this lab reads version {VERSION})")
    body, (crc,) = blob[:-4], struct.unpack("<I", blob[-4:])
    check_dims(width, height)
    sections: dict[str, bytes] = {}
    off = _HEAD.size
    for _ in range(nsec):
        if off + _SEC.size > len(body):
            raise FormatError("truncated .holo file (section header past the end)")
        tag, length = _SEC.unpack_from(body, off)
        off += _SEC.size
        try:
            name = tag.decode("ascii")
        except UnicodeDecodeError:
            raise FormatError("corrupt .holo file (bad section tag)") from None
        if off + length > len(body):
            raise FormatError(f"truncated .holo file (section {name} needs {length} bytes, "
                              f"{len(body) - off} left)")
        sections[name] = body[off:off + length]
        off += length
    if off != len(body):
        raise FormatError(f"corrupt .holo file ({len(body) - off} unexpected bytes after the sections)")
    if zlib.crc32(body) != crc:
        raise FormatError("corrupt .holo file (checksum mismatch)")
    return Container(width, height, sections, version)
