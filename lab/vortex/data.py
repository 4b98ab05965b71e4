"""Byte datasets: sliding windows over bytes in memory, or streamed from a memory-mapped file."""
from __future__ import annotations

import numpy as np
import torch

from lab.vortex.model import START


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


class StreamBatcher:
    """B contiguous streams read in lock-step, `n` bytes per call, for stateful training (the model's memory
    is carried from one call to the next, as in the codec). Every stream begins with START as its first input,
    like a codec stream; all streams restart at fresh random offsets every `reset` bytes (so that training
    sees empty, filling and full memories) or when one would run off the data. `rank`/`world` give each DDP
    process its own seed."""

    def __init__(self, data, batch: int, n: int, reset: int, seed: int = 0, rank: int = 0, world: int = 1):
        self.a = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray)) else data
        self.B, self.n = batch, n
        self.reset = max(n, reset // n * n)
        if len(self.a) < self.reset + 2:
            raise ValueError(f"need more than {self.reset + 2} bytes of training data")
        self.rng = np.random.default_rng([seed, rank, world])
        self.cur = None
        self.done = 0

    def next(self, device="cpu") -> tuple[torch.Tensor, torch.Tensor, bool]:
        """(inputs (B, n), targets (B, n), fresh): fresh means the memories must be reset first."""
        fresh = self.cur is None or self.done >= self.reset
        if fresh:
            self.cur = self.rng.integers(0, len(self.a) - self.reset - 1, self.B)
            self.done = 0
        idx = self.cur[:, None] + np.arange(-1, self.n)[None, :]
        w = self.a[np.maximum(idx, 0)].astype(np.int64)
        if self.done == 0:
            w[:, 0] = START
        self.cur = self.cur + self.n
        self.done += self.n
        t = torch.from_numpy(w).to(device)
        return t[:, :-1], t[:, 1:], fresh
