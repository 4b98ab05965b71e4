"""Encoded pages as files: .vtok (lab.container layout).

    magic b"VTOK" | version 1 | header: mode u8, tokens u16, dim u16, dtype u8, encoder sha256 (32 bytes)
    | sections TOKS (the tokens: fp16, or int8 with one fp16 scale per token in SCAL), META (JSON: source,
    page) | CRC32

The header says which encoder made the tokens; a reader refuses tokens of another encoder.
"""
from __future__ import annotations

import json
import struct

import numpy as np

from lab import FormatError, container
from lab.optical.encoder import MODES, tokens_for

MAGIC = b"VTOK"
VERSION = 1
_HEAD = struct.Struct("<BHHB32s")
MODE_NAMES = list(MODES)
DTYPES = ("fp16", "int8")
MAX_DIM = 4096


def encode(tokens: np.ndarray, mode: str, encoder_sha: str, dtype: str = "fp16", meta: dict | None = None) -> bytes:
    t = np.asarray(tokens, np.float32)
    if mode not in MODES or t.ndim != 2 or t.shape[0] != tokens_for(mode) or not 1 <= t.shape[1] <= MAX_DIM:
        raise ValueError(f"expected ({tokens_for(mode) if mode in MODES else '?'}, dim) tokens for mode {mode!r}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}")
    sections = {}
    if dtype == "fp16":
        sections["TOKS"] = t.astype("<f2").tobytes()
    else:
        scale = np.maximum(np.abs(t).max(axis=1), 1e-8) / 127
        sections["TOKS"] = np.clip(np.rint(t / scale[:, None]), -127, 127).astype(np.int8).tobytes()
        sections["SCAL"] = scale.astype("<f2").tobytes()
    sections["META"] = json.dumps(meta or {}, sort_keys=True).encode()
    head = (MODE_NAMES.index(mode), t.shape[0], t.shape[1], DTYPES.index(dtype), bytes.fromhex(encoder_sha))
    return container.pack(MAGIC, VERSION, _HEAD, head, sections)


def _check(fields):
    mode, n, dim, dtype, _ = fields
    if mode >= len(MODE_NAMES) or dtype >= len(DTYPES):
        raise FormatError("corrupt .vtok file (unknown mode or dtype)")
    if n != tokens_for(MODE_NAMES[mode]) or not 1 <= dim <= MAX_DIM:
        raise FormatError(f"corrupt .vtok file ({n} tokens of {dim} for mode {MODE_NAMES[mode]})")


def decode(blob: bytes) -> tuple[np.ndarray, dict]:
    """-> ((tokens, dim) float32 tokens, header dict with mode, dtype, encoder_sha, meta)."""
    (mode, n, dim, dtype, sha), sec = container.unpack(blob, MAGIC, VERSION, _HEAD, ".vtok", check=_check)
    dt = DTYPES[dtype]
    want = {"TOKS", "META"} | ({"SCAL"} if dt == "int8" else set())
    if set(sec) != want:
        raise FormatError("corrupt .vtok file (wrong sections)")
    width = 2 if dt == "fp16" else 1
    if len(sec["TOKS"]) != n * dim * width or (dt == "int8" and len(sec["SCAL"]) != 2 * n):
        raise FormatError("corrupt .vtok file (token section has the wrong size)")
    if dt == "fp16":
        t = np.frombuffer(sec["TOKS"], "<f2").astype(np.float32).reshape(n, dim)
    else:
        scale = np.frombuffer(sec["SCAL"], "<f2").astype(np.float32)
        with np.errstate(invalid="ignore", over="ignore"):     # a corrupt scale is caught just below
            t = np.frombuffer(sec["TOKS"], np.int8).astype(np.float32).reshape(n, dim) * scale[:, None]
    if not np.isfinite(t).all():
        raise FormatError("corrupt .vtok file (tokens are not finite)")
    try:
        meta = json.loads(sec["META"])
    except ValueError:
        raise FormatError("corrupt .vtok file (bad metadata)") from None
    return t, {"mode": MODE_NAMES[mode], "tokens": n, "dim": dim, "dtype": dt, "encoder_sha": sha.hex(), "meta": meta}


def fuzz_target():
    """Small .vtok files of both dtypes (lab.formats registry)."""
    from lab.formats import Target

    rng = np.random.default_rng(0)
    sha = "ab" * 32
    samples = [encode(rng.normal(size=(64, 16)).astype(np.float32), "tiny", sha, "fp16", {"source": "a.txt", "page": 0}),
               encode(rng.normal(size=(100, 8)).astype(np.float32), "small", sha, "int8"),
               encode(np.zeros((64, 4), np.float32), "tiny", sha, "int8", {"page": 3})]
    return Target(".vtok", MAGIC, VERSION, _HEAD, samples, decode)
