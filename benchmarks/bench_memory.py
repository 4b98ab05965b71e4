"""Memory bank benchmark on this machine: search latency (p50/p99, hybrid ranking) and size on disk at 1k, 10k
and 100k memories (bar: p99 <= 50 ms at 100k on 2 cores). The memories are synthetic as the issue allows
(`lab.optical.bank.study.scale`: real page-sized text windows of the train corpora with their hashing
embeddings at MiniLM's width, one shared .vtok blob); reports/optical_memory.md runs the same measurement.

    make bench        (or: python benchmarks/bench_memory.py --sizes 1000 10000 100000 --queries 200)
"""
from __future__ import annotations

import argparse

from lab.optical.bank.study import scale
from lab.report import table


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    rows = scale(args.sizes, args.queries)
    print(table([{k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()} for r in rows]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
