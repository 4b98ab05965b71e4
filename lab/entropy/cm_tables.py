"""The context-mixing model's constant tables (lab.entropy.cm), in a module of their own: numpy only, so that
lab/native.py can write them into the C coder's header, and the C coder's callers can read _BITS, without
importing numba."""
from __future__ import annotations

import numpy as np

LIMIT = 255          # the adaptive probabilities' count limit (cm.py)

_STRETCH = np.array([np.log((i + 0.5) / (4096 - i - 0.5)) for i in range(4096)], dtype=np.float32)  # by p >> 10 of 22 bits
# squash(x) = 1 / (1 + e^-x) tabulated on [-16, 16) in steps of 1/64 (float64, exact on every machine)
_SQUASH = np.array([1.0 / (1.0 + np.exp(-((i - 1024) / 64.0))) for i in range(2049)], dtype=np.float64)
_RECIP = np.array([int(65536 / (n + 1.6)) for n in range(LIMIT + 1)], dtype=np.int64)
# bits of an event of probability p / 65536 (the same float64 values np.log2 gives, looked up)
_BITS = np.concatenate([[0.0], -np.log2(np.arange(1, 65536) / 65536.0)])


_APM0 = np.clip(np.array([int(65536 / (1 + np.exp(-((j - 16) / 2.0)))) for j in range(33)]), 64, 65536 - 64
                ).astype(np.int32)
