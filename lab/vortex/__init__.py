"""Vortex: a byte-level compressive transformer driving arithmetic coding (.vtx)."""

import os as _os

# cuBLAS is bit-reproducible across streams (CUDA graphs capture on a side stream) only with a fixed
# workspace configuration; the codec needs encoder and decoder to compute the same bits.
_os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
