"""Match finding on a suffix array: for every position, the longest earlier match (offset, length).

The suffix array comes from libdivsufsort (pydivsufsort); the LCP array from Kasai's algorithm; the
longest previous factor from the nearest smaller position on each side in suffix-array order (PSV/NSV,
one stack pass each way). Everything is O(n) after the O(n log n) suffix sort -- no O(n^2) scan.
Periodic runs (REPEAT candidates) come from comparisons with the data shifted by 1..16. The loops run in C
(lab/procedural/search.c, through lab.native) or, where it is not built, in numba (lab/procedural/search_numba.py).
"""
from __future__ import annotations

import numpy as np

from lab import native


def suffix_array(data: bytes) -> np.ndarray:
    from pydivsufsort import divsufsort

    if len(data) == 0:
        return np.zeros(0, np.int64)
    return np.asarray(divsufsort(np.frombuffer(data, np.uint8).copy()), dtype=np.int64)


def _lcp(s, sa):
    """Kasai's LCP array (n + 1 entries: lcp[r] = LCP(sa[r-1], sa[r]), lcp[0] = lcp[n] = 0)."""
    lib = native.load()
    if lib is None:
        from lab.procedural import search_numba

        return search_numba.kasai(s, sa)
    lcp = np.zeros(len(sa) + 1, np.int64)
    if lib.search_kasai(native.ptr(s), native.ptr(sa), len(sa), native.ptr(lcp)):
        raise MemoryError("LCP array")
    return lcp


def _longest_previous(sa, lcp):
    n = sa.shape[0]
    best_len = np.zeros(n, np.int64)
    best_src = np.full(n, -1, np.int64)
    lib = native.load()
    for forward in (True, False):
        if lib is None:
            from lab.procedural import search_numba

            search_numba.nearest_smaller(sa, lcp, best_src, best_len, forward)
        elif lib.search_nearest_smaller(native.ptr(sa), native.ptr(lcp), n, native.ptr(best_src),
                                        native.ptr(best_len), forward):
            raise MemoryError("longest previous match")
    return best_src, best_len


def longest_matches(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(offset, length) of the longest earlier match at each position (offset 0 where none).
    Matches may overlap the position itself (offset < length), as in LZ77."""
    n = len(data)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    s = np.frombuffer(data, np.uint8)
    sa = suffix_array(data)
    lcp = _lcp(s, sa)
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
    lib = native.load()
    if lib is not None:
        lib.search_periodic_runs(native.ptr(a), n, max_period, native.ptr(best_p), native.ptr(best_l))
        return best_p, best_l
    from lab.procedural.search_numba import run_lengths

    for p in range(1, min(max_period, n - 1) + 1):
        eq = np.zeros(n, bool)
        eq[p:] = a[p:] == a[:-p]
        run = run_lengths(eq)
        better = run > best_l
        best_l[better] = run[better]
        best_p[better] = p
    return best_p, best_l


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
