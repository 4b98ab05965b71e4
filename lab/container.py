"""The lab's container layout, shared by .holo and .proc files.

    magic (4 bytes) | version (u8) | fixed header (format-specific struct) | n sections (u8)
    | n x [tag (4 ASCII bytes) | length (u32) | payload] | CRC32 of every preceding byte (u32)

`unpack` checks magic, version, every length and the checksum before any payload is interpreted and
raises lab.FormatError (one line, naming the format) on anything malformed.
"""
from __future__ import annotations

import struct
import zlib

from lab import FormatError

_SEC = struct.Struct("<4sI")


def pack(magic: bytes, version: int, head: struct.Struct, fields: tuple, sections: dict[str, bytes]) -> bytes:
    if len(sections) > 255:
        raise ValueError("too many sections")
    parts = [magic, bytes([version]), head.pack(*fields), bytes([len(sections)])]
    for tag, payload in sections.items():
        t = tag.encode("ascii")
        if len(t) != 4:
            raise ValueError(f"section tag {tag!r} must be 4 ASCII characters")
        parts += [_SEC.pack(t, len(payload)), payload]
    body = b"".join(parts)
    return body + struct.pack("<I", zlib.crc32(body))


def unpack(blob: bytes, magic: bytes, version: int, head: struct.Struct, name: str,
           check=None) -> tuple[tuple, dict[str, bytes]]:
    """-> (header fields, sections). `check(fields)` may raise FormatError before sections are read."""
    if len(blob) == 0:
        raise FormatError(f"empty file: not a {name} file")
    if len(blob) < len(magic) or blob[: len(magic)] != magic:
        raise FormatError(f"not a {name} file (bad magic)")
    fixed = len(magic) + 1 + head.size + 1
    if len(blob) < fixed + 4:
        raise FormatError(f"truncated {name} file ({len(blob)} bytes)")
    if blob[len(magic)] != version:
        raise FormatError(f"unsupported {name} version {blob[len(magic)]} (this lab reads version {version})")
    fields = head.unpack_from(blob, len(magic) + 1)
    if check is not None:
        check(fields)
    body, (crc,) = blob[:-4], struct.unpack("<I", blob[-4:])
    nsec = body[fixed - 1]
    sections: dict[str, bytes] = {}
    off = fixed
    for _ in range(nsec):
        if off + _SEC.size > len(body):
            raise FormatError(f"truncated {name} file (section header past the end)")
        tag, length = _SEC.unpack_from(body, off)
        off += _SEC.size
        try:
            tname = tag.decode("ascii")
        except UnicodeDecodeError:
            raise FormatError(f"corrupt {name} file (bad section tag)") from None
        if off + length > len(body):
            raise FormatError(f"truncated {name} file (section {tname} needs {length} bytes, {len(body) - off} left)")
        sections[tname] = body[off:off + length]
        off += length
    if off != len(body):
        raise FormatError(f"corrupt {name} file ({len(body) - off} unexpected bytes after the sections)")
    if zlib.crc32(body) != crc:
        raise FormatError(f"corrupt {name} file (checksum mismatch)")
    return fields, sections
