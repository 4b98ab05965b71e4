"""Compile (and cache in __pycache__) the lab's large numba kernels once, two families at a time, before the
unit tests fan out over two workers: otherwise each worker that first needs a kernel compiles it itself.

    python scripts/warm_kernels.py      # what `make test-unit` runs first (seconds when the cache is warm)
"""
from __future__ import annotations

import subprocess
import sys
import time

WARM = {
    "holo": "import numpy as np\n"
            "from lab.holo import codec as C\n"
            "im = (np.arange(40 * 56 * 3).reshape(40, 56, 3) % 251).astype(np.uint8)\n"
            "for p in (C.HoloParams(mode='intra'), C.HoloParams(mode='residual', clusters=4)):\n"
            "    C.decode_image(C.encode(im, p))\n",
    "procedural": "from lab.procedural import machine as M\n"
                  "d = b'warm up the kernels, warm up the kernels; ' * 40\n"
                  "assert M.decompress(M.compress(d)) == d\n",
}


def main() -> int:
    t0 = time.time()
    procs = {k: subprocess.Popen([sys.executable, "-c", code]) for k, code in WARM.items()}
    bad = [k for k, p in procs.items() if p.wait() != 0]
    print(f"[warm] numba kernels ({', '.join(WARM)}) ready in {time.time() - t0:.0f} s"
          + (f"; failed: {', '.join(bad)}" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
