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
from dataclasses import dataclass

from lab import FormatError, container

MAGIC = b"HOLO"
VERSION = 1
MAX_SIDE = 1 << 16
MAX_PIXELS = 1 << 28
_HEAD = struct.Struct("<II")


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
    return container.pack(MAGIC, VERSION, _HEAD, (width, height), sections)


def unpack(blob: bytes) -> Container:
    (width, height), sections = container.unpack(blob, MAGIC, VERSION, _HEAD, ".holo",
                                                 check=lambda f: check_dims(*f))
    return Container(width, height, sections, VERSION)
