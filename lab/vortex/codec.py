"""The Vortex codec (.vtx): the model's next-byte distribution, quantised to integer CDFs, drives a range
coder. The input is split into B streams decoded together as one batch; each step feeds every stream's
previous byte through the cached incremental model (`VortexModel.step`), identically in the encoder and
the decoder, so both see the same integers.

.vtx (lab.container): magic b"VRTX", version 1, header (original length u64, CRC32 u32, streams u16,
device class u8, model sha256 32 bytes), sections LENS (stream lengths) and DATA.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np
import torch

from lab import FormatError, container
from lab.entropy.rangecoder import code_cdf_rows, dec_buffer, dec_init, enc_flush, new_encoder
from lab.vortex.model import START, VortexModel

MAGIC = b"VRTX"
VERSION = 1
_HEAD = struct.Struct("<QIHB32s")
DEVICES = {"cpu": 0, "cuda": 1}


def _split(n: int, streams: int) -> list[int]:
    streams = max(1, min(streams, n)) if n else 1
    base = n // streams
    return [base + (1 if i < n % streams else 0) for i in range(streams)]


def _cdfs(logits: torch.Tensor) -> np.ndarray:
    """Integer CDFs (16-bit, every byte >= 1/65536), computed on the model's device with integer-exact
    steps after the softmax, so that encoder and decoder on the same device class agree."""
    p = torch.softmax(logits.float(), dim=-1).double()
    k = p.shape[-1]
    counts = torch.floor(p * ((1 << 16) - k)).long() + 1
    rem = (1 << 16) - counts.sum(dim=-1)
    counts[torch.arange(p.shape[0], device=p.device), counts.argmax(dim=-1)] += rem
    cdf = torch.zeros((p.shape[0], k + 1), dtype=torch.long, device=p.device)
    cdf[:, 1:] = torch.cumsum(counts, dim=-1)
    return cdf.cpu().numpy()


@torch.no_grad()
def _run(model: VortexModel, lens: list[int], data: np.ndarray | None, st, buf, enc: bool, device) -> np.ndarray:
    B = len(lens)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    out = np.zeros(sum(lens), np.uint8) if data is None else data
    cache = model.new_cache()
    prev = torch.full((B,), START, dtype=torch.long, device=device)
    lens_a = np.array(lens)
    for t in range(max(lens) if lens else 0):
        active = t < lens_a
        cdfs = _cdfs(model.step(prev, cache))
        syms = np.zeros(B, np.int64)
        if enc:
            syms[active] = out[starts[active] + t]
        code_cdf_rows(st, buf, cdfs, syms, active, enc)
        if st[5]:
            raise FormatError("corrupt .vtx file (stream ended early)")
        if not enc:
            out[starts[active] + t] = syms[active]
        prev = torch.from_numpy(np.where(active, syms, 0)).to(device)
    return out


def compress(data: bytes, model: VortexModel, sha: str, streams: int = 16, device="cpu") -> bytes:
    model.eval()
    lens = _split(len(data), streams)
    arr = np.frombuffer(data, np.uint8)
    st, buf = new_encoder(), np.empty(len(data) * 2 + 1024, np.uint8)
    _run(model, lens, arr, st, buf, True, device)
    enc_flush(st, buf)
    if st[5]:
        raise RuntimeError("encoder buffer overflow")
    dev = DEVICES["cuda" if str(device).startswith("cuda") else "cpu"]
    head = (len(data), zlib.crc32(data), len(lens), dev, bytes.fromhex(sha))
    return container.pack(MAGIC, VERSION, _HEAD, head, {"LENS": np.array(lens, np.uint64).tobytes(),
                                                        "DATA": buf[: st[4]].tobytes()})


def read_header(blob: bytes):
    return container.unpack(blob, MAGIC, VERSION, _HEAD, ".vtx")


def decompress(blob: bytes, model: VortexModel, sha: str, device="cpu") -> bytes:
    (n, crc, B, dev, msha), sec = read_header(blob)
    if msha.hex() != sha:
        raise FormatError(f"this .vtx file was written with model {msha.hex()[:12]}..., not {sha[:12]}...: "
                          "decompress with the same model")
    here = DEVICES["cuda" if str(device).startswith("cuda") else "cpu"]
    if dev != here:
        raise FormatError(f"this .vtx file was encoded on {'cuda' if dev else 'cpu'}; decode on the same device class")
    if set(sec) != {"LENS", "DATA"} or len(sec["LENS"]) != 8 * B:
        raise FormatError("corrupt .vtx file (bad sections)")
    lens = np.frombuffer(sec["LENS"], np.uint64).astype(np.int64).tolist()
    if sum(lens) != n or (n and min(lens) < 1):
        raise FormatError("corrupt .vtx file (stream lengths do not add up)")
    if n == 0:
        return b""
    buf = dec_buffer(sec["DATA"])
    st = np.zeros(6, np.int64)
    dec_init(st, buf)
    out = _run(model, lens, None, st, buf, False, device).tobytes()
    if zlib.crc32(out) != crc:
        raise FormatError("corrupt .vtx file (decoded data fails its CRC32)")
    return out
