"""The lab's C kernels: one shared library, compiled from C sources that live beside the Python they mirror,
loaded through ctypes.

    lib = native.load()     # None where no C compiler is at hand (or LAB_NATIVE=0): callers use numba instead

Sources: `lab/entropy/cm.c` (the context-mixing model and the procedural program coder) and
`lab/procedural/search.c` (the procedural machine's match finder and parse). Each mirrors numba kernels step
for step and is tested bit-exact against them (tests/test_cm_native.py), so files are the same either way.
The library is named by a hash of its sources, of the tables module and of the flags, and compiled once into
$LAB_NATIVE_CACHE or ~/.cache/lab/native/ (by `make setup`, else on first use) with plain
`cc -O2 -ffp-contract=off`: no fused multiply-add, no fast-math, so floating point is numba's.
Why C beside numba: a process that loads this library needs no numba (about 0.7 s of import and kernel
loading), and the model's 117 MB of tables get huge pages.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import sys
from pathlib import Path

LAB = Path(__file__).resolve().parent
SOURCES = [LAB / "entropy" / "cm.c", LAB / "procedural" / "search.c"]
HEADERS = [LAB / "procedural" / "words.h"]      # included by both
TABLES = LAB / "entropy" / "cm_tables.py"      # written into cm_tables.h
FLAGS = ["-O3", "-ffp-contract=off", "-fno-fast-math", "-fPIC", "-shared", "-std=c11", "-D_DEFAULT_SOURCE"]
_LIB: list = []


def _cache() -> Path:
    return Path(os.environ.get("LAB_NATIVE_CACHE", Path.home() / ".cache" / "lab" / "native"))


def _key() -> str:
    h = hashlib.sha256()
    for p in [*SOURCES, *HEADERS, TABLES]:
        h.update(p.read_bytes())
    h.update(" ".join(FLAGS).encode())
    return h.hexdigest()[:16]


def library_path() -> Path:
    return _cache() / f"lab-{_key()}.so"


def _tables_header() -> str:
    """cm_tables.py's tables as C (hex floats: exact)."""
    from lab.entropy import cm_tables as t

    def rows(vals, fmt):
        vals = [fmt(v) for v in vals]
        return ",\n".join(", ".join(vals[i:i + 8]) for i in range(0, len(vals), 8))

    return "\n".join([
        "/* written by lab/native.py from lab/entropy/cm_tables.py; do not edit */",
        f"static const float STR[{len(t._STRETCH)}] = {{\n{rows(t._STRETCH.tolist(), lambda v: v.hex() + 'f')}}};",
        f"static const double SQ[{len(t._SQUASH)}] = {{\n{rows(t._SQUASH.tolist(), lambda v: v.hex())}}};",
        f"static const int64_t RECIP[{len(t._RECIP)}] = {{\n{rows(t._RECIP.tolist(), str)}}};",
        f"static const int32_t APM0[{len(t._APM0)}] = {{\n{rows(t._APM0.tolist(), str)}}};",
        f"static const double BITS[{len(t._BITS)}] = {{\n{rows(t._BITS.tolist(), lambda v: v.hex())}}};", ""])


def build(quiet: bool = True) -> Path:
    """Compile the sources into the cache, atomically (a temp name, then rename); returns the library's path."""
    out = library_path()
    if out.exists():
        return out
    import shutil
    import subprocess
    import tempfile

    out.parent.mkdir(parents=True, exist_ok=True)
    cc = os.environ.get("CC", "cc")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "cm_tables.h").write_text(_tables_header())
        obj = Path(tmp) / "lab.so"
        r = subprocess.run([cc, *FLAGS, "-I", tmp, "-I", str(HEADERS[0].parent), "-o", str(obj),
                            *map(str, SOURCES)], capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"{cc} could not compile the C kernels: {r.stderr.strip().splitlines()[-1:]}")
        part = out.with_name(f".{out.name}.{os.getpid()}")
        shutil.copyfile(obj, part)
        os.replace(part, out)
    if not quiet:
        print(f"built {out}")
    return out


def _signatures(lib) -> None:
    c, i64, d, p = ctypes.c_int, ctypes.c_int64, ctypes.c_double, ctypes.c_void_p
    for name, args, res in (
            ("cm_price_all", [p, i64, p, p], c),
            ("proc_run", [c, p, i64, p, i64, p, p, p, p, i64, p, p, p, p, p, i64, p, p, p, p, i64, p, p, p], i64),
            ("search_kasai", [p, p, i64, p], c),
            ("search_nearest_smaller", [p, p, i64, p, p, c], c),
            ("search_periodic_runs", [p, i64, i64, p, p], c),
            ("search_transform_candidates", [p, i64, p, p, p, p, i64, p, p, p], c),
            ("search_template_candidates", [p, i64, p, p, p, p, p, p, p, p, p, i64, d, p, p, p, p], c),
            ("search_dp", [i64, p, p, p, p, p, p, p, p, p, p, p, p, p, c, c, d, d, p, p, p, p, p, p], c)):
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, res


def load():
    """The ctypes library (built on first use), or None: LAB_NATIVE=0, no compiler, or a failed build."""
    if _LIB:
        return _LIB[0]
    lib = None
    if os.environ.get("LAB_NATIVE", "1") != "0":
        try:
            lib = ctypes.CDLL(str(build()))
            _signatures(lib)
        except (OSError, RuntimeError, AttributeError):
            lib = None
    _LIB.append(lib)
    return lib


def ptr(a) -> int | None:
    """A numpy array's data pointer for a C call (None for an empty array)."""
    return a.ctypes.data if a.size else None


if __name__ == "__main__":   # `python -m lab.native`: build now (make setup does)
    try:
        build(quiet=False)
    except RuntimeError as e:
        print(f"lab.native: {e}; the numba kernels will be used", file=sys.stderr)
