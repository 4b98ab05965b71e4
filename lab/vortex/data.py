"""Byte datasets: sliding windows over bytes in memory, or streamed from a memory-mapped file."""
from __future__ import annotations

import numpy as np
import torch


class ByteDataset:
    """Random windows of `length + 1` bytes (inputs and next-byte targets) from a byte string."""

    def __init__(self, data: bytes, length: int, seed: int = 0):
        self.a = np.frombuffer(data, np.uint8)
        if len(self.a) <= length + 1:
            raise ValueError(f"need more than {length + 1} bytes of training data")
        self.length = length
        self.rng = np.random.default_rng(seed)

    def batch(self, batch: int, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
        starts = self.rng.integers(0, len(self.a) - self.length - 1, batch)
        w = np.stack([self.a[s:s + self.length + 1] for s in starts]).astype(np.int64)
        t = torch.from_numpy(w).to(device)
        return t[:, :-1], t[:, 1:]


class StreamingByteDataset(ByteDataset):
    """The same windows read from a memory-mapped file (bytes [start, stop)) without loading it."""

    def __init__(self, path: str, length: int, start: int = 0, stop: int | None = None, seed: int = 0):
        m = np.memmap(path, dtype=np.uint8, mode="r")
        self.a = m[start:stop]
        if len(self.a) <= length + 1:
            raise ValueError(f"need more than {length + 1} bytes of training data")
        self.length = length
        self.rng = np.random.default_rng(seed)
