"""Learning the machine's templates and transform rules from the data itself.

A TEMPLATE is a frame `A + <word> + B` seen around many different words (e.g. b"said unto " + W + b", ");
it is learned by counting token frames around word tokens and keeping the frames whose removed bytes
outweigh their id cost. A TRANSFORM rule (strip k letters, add a suffix) maps a recent word to the
current one (walk -> walked, die -> dying); rules are learned by comparing each word with the recent
distinct words that share its first three letters. Both tables travel in the file header.
"""
from __future__ import annotations

from collections import Counter


SAMPLE_TEMPLATES = 160_000
SAMPLE_RULES = 128_000
MAX_TEMPLATES = 255
MAX_RULES = 31  # plus rule 0, the identity (a recent word repeated)
MTF = 64


def learn_templates(data: bytes, max_templates: int = MAX_TEMPLATES, min_count: int = 4) -> list[tuple[bytes, bytes]]:
    """Frames (A, B) with len(A) >= 4, A ending and B starting in a non-letter, seen around >= 2 words."""
    import numpy as np   # not at the top: unpack_tables (the decoder) needs no numpy

    sample = data[:SAMPLE_TEMPLATES]
    a = np.frombuffer(sample, np.uint8)
    # tokens as tokens.tokenize cuts them (letter runs, digit runs, every other byte alone), as start offsets
    cls = np.where(((a >= 65) & (a <= 90)) | ((a >= 97) & (a <= 122)), 1, np.where((a >= 48) & (a <= 57), 2, 0))
    first = np.ones(len(a), bool)
    first[1:] = (cls[1:] == 0) | (cls[1:] != cls[:-1])
    st = np.flatnonzero(first)
    n = len(st)
    st = np.append(st, len(a))
    # a word (token k) between a frame A (the 2 or 4 tokens before it, >= 4 bytes) and B (the token after it).
    # The tokens around a word are never letters, so A does not end in one and B does not start with one
    k = np.arange(4, max(4, n - 2))
    k = k[cls[st[k]] == 1]
    k2, k4 = k[st[k] - st[k - 2] >= 4].tolist(), k[st[k] - st[k - 4] >= 4].tolist()
    S = st.tolist()
    keys = ([(sample[S[i - 2]:S[i]], sample[S[i + 1]:S[i + 2]]) for i in k2]
            + [(sample[S[i - 4]:S[i]], sample[S[i + 1]:S[i + 2]]) for i in k4])
    words = [sample[S[i]:S[i + 1]] for i in k2] + [sample[S[i]:S[i + 1]] for i in k4]
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
    last2: dict[bytes, list] = {}      # first 3 letters -> the two most recently seen distinct words, newest first
    counts: Counter = Counter()
    clock = 0
    for w in re.findall(rb"[A-Za-z]+", data[:SAMPLE_RULES]):     # the word tokens (tokens.tokenize's letter runs)
        clock += 1
        two = last2.get(w[:3])
        if len(w) >= 4 and two:
            # the most recent other word sharing the first three letters, if seen within the window
            u = two[0] if two[0] != w else (two[1] if len(two) > 1 else None)
            if u is not None and clock - recent[u] <= 4 * MTF:
                p = 3
                while p < min(len(u), len(w)) and u[p] == w[p]:
                    p += 1
                strip, add = len(u) - p, w[p:]
                if strip <= 4 and len(add) <= 6:
                    counts[(strip, add)] += 1
        if two is None:
            last2[w[:3]] = [w]
        elif two[0] != w:
            last2[w[:3]] = [w, two[0]]
        recent[w] = clock
    rules = [r for r, c in sorted(counts.items(), key=lambda x: (-x[1], x[0])) if c >= min_count]
    return rules[:max_rules]


def layout(templates, rules) -> tuple:
    """The tables as the program coder reads them (bitstream.run_program's ta_s, ta_l, tb_s, tb_l, tbytes, ntmpl,
    r_strip, ra_s, ra_l, rbytes, nrules): offsets and lengths into one byte string per table (lists, bytes)."""
    tb, ta_s, ta_l, tb_s, tb_l = bytearray(), [], [], [], []
    for A, B in templates:
        ta_s.append(len(tb)); ta_l.append(len(A)); tb += A
        tb_s.append(len(tb)); tb_l.append(len(B)); tb += B
    rb, r_strip, ra_s, ra_l = bytearray(), [], [], []
    for strip, add in rules:
        r_strip.append(strip); ra_s.append(len(rb)); ra_l.append(len(add)); rb += add
    return ta_s, ta_l, tb_s, tb_l, bytes(tb), len(templates), r_strip, ra_s, ra_l, bytes(rb), len(rules)


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
