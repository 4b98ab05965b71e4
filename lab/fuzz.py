"""Mutation fuzzing of file formats: bit flips, truncations, insertions, with or without a fixed checksum."""
from __future__ import annotations

import struct
import zlib

import numpy as np


def fix_crc32(b: bytes) -> bytes:
    """Recompute a trailing CRC32 (little-endian) so that mutations reach the parsers behind the checksum."""
    body = b[:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def mutate(blob: bytes, rng: np.random.Generator, header: int = 14) -> bytes:
    b = bytearray(blob)
    op = rng.integers(4)
    if op == 0:
        for _ in range(rng.integers(1, 4)):
            b[rng.integers(len(b))] ^= 1 << rng.integers(8)
    elif op == 1:
        b = b[: rng.integers(len(b))]
    elif op == 2:
        i = rng.integers(len(b))
        b = b[:i] + bytes(rng.integers(0, 256, rng.integers(1, 8)).astype(np.uint8)) + b[i:]
    else:
        i = rng.integers(min(header, len(b) - 5), len(b) - 4)
        b[i] ^= 1 << rng.integers(8)
    b = bytes(b)
    if rng.random() < 0.5 and len(b) > 4:
        b = fix_crc32(b)
    return b


def run(decode, blobs: list[bytes], cases: int, seed: int = 0, expected=(Exception,)) -> dict:
    """Decode `cases` mutants; count clean rejections, decodes, and anything else (which is a bug)."""
    from lab import FormatError

    rng = np.random.default_rng(seed)
    out = {"cases": cases, "rejected": 0, "decoded": 0, "other": []}
    for _ in range(cases):
        m = mutate(blobs[rng.integers(len(blobs))], rng)
        try:
            decode(m)
            out["decoded"] += 1
        except FormatError:
            out["rejected"] += 1
        except Exception as e:  # noqa: BLE001 - the point is to catch what should not happen
            out["other"].append(f"{e.__class__.__name__}: {e}")
    return out
