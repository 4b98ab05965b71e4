"""Choosing the program: an optimal parse (dynamic programming over positions) by estimated coded cost.

Literal costs are exact: the context-mixing model's price of each byte, which does not depend on the
parse because the model learns every byte whichever operator produced it; operator costs approximate the bitstream's codes (adaptive Exp-Golomb
lengths, bit-length offset slots, tree-coded ids). The DP relaxes, from every position, one literal,
COPY at every length up to 36 plus the longest, REPEAT of the longest periodic run, the best TEMPLATE and
the cheapest TRANSFORM, then backtracks the cheapest path.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from lab.procedural.bitstream import COPY, LIT, MINCOPY, REPEAT, TEMPLATE, TRANSFORM


@njit(cache=True)
def _order2_costs(data):
    n = data.shape[0]
    probs = np.full(65536 * 256, 32768, np.int32)
    costs = np.zeros(n, np.float32)
    lg = np.empty(4097, np.float32)
    for i in range(4097):
        lg[i] = -np.log2(max(i, 1) / 4096.0)
    for i in range(n):
        c1 = data[i - 1] if i >= 1 else 0
        c2 = data[i - 2] if i >= 2 else 0
        base = ((np.int64(c2) << 8) | c1) << 8
        node = 1
        b = data[i]
        cost = np.float32(0.0)
        for j in range(7, -1, -1):
            bit = (b >> j) & 1
            p0 = probs[base + node]
            cost += lg[(p0 >> 4) if bit == 0 else ((65536 - p0) >> 4)]
            if bit == 0:
                probs[base + node] = p0 + ((65536 - p0) >> 4)
            else:
                probs[base + node] = p0 - (p0 >> 4)
            node = (node << 1) | bit
        costs[i] = cost
    return costs


def literal_costs(data: bytes):
    """Exact bits of each byte under the context-mixing model (parse-independent: the model learns every
    byte, whichever operator produced it), plus the stored probabilities the encoder codes literals with."""
    from lab.entropy import cm

    return cm.price(data, with_probs=True)


@njit(cache=True)
def _eg_bits(v):
    n = 0
    x = v + 1
    while x > 1:
        x >>= 1
        n += 1
    return 2 * n + 1


@njit(cache=True)
def _dp(n, lit, m_off, m_len, r_per, r_len, t_end, t_cost, t_id, t_slot, x_end, x_cost, x_ref, x_rule,
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
                    c = base + 0.8 * _eg_bits(l - 1)
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
                c = d + op_base + ocost + 0.8 * _eg_bits(l - MINCOPY)
                if c < dp[i + l]:
                    dp[i + l], bk[i + l], bp[i + l], ba[i + l], bb[i + l] = c, COPY, i, off, l
            if L > top:
                c = d + op_base + ocost + 0.8 * _eg_bits(L - MINCOPY)
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
def _template_candidates(data, lit, starts, ta_s, ta_l, tb_s, tb_l, tbytes, key, order, ntmpl, op_base):
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
            c = op_base + 7.0 + 0.8 * _eg_bits(sl - 1)
            for q in range(s, e):
                c += lit[q]
            if c < best:
                best = c
                t_end[i], t_cost[i], t_id[i], t_slot[i] = e + tb_l[t], c, t, sl
    return t_end, t_cost, t_id, t_slot
