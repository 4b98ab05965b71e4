"""The procedural machine's speed as a user meets it: the whole `lab proc compress` / `decompress` process
(interpreter start, imports, loading the C kernels (or numba's cached ones), reading and writing the files),
not only the coding inside a warm process. Each figure is the best of `repeat` runs, with the CPU seconds the process
used beside the wall time (a busy machine stretches wall time, not CPU time)."""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START_UP_BYTES = b"sixteen bytes..\n"   # a file this small measures the fixed cost every file pays


def _process(args: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `lab` process; a failing process raises."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lab", *args, "--quiet"], check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def whole_process(src: str | Path, repeat: int = 2) -> dict:
    """Compress `src` with `lab proc compress`, decompress it with `lab proc decompress`, compare the bytes:
    sizes, wall and CPU seconds and MB/s (of the input's bytes) each way."""
    src = Path(src)
    with tempfile.TemporaryDirectory() as tmp:
        packed, out = os.path.join(tmp, "f.proc"), os.path.join(tmp, "f.out")
        enc = min(_process(["proc", "compress", str(src), "-o", packed]) for _ in range(repeat))
        dec = min(_process(["proc", "decompress", packed, "-o", out]) for _ in range(repeat))
        same = Path(out).read_bytes() == src.read_bytes()
        size = os.path.getsize(packed)
    n = src.stat().st_size
    return {"bytes": n, "bpc": 8 * size / n, "enc s": enc[0], "enc CPU s": enc[1], "enc MB/s": n / enc[0] / 1e6,
            "dec s": dec[0], "dec CPU s": dec[1], "dec MB/s": n / dec[0] / 1e6, "round-trip": same}


def process_rows(files: dict[str, Path], repeat: int = 2) -> list[dict]:
    """whole_process for each named file, then the start-up row (a 16-byte file)."""
    rows = [{"file": name, **whole_process(p, repeat)} for name, p in files.items()]
    with tempfile.TemporaryDirectory() as tmp:
        tiny = Path(tmp) / "tiny.txt"
        tiny.write_bytes(START_UP_BYTES)
        rows.append({"file": "16 bytes (start-up)", **whole_process(tiny, repeat)})
    return rows


def goal(rows: list[dict], at_least: int = 100_000) -> dict | None:
    """Issue 29's bar over the rows of files of `at_least` bytes: the slowest encode and decode, whole process."""
    big = [r for r in rows if r["bytes"] >= at_least]
    if not big:
        return None
    enc, dec = min(big, key=lambda r: r["enc MB/s"]), min(big, key=lambda r: r["dec MB/s"])
    return {"enc MB/s": enc["enc MB/s"], "enc file": enc["file"], "dec MB/s": dec["dec MB/s"], "dec file": dec["file"],
            "enc met": enc["enc MB/s"] >= 0.5, "dec met": dec["dec MB/s"] >= 0.5,
            "met": min(enc["enc MB/s"], dec["dec MB/s"]) >= 0.5}
