"""The procedural machine's coding loop in C (lab/entropy/cm.c), bit-exact with the numba reference (cm.py's
model, bitstream.py's program coder).

    lib = cm_native.load()          # None where no C compiler is at hand: callers use the numba kernels
    costs, pstore = cm_native.price(data)                   # = cm.price(data, with_probs=True)
    stream = cm_native.program_encode(data, plan, pstore)   # = bitstream.run_program encoding the plan's ops
    out = cm_native.program_decode(stream, n, templates, rules)   # = run_program decoding; needs no numpy

The library is compiled once per version of cm.c and cm.py (their bytes name it) into $LAB_NATIVE_CACHE or
~/.cache/lab/native/, by `make setup` or on first use, with plain `cc -O2 -ffp-contract=off` (no fused
multiply-add, no fast-math: the floating-point steps must be numba's). Why C beside numba: a `lab proc
decompress` process that loads this library needs neither numba nor numpy (about a second of imports and
kernel loading), and the model's 117 MB of tables get huge pages. `LAB_NATIVE=0` turns it off (the numba path).
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "cm.c"
FLAGS = ["-O2", "-ffp-contract=off", "-fno-fast-math", "-fPIC", "-shared", "-std=c11", "-D_DEFAULT_SOURCE"]
_LIB: list = []


def _cache() -> Path:
    return Path(os.environ.get("LAB_NATIVE_CACHE", Path.home() / ".cache" / "lab" / "native"))


def _key() -> str:
    """The library's name: a hash of its C source, of cm.py (which defines the tables) and of the flags."""
    h = hashlib.sha256()
    for p in (SOURCE, HERE / "cm.py"):
        h.update(p.read_bytes())
    h.update(" ".join(FLAGS).encode())
    return h.hexdigest()[:16]


def library_path() -> Path:
    return _cache() / f"cm-{_key()}.so"


def _tables_header() -> str:
    """cm.py's tables as C (hex floats: exact)."""
    from lab.entropy import cm

    def rows(vals, fmt):
        vals = [fmt(v) for v in vals]
        return ",\n".join(", ".join(vals[i:i + 8]) for i in range(0, len(vals), 8))

    return "\n".join([
        "/* written by lab/entropy/cm_native.py from lab/entropy/cm.py; do not edit */",
        f"static const float STR[{len(cm._STRETCH)}] = "
        f"{{\n{rows(cm._STRETCH.tolist(), lambda v: float(v).hex() + 'f')}}};",
        f"static const double SQ[{len(cm._SQUASH)}] = {{\n{rows(cm._SQUASH.tolist(), lambda v: float(v).hex())}}};",
        f"static const int64_t RECIP[{len(cm._RECIP)}] = {{\n{rows(cm._RECIP.tolist(), str)}}};",
        f"static const int32_t APM0[{len(cm._APM0)}] = {{\n{rows(cm._APM0.tolist(), str)}}};", ""])


def build(quiet: bool = True) -> Path:
    """Compile cm.c (with cm.py's tables) into the cache, atomically; returns the library's path."""
    out = library_path()
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    cc = os.environ.get("CC", "cc")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "cm_tables.h").write_text(_tables_header())
        obj = Path(tmp) / "cm.so"
        r = subprocess.run([cc, *FLAGS, "-I", tmp, "-o", str(obj), str(SOURCE)], capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"{cc} could not compile {SOURCE.name}: {r.stderr.strip().splitlines()[-1:]}")
        part = out.with_name(f".{out.name}.{os.getpid()}")
        shutil.copyfile(obj, part)
        os.replace(part, out)
    if not quiet:
        print(f"built {out}")
    return out


def load():
    """The ctypes library (built on first use), or None: LAB_NATIVE=0, no compiler, or a failed build."""
    if _LIB:
        return _LIB[0]
    lib = None
    if os.environ.get("LAB_NATIVE", "1") != "0":
        try:
            lib = ctypes.CDLL(str(build()))
        except (OSError, RuntimeError):
            lib = None
    if lib is not None:
        c, i64, p = ctypes.c_int, ctypes.c_int64, ctypes.c_void_p
        lib.cm_price_all.argtypes, lib.cm_price_all.restype = [p, i64, p, p, p], c
        lib.proc_run.argtypes = [c, p, i64, p, i64, p, p, p, p, i64, p, p, p, p, p, i64, p, p, p, p, i64, p, p]
        lib.proc_run.restype = i64
    _LIB.append(lib)
    return lib


def _ptr(a) -> int:
    return a.ctypes.data


def price(data: bytes):
    """(costs float32[n], pstore int32[8n]): cm.price(data, with_probs=True), in C. MemoryError if it ran out."""
    import numpy as np

    from lab.entropy.cm import _BITS

    arr = np.frombuffer(data, np.uint8)
    n = len(arr)
    pstore, costs = np.zeros(8 * n, np.int32), np.zeros(n, np.float32)
    if load().cm_price_all(_ptr(arr) if n else None, n, _ptr(pstore), _ptr(costs), _ptr(_BITS)):
        raise MemoryError("the context-mixing model's tables could not be allocated")
    return costs, pstore


def _tables(templates, rules) -> list:
    """The learned tables as C arrays (bitstream.run_program's ta_s, ta_l, tb_s, tb_l, tbytes, ntmpl, r_strip,
    ra_s, ra_l, rbytes, nrules), without numpy."""
    tb, starts_a, lens_a, starts_b, lens_b = bytearray(), [], [], [], []
    for a, b in templates:
        starts_a.append(len(tb)); lens_a.append(len(a)); tb += a
        starts_b.append(len(tb)); lens_b.append(len(b)); tb += b
    rb, strip, starts_r, lens_r = bytearray(), [], [], []
    for st, add in rules:
        strip.append(st); starts_r.append(len(rb)); lens_r.append(len(add)); rb += add
    i64 = lambda xs: (ctypes.c_int64 * max(1, len(xs)))(*xs)  # noqa: E731
    u8 = lambda b: ctypes.create_string_buffer(bytes(b), max(1, len(b)))  # noqa: E731
    return [i64(starts_a), i64(lens_a), i64(starts_b), i64(lens_b), u8(tb), len(templates),
            i64(strip), i64(starts_r), i64(lens_r), u8(rb), len(rules)]


def program_decode(stream: bytes, n: int, templates, rules) -> bytes:
    """Any .proc program's n bytes (bitstream.run_program decoding), without numpy. FormatError if corrupt."""
    from lab import FormatError

    buf = ctypes.create_string_buffer(bytes(stream), max(1, len(stream)))
    out = ctypes.create_string_buffer(max(1, n))
    rc = load().proc_run(0, buf, len(stream), out, n, None, None, None, None, 0, *_tables(templates, rules), None,
                         None)
    if rc == -2:
        raise MemoryError("the context-mixing model's tables could not be allocated")
    if rc < 0:
        raise FormatError("corrupt .proc file (program stream is invalid or truncated)")
    return out.raw[:n]


def program_encode(data: bytes, p: dict, pstore) -> bytes:
    """The stream of the program in p (opos, okind, oa, ob, templates, rules), literals coded with the
    probabilities of a pricing pass (bitstream.run_program encoding)."""
    import numpy as np

    arr = np.frombuffer(data, np.uint8).copy()
    ops = [np.ascontiguousarray(p[k], np.int64) for k in ("opos", "okind", "oa", "ob")]
    cap = len(arr) + len(arr) // 2 + 1024
    buf = np.empty(cap, np.uint8)
    size = load().proc_run(1, _ptr(buf), cap, _ptr(arr) if len(arr) else None, len(arr), *(_ptr(o) for o in ops),
                           len(ops[0]), *_tables(p["templates"], p["rules"]), _ptr(pstore), None)
    if size < 0:
        raise RuntimeError("encoder buffer overflow")
    return buf[:size].tobytes()


if __name__ == "__main__":   # `python -m lab.entropy.cm_native`: build now (make setup does)
    try:
        build(quiet=False)
    except RuntimeError as e:
        print(f"lab.entropy.cm_native: {e}; the numba kernels will be used", file=sys.stderr)
