""".proc, the procedural machine's file, and its decoder's fast path.

Layout (lab.container): magic b"PROC", version 1, header (original length u64, CRC32 of the original u32,
operator mask u8), sections TMPL (used templates), RULE (used transform rules), DATA (the range-coded
program). The decoder checks the CRC32 of what it rebuilt.

This module needs neither numba nor numpy: the program is decoded by the C coder (lab.entropy.cm_native);
on a machine without a C compiler, by the numba machine (lab.procedural.machine), which gives the same bytes.
"""
from __future__ import annotations

import struct
import zlib

from lab import FormatError, container

MAGIC = b"PROC"
VERSION = 1
MAX_LEN = (1 << 31) - 1
MAX_RATIO = 4096  # plausibility bound on the declared length, so a forged header cannot make us decode forever
HEAD = struct.Struct("<QIB")
OP_FLAGS = {"C": 1, "R": 2, "T": 4, "X": 8}
STORED = 0x80  # the input stored as it is


def _check_head(fields):
    n, _, mask = fields
    if n > MAX_LEN:
        raise FormatError(f"corrupt .proc file (declared length {n} exceeds the limit)")
    if mask & ~(15 | STORED):
        raise FormatError("corrupt .proc file (bad operator mask)")


def read_header(blob: bytes) -> tuple[tuple, dict]:
    return container.unpack(blob, MAGIC, VERSION, HEAD, ".proc", check=_check_head)


def pack(n: int, crc: int, mask: int, tables: tuple[bytes, bytes], stream: bytes) -> bytes:
    return container.pack(MAGIC, VERSION, HEAD, (n, crc, mask), {"TMPL": tables[0], "RULE": tables[1], "DATA": stream})


def decompress(blob: bytes) -> bytes:
    (n, crc, mask), sec = read_header(blob)
    if set(sec) != {"TMPL", "RULE", "DATA"} or not sec["TMPL"] or not sec["RULE"]:
        raise FormatError("corrupt .proc file (missing sections)")
    if mask & STORED:
        if len(sec["DATA"]) != n or zlib.crc32(sec["DATA"]) != crc:
            raise FormatError("corrupt .proc file (stored data has the wrong length or CRC32)")
        return sec["DATA"]
    if n > MAX_RATIO * (len(sec["DATA"]) + 1) + (1 << 20):
        raise FormatError(f"corrupt .proc file (declares {n} bytes from a {len(sec['DATA'])}-byte stream)")
    from lab.entropy import cm_native
    from lab.procedural import templates

    tmpl, rules = templates.unpack_tables(sec["TMPL"], sec["RULE"])
    if n == 0:
        out = b""
    elif cm_native.load() is not None:
        out = cm_native.program_decode(sec["DATA"], n, tmpl, rules)
    else:
        from lab.procedural import machine

        out = machine.decode_program(n, tmpl, rules, sec["DATA"])
    if zlib.crc32(out) != crc:
        raise FormatError("corrupt .proc file (decoded data fails its CRC32)")
    return out
