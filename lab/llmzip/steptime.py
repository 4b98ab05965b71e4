"""Where a coding step's time goes: wall time per part of `lab.llmzip.codec`'s step loop, the device synchronised
at every boundary (so a profiled run is slower than a plain one; its parts add up to the whole step).

    timer = StepTimer(device)
    codec.compress(data, lm, tok, sha, ..., timer=timer)
    timer.per_step()    # {"adapt": ms, "forward": ms, "mix": ms, "code": ms, "other": ms, "steps": n}

"mix" holds the distribution's forming (the online models' mixing and update, or the plain softmax), "other"
the loop's own work between steps; "adapt" appears only with the ADAPT flag.
"""
from __future__ import annotations

import time
from collections import defaultdict

import torch


class StepTimer:
    def __init__(self, device):
        cuda = str(device).startswith("cuda")
        self._sync = torch.cuda.synchronize if cuda else (lambda: None)
        self.ms: dict[str, float] = defaultdict(float)
        self.steps = 0
        self._t = None

    def start(self) -> None:
        """A new step begins (the time since the last lap, if any, is the loop's own)."""
        self._sync()
        now = time.perf_counter()
        if self._t is not None:
            self.ms["other"] += (now - self._t) * 1e3
        self._t = now
        self.steps += 1

    def lap(self, part: str) -> None:
        """The time since the last boundary goes to `part`."""
        self._sync()
        now = time.perf_counter()
        self.ms[part] += (now - self._t) * 1e3
        self._t = now

    def per_step(self) -> dict:
        """Mean milliseconds a step by part, and the number of steps."""
        n = max(self.steps, 1)
        return {**{k: round(v / n, 3) for k, v in self.ms.items()}, "steps": self.steps}
