"""Learning the machine's templates and transform rules from the data itself.

A TEMPLATE is a frame `A + <word> + B` seen around many different words (e.g. b"said unto " + W + b", ");
it is learned by counting token frames around word tokens and keeping the frames whose removed bytes
outweigh their id cost. A TRANSFORM rule (strip k letters, add a suffix) maps a recent word to the
current one (walk -> walked, die -> dying); rules are learned by comparing each word with the recent
distinct words that share its first three letters. Both tables travel in the file header.
"""
from __future__ import annotations

from collections import Counter, defaultdict


SAMPLE_TEMPLATES = 160_000
SAMPLE_RULES = 128_000
MAX_TEMPLATES = 255
MAX_RULES = 31  # plus rule 0, the identity (a recent word repeated)
MTF = 64


def learn_templates(data: bytes, max_templates: int = MAX_TEMPLATES, min_count: int = 4) -> list[tuple[bytes, bytes]]:
    """Frames (A, B) with len(A) >= 4, A ending and B starting in a non-letter, seen around >= 2 words."""
    from lab.procedural.tokens import tokenize   # numpy: not for unpack_tables (the decoder)

    toks = tokenize(data[:SAMPLE_TEMPLATES])
    n = len(toks)
    size = [len(t) for t in toks]
    keys, words = [], []
    for k in range(4, n - 2):
        # a word between a frame A (the 2 or 4 tokens before it, >= 4 bytes) and B (the token after it). Tokens
        # are letter runs, digit runs and single bytes, so the tokens around a word are never letters: A does
        # not end in one, B does not start with one
        w = toks[k]
        if not w[:1].isalpha():
            continue
        B = toks[k + 1]
        n2 = size[k - 2] + size[k - 1]
        if n2 >= 4:
            keys.append((toks[k - 2] + toks[k - 1], B))
            words.append(w)
        if n2 + size[k - 4] + size[k - 3] >= 4:
            keys.append((b"".join(toks[k - 4:k]), B))
            words.append(w)
    counts = Counter(keys)
    seen: dict = {}                       # distinct words around each frequent frame
    for key, w in zip(keys, words):
        if counts[key] >= min_count:
            seen.setdefault(key, set()).add(w)
    scored = [(c * (len(A) + len(B)), A, B) for (A, B), c in counts.items()
              if c >= min_count and len(seen[(A, B)]) >= 2]
    scored.sort(key=lambda x: (-x[0], x[1], x[2]))
    return [(A, B) for _, A, B in scored[:max_templates]]


def learn_rules(data: bytes, max_rules: int = MAX_RULES, min_count: int = 2) -> list[tuple[int, bytes]]:
    """Suffix rules (strip, add) turning a recent word into the current one, most frequent first."""
    import re

    recent: dict[bytes, int] = {}      # word -> last time seen (the MTF order, lazily)
    by_prefix: dict[bytes, list] = defaultdict(list)
    counts: Counter = Counter()
    clock = 0
    for w in re.findall(rb"[A-Za-z]+", data[:SAMPLE_RULES]):     # the word tokens (tokens.tokenize's letter runs)
        clock += 1
        if len(w) >= 4:
            cands = [u for u in by_prefix.get(w[:3], ()) if u != w and clock - recent[u] <= 4 * MTF]
            if cands:
                u = max(cands, key=recent.__getitem__)
                p = 3
                while p < min(len(u), len(w)) and u[p] == w[p]:
                    p += 1
                strip, add = len(u) - p, w[p:]
                if strip <= 4 and len(add) <= 6:
                    counts[(strip, add)] += 1
        if w not in recent:
            by_prefix[w[:3]].append(w)
        recent[w] = clock
    rules = [r for r, c in sorted(counts.items(), key=lambda x: (-x[1], x[0])) if c >= min_count]
    return rules[:max_rules]


def pack_tables(templates, rules) -> tuple[bytes, bytes]:
    t = bytearray([len(templates)])
    for A, B in templates:
        t += bytes([len(A)]) + A + bytes([len(B)]) + B
    r = bytearray([len(rules)])
    for strip, add in rules:
        r += bytes([strip, len(add)]) + add
    return bytes(t), bytes(r)


def unpack_tables(tb: bytes, rb: bytes):
    from lab import FormatError

    try:
        templates, o = [], 1
        for _ in range(tb[0]):
            la = tb[o]
            A = tb[o + 1:o + 1 + la]
            o += 1 + la
            lb = tb[o]
            B = tb[o + 1:o + 1 + lb]
            o += 1 + lb
            if len(A) != la or len(B) != lb:
                raise IndexError
            templates.append((A, B))
        rules, o = [], 1
        for _ in range(rb[0]):
            strip, la = rb[o], rb[o + 1]
            add = rb[o + 2:o + 2 + la]
            if len(add) != la:
                raise IndexError
            o += 2 + la
            rules.append((strip, add))
        if o != len(rb):
            raise IndexError
    except IndexError:
        raise FormatError("corrupt .proc file (bad template or rule table)") from None
    return templates, rules
