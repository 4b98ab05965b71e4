"""The memory bank's report (notebooks/optical_memory.ipynb): a simulated year of documents and queries under
a token budget per forgetting policy, retrieval quality of BM25 / embeddings / hybrid, and the bank at scale.

    docs = year_documents(n_docs=30, pages_per_doc=3)               # held-out text, one arrival day each
    queries = query_stream(docs, per_day=2, seed=0)                  # Zipfian, drifting interests
    enc, emb = Cached(vision.load("model:optical-reader")), Cached(embed.by_name("all-minilm-l6-v2"))
    rows = simulate(docs, queries, "fade", 800, workdir, enc, emb, reader)

Everything is seeded; the bank is a real one (SQLite + blobs), the forgetting is `MemoryBank.forget`, and the
fidelity of a retrieved memory is what the optical reader reads back from its *stored* tokens.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lab import data
from lab.optical import render as R
from lab.optical.bank.store import DAY, MemoryBank, query_words
from lab.optical.metrics import precision

LAYOUT = R.Layout(width=640, height=640, size=14, margin=32)    # small mode's own resolution (100 tokens)
SOURCES = ("canterbury/alice29.txt", "canterbury/lcet10.txt", "canterbury-large/test", "tinystories/test")


@dataclass
class Doc:
    source: str              # "<corpus document>#<n>"
    day: int                 # arrival day, 0..364
    importance: float        # 0..10, as a user would set it at ingest (seeded, independent of later use)
    pages: list              # render.Page


@dataclass
class Query:
    day: int
    doc: int                 # index into the documents
    page: int                # page number within the document (1-based)
    text: str


def year_documents(n_docs: int = 30, pages_per_doc: int = 3, seed: int = 0, chars: int = 700) -> list[Doc]:
    """Documents cut from the page corpus's *test* texts (never trained on), spread over the four sources,
    each `pages_per_doc` one-page windows of `chars` characters, arriving on seeded days over a year."""
    rng = np.random.default_rng(seed)
    texts = {n: t for n, t, _ in data.page_documents("test") if n in SOURCES}
    days = np.sort(rng.integers(0, 365, n_docs))
    out = []
    for i in range(n_docs):
        name = SOURCES[i % len(SOURCES)]
        t = texts[name]
        start = int(rng.integers(0, len(t) - pages_per_doc * chars - 1))
        pages = []
        for p in range(pages_per_doc):
            chunk = R.normalise(t[start + p * chars: start + (p + 1) * chars])
            page = R.render_text(chunk, LAYOUT, source=f"{name}#{i}")[0]
            page.number = p + 1
            pages.append(page)
        out.append(Doc(f"{name}#{i}", int(days[i]), float(rng.integers(0, 11)), pages))
    return out


def query_stream(docs: list[Doc], per_day: int = 2, seed: int = 0, zipf: float = 1.1, drift_days: int = 90,
                 words: int = 5) -> list[Query]:
    """Queries over 365 days: a topic (document) drawn from a Zipf law over the user's interest order, which
    is reshuffled every `drift_days` (interests drift), boosted for documents that arrived recently (x3
    fading with a 30-day half-life); a page of it uniformly; the query is `words` content words of that page
    in random order (a keyword query, not a quotation)."""
    rng = np.random.default_rng(seed + 1)
    out, order = [], None
    for day in range(365):
        if day % drift_days == 0:
            order = rng.permutation(len(docs))
        live = [i for i in range(len(docs)) if docs[i].day <= day]
        if not live:
            continue
        rank = {d: r for r, d in enumerate(order)}
        w = np.array([(1 + rank[i]) ** -zipf * (1 + 2 * 0.5 ** ((day - docs[i].day) / 30)) for i in live])
        for _ in range(per_day):
            d = live[int(rng.choice(len(live), p=w / w.sum()))]
            p = int(rng.integers(0, len(docs[d].pages)))
            vocab = query_words(docs[d].pages[p].text)
            pick = rng.choice(len(vocab), min(words, len(vocab)), replace=False)
            out.append(Query(day, d, p + 1, " ".join(vocab[j] for j in pick)))
    return out


class Cached:
    """An encoder or embedder that computes each (input, mode) once: the simulation builds one bank per
    policy and budget from the same pages. Keeps the wrapped object's identity (sha, dim, spec)."""

    def __init__(self, inner):
        self.inner, self._memo = inner, {}
        for k in ("sha", "dim", "spec", "name"):
            if hasattr(inner, k):
                setattr(self, k, getattr(inner, k))
        self.seconds = 0.0       # time spent in the wrapped object (the real work)
        self.items = 0

    def _key(self, x, mode) -> tuple:
        b = x.encode() if isinstance(x, str) else np.ascontiguousarray(x).tobytes()
        return hashlib.sha256(b).hexdigest(), mode

    def _run(self, xs, mode, call):
        keys = [self._key(x, mode) for x in xs]
        todo = [i for i, k in enumerate(keys) if k not in self._memo]
        if todo:
            t0 = time.perf_counter()
            got = call([xs[i] for i in todo])
            self.seconds += time.perf_counter() - t0
            self.items += len(todo)
            for i, g in zip(todo, got):
                self._memo[keys[i]] = g
        return np.stack([self._memo[k] for k in keys])

    def encode(self, images, mode: str):
        return self._run(list(images), mode, lambda xs: self.inner.encode(xs, mode))

    def embed(self, texts):
        return self._run(list(texts), None, lambda xs: self.inner.embed(xs))

    def read(self, tokens):
        return self.inner.read(tokens)


class Fidelity:
    """Precision of what the reader reads back from a memory's stored tokens, cached by the tokens' sha256."""

    def __init__(self, read):
        self.read, self._memo = read, {}

    def __call__(self, bank: MemoryBank, memory_id: int, truth: str) -> float:
        sha = bank.con.execute("SELECT tokens_sha FROM memories WHERE id = ?", (memory_id,)).fetchone()[0]
        if sha not in self._memo:
            tokens, _ = bank.tokens(memory_id)
            text = self.read(tokens[None])[0]
            self._memo[sha] = float("nan") if text is None else precision(text, truth)
        return self._memo[sha]


def simulate(docs: list[Doc], queries: list[Query], policy: str | None, budget: int | None, workdir: str | Path,
             encoder, embedder, fidelity: Fidelity, mode: str = "small", k: int = 5, context: int = 400) -> dict:
    """One simulated year: each document is added on its day (mode `mode`), the bank is brought within
    `budget` tokens by `policy` at the end of every day with arrivals (None: no forgetting), and each query
    searches (hybrid, at most k memories within `context` tokens). A query is *answered* if its page comes
    back; its fidelity is the reader's precision on the answer's stored tokens."""
    path = Path(workdir) / f"{policy or 'keep-all'}-{budget or 0}"
    bank = MemoryBank.open(path, create=True, encoder=encoder.spec, embedder=embedder.name)
    bank._encoder, bank._embedder = encoder, embedder          # the same objects (and caches) for every bank
    by_day: dict[int, list[int]] = {}
    for i, d in enumerate(docs):
        by_day.setdefault(d.day, []).append(i)
    qs: dict[int, list[Query]] = {}
    for q in queries:
        qs.setdefault(q.day, []).append(q)
    answered, fid, modes, actions = [], [], [], 0
    t_search = []
    for day in range(365):
        now = day * DAY
        for i in by_day.get(day, []):
            bank.add_pages(docs[i].pages, docs[i].source, importance=docs[i].importance, mode=mode, now=now)
        if policy and by_day.get(day):
            actions += len(bank.forget(budget, policy=policy, now=now + 1))
        for j, q in enumerate(qs.get(day, [])):
            t0 = time.perf_counter()
            hits = bank.search(q.text, budget=context, k=k, now=now + 3600 * (j + 1))
            t_search.append(time.perf_counter() - t0)
            hit = next((h for h in hits if h.source == docs[q.doc].source and h.page == q.page), None)
            answered.append(hit is not None)
            if hit is not None:
                fid.append(fidelity(bank, hit.id, docs[q.doc].pages[q.page - 1].text))
                modes.append(hit.mode)
    st = bank.stats()
    bank.close()
    n = max(len(answered), 1)
    fmean = _mean(fid)
    return {"policy": policy or "keep all (no budget)", "budget": budget or "-", "queries": len(answered),
            "answered": sum(answered) / n, "fidelity": fmean, "answered x fidelity": sum(answered) / n * fmean,
            "small / tiny answers": f"{modes.count('small')} / {modes.count('tiny')}",
            **{f"fidelity {m}": _mean([x for x, mm in zip(fid, modes) if mm == m]) for m in ("small", "tiny")},
            "memories at the end": st["memories"], "tokens at the end": st["tokens"], "actions": actions,
            "search ms (mean)": 1000 * float(np.mean(t_search)) if t_search else 0.0}


def _mean(xs) -> float:
    """Mean of the finite values (nan if none: no answers, or an encoder without a reader)."""
    f = np.array(xs, np.float64)
    return float(f[np.isfinite(f)].mean()) if np.isfinite(f).any() else float("nan")


def recall_at_k(bank: MemoryBank, docs: list[Doc], queries: list[Query], ks=(1, 5, 10)) -> list[dict]:
    """recall@k of each ranking on a bank that holds every page (no touch: retrieval does not change it)."""
    rows = []
    for ranking in ("bm25", "embedding", "hybrid"):
        found = {k: 0 for k in ks}
        for q in queries:
            hits = bank.search(q.text, k=max(ks), touch=False, now=q.day * DAY, ranking=ranking)
            pos = next((r for r, h in enumerate(hits) if h.source == docs[q.doc].source and h.page == q.page), None)
            for k in ks:
                found[k] += pos is not None and pos < k
        rows.append({"ranking": ranking, **{f"recall@{k}": found[k] / len(queries) for k in ks}})
    return rows


def scale(sizes, queries: int = 200, seed: int = 0, workdir: str | Path | None = None) -> list[dict]:
    """Search latency p50/p99 (hybrid, budget 400, touching the hits) and size on disk at each bank size.
    The memories are synthetic, as the issue allows: page-sized windows of the train corpora with their real
    embeddings from the hashing embedder at MiniLM's width (384) and one shared .vtok blob (search reads no
    tokens); timings include embedding the query with the hashing embedder (well under 1 ms)."""
    import tempfile

    from lab.optical.bank.embed import HashingEmbedder

    corpus = " ".join(t for _, t, k in data.page_documents("train") if k == "text").split()
    rng = np.random.default_rng(seed)
    texts = [" ".join(corpus[s:s + 250]) for s in rng.integers(0, len(corpus) - 300, 20000)]
    qs = [" ".join(corpus[s:s + 6]) for s in rng.integers(0, len(corpus) - 6, queries)]
    emb = HashingEmbedder(384)
    rows = []
    with tempfile.TemporaryDirectory(dir=workdir) as d:
        bank = MemoryBank.open(Path(d) / "bank", create=True, encoder="random:0", embedder="hashing-384")
        for n in sorted(sizes):
            t0 = time.perf_counter()
            fill(bank, n, texts, emb, rng)
            fill_s = time.perf_counter() - t0
            bank.search(qs[0], budget=400, touch=False)            # loads the embedding matrix once
            lat = []
            for q in qs:
                t0 = time.perf_counter()
                bank.search(q, budget=400, now=1e9)
                lat.append((time.perf_counter() - t0) * 1000)
            disk = sum(f.stat().st_size for f in (Path(d) / "bank").rglob("*") if f.is_file())
            rows.append({"memories": n, "search p50 ms": float(np.percentile(lat, 50)),
                         "search p99 ms": float(np.percentile(lat, 99)), "disk MB": disk / 1e6,
                         "store inserts/s": (n - (rows[-1]["memories"] if rows else 0)) / fill_s})
        bank.close()
    return rows


def fill(bank: MemoryBank, n: int, texts: list[str], emb, rng) -> None:
    """Synthetic memories up to n: rows straight into the store (one shared token blob and page image)."""
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
