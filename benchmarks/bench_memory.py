"""Memory bank benchmark on this machine: search latency (p50/p99, hybrid ranking) and size on disk at 1k, 10k
and 100k memories (bar: p99 <= 50 ms at 100k on 2 cores). The memories are synthetic as the issue allows:
real page-sized text windows of the train corpora with their real embeddings from the hashing embedder at
MiniLM's width (384), and one shared .vtok blob instead of an encoder's tokens (search reads no tokens). The
timing includes embedding the query with the hashing embedder (well under 1 ms); MiniLM would add its own
forward pass on this CPU (not measured here).

    make bench        (or: python benchmarks/bench_memory.py --sizes 1000 10000 100000 --queries 200)
"""
from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np

from lab import data
from lab.optical.embed import HashingEmbedder
from lab.optical.memory import MemoryBank
from lab.report import table


def fill(bank: MemoryBank, n: int, texts: list[str], emb: HashingEmbedder, rng) -> None:
    tok = bank._vtok(np.zeros((64, bank.encoder.dim), np.float32), "tiny", {})
    img = bank._put(b"synthetic page", ".png")
    have = bank.con.execute("SELECT count(*) FROM memories").fetchone()[0]
    rows = []
    for i in range(have, n):
        t = texts[i % len(texts)] + f" #{i}"
        rows.append((hashlib.sha256(t.encode()).hexdigest(), f"doc{i // 20}.txt", i % 20, "text", "tiny", 64,
                     "encoded", tok, img, float(rng.integers(0, 11)), float(i), float(i), t))
    for j in range(0, len(rows), 5000):
        chunk = rows[j:j + 5000]
        e = emb.embed([r[-1] for r in chunk]).astype(np.float16)
        with bank._tx():
            bank.con.executemany("INSERT INTO memories(content_sha, source, page, kind, mode, tokens, origin, tokens_sha, "
                                 "image_sha, importance, created, last_access, text, embedding) VALUES "
                                 "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 [r + (x.tobytes(),) for r, x in zip(chunk, e)])
            bank._bump()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    corpus = " ".join(t for _, t, k in data.page_documents("train") if k == "text").split()
    rng = np.random.default_rng(0)
    starts = rng.integers(0, len(corpus) - 300, 20000)
    texts = [" ".join(corpus[s:s + 250]) for s in starts]
    queries = [" ".join(corpus[s:s + 6]) for s in rng.integers(0, len(corpus) - 6, args.queries)]
    emb = HashingEmbedder(384)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        bank = MemoryBank.open(Path(d) / "bank", create=True, encoder="random:0", embedder="hashing-384")
        for n in sorted(args.sizes):
            fill(bank, n, texts, emb, rng)
            bank.search(queries[0], budget=400, touch=False)            # loads the embedding matrix once
            lat = []
            for q in queries:
                t0 = time.perf_counter()
                bank.search(q, budget=400, now=1e9)
                lat.append((time.perf_counter() - t0) * 1000)
            disk = sum(f.stat().st_size for f in (Path(d) / "bank").rglob("*") if f.is_file())
            rows.append({"memories": n, "search p50 ms": round(float(np.percentile(lat, 50)), 2),
                         "search p99 ms": round(float(np.percentile(lat, 99)), 2), "disk MB": round(disk / 1e6, 1)})
        bank.close()
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
