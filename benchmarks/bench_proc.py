"""Procedural machine benchmark: bpc and encode/decode MB/s on the English texts >= 100 KB, two ways:
the coding inside one warm process (the kernels already loaded), and the whole process as a user runs it
(`lab proc compress` / `decompress`: interpreter start, imports, loading the C kernels (lab.native), reading
and writing the files), each the best of `--repeat` runs, with the CPU seconds the process used beside it.
A last row, the same process on 16 bytes, is the fixed start-up cost every file pays. Prints tables
(format fuzzing: `make fuzz`).

    make bench            (or: python benchmarks/bench_proc.py --files canterbury/alice29.txt)
"""
from __future__ import annotations

import argparse
import time

from lab import data
from lab.procedural import machine as M
from lab.procedural import speed
from lab.report import table

ENGLISH = ["canterbury/alice29.txt", "canterbury/asyoulik.txt", "canterbury/lcet10.txt", "canterbury/plrabn12.txt",
           "canterbury-large/bible.txt"]


def main() -> int:
    ap = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--files", nargs="*", default=ENGLISH)
    ap.add_argument("--repeat", type=int, default=3, help="whole-process runs per file and direction (best kept)")
    args = ap.parse_args()
    M.decompress(M.compress(b"warm up the JIT " * 64))
    rows = []
    for f in args.files:
        d = data.path(*f.split("/")).read_bytes()
        t0 = time.perf_counter()
        blob = M.compress(d)
        t1 = time.perf_counter()
        ok = M.decompress(blob) == d
        t2 = time.perf_counter()
        rows.append({"file": f, "bytes": len(d), "bpc": 8 * len(blob) / len(d), "enc MB/s": len(d) / (t1 - t0) / 1e6,
                     "dec MB/s": len(d) / (t2 - t1) / 1e6, "round-trip": ok})
    print("# procedural machine benchmark\n")
    print("## the coding, in one warm process\n")
    print(table(rows))
    rows = speed.process_rows({f: data.path(*f.split("/")) for f in args.files}, args.repeat)
    print(f"\n## the whole process, as a user runs it (best of {args.repeat})\n")
    print(table(rows))
    print("goal (issue 29): encode and decode >= 0.5 MB/s, whole process, on every English text >= 100 KB, "
          "on this 2-core CPU\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
