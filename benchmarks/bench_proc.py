"""Procedural machine benchmark: bpc and encode/decode MB/s on Canterbury texts and bible.txt. Prints tables
(format fuzzing: `make fuzz`).

    make bench            (or: python benchmarks/bench_proc.py --files canterbury/alice29.txt)
"""
from __future__ import annotations

import argparse
import time

from lab import data
from lab.procedural import machine as M
from lab.report import table


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", nargs="*", default=["canterbury/alice29.txt", "canterbury/lcet10.txt",
                                                   "canterbury/plrabn12.txt", "canterbury-large/bible.txt"])
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
    print(table(rows))
    print("goal: encode and decode >= 0.5 MB/s on this 2-core CPU\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
