"""The procedural machine's search kernels in numba: the reference the C versions (lab/procedural/search.c)
are tested against, and what runs where no C compiler is at hand (matcher.py and parse.py choose).
Imported only then: importing numba costs about 0.7 s of a `lab proc compress` process."""
from __future__ import annotations

import numpy as np
from numba import njit

from lab.procedural.ops import COPY, LIT, MINCOPY, REPEAT, TEMPLATE, TRANSFORM


@njit(cache=True)
def kasai(s, sa):
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
def nearest_smaller(sa, lcp, best_src, best_len, forward):
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


@njit(cache=True)
def run_lengths(eq):
    n = eq.shape[0]
    run = np.zeros(n, np.int64)
    c = 0
    for i in range(n - 1, -1, -1):
        c = c + 1 if eq[i] else 0
        run[i] = c
    return run


@njit(cache=True)
def eg_bits(v):
    n = 0
    x = v + 1
    while x > 1:
        x >>= 1
        n += 1
    return 2 * n + 1


@njit(cache=True)
def dp(n, lit, m_off, m_len, r_per, r_len, t_end, t_cost, t_id, t_slot, x_end, x_cost, x_ref, x_rule,
        use_copy, use_rep, flag_lit, op_base):
    INF = 1e30
    dp = np.full(n + 1, INF)
    dp[0] = 0.0
    bk = np.zeros(n + 1, np.int64)   # kind
    bp = np.zeros(n + 1, np.int64)   # previous position
    ba = np.zeros(n + 1, np.int64)
    bb = np.zeros(n + 1, np.int64)
    for i in range(n):
        d = dp[i]
        if d >= INF:
            continue
        c = d + lit[i] + flag_lit
        if c < dp[i + 1]:
            dp[i + 1], bk[i + 1], bp[i + 1] = c, LIT, i
        if use_rep and r_len[i] >= 2:
            p, L = r_per[i], r_len[i]
            base = d + op_base + 2.0
            for l in (L, min(L, 8), min(L, 16)):
                if l >= 2:
                    c = base + 0.8 * eg_bits(l - 1)
                    if c < dp[i + l]:
                        dp[i + l], bk[i + l], bp[i + l], ba[i + l], bb[i + l] = c, REPEAT, i, p, l
        if use_copy and m_len[i] >= MINCOPY:
            off, L = m_off[i], m_len[i]
            nb = 0
            x = off
            while x > 0:
                x >>= 1
                nb += 1
            ocost = 3.0 + (nb - 1)
            top = min(L, MINCOPY + 32)
            for l in range(MINCOPY, top + 1):
                c = d + op_base + ocost + 0.8 * eg_bits(l - MINCOPY)
                if c < dp[i + l]:
                    dp[i + l], bk[i + l], bp[i + l], ba[i + l], bb[i + l] = c, COPY, i, off, l
            if L > top:
                c = d + op_base + ocost + 0.8 * eg_bits(L - MINCOPY)
                if c < dp[i + L]:
                    dp[i + L], bk[i + L], bp[i + L], ba[i + L], bb[i + L] = c, COPY, i, off, L
        if t_end[i] > 0:
            e = t_end[i]
            c = d + t_cost[i]
            if c < dp[e]:
                dp[e], bk[e], bp[e], ba[e], bb[e] = c, TEMPLATE, i, t_id[i], t_slot[i]
        if x_end[i] > 0:
            e = x_end[i]
            c = d + x_cost[i]
            if c < dp[e]:
                dp[e], bk[e], bp[e], ba[e], bb[e] = c, TRANSFORM, i, x_ref[i], x_rule[i]
    # backtrack: ops (non-literal) in order
    cnt = 0
    j = n
    while j > 0:
        if bk[j] != LIT:
            cnt += 1
        j = bp[j]
    opos = np.zeros(cnt, np.int64)
    okind = np.zeros(cnt, np.int64)
    oa = np.zeros(cnt, np.int64)
    ob = np.zeros(cnt, np.int64)
    j = n
    k = cnt - 1
    while j > 0:
        if bk[j] != LIT:
            opos[k], okind[k], oa[k], ob[k] = bp[j], bk[j], ba[j], bb[j]
            k -= 1
        j = bp[j]
    return opos, okind, oa, ob, dp[n]


@njit(cache=True)
def template_candidates(data, lit, starts, ta_s, ta_l, tb_s, tb_l, tbytes, key, order, ntmpl, op_base):
    """Best TEMPLATE at each token start: A matches, then a letter run (the slot), then B matches."""
    n = data.shape[0]
    t_end = np.zeros(n, np.int64)
    t_cost = np.zeros(n, np.float64)
    t_id = np.zeros(n, np.int64)
    t_slot = np.zeros(n, np.int64)
    for i in range(n - 4):
        if not starts[i]:
            continue
        k4 = (np.int64(data[i]) << 24) | (np.int64(data[i + 1]) << 16) | (np.int64(data[i + 2]) << 8) | data[i + 3]
        lo, hi = 0, ntmpl
        while lo < hi:
            mid = (lo + hi) // 2
            if key[order[mid]] < k4:
                lo = mid + 1
            else:
                hi = mid
        best = 1e30
        while lo < ntmpl and key[order[lo]] == k4:
            t = order[lo]
            lo += 1
            la = ta_l[t]
            if i + la >= n:
                continue
            ok = True
            for q in range(la):
                if data[i + q] != tbytes[ta_s[t] + q]:
                    ok = False
                    break
            if not ok:
                continue
            s = i + la
            e = s
            while e < n and ((65 <= data[e] <= 90) or (97 <= data[e] <= 122)):
                e += 1
            sl = e - s
            if sl == 0 or e + tb_l[t] > n:
                continue
            for q in range(tb_l[t]):
                if data[e + q] != tbytes[tb_s[t] + q]:
                    ok = False
                    break
            if not ok:
                continue
            c = op_base + 7.0 + 0.8 * eg_bits(sl - 1)
            for q in range(s, e):
                c += lit[q]
            if c < best:
                best = c
                t_end[i], t_cost[i], t_id[i], t_slot[i] = e + tb_l[t], c, t, sl
    return t_end, t_cost, t_id, t_slot
