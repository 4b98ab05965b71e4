"""The procedural machine's coding loop in C (lab/entropy/cm.c, built and loaded by lab/native.py), bit-exact
with the numba reference (cm.py's model, bitstream.py's program coder).

    costs, pstore = cm_native.price(data)                   # = cm.price(data, with_probs=True)
    job = cm_native.price_later(data); ...; costs, pstore = job.result()   # the same on a thread, no numpy
    stream = cm_native.program_encode(data, plan, pstore)   # = bitstream.run_program encoding the plan's ops
    out = cm_native.program_decode(stream, n, templates, rules)   # = run_program decoding; needs no numpy

Callers check `cm_native.load()` (None: no C library here; use the numba kernels).
"""
from __future__ import annotations

import ctypes

from lab import native

load = native.load
_ptr = native.ptr


def price(data: bytes):
    """(costs float32[n], pstore int32[8n]): cm.price(data, with_probs=True), in C. MemoryError if it ran out."""
    return price_later(data).result()


class Pricing:
    """A pricing pass running in C on its own thread (the call releases the GIL), started before numpy is
    imported: a `lab proc compress` process learns its tables and imports the rest meanwhile."""

    def __init__(self, data: bytes):
        import threading

        n = len(data)
        self.n, self.data = n, data
        self.costs, self.pstore = (ctypes.c_float * max(1, n))(), (ctypes.c_int32 * max(1, 8 * n))()
        self.rc = None
        self.thread = threading.Thread(target=self._run, name="cm-pricing", daemon=True)
        self.thread.start()

    def _run(self):
        import time

        t0 = time.perf_counter()
        self.rc = load().cm_price_all(self.data, self.n, self.pstore, self.costs)
        self.seconds = time.perf_counter() - t0

    def result(self):
        """(costs, pstore) as numpy arrays over the C buffers (no copy)."""
        import numpy as np

        self.thread.join()
        if self.rc != 0:
            raise MemoryError("the context-mixing model's tables could not be allocated")
        return (np.frombuffer(self.costs, np.float32)[: self.n], np.frombuffer(self.pstore, np.int32)[: 8 * self.n])


def price_later(data: bytes) -> Pricing:
    return Pricing(bytes(data))


def _tables(templates, rules) -> list:
    """templates.layout as C arrays, without numpy."""
    from lab.procedural.templates import layout

    return [x if isinstance(x, int) else ctypes.create_string_buffer(x, max(1, len(x))) if isinstance(x, bytes)
            else (ctypes.c_int64 * max(1, len(x)))(*x) for x in layout(templates, rules)]


def program_decode(stream: bytes, n: int, templates, rules) -> bytes:
    """Any .proc program's n bytes (bitstream.run_program decoding), without numpy. FormatError if corrupt."""
    from lab import FormatError

    buf = ctypes.create_string_buffer(bytes(stream), max(1, len(stream)))
    out = ctypes.create_string_buffer(max(1, n))
    rc = load().proc_run(0, buf, len(stream), out, n, None, None, None, None, 0, *_tables(templates, rules), None,
                         None, None)
    if rc == -2:
        raise MemoryError("the context-mixing model's tables could not be allocated")
    if rc < 0:
        raise FormatError("corrupt .proc file (program stream is invalid or truncated)")
    return out.raw[:n]


def program_encode(data: bytes, p: dict, pstore, marks=None) -> bytes:
    """The stream of the program in p (opos, okind, oa, ob, templates, rules), literals coded with the
    probabilities of a pricing pass (bitstream.run_program encoding). marks: a float64 array of len(data) + 1,
    filled as run_program's log fills it (the coded bits before each literal or operator, and at the end)."""
    import numpy as np

    arr = np.frombuffer(data, np.uint8).copy()
    ops = [np.ascontiguousarray(p[k], np.int64) for k in ("opos", "okind", "oa", "ob")]
    cap = len(arr) + len(arr) // 2 + 1024
    buf = np.empty(cap, np.uint8)
    state = None if marks is None else np.zeros(2 * (len(arr) + 1), np.int64)
    size = load().proc_run(1, _ptr(buf), cap, _ptr(arr) if len(arr) else None, len(arr), *(_ptr(o) for o in ops),
                           len(ops[0]), *_tables(p["templates"], p["rules"]), _ptr(pstore), None,
                           None if state is None else _ptr(state))
    if size < 0:
        raise RuntimeError("encoder buffer overflow")
    if marks is not None:
        at = state[1::2] > 0                                  # the places the coder marked (rng is never 0)
        marks[at] = 8.0 * state[0::2][at] - np.log2(state[1::2][at].astype(np.float64))
    return buf[:size].tobytes()
