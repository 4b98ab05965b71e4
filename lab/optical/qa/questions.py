"""Question-answer pairs from page text (the seed's Phase 2), seeded and reproducible, and their scores.

    qas = questions([(page_id, document, text), ...], seed=0, per_page=4)
    write_jsonl(qas, "qa.jsonl")                 # temp file + rename
    exact_match("the Queen", "The Queen.") == 1.0; token_f1("queen of hearts", "the Queen") == 0.5
    first_tokens(page, 100, tok); bm25_tokens(page, question, 100, tok)   # text at a vision-token budget

Kinds: `cloze` (a sentence with 1-3 content words blanked; the answer is those words), `follows` ("what
follows '...'?": the next 1-4 words), `who` (who said a quoted line, where the page says "... said Alice"),
`number` (a sentence's number blanked), `summary` (the whole page is the reference, scored by token F1) and
`unanswerable` (a question made from a page of *another* document: the answer is NO_ANSWER). Extractive
answers are spans of their page.

Split, fixed: a document whose sha256 falls in the last fifth is `test` (whole documents held out); of the
other documents' pages, a tenth (by the page id's sha256) are `val`, the rest `train`.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import string
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from lab.optical.bank.store import STOP_WORDS, query_words

NO_ANSWER = "The answer is not in these pages."
KINDS = ("cloze", "follows", "who", "number", "summary", "unanswerable")
_NOT_CONTENT = STOP_WORDS | {"said"}
_SPEECH = re.compile(r"[`'\"]([^`'\"]{12,160}?)[,!?.]?['\"]\s*,?\s*(?:said|cried|asked|replied|thought|shouted) "
                     r"(?:the\s)?([A-Z][a-z]+(?:\s[A-Z][a-z]+)?)")
_SPEECH_BEFORE = re.compile(r"\b([A-Za-z][a-z]+)\s(?:said|cried|asked|replied|shouted|whispered|answered),?\s*"
                            r"[`'\"]([^`'\"]{12,160}?)[,!?.]?['\"]")   # training only: "lily said, '...'"
_NOT_SPEAKER = frozenset("""again always angrily even excitedly finally gently happily just kindly loudly never now
once proudly quickly quietly sadly softly still sweetly too yet""".split())
_NUMBER = re.compile(r"\b(\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|"
                     r"thirty|forty|fifty|hundred|thousand)\b", re.I)


@dataclass
class QA:
    id: str
    page: str                # page id (a bank's memory id, or "source#page")
    document: str
    kind: str
    question: str
    answer: str
    split: str


def _h(s: str) -> int:
    return int(hashlib.sha256(s.encode()).hexdigest()[:12], 16)


def split_of(document: str, page: str) -> str:
    if _h("doc:" + document) % 5 == 4:
        return "test"
    return "val" if _h("page:" + page) % 10 == 0 else "train"


def sentences(text: str) -> list[str]:
    t = " ".join(text.split())
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z`'\"(])", t) if len(s.split()) >= 6]


def _content(words: list[str]) -> list[int]:
    return [i for i, w in enumerate(words) if w.strip(string.punctuation).lower() not in _NOT_CONTENT
            and len(w.strip(string.punctuation)) >= 3 and w.strip(string.punctuation).isalpha()]


def _cloze(sent: str, rng) -> tuple[str, str] | None:
    words = sent.split()
    idx = _content(words)
    if not idx:
        return None
    i = int(rng.choice(idx))
    n = int(rng.integers(1, 4))
    span = [i]
    while len(span) < n and span[-1] + 1 < len(words) and span[-1] + 1 in idx:
        span.append(span[-1] + 1)
    ans = " ".join(words[j].strip(string.punctuation) for j in span)
    blanked = words[:span[0]] + ["___"] + words[span[-1] + 1:]
    return f'Fill in the blank: "{" ".join(blanked)}"', ans


def _follows(sent: str, rng) -> tuple[str, str] | None:
    words = sent.split()
    if len(words) < 8:
        return None
    k = int(rng.integers(4, min(8, len(words) - 2) + 1))
    n = int(rng.integers(1, 5))
    ans = " ".join(words[k:k + n]).strip(string.punctuation + " ")
    return (f'What follows "{" ".join(words[:k])}"?', ans) if ans else None


def _number(sent: str, rng) -> tuple[str, str] | None:
    m = list(_NUMBER.finditer(sent))
    if not m:
        return None
    x = m[int(rng.integers(len(m)))]
    return f'What number is missing: "{sent[:x.start()]}___{sent[x.end():]}"?', x.group(0).rstrip(".,")


def _speaker_first(text: str) -> tuple[str, str, str] | None:
    """A `who` question where the speaker comes before the quote ("lily said, 'mom, ...'"), the name not a
    pronoun or other stop word; None if the page has none."""
    for m in _SPEECH_BEFORE.finditer(text):
        w = m.group(1).lower()
        if w not in STOP_WORDS and w not in _NOT_SPEAKER:                  # not "then", "softly"
            return "who", f'Who said "{m.group(2).strip()}"?', m.group(1)
    return None


def questions(pages: list[tuple[str, str, str]], seed: int = 0, per_page: int = 4,
              speaker_first: bool = False) -> list[QA]:
    """QA pairs for pages given as (page id, document, text): up to `per_page` extractive ones of different
    kinds, one summary prompt, and one unanswerable question (from another document's page) per page.
    `speaker_first`: also make `who` questions where the speaker is named before the quote (the training
    documents' way: TinyStories has no "'...,' said Alice"); the held-out questions are made without it."""
    out = []
    docs = sorted({d for _, d, _ in pages})
    split_once = [sentences(t) for _, _, t in pages]        # once a page: the unanswerable kind looks at every page
    for (pid, doc, text), sents in zip(pages, split_once):
        rng = np.random.default_rng([seed, _h("page:" + pid) % (1 << 32)])
        split = split_of(doc, pid)
        made: list[tuple[str, str, str]] = []
        flat = " ".join(text.split())
        for m in _SPEECH.finditer(flat):
            made.append(("who", f'Who said "{m.group(1).strip()}"?', m.group(2)))
            break
        if speaker_first and not made and (w := _speaker_first(flat)):
            made.append(w)
        order = rng.permutation(len(sents)) if sents else []
        for j, si in enumerate(order):
            kind = ("cloze", "follows", "number")[j % 3]
            qa = {"cloze": _cloze, "follows": _follows, "number": _number}[kind](sents[si], rng)
            if qa:
                made.append((kind, *qa))
            if len(made) >= per_page:
                break
        if text.strip():
            made.append(("summary", "Write out this page.", " ".join(text.split())))
        others = [s for (_, d, _), s in zip(pages, split_once) if d != doc and s]
        if others and len(docs) > 1:
            s2 = others[int(rng.integers(len(others)))]
            qa = _cloze(s2[int(rng.integers(len(s2)))], rng)
            if qa and qa[1].lower() not in text.lower():
                made.append(("unanswerable", qa[0], NO_ANSWER))
        for k, (kind, q, a) in enumerate(made):
            out.append(QA(f"{pid}:{k}", pid, doc, kind, q, a, split))
    return out


def write_jsonl(qas: list[QA], path: str | Path) -> None:
    """One JSON object per line, written to a temp file and renamed (no half-written output)."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    with open(tmp, "w") as f:
        for q in qas:
            f.write(json.dumps(asdict(q)) + "\n")
    os.replace(tmp, p)


MAX_JSONL_BYTES = 1 << 30
_SPLITS = ("train", "val", "test")


def parse_jsonl(data: bytes, name: str = "<bytes>") -> list[QA]:
    """QA records from JSONL bytes; anything else is one FormatError (the file, the line, what is wrong)."""
    from lab import FormatError

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError(f"{name}: not UTF-8 text") from None
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            qa = QA(**rec)
        except (ValueError, TypeError, RecursionError) as e:
            raise FormatError(f"{name}:{i}: not a QA record ({e.__class__.__name__})") from None
        if not all(isinstance(v, str) for v in asdict(qa).values()) or qa.kind not in KINDS or qa.split not in _SPLITS:
            raise FormatError(f"{name}:{i}: not a QA record (a field of the wrong type, kind or split)")
        out.append(qa)
    if not out:
        raise FormatError(f"{name}: no QA records")
    return out


def read_jsonl(path: str | Path) -> list[QA]:
    from lab import FormatError

    p = Path(path)
    try:
        if p.stat().st_size > MAX_JSONL_BYTES:
            raise FormatError(f"{path}: larger than {MAX_JSONL_BYTES >> 20} MB")
        data = p.read_bytes()
    except OSError as e:
        raise FormatError(f"{path}: cannot read ({e.strerror})") from None
    return parse_jsonl(data, str(path))


def fuzz_target():
    """QA JSONL files (lab.formats registry): the first bytes of a record stand in for the container header
    (magic '{"id": "', then one byte and four more of the first page id)."""
    import struct

    from lab.formats import Target

    pages = [("alice#0", "alice", "'I'm late!' said the Rabbit. It was 12 o'clock. Alice followed the White Rabbit "
              "down the hole, and she fell for a long time."), ("bible#3", "bible", "And God said, Let there be "
              "light: and there was light. And God saw the light, that it was good; and there were 7 lamps.")]
    qas = questions(pages, seed=0, per_page=3)
    samples = ["".join(json.dumps(asdict(q)) + "\n" for q in qas[:k]).encode() for k in (1, 3, len(qas))]
    return Target(".jsonl (optical QA)", b'{"id": "', ord("a"), struct.Struct("<4s"), samples,
                  lambda b: parse_jsonl(b, "qa.jsonl"))


# -- text at the same token budget (the honest competitors of N vision tokens) --------------------------------
def first_tokens(text: str, n: int, tok) -> str:
    """The first n tokens of the page (tok: a tokenizer with encode(text, add_special_tokens=False) / decode)."""
    return tok.decode(tok.encode(" ".join(text.split()), add_special_tokens=False)[:n])


def bm25_tokens(text: str, question: str, n: int, tok) -> str:
    """The page's sentences that BM25 (SQLite FTS5, in memory) ranks highest for the question, added best first
    while they fit in n tokens, then put back in page order: what a text retriever would fit in the budget."""
    import sqlite3

    sents = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    words = query_words(question)
    con = sqlite3.connect(":memory:")
    try:
        con.execute("CREATE VIRTUAL TABLE s USING fts5(t)")
        con.executemany("INSERT INTO s(rowid, t) VALUES (?, ?)", list(enumerate(sents)))
        q = " OR ".join(f'"{w}"' for w in words)
        ranked = [r[0] for r in con.execute("SELECT rowid FROM s WHERE s MATCH ? ORDER BY bm25(s)", (q,))] if q else []
    finally:
        con.close()
    ranked += [i for i in range(len(sents)) if i not in ranked]        # then the rest in page order
    keep, used = [], 0
    for i in ranked:
        k = len(tok.encode(sents[i], add_special_tokens=False))
        if used + k <= n:
            keep.append(i)
            used += k
    return " ".join(sents[i] for i in sorted(keep))


def normalise(s: str) -> list[str]:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, words."""
    s = "".join(c for c in s.lower() if c not in string.punctuation)
    return [w for w in s.split() if w not in ("a", "an", "the")]


def exact_match(pred: str, gold: str) -> float:
    return float(normalise(pred) == normalise(gold))


def token_f1(pred: str, gold: str) -> float:
    p, g = normalise(pred), normalise(gold)
    if not p or not g:
        return float(p == g)
    common = sum((Counter(p) & Counter(g)).values())
    if not common:
        return 0.0
    prec, rec = common / len(p), common / len(g)
    return 2 * prec * rec / (prec + rec)
