"""Match finding on a suffix array: for every position, the longest earlier match (offset, length).

The suffix array comes from libdivsufsort (pydivsufsort); the LCP array from Kasai's algorithm; the
longest previous factor from the nearest smaller position on each side in suffix-array order (PSV/NSV,
one stack pass each way). Everything is O(n) after the O(n log n) suffix sort -- no O(n^2) scan.
Periodic runs (REPEAT candidates) come from vectorised comparisons with the data shifted by 1..16.
"""
from __future__ import annotations

import numpy as np
from numba import njit


def suffix_array(data: bytes) -> np.ndarray:
    from pydivsufsort import divsufsort

    if len(data) == 0:
        return np.zeros(0, np.int64)
    return np.asarray(divsufsort(np.frombuffer(data, np.uint8).copy()), dtype=np.int64)


@njit(cache=True)
def _kasai(s, sa):
    n = s.shape[0]
    rank = np.empty(n, np.int64)
    for i in range(n):
        rank[sa[i]] = i
    lcp = np.zeros(n + 1, np.int64)  # lcp[r] = LCP(sa[r-1], sa[r]); lcp[0] = lcp[n] = 0
    h = 0
    for i in range(n):
        r = rank[i]
        if r > 0:
            j = sa[r - 1]
            while i + h < n and j + h < n and s[i + h] == s[j + h]:
                h += 1
            lcp[r] = h
            if h > 0:
                h -= 1
        else:
            h = 0
    return lcp


@njit(cache=True)
def _nearest_smaller(sa, lcp, best_src, best_len, forward):
    """One stack pass in suffix-array order (forward: previous ranks, else next ranks): for each suffix, the
    nearest rank whose text position is smaller (an earlier occurrence) and the LCP with it."""
    n = sa.shape[0]
    stack_r = np.empty(n, np.int64)
    stack_m = np.empty(n, np.int64)
    top = -1
    for k in range(n):
        r = k if forward else n - 1 - k
        m = lcp[r] if forward else lcp[r + 1]
        while top >= 0 and sa[stack_r[top]] > sa[r]:
            if stack_m[top] < m:
                m = stack_m[top]
            top -= 1
        if top >= 0:
            i, src = sa[r], sa[stack_r[top]]
            if m > best_len[i] or (m == best_len[i] and m > 0 and src > best_src[i]):
                best_len[i] = m
                best_src[i] = src
        else:
            m = 0
        top += 1
        stack_r[top] = r
        stack_m[top] = m


def _longest_previous(sa, lcp):
    n = sa.shape[0]
    best_len = np.zeros(n, np.int64)
    best_src = np.full(n, -1, np.int64)
    _nearest_smaller(sa, lcp, best_src, best_len, True)
    _nearest_smaller(sa, lcp, best_src, best_len, False)
    return best_src, best_len


def longest_matches(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(offset, length) of the longest earlier match at each position (offset 0 where none).
    Matches may overlap the position itself (offset < length), as in LZ77."""
    n = len(data)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    s = np.frombuffer(data, np.uint8)
    sa = suffix_array(data)
    lcp = _kasai(s, sa)
    src, ln = _longest_previous(sa, lcp)
    off = np.where(src >= 0, np.arange(n) - src, 0)
    return off.astype(np.int64), np.where(src >= 0, ln, 0).astype(np.int64)


def periodic_runs(data: bytes, max_period: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """For each position, the period p (1..max_period) giving the longest run data[i+k] == data[i+k-p],
    and that run's length (0 where none)."""
    a = np.frombuffer(data, np.uint8)
    n = len(a)
    best_p = np.zeros(n, np.int64)
    best_l = np.zeros(n, np.int64)
    for p in range(1, min(max_period, n - 1) + 1):
        eq = np.zeros(n, bool)
        eq[p:] = a[p:] == a[:-p]
        run = _run_lengths(eq)
        better = run > best_l
        best_l[better] = run[better]
        best_p[better] = p
    return best_p, best_l


@njit(cache=True)
def _run_lengths(eq):
    n = eq.shape[0]
    run = np.zeros(n, np.int64)
    c = 0
    for i in range(n - 1, -1, -1):
        c = c + 1 if eq[i] else 0
        run[i] = c
    return run


def naive_longest_matches(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """O(n^2) reference for tests."""
    n = len(data)
    off, ln = np.zeros(n, np.int64), np.zeros(n, np.int64)
    for i in range(n):
        for j in range(i):
            k = 0
            while i + k < n and data[j + k] == data[i + k]:
                k += 1
            if k > ln[i] or (k == ln[i] and k > 0 and i - j < off[i]):
                ln[i], off[i] = k, i - j
    return off, ln
