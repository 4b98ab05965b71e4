"""Where a coding step's time goes: wall time per part of `lab.llmzip.codec`'s step loop, the device synchronised
at every boundary (so a profiled run is slower than a plain one; its parts add up to the whole step).

    timer = StepTimer(device)
    codec.compress(data, lm, tok, sha, ..., timer=timer)
    timer.per_step()    # {"adapt": ms, "forward": ms, "mix": ms, "code": ms, "other": ms, "steps": n,
                        #  "median": {part: ms}}

"mix" holds the distribution's forming (the online models' mixing and update, or the plain softmax), "other"
the loop's own work between steps; "adapt" appears only with the ADAPT flag. The means hold one-off costs (the
first compiled step's compilation and CUDA-graph capture, a restart's uncompiled prefix); "median" is the steady
step.

`kernel_summary` reads the rows of `scripts/llmzip_gpu.py --kernels` (torch.profiler's operations and kernels by
self device time): the compiled step's device time a call and the part of it spent in attention kernels.
"""
from __future__ import annotations

import re
import statistics
import time

import torch


class StepTimer:
    def __init__(self, device):
        cuda = str(device).startswith("cuda")
        self._sync = torch.cuda.synchronize if cuda else (lambda: None)
        self.steps = 0
        self._t = None
        self._rows: list[dict[str, float]] = []           # each step's milliseconds by part

    def start(self) -> None:
        """A new step begins (the time since the last lap, if any, is the loop's own)."""
        self._sync()
        if self._t is not None:
            self._add("other")
        else:
            self._t = time.perf_counter()
        self.steps += 1
        self._rows.append({})

    def lap(self, part: str) -> None:
        """The time since the last boundary goes to `part`."""
        self._sync()
        self._add(part)

    def _add(self, part: str) -> None:
        now = time.perf_counter()
        row = self._rows[-1]
        row[part] = row.get(part, 0.0) + (now - self._t) * 1e3
        self._t = now

    def per_step(self) -> dict:
        """Mean milliseconds a step by part, the number of steps, and each part's median over the steps."""
        n, parts = max(self.steps, 1), dict.fromkeys(k for r in self._rows for k in r)
        mean = {k: round(sum(r.get(k, 0.0) for r in self._rows) / n, 3) for k in parts}
        median = {k: round(statistics.median(r.get(k, 0.0) for r in self._rows), 3) for k in parts}
        return {**mean, "steps": self.steps, "median": median}


# the fused kernels (sdpa, fmha, flash), and the matmul attention of a few-stream step (codec._step_attention_matmul:
# two batched matmuls over the cache, which cuBLAS runs as strided-batched gemv kernels; a one-stream step's linear
# layers run plain gemv, never batched)
ATTENTION = re.compile(r"sdpa|fmha|flash|attention|GemvTensorStridedBatched", re.I)


def kernel_summary(kernels: list[dict]) -> dict:
    """From profiler rows ({"name", "calls", "ms"}, self device time): the compiled step's device time a call
    ("## Call CompiledFxGraph" rows: a CUDA graph's replay), the attention kernels' time a call of it, their
    share, and whether the attention ran as the fused kernel or as matmuls. Operator rows ("aten::...") repeat
    their kernels' time and are left out of the sums. Empty without a compiled step."""
    graphs = [k for k in kernels if k["name"].startswith("## Call CompiledFxGraph")]
    calls = sum(k["calls"] for k in graphs)
    if not calls:
        return {}
    step = sum(k["ms"] for k in graphs) / calls
    rows = [k for k in kernels if ATTENTION.search(k["name"]) and not k["name"].startswith(("aten::", "##"))]
    total = sum(k["ms"] for k in rows)
    attn = total / (calls + 1)      # the attention kernels also ran in the first step, before the graph existed
    matmul = sum(k["ms"] for k in rows if "StridedBatched" in k["name"])
    return {"step_device_ms": round(step, 2), "attention_ms": round(attn, 2), "attention_share": round(attn / step, 3),
            "attention_by": "matmuls" if matmul > total / 2 else "fused kernel"}
