"""Shared by the lab's model-driven codecs (vortex, llmzip): the input cut into parallel streams, and the
model run on one CPU thread so that encoder and decoder compute the same numbers."""
from __future__ import annotations

from contextlib import contextmanager


def split(n: int, streams: int) -> list[int]:
    """n items into at most `streams` contiguous parts of near-equal length (one empty part when n = 0)."""
    streams = max(1, min(streams, n)) if n else 1
    base = n // streams
    return [base + (1 if i < n % streams else 0) for i in range(streams)]


@contextmanager
def one_thread():
    """torch on one CPU thread inside the block (CPU reductions then add in one order on both sides)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)
