"""Choosing the program: an optimal parse (dynamic programming over positions) by estimated coded cost.

Literal costs are exact: the context-mixing model's price of each byte, which does not depend on the
parse because the model learns every byte whichever operator produced it; operator costs approximate the bitstream's codes (adaptive Exp-Golomb
lengths, bit-length offset slots, tree-coded ids). The DP relaxes, from every position, one literal,
COPY at every length up to 36 plus the longest, REPEAT of the longest periodic run, the best TEMPLATE and
the cheapest TRANSFORM, then backtracks the cheapest path. The loops run in C (lab/procedural/search.c,
through lab.native) or, where it is not built, in numba (lab/procedural/search_numba.py): the same program.
"""
from __future__ import annotations

import ctypes

import numpy as np

from lab import native


def literal_costs(data: bytes):
    """Exact bits of each byte under the context-mixing model (parse-independent: the model learns every
    byte, whichever operator produced it), plus the stored probabilities the encoder codes literals with."""
    from lab.entropy import cm_native

    if cm_native.load() is not None:
        return cm_native.price(data)
    from lab.entropy import cm

    return cm.price(data, with_probs=True)


def template_candidates(data, lit, starts, ta_s, ta_l, tb_s, tb_l, tbytes, key, order, ntmpl, op_base):
    """Best TEMPLATE at each token start (t_end, t_cost, t_id, t_slot): C where built, else numba."""
    lib = native.load()
    if lib is None:
        from lab.procedural import search_numba

        return search_numba.template_candidates(data, lit, starts, ta_s, ta_l, tb_s, tb_l, tbytes, key, order, ntmpl,
                                                op_base)
    n = len(data)
    t_end, t_cost, t_id, t_slot = np.zeros(n, np.int64), np.zeros(n), np.zeros(n, np.int64), np.zeros(n, np.int64)
    c = [np.ascontiguousarray(x) for x in (data, lit, starts.astype(np.uint8), ta_s, ta_l, tb_s, tb_l, tbytes, key,
                                           order)]
    lib.search_template_candidates(native.ptr(c[0]), n, *(native.ptr(x) for x in c[1:]), ntmpl, float(op_base),
                                   *(native.ptr(x) for x in (t_end, t_cost, t_id, t_slot)))
    return t_end, t_cost, t_id, t_slot


def dp(n, lit, m_off, m_len, r_per, r_len, t_end, t_cost, t_id, t_slot, x_end, x_cost, x_ref, x_rule, use_copy,
       use_rep, flag_lit, op_base):
    """The optimal parse: (opos, okind, oa, ob, estimated bits). C where built, else numba; the same program."""
    lib = native.load()
    if lib is None:
        from lab.procedural import search_numba

        return search_numba.dp(n, lit, m_off, m_len, r_per, r_len, t_end, t_cost, t_id, t_slot, x_end, x_cost, x_ref,
                               x_rule, use_copy, use_rep, flag_lit, op_base)
    ins = [np.ascontiguousarray(x, dt) for x, dt in (
        (lit, np.float32), (m_off, np.int64), (m_len, np.int64), (r_per, np.int64), (r_len, np.int64),
        (t_end, np.int64), (t_cost, np.float64), (t_id, np.int64), (t_slot, np.int64), (x_end, np.int64),
        (x_cost, np.float64), (x_ref, np.int64), (x_rule, np.int64))]
    outs = [np.zeros(max(n, 1), np.int64) for _ in range(4)]
    nops, total = ctypes.c_int64(0), ctypes.c_double(0.0)
    if lib.search_dp(n, *(native.ptr(x) for x in ins), bool(use_copy), bool(use_rep), float(flag_lit),
                     float(op_base), *(native.ptr(x) for x in outs), ctypes.byref(nops), ctypes.byref(total)):
        raise MemoryError("the parse's tables could not be allocated")
    return (*(x[:nops.value].copy() for x in outs), total.value)
