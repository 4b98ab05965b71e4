"""A persistent memory bank of pages as vision tokens: store, retrieve, forget.

    bank = MemoryBank.open("BANK", create=True, encoder="random:0", embedder="hashing-256")
    bank.add(["notes/", "paper.pdf"], importance=7, mode="small")      # -> AddReport
    hits = bank.search("what did the king say", budget=400)           # hybrid ranking within a budget
    bank.forget(budget=1600, policy="fade")                           # -> the actions taken
    bank.stats(); bank.list(); bank.set_importance("notes/*", 9); bank.check()

A bank is one directory: `bank.sqlite` (SQLite in WAL mode: metadata, page text, FTS5 index, sentence
embeddings, an audit table) and `blobs/` (content-addressed files named by their sha256: each memory's
vision tokens as a `.vtok` and the page image it was encoded from as a PNG, kept so that `fade` can
re-encode a memory at a lower resolution). Blobs are written (temp file + rename) before the row that
names them is committed, and removed only after the row is gone, so a process killed at any point leaves
a bank whose every committed memory is whole; `check` lists orphan blobs and `check(repair=True)`
removes them. Writers take SQLite's write lock (BEGIN IMMEDIATE) and wait for each other.

Scoring, as in the seed (`002`): a memory's *retention score* is 0.5 x importance/10 + 0.3 x recency
(0.5 ** (days since last access / half-life of 30 days)) + 0.2 x access frequency (its access count over
the bank's largest). Search ranks by `Weights`: BM25 (FTS5) and embedding cosine, plus the recency and
importance terms. Forgetting policies are in `forget`.
"""
from __future__ import annotations

import fnmatch
import hashlib
import io
import json
import os
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lab import FormatError
from lab.optical.modes import MODES, tokens_for

SCHEMA_VERSION = 1
DB = "bank.sqlite"
MODE_ORDER = ("tiny", "small", "base", "large")        # 64, 100, 256, 400 tokens
from lab.optical.bank import POLICIES  # noqa: E402  (seed, lru, fifo, importance, fade)
DAY = 86400.0
STOP_WORDS = frozenset("""a about all also an and any are as at be been but by can did do does for from had has have he
her him his how i if in into is it its me my no not of on or our she so than that the their them then there these
they this to up us was we were what when where which who whom why will with would you your unto ye thee thou""".split())

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE memories(
    id INTEGER PRIMARY KEY,
    content_sha TEXT NOT NULL UNIQUE,        -- sha256 of the page's pixels: the de-duplication key
    source TEXT NOT NULL,
    page INTEGER NOT NULL,
    kind TEXT NOT NULL,
    mode TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    origin TEXT NOT NULL,                    -- encoded | pooled (the seed's re-compression)
    tokens_sha TEXT NOT NULL,                -- blobs/<sha>.vtok
    image_sha TEXT NOT NULL,                 -- blobs/<sha>.png
    importance REAL NOT NULL,
    created REAL NOT NULL,
    last_access REAL NOT NULL,
    access_count INTEGER NOT NULL DEFAULT 0,
    text TEXT NOT NULL,
    embedding BLOB NOT NULL                  -- float16, L2-normalised
);
CREATE INDEX memories_source ON memories(source);
CREATE VIRTUAL TABLE memories_fts USING fts5(text, content='memories', content_rowid='id');
CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts(rowid, text) VALUES (new.id, new.text); END;
CREATE TRIGGER memories_ad AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.id, old.text); END;
CREATE TABLE audit(id INTEGER PRIMARY KEY, time REAL NOT NULL, action TEXT NOT NULL, memory_id INTEGER,
                   detail TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Weights:
    """Search ranking: the weighted sum of BM25 (normalised by the best match), embedding cosine, recency
    and importance/10. Forgetting uses the seed's retention score (module docstring)."""
    bm25: float = 0.35
    embedding: float = 0.45
    recency: float = 0.1
    importance: float = 0.1
    half_life_days: float = 30.0
    candidates: int = 200          # from each of BM25 and the embeddings, before the hybrid ranking
    max_df: float = 0.1            # BM25 skips query words in more than this fraction of pages (the rarest is kept)

    @classmethod
    def from_yaml(cls, path: str) -> "Weights":
        import yaml

        raw = yaml.safe_load(Path(path).read_text()) or {}
        return cls(**raw.get("search", raw))


@dataclass
class Hit:
    id: int
    source: str
    page: int
    mode: str
    tokens: int
    score: float
    bm25: float
    cosine: float
    importance: float
    text: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class AddReport:
    added: int = 0                 # new memories (pages)
    duplicates: int = 0            # pages already in the bank
    files: int = 0                 # files read
    tokens: int = 0
    failed: list = field(default_factory=list)     # (path, one-line reason)

    def summary(self) -> str:
        s = (f"{self.files} file(s): {self.added} page(s) added ({self.tokens} tokens), "
             f"{self.duplicates} duplicate(s) skipped")
        return s + (f", {len(self.failed)} file(s) failed" if self.failed else "")


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def page_sha(grey: np.ndarray) -> str:
    g = np.ascontiguousarray(grey, np.uint8)
    return _sha(f"{g.shape[0]}x{g.shape[1]}:".encode() + g.tobytes())


def _png(grey: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(grey, np.uint8)).save(buf, "PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def lower_mode(mode: str) -> str | None:
    i = MODE_ORDER.index(mode)
    return MODE_ORDER[i - 1] if i else None


def pool_tokens(tokens: np.ndarray, mode: str) -> np.ndarray:
    """The seed's re-compression: a mode's token grid average-pooled to the next lower mode's grid."""
    import torch
    import torch.nn.functional as F

    g, g2 = MODES[mode] // 64, MODES[lower_mode(mode)] // 64
    t = torch.from_numpy(np.asarray(tokens, np.float32)).T.reshape(1, -1, g, g)
    return F.adaptive_avg_pool2d(t, g2).reshape(-1, g2 * g2).T.contiguous().numpy()


def _detail(d, path) -> dict:
    try:
        out = json.loads(d)
    except (TypeError, ValueError):
        out = None
    if not isinstance(out, dict):
        raise FormatError(f"{path}: corrupt memory bank (an audit row's detail is not a JSON object)")
    return out


def _bank_errors(fn):
    """SQLite errors found after opening (a page corrupted past the header, a busy bank) as one FormatError."""
    import functools

    @functools.wraps(fn)
    def wrapper(self, *a, **k):
        try:
            return fn(self, *a, **k)
        except sqlite3.DatabaseError as e:
            busy = "locked" in str(e) or "busy" in str(e)
            raise FormatError(f"{self.path}: {'the memory bank is busy' if busy else 'corrupt memory bank'} ({e})") from None
        except UnicodeDecodeError:
            raise FormatError(f"{self.path}: corrupt memory bank (text that is not UTF-8)") from None
        except MemoryError:     # SQLite's out-of-memory on a record that claims an absurd size
            raise FormatError(f"{self.path}: corrupt memory bank, or too large for this machine's memory") from None
    return wrapper


class MemoryBank:
    """Open with `MemoryBank.open`; use as a context manager or call `close()`."""

    def __init__(self, path: Path, con: sqlite3.Connection, encoder, embedder, weights: Weights):
        self.path, self.con, self.weights = path, con, weights
        self._encoder, self._embedder = encoder, embedder
        self._emb = None           # (generation, ids, matrix) cache of the embeddings
        self._n = None             # (generation, number of memories)

    # -- opening ------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path, create: bool = False, encoder: str | None = None, embedder: str | None = None,
             weights: Weights = Weights(), timeout: float = 60.0) -> "MemoryBank":
        """Open a bank (FormatError if it is missing, corrupt or of a newer schema). With create=True a
        missing bank is made, recording `encoder` (a `vision.load` spec) and `embedder` (an `embed` name);
        an existing bank keeps its own and refuses different ones."""
        p = Path(path)
        db = p / DB
        if p.exists() and not p.is_dir():
            raise FormatError(f"{path}: exists and is not a folder (a memory bank is a folder)")
        if db.is_dir():
            raise FormatError(f"{path}: {DB} is a folder, not a memory bank's database")
        if not db.exists():
            if not create:
                raise FormatError(f"{path}: not a memory bank (no {DB}; `lab optical add` creates one)")
            (p / "blobs").mkdir(parents=True, exist_ok=True)
        con = None
        try:
            con = sqlite3.connect(str(db), timeout=timeout, isolation_level=None, check_same_thread=False)
            con.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            if not cls._is_bank(con):        # nothing is written to a file that is not (yet) a bank ...
                if not create:
                    raise FormatError(f"{path}: {DB} holds no memory bank (empty, or its creation was interrupted); "
                                      "`lab optical add` completes it")
                (p / "blobs").mkdir(parents=True, exist_ok=True)
            con.execute("PRAGMA journal_mode=WAL")     # ... unless it is to be created, with the options asked for
            con.execute("PRAGMA synchronous=NORMAL")
            meta = cls._init(con, encoder or "model:optical-reader", embedder or "all-minilm-l6-v2")
        except (sqlite3.DatabaseError, UnicodeDecodeError) as e:
            if con is not None:
                con.close()
            raise FormatError(f"{path}: corrupt memory bank ({e.__class__.__name__}: {str(e)[:80]})") from None
        except FormatError:
            con.close()
            raise
        try:
            version = int(meta.get("schema_version", -1))
        except ValueError:
            con.close()
            raise FormatError(f"{path}: corrupt memory bank (schema version {meta.get('schema_version')!r})") from None
        if version > SCHEMA_VERSION:
            con.close()
            raise FormatError(f"{path}: memory bank schema version {version} is newer than this lab's "
                              f"({SCHEMA_VERSION}); update the lab")
        if version != SCHEMA_VERSION:
            con.close()
            raise FormatError(f"{path}: corrupt memory bank (schema version {meta.get('schema_version')!r})")
        missing = {"encoder", "encoder_sha", "embedder", "generation"} - set(meta)
        if missing:
            con.close()
            raise FormatError(f"{path}: corrupt memory bank (no {', '.join(sorted(missing))} in its meta table)")
        for key, want in (("encoder", encoder), ("embedder", embedder)):
            if want and meta.get(key) != want:
                con.close()
                raise FormatError(f"{path}: the bank was built with {key} {meta.get(key)!r}, not {want!r}")
        try:   # per-connection view of FTS5's document counts per word (search skips the commonest words)
            con.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.memories_vocab USING fts5vocab(main, memories_fts, 'row')")
        except sqlite3.DatabaseError as e:
            con.close()
            raise FormatError(f"{path}: corrupt memory bank ({e})") from None
        bank = cls(p, con, meta["encoder"], meta["embedder"], weights)
        bank.meta = meta
        return bank

    @classmethod
    def holds_bank(cls, path) -> bool:
        """Is there a bank at path already (its database with the meta table)? Read only."""
        db = Path(path) / DB
        if not db.is_file():
            return False
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            try:
                return cls._is_bank(con)
            finally:
                con.close()
        except sqlite3.DatabaseError:
            return True                      # a damaged file: let open() say what it is

    @staticmethod
    def _is_bank(con) -> bool:
        """Does the database hold a bank's meta table (read only; DatabaseError if it is not SQLite)?"""
        return con.execute("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()[0] > 0

    @staticmethod
    def _init(con, encoder: str, embedder: str) -> dict:
        con.execute("BEGIN IMMEDIATE")
        try:
            have = con.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
            if not have:
                if con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                    raise sqlite3.DatabaseError("not a memory bank (other tables)")
                enc = _load_encoder(encoder)
                for stmt in _statements(_SCHEMA):        # (executescript would commit the transaction)
                    con.execute(stmt)
                meta = {"schema_version": SCHEMA_VERSION, "encoder": encoder, "encoder_sha": enc.sha,
                        "embedder": embedder, "created": time.time(), "generation": 0}
                con.executemany("INSERT INTO meta VALUES (?, ?)", [(k, str(v)) for k, v in meta.items()])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return dict(con.execute("SELECT key, value FROM meta").fetchall())

    def close(self) -> None:
        self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- parts --------------------------------------------------------------------------------------------
    @property
    def encoder(self):
        if isinstance(self._encoder, str):
            enc = _load_encoder(self._encoder)
            if enc.sha != self.meta["encoder_sha"]:
                raise FormatError(f"{self.path}: encoder {self._encoder} has changed (sha256 {enc.sha[:12]}, the "
                                  f"bank's tokens are from {self.meta['encoder_sha'][:12]})")
            self._encoder = enc
        return self._encoder

    @property
    def embedder(self):
        if isinstance(self._embedder, str):
            from lab.optical.bank import embed

            try:
                self._embedder = embed.by_name(self._embedder)
            except ValueError as e:
                raise FormatError(f"{self.path}: {e}") from None
        return self._embedder

    def _tx(self):
        return _Transaction(self.con)

    def _blob(self, sha: str, ext: str) -> Path:
        if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
            raise FormatError(f"{self.path}: corrupt memory bank (blob name {str(sha)[:20]!r} is not a sha256)")
        return self.path / "blobs" / sha[:2] / f"{sha}{ext}"

    def _put(self, data: bytes, ext: str) -> str:
        sha = _sha(data)
        p = self._blob(sha, ext)
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, p)
        return sha

    def _audit(self, action: str, memory_id, detail: dict, now: float) -> None:
        self.con.execute("INSERT INTO audit(time, action, memory_id, detail) VALUES (?, ?, ?, ?)",
                         (now, action, memory_id, json.dumps(detail, sort_keys=True)))

    def _bump(self) -> None:
        self.con.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    def _vtok(self, tokens: np.ndarray, mode: str, meta: dict) -> str:
        from lab.optical import vtok

        return self._put(vtok.encode(tokens, mode, self.meta["encoder_sha"], "fp16", meta), ".vtok")

    # -- ingest -------------------------------------------------------------------------------------------
    @_bank_errors
    def add(self, paths, importance: float = 5.0, mode: str = "small", now: float | None = None,
            progress: bool = False, layout=None) -> AddReport:
        """Files and folders (recursive, sorted) of text, markdown, code, PDF, Word and images: rendered,
        encoded, de-duplicated by page content. Each file is one transaction: a file that fails is reported
        in `failed` and skipped, the others are committed."""
        from tqdm import tqdm

        from lab.optical import render as R

        _check_importance(importance)
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} ({', '.join(MODES)})")
        files, rep = [], AddReport()
        for p in map(Path, paths):
            if p.is_dir():
                files += sorted(f for f in p.rglob("*") if f.is_file() and not any(s.startswith(".") for s in f.relative_to(p).parts))
            elif p.exists():
                files.append(p)
            else:
                rep.failed.append((str(p), "no such file or folder"))
        bar = tqdm(total=0, disable=not progress, desc="adding", unit="page")     # pages, as each file is rendered
        for k, f in enumerate(files):
            bar.set_postfix_str(f"file {k + 1}/{len(files)}: {f.name}", refresh=True)
            try:
                pages = R.render_file(f, layout or R.Layout())
                bar.total += len(pages)
                bar.refresh()
                a, d, t = self.add_pages(pages, str(f), importance, mode, now, on_pages=bar.update)
            except (FormatError, ValueError, OSError) as e:
                rep.failed.append((str(f), str(e).splitlines()[0] if str(e) else e.__class__.__name__))
                continue
            rep.files += 1
            rep.added, rep.duplicates, rep.tokens = rep.added + a, rep.duplicates + d, rep.tokens + t
        bar.close()
        return rep

    @_bank_errors
    def add_pages(self, pages, source: str, importance: float = 5.0, mode: str = "small",
                  now: float | None = None, on_pages=None) -> tuple[int, int, int]:
        """Rendered pages (render.Page) of one source, in one transaction -> (added, duplicates, tokens);
        on_pages(n) is told as each batch of n pages is encoded (progress)."""
        now = time.time() if now is None else now
        greys = [p.grey() for p in pages]
        shas = [page_sha(g) for g in greys]
        have = self._existing(shas)
        todo = [i for i, s in enumerate(shas) if s not in have and s not in shas[:i]]
        if on_pages and len(pages) > len(todo):
            on_pages(len(pages) - len(todo))
        if not todo:
            return 0, len(pages), 0
        toks = []
        for c in range(0, len(todo), 8):
            toks.append(self.encoder.encode([greys[i] for i in todo[c:c + 8]], mode))
            if on_pages:
                on_pages(len(todo[c:c + 8]))
        toks = np.concatenate(toks)
        embs = self.embedder.embed([pages[i].text for i in todo]).astype(np.float16)
        rows = []
        for j, i in enumerate(todo):
            meta = {"source": source, "page": pages[i].number}
            rows.append((shas[i], source, pages[i].number, pages[i].kind, mode, tokens_for(mode), "encoded",
                         self._vtok(toks[j], mode, meta), self._put(_png(greys[i]), ".png"), float(importance),
                         now, now, pages[i].text, embs[j].tobytes()))
        added = 0
        with self._tx():
            for r in rows:
                cur = self.con.execute("INSERT OR IGNORE INTO memories(content_sha, source, page, kind, mode, tokens, "
                                       "origin, tokens_sha, image_sha, importance, created, last_access, text, embedding) "
                                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", r)
                if cur.rowcount:          # another process may have added the same page meanwhile
                    added += 1
                    self._audit("add", cur.lastrowid, {"source": source, "page": r[2], "mode": mode}, now)
            self._bump()
        return added, len(pages) - added, added * tokens_for(mode)

    def _existing(self, shas: list[str]) -> set[str]:
        out = set()
        for i in range(0, len(shas), 500):
            chunk = shas[i:i + 500]
            q = f"SELECT content_sha FROM memories WHERE content_sha IN ({','.join('?' * len(chunk))})"
            out |= {r[0] for r in self.con.execute(q, chunk)}
        return out

    # -- retrieval ----------------------------------------------------------------------------------------
    def _embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        gen = self._generation()
        if self._emb is None or self._emb[0] != gen:
            rows = self.con.execute("SELECT id, embedding FROM memories ORDER BY id").fetchall()
            ids = np.array([r[0] for r in rows], np.int64)
            dim = len(rows[0][1]) // 2 if rows else 1
            if any(not isinstance(r[1], bytes) or len(r[1]) != 2 * dim for r in rows) or (rows and not dim):
                raise FormatError(f"{self.path}: corrupt memory bank (embeddings of unequal sizes)")
            m = np.frombuffer(b"".join(r[1] for r in rows), np.float16).reshape(-1, dim).astype(np.float32) if rows \
                else np.zeros((0, dim), np.float32)
            self._emb = (gen, ids, m)
        return self._emb[1], self._emb[2]

    def _selective(self, words: list[str]) -> list[str]:
        """The query's words without those in more than max_df of the pages (FTS5's own document counts): such
        words add little to BM25 and most of its cost at 100k pages. The rarest word always stays."""
        if not words:
            return words
        n = self._count()
        df = dict(self.con.execute(f"SELECT term, doc FROM temp.memories_vocab WHERE term IN ({','.join('?' * len(words))})",
                                   words).fetchall())
        keep = [w for w in words if df.get(w, 0) <= self.weights.max_df * n]
        return keep or [min(words, key=lambda w: df.get(w, 0))]

    def _generation(self) -> str:
        row = self.con.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        if row is None:
            raise FormatError(f"{self.path}: corrupt memory bank (no generation in its meta table)")
        return row[0]

    def _count(self) -> int:
        gen = self._generation()
        if self._n is None or self._n[0] != gen:
            self._n = (gen, self.con.execute("SELECT count(*) FROM memories").fetchone()[0])
        return self._n[1]

    @_bank_errors
    def search(self, query: str, budget: int | None = None, k: int = 10, now: float | None = None,
               touch: bool = True, ranking: str = "hybrid") -> list[Hit]:
        """The best memories for a query that fit in `budget` vision tokens (greedy by score; at most k).
        ranking: hybrid | bm25 | embedding. Retrieved memories get their access count and last-access time
        updated in one transaction (touch=False: a read-only look)."""
        from lab import UsageError

        if not query or not query.strip():
            raise UsageError("the query is empty")
        now = time.time() if now is None else now
        w = self.weights
        cand: dict[int, list[float]] = {}
        if ranking in ("hybrid", "bm25"):
            fts = _fts_query(self._selective(query_words(query)))
            if fts:
                rows = self.con.execute("SELECT rowid, bm25(memories_fts) AS s FROM memories_fts WHERE memories_fts "
                                        "MATCH ? ORDER BY s LIMIT ?", (fts, w.candidates)).fetchall()
                best = min((r[1] for r in rows), default=-1.0)
                for rid, s in rows:
                    cand[rid] = [s / best if best < 0 else 0.0, 0.0]
        if ranking in ("hybrid", "embedding"):
            ids, m = self._embeddings()
            if len(ids):
                q = self.embedder.embed([query])[0]
                if len(q) != m.shape[1]:
                    raise FormatError(f"{self.path}: embedder dimension {len(q)} does not match the bank's {m.shape[1]}")
                cos = m @ q
                top = np.argpartition(-cos, min(w.candidates, len(cos)) - 1)[:w.candidates]
                for j in top:
                    cand.setdefault(int(ids[j]), [0.0, 0.0])
                pos = np.minimum(np.searchsorted(ids, np.fromiter(cand, np.int64)), len(ids) - 1)
                for rid, j in zip(cand, pos):                               # every candidate's cosine
                    cand[rid][1] = float(cos[j]) if ids[j] == rid else 0.0
        if not cand:
            return []
        ids_c = list(cand)
        rows = {}
        for i in range(0, len(ids_c), 500):
            chunk = ids_c[i:i + 500]
            for r in self.con.execute("SELECT id, source, page, mode, tokens, importance, last_access FROM memories "
                                      f"WHERE id IN ({','.join('?' * len(chunk))})", chunk):
                rows[r[0]] = r
        scored = []
        for rid, (b, c) in cand.items():
            if rid not in rows:
                continue
            _, src, page, mode, ntok, imp, last = rows[rid]
            rec = 0.5 ** (max(now - last, 0.0) / DAY / w.half_life_days)
            if ranking == "bm25":
                s = b
            elif ranking == "embedding":
                s = c
            else:
                s = w.bm25 * b + w.embedding * max(c, 0.0) + w.recency * rec + w.importance * imp / 10
            scored.append(Hit(rid, src, page, mode, ntok, s, b, c, imp, ""))
        scored.sort(key=lambda h: (-h.score, h.id))
        out, used = [], 0
        for h in scored:
            if len(out) >= k:
                break
            if budget is None or used + h.tokens <= budget:
                out.append(h)
                used += h.tokens
        if out:                                                        # the text of the hits only
            text = dict(self.con.execute(f"SELECT id, text FROM memories WHERE id IN ({','.join('?' * len(out))})",
                                         [h.id for h in out]))
            for h in out:
                h.text = text[h.id]
        if touch and out:
            with self._tx():
                self.con.executemany("UPDATE memories SET access_count = access_count + 1, last_access = ? WHERE id = ?",
                                     [(now, h.id) for h in out])
        return out

    @_bank_errors
    def tokens(self, memory_id: int) -> tuple[np.ndarray, dict]:
        """A memory's vision tokens and .vtok header (FormatError if the blob is missing or corrupt)."""
        from lab.optical import vtok

        r = self.con.execute("SELECT tokens_sha FROM memories WHERE id = ?", (memory_id,)).fetchone()
        if not r:
            raise KeyError(memory_id)
        p = self._blob(r[0], ".vtok")
        try:
            return vtok.decode(p.read_bytes())
        except OSError:
            raise FormatError(f"{self.path}: memory {memory_id}: missing blob {p.name} (run `lab optical check`)") from None

    @_bank_errors
    def image(self, memory_id: int) -> np.ndarray:
        from PIL import Image

        r = self.con.execute("SELECT image_sha FROM memories WHERE id = ?", (memory_id,)).fetchone()
        if not r:
            raise KeyError(memory_id)
        p = self._blob(r[0], ".png")
        try:
            return np.asarray(Image.open(p).convert("L"))
        except OSError:
            raise FormatError(f"{self.path}: memory {memory_id}: missing or corrupt page image {p.name}") from None

    # -- forgetting ---------------------------------------------------------------------------------------
    @_bank_errors
    def retention(self, now: float | None = None) -> dict[int, float]:
        """The seed's retention score of every memory (module docstring)."""
        now = time.time() if now is None else now
        rows = self.con.execute("SELECT id, importance, last_access, access_count FROM memories").fetchall()
        top = max((r[3] for r in rows), default=0) or 1
        hl = self.weights.half_life_days
        return {r[0]: 0.5 * r[1] / 10 + 0.3 * 0.5 ** (max(now - r[2], 0) / DAY / hl) + 0.2 * r[3] / top for r in rows}

    @_bank_errors
    def total_tokens(self) -> int:
        return int(self.con.execute("SELECT coalesce(sum(tokens), 0) FROM memories").fetchone()[0])

    @_bank_errors
    def forget(self, budget: int, policy: str = "fade", dry_run: bool = False, now: float | None = None) -> list[dict]:
        """Bring the bank within `budget` vision tokens; -> the actions ({action, id, source, page, mode,
        tokens}), taken unless dry_run. Each action is its own transaction (with its audit row).

        - lru / fifo / importance: drop the least recently accessed / the oldest / the least important
          (then least recently accessed) memories.
        - seed: the seed's rule as written: first re-compress memories by pooling their tokens to the next
          lower mode, *most accessed first*, then drop the lowest retention scores. It misbehaves: the
          memories used most are the ones degraded (pooled tokens are not what the encoder would give at
          that resolution).
        - fade: lowest retention score first, re-encode a memory from its kept page image at the next lower
          mode (400 -> 256 -> 100 -> 64 tokens), one step at a time across the bank, before anything is
          dropped; only memories already at 64 tokens are dropped.
        """
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r} ({', '.join(POLICIES)})")
        if budget < 0:
            raise ValueError("budget must be >= 0 tokens")
        now = time.time() if now is None else now
        rows = {r[0]: list(r) for r in self.con.execute(
            "SELECT id, source, page, mode, tokens, importance, created, last_access, access_count FROM memories")}
        total = sum(r[4] for r in rows.values())
        score = self.retention(now)
        plan = []

        def shrink(rid, action):
            nonlocal total
            r = rows[rid]
            new = lower_mode(r[3])
            plan.append({"action": action, "id": rid, "source": r[1], "page": r[2], "mode": new, "from_mode": r[3],
                         "tokens": tokens_for(new), "freed": r[4] - tokens_for(new)})
            total -= r[4] - tokens_for(new)
            r[3], r[4] = new, tokens_for(new)

        def drop(rid):
            nonlocal total
            r = rows.pop(rid)
            plan.append({"action": "drop", "id": rid, "source": r[1], "page": r[2], "mode": r[3], "tokens": 0, "freed": r[4]})
            total -= r[4]

        if policy == "seed":
            for rid in sorted(rows, key=lambda i: (-rows[i][8], i)):
                if total <= budget:
                    break
                if lower_mode(rows[rid][3]):
                    shrink(rid, "pool")
        if policy == "fade":
            while total > budget:
                live = sorted((i for i in rows if lower_mode(rows[i][3])), key=lambda i: (score[i], i))
                if not live:
                    break
                for rid in live:
                    if total <= budget:
                        break
                    shrink(rid, "fade")
        order = {"lru": lambda i: (rows[i][7], i), "fifo": lambda i: (rows[i][6], i),
                 "importance": lambda i: (rows[i][5], rows[i][7], i)}.get(policy, lambda i: (score[i], i))
        for rid in sorted(rows, key=order):
            if total <= budget:
                break
            drop(rid)
        if not dry_run:
            for a in plan:
                self._apply(a, now, policy)
        return plan

    def _apply(self, a: dict, now: float, policy: str) -> None:
        rid = a["id"]
        if a["action"] == "drop":
            r = self.con.execute("SELECT tokens_sha, image_sha FROM memories WHERE id = ?", (rid,)).fetchone()
            with self._tx():
                self.con.execute("DELETE FROM memories WHERE id = ?", (rid,))
                self._audit("drop", rid, {"policy": policy, "source": a["source"], "page": a["page"], "freed": a["freed"]}, now)
                self._bump()
            if r:
                self._gc(r)
            return
        old, _ = self.tokens(rid)
        if a["action"] == "pool":
            new = pool_tokens(old, a["from_mode"])
        else:
            new = self.encoder.encode([self.image(rid)], a["mode"])[0]
        sha = self._vtok(new, a["mode"], {"source": a["source"], "page": a["page"]})
        prev = self.con.execute("SELECT tokens_sha FROM memories WHERE id = ?", (rid,)).fetchone()
        with self._tx():
            self.con.execute("UPDATE memories SET mode = ?, tokens = ?, tokens_sha = ?, origin = ? WHERE id = ?",
                             (a["mode"], a["tokens"], sha, "pooled" if a["action"] == "pool" else "encoded", rid))
            self._audit(a["action"], rid, {"policy": policy, "from": a["from_mode"], "to": a["mode"], "freed": a["freed"]}, now)
        if prev:
            self._gc((prev[0], None))

    def _gc(self, shas) -> None:
        """Remove blobs no memory names any more (after the commit that released them)."""
        tok, img = shas
        if tok and not self.con.execute("SELECT 1 FROM memories WHERE tokens_sha = ? LIMIT 1", (tok,)).fetchone():
            self._blob(tok, ".vtok").unlink(missing_ok=True)
        if img and not self.con.execute("SELECT 1 FROM memories WHERE image_sha = ? LIMIT 1", (img,)).fetchone():
            self._blob(img, ".png").unlink(missing_ok=True)

    @_bank_errors
    def merge(self, threshold: float = 0.95, dry_run: bool = False, now: float | None = None) -> list[dict]:
        """Fold near-duplicate memories (embedding cosine >= threshold) into one: the more important (then
        more accessed, then older) one is kept with the larger importance and the summed access counts."""
        now = time.time() if now is None else now
        ids, m = self._embeddings()
        info = {r[0]: r[1:] for r in self.con.execute("SELECT id, importance, access_count, source, page FROM memories")}
        gone, plan = set(), []
        for s in range(0, len(ids), 1024):
            sims = m[s:s + 1024] @ m.T
            for a in range(sims.shape[0]):
                i = s + a
                if ids[i] in gone:
                    continue
                for j in np.nonzero(sims[a, i + 1:] >= threshold)[0] + i + 1:
                    x, y = int(ids[i]), int(ids[j])
                    if y in gone or x in gone or not np.any(m[j]):
                        continue
                    keep, fold = sorted((x, y), key=lambda t: (-info[t][0], -info[t][1], t))
                    gone.add(fold)
                    plan.append({"action": "merge", "id": fold, "into": keep, "cosine": float(sims[a, j]),
                                 "source": info[fold][2], "page": info[fold][3]})
        if not dry_run:
            for p in plan:
                r = self.con.execute("SELECT tokens_sha, image_sha, importance, access_count FROM memories WHERE id = ?",
                                     (p["id"],)).fetchone()
                if not r:
                    continue
                with self._tx():
                    self.con.execute("UPDATE memories SET importance = max(importance, ?), access_count = access_count + ? "
                                     "WHERE id = ?", (r[2], r[3], p["into"]))
                    self.con.execute("DELETE FROM memories WHERE id = ?", (p["id"],))
                    self._audit("merge", p["id"], {"into": p["into"], "cosine": round(p["cosine"], 4),
                                                   "source": p["source"], "page": p["page"]}, now)
                    self._bump()
                self._gc(r[:2])
        return plan

    # -- bookkeeping --------------------------------------------------------------------------------------
    @_bank_errors
    def set_importance(self, pattern: str, importance: float, now: float | None = None) -> int:
        """Set the importance of every memory whose source matches an fnmatch pattern -> how many."""
        _check_importance(importance)
        now = time.time() if now is None else now
        ids = [r[0] for r in self.con.execute("SELECT id, source FROM memories") if fnmatch.fnmatch(r[1], pattern)]
        with self._tx():
            self.con.executemany("UPDATE memories SET importance = ? WHERE id = ?", [(importance, i) for i in ids])
            self._audit("set-importance", None, {"pattern": pattern, "importance": importance, "memories": len(ids)}, now)
        return len(ids)

    @_bank_errors
    def stats(self, budget: int | None = None, audit_tail: int = 10) -> dict:
        c = self.con
        n, total, imp = c.execute("SELECT count(*), coalesce(sum(tokens), 0), avg(importance) FROM memories").fetchone()
        by_mode = dict(c.execute("SELECT mode, sum(tokens) FROM memories GROUP BY mode").fetchall())
        disk = sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        tail = [{"time": t, "action": a, "memory": m, **_detail(d, self.path)} for t, a, m, d in
                c.execute("SELECT time, action, memory_id, detail FROM audit ORDER BY id DESC LIMIT ?", (audit_tail,))]
        return {"memories": n, "tokens": total, "tokens_by_mode": {m: by_mode.get(m, 0) for m in MODE_ORDER},
                "budget": budget, "utilisation": (total / budget) if budget else None,
                "mean_importance": imp, "sources": c.execute("SELECT count(DISTINCT source) FROM memories").fetchone()[0],
                "disk_bytes": disk, "encoder": self.meta["encoder"], "embedder": self.meta["embedder"],
                "audit_tail": tail}

    @_bank_errors
    def list(self):
        """Every memory as a pandas DataFrame (no text, no tokens)."""
        import pandas as pd

        cols = ["id", "source", "page", "kind", "mode", "tokens", "origin", "importance", "created", "last_access",
                "access_count", "chars"]
        rows = self.con.execute("SELECT id, source, page, kind, mode, tokens, origin, importance, created, last_access, "
                                "access_count, length(text) FROM memories ORDER BY id").fetchall()
        return pd.DataFrame(rows, columns=cols)

    @_bank_errors
    def check(self, repair: bool = False) -> tuple[list[str], list[str]]:
        """-> (problems, warnings). Problems: SQLite or FTS integrity failures, missing or corrupt blobs,
        token counts that disagree with their mode. Warnings: orphan blobs and temp files (a process killed
        mid-write), removed when repair=True."""
        from lab.optical import vtok

        problems, warnings = [], []
        try:
            res = [r[0] for r in self.con.execute("PRAGMA integrity_check")]
            if res != ["ok"]:
                problems += [f"sqlite: {r}" for r in res]
            self.con.execute("INSERT INTO memories_fts(memories_fts, rank) VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError as e:
            problems.append(f"sqlite: {e}")
            return problems, warnings
        named = set()
        for rid, tsha, isha, mode, ntok in self.con.execute("SELECT id, tokens_sha, image_sha, mode, tokens FROM memories"):
            named |= {f"{tsha}.vtok", f"{isha}.png"}
            tp = self._blob(tsha, ".vtok")
            try:
                data = tp.read_bytes()
                t, head = vtok.decode(data)
                if _sha(data) != tsha or head["mode"] != mode or t.shape[0] != ntok:
                    problems.append(f"memory {rid}: tokens {tp.name} do not match the row")
            except OSError:
                problems.append(f"memory {rid}: missing blob {tp.name}")
            except FormatError as e:
                problems.append(f"memory {rid}: {e}")
            ip = self._blob(isha, ".png")
            if not ip.exists():
                problems.append(f"memory {rid}: missing page image {ip.name}")
            elif _sha(ip.read_bytes()) != isha:
                problems.append(f"memory {rid}: page image {ip.name} does not match its sha256")
        for f in (self.path / "blobs").rglob("*"):
            if f.is_file() and f.name not in named:
                warnings.append(f"orphan {'temp file' if f.name.startswith('.') else 'blob'} {f.relative_to(self.path)}")
                if repair:
                    f.unlink(missing_ok=True)
        return problems, warnings


class _Transaction:
    def __init__(self, con):
        self.con = con

    def __enter__(self):
        self.con.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *_):
        self.con.execute("ROLLBACK" if exc_type else "COMMIT")


def _statements(script: str) -> list[str]:
    out, cur = [], ""
    for line in script.splitlines(keepends=True):
        cur += line.split("--")[0] + ("\n" if "--" in line else "")
        if sqlite3.complete_statement(cur):
            out.append(cur.strip())
            cur = ""
    return out


def _check_importance(x: float) -> None:
    if not 0 <= x <= 10:
        raise ValueError(f"importance must be 0..10, not {x}")


def _load_encoder(spec: str):
    from lab.optical import vision

    return vision.load(spec)


def query_words(text: str) -> list[str]:
    """A query's distinct lower-case words, stop words dropped unless nothing else is left."""
    import re

    words = re.findall(r"[A-Za-z0-9]+", text.lower())
    return list(dict.fromkeys([w for w in words if w not in STOP_WORDS] or words))


def _fts_query(words) -> str:
    """Words (or a text) as an FTS5 OR of quoted words."""
    if isinstance(words, str):
        words = query_words(words)
    return " OR ".join(f'"{w}"' for w in words)


# -- make fuzz -------------------------------------------------------------------------------------------------
SQLITE_MAGIC = b"SQLite format 3\x00"


def fuzz_decode(blob: bytes) -> dict:
    """What `lab optical stats|list|search|check` do with a bank whose bank.sqlite is `blob` (its blobs absent):
    a result, or one FormatError."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "blobs").mkdir()
        (Path(d) / DB).write_bytes(blob)
        with MemoryBank.open(d) as b:
            st = b.stats()
            b.list()
            hits = b.search("alice rabbit garden", budget=400, touch=False)
            problems, _ = b.check()
        problems = [p for p in problems if "missing" not in p]      # the blobs are not part of this file
        if problems:
            raise FormatError(f"{d}: {problems[0]}")               # as `lab optical check` exits 2
        return {"memories": st["memories"], "hits": len(hits)}


def fuzz_target():
    """Two small banks' bank.sqlite files (lab.formats registry): SQLite's own header stands in for the
    container header (magic 16 bytes; "version" is the page size's high byte)."""
    import struct
    import tempfile

    from lab import data
    from lab.formats import Target
    from lab.optical import render as R

    text = data.path("canterbury", "alice29.txt").read_text(errors="replace")
    samples = []
    with tempfile.TemporaryDirectory() as d:
        for i, n in enumerate((2, 3)):
            with MemoryBank.open(Path(d) / f"b{i}", create=True, encoder="random:0", embedder="hashing-32") as b:
                for j in range(n):
                    pages = R.render_text(text[2000 + 500 * (i * 3 + j):][:400], R.Layout(width=256, height=256, size=10,
                                                                                          margin=8), source=f"d{j}.txt")
                    b.add_pages(pages[:1], f"d{j}.txt", importance=j, mode="tiny", now=86400.0 * j)
                b.forget(64 * n - 64, policy="lru", now=86400.0 * 9)
                with b._tx():
                    b.con.execute("UPDATE meta SET value = '0' WHERE key = 'created'")
            samples.append((Path(d) / f"b{i}" / DB).read_bytes())
    return Target(".bank (bank.sqlite)", SQLITE_MAGIC, 16, struct.Struct("<7B12I20s2I"), samples, fuzz_decode)
