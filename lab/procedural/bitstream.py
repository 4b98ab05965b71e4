"""The machine's bitstream: one range-coded stream for the whole program.

At every position a flag says literal or operator (contexts: previous op, literal-run length, word start).
LITERAL bytes are coded by the context-mixing model (lab.entropy.cm); an operator's kind is a 2-bit tree;
COPY codes its length (adaptive Exp-Golomb), a repeat-offset flag and the offset (adaptive bit-length
slot + raw bits); REPEAT its period and length; TEMPLATE its id and the slot word (length + CM-coded
bytes); TRANSFORM a move-to-front index of a recent word and a rule id. Every byte an operator produces
also updates the CM, so the literal model sees the whole text.

`run_program` executes in encode mode (ops given) or decode mode (ops read) -- one routine for both.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from lab.entropy.cm import cm_byte, code_stored
from lab.entropy.rangecoder import code_bit, code_bits_bypass, code_eg, code_tree
from lab.procedural.ops import COPY, KIND_NAMES, LIT, MINCOPY, REPEAT, TEMPLATE, TRANSFORM  # noqa: F401

MTF = 64

# adaptive-context layout
_FLAG = 0          # 5 prev kinds x 4 run buckets x 2 word-start = 40
_KIND = 64         # 5 prev kinds x 4 tree nodes
_LEN = 96          # 64 (Exp-Golomb)
_REP = 160         # 1
_SLOT = 176        # 4 length buckets x 64 (6-bit tree)
_PER = 432         # 16 (4-bit tree)
_RLEN = 448        # 64
_TID = 512         # 256 (8-bit tree)
_SLEN = 768        # 64
_REF = 832         # 64 (6-bit tree)
_RULE = 896        # 32 (5-bit tree)
N_CTX = 928


@njit(cache=True, inline="always")
def _letter(b):
    return (65 <= b <= 90) or (97 <= b <= 122)


@njit(cache=True, inline="always")
def track(out, pos, ws, mtf_s, mtf_l, mtf_h):
    """Word tracking after out[pos] was produced: maintain the move-to-front list of recent words.
    ws = [in_word, word_start, n_mtf]."""
    b = out[pos]
    if _letter(b):
        if ws[0] == 0:
            ws[0] = 1
            ws[1] = pos
        return
    if ws[0] == 0:
        return
    ws[0] = 0
    s, ln = ws[1], pos - ws[1]
    h = np.int64(ln)
    for i in range(s, pos):
        h = (h * 1000003 + out[i]) & 0xFFFFFFFFFFFF
    j = -1
    for i in range(ws[2]):
        if mtf_h[i] == h and mtf_l[i] == ln:
            j = i
            break
    if j < 0:
        j = ws[2] if ws[2] < MTF else MTF - 1
        if ws[2] < MTF:
            ws[2] += 1
    for i in range(j, 0, -1):
        mtf_s[i] = mtf_s[i - 1]
        mtf_l[i] = mtf_l[i - 1]
        mtf_h[i] = mtf_h[i - 1]
    mtf_s[0], mtf_l[0], mtf_h[0] = s, ln, h


@njit(cache=True)
def _bitlen(x):
    n = 0
    while x > 0:
        x >>= 1
        n += 1
    return n


@njit(cache=True, inline="always")
def _emit(st, buf, cm, out, pos, b, ws, ms, ml, mh, enc, dummy):
    """A byte produced by an operator: the decoder's model learns it; the encoder (which priced the
    whole input beforehand) has nothing to do but track words."""
    if not enc:
        cm_byte(st, buf, cm, out, pos, b, 2, dummy)
    track(out, pos, ws, ms, ml, mh)


@njit(cache=True, inline="always")
def _literal(st, buf, cm, out, pos, enc, pstore, dummy):
    if enc:
        code_stored(st, buf, pstore, pos, out[pos])
    else:
        cm_byte(st, buf, cm, out, pos, 0, 1, dummy)


@njit(cache=True)
def _bits_now(st):
    return 8.0 * (st[4] + st[3]) - np.log2(np.float64(st[1]))


@njit(cache=True, nogil=True)     # nogil: the encoder codes the program and the literal-only one at once
def run_program(st, buf, probs, cm, out, n, opos, okind, oa, ob, nops,
                ta_s, ta_l, tb_s, tb_l, tbytes, ntmpl, r_strip, ra_s, ra_l, rbytes, nrules, enc, marks, log,
                pstore):
    """Encode (enc=True; ops in opos/okind/oa/ob, data in out) or decode (ops written back, out filled).
    marks[pos] = coded bits before position pos when log is True. Returns the number of ops."""
    ms = np.zeros(MTF, np.int64)
    ml = np.zeros(MTF, np.int64)
    mh = np.zeros(MTF, np.int64)
    ws = np.zeros(3, np.int64)
    dummy = np.zeros(1, np.int32)
    pos = 0
    k = 0
    prev = 0
    run = 0
    last_off = 0
    while pos < n:
        if log:
            marks[pos] = _bits_now(st)
        isop = 0
        if enc and k < nops and opos[k] == pos:
            isop = 1
        wstart = 1 if (pos == 0 or not _letter(out[pos - 1])) else 0
        rb = run if run < 3 else 3
        isop = code_bit(st, buf, probs, _FLAG + (prev * 4 + rb) * 2 + wstart, isop, enc)
        if isop == 0:
            _literal(st, buf, cm, out, pos, enc, pstore, dummy)
            track(out, pos, ws, ms, ml, mh)
            pos += 1
            run += 1
            prev = 0
            if st[5]:
                return k
            continue
        kind = okind[k] if enc else 1
        kind = 1 + code_tree(st, buf, probs, _KIND + prev * 4, kind - 1, 2, enc)
        if kind == COPY or kind == REPEAT:
            if kind == COPY:
                ln = ob[k] if enc else MINCOPY
                ln = MINCOPY + code_eg(st, buf, probs, _LEN, ln - MINCOPY, enc)
                off = oa[k] if enc else 1
                rep = code_bit(st, buf, probs, _REP, 1 if off == last_off else 0, enc)
                if rep:
                    off = last_off
                else:
                    lb = ln - MINCOPY
                    lb = lb if lb < 3 else 3
                    nb = code_tree(st, buf, probs, _SLOT + lb * 64, _bitlen(off), 6, enc)
                    if nb < 1 or nb > 40:
                        st[5] = 1
                        return k
                    off = (1 << (nb - 1)) | code_bits_bypass(st, buf, off & ((1 << (nb - 1)) - 1), nb - 1, enc)
                last_off = off
            else:
                off = oa[k] if enc else 1
                off = 1 + code_tree(st, buf, probs, _PER, off - 1, 4, enc)
                ln = ob[k] if enc else 1
                ln = 1 + code_eg(st, buf, probs, _RLEN, ln - 1, enc)
            if off > pos or pos + ln > n:
                st[5] = 1
                return k
            for t in range(ln):
                _emit(st, buf, cm, out, pos, out[pos - off], ws, ms, ml, mh, enc, dummy)
                pos += 1
            if not enc:
                oa[k], ob[k] = off, ln
        elif kind == TEMPLATE:
            tid = oa[k] if enc else 0
            tid = code_tree(st, buf, probs, _TID, tid, 8, enc)
            sl = ob[k] if enc else 1
            sl = 1 + code_eg(st, buf, probs, _SLEN, sl - 1, enc)
            if tid >= ntmpl or pos + ta_l[tid] + sl + tb_l[tid] > n:
                st[5] = 1
                return k
            for t in range(ta_l[tid]):
                _emit(st, buf, cm, out, pos, tbytes[ta_s[tid] + t], ws, ms, ml, mh, enc, dummy)
                pos += 1
            for t in range(sl):
                _literal(st, buf, cm, out, pos, enc, pstore, dummy)
                track(out, pos, ws, ms, ml, mh)
                pos += 1
            for t in range(tb_l[tid]):
                _emit(st, buf, cm, out, pos, tbytes[tb_s[tid] + t], ws, ms, ml, mh, enc, dummy)
                pos += 1
            if not enc:
                oa[k], ob[k] = tid, sl
        else:  # TRANSFORM
            ref = oa[k] if enc else 0
            ref = code_tree(st, buf, probs, _REF, ref, 6, enc)
            rule = ob[k] if enc else 0
            rule = code_tree(st, buf, probs, _RULE, rule, 5, enc)
            if ref >= ws[2] or rule > nrules:
                st[5] = 1
                return k
            strip = 0 if rule == 0 else r_strip[rule - 1]
            keep = ml[ref] - strip
            add = 0 if rule == 0 else ra_l[rule - 1]
            if keep < 0 or pos + keep + add > n:
                st[5] = 1
                return k
            s = ms[ref]
            for t in range(keep):
                _emit(st, buf, cm, out, pos, out[s + t], ws, ms, ml, mh, enc, dummy)
                pos += 1
            for t in range(add):
                _emit(st, buf, cm, out, pos, rbytes[ra_s[rule - 1] + t], ws, ms, ml, mh, enc, dummy)
                pos += 1
            if not enc:
                oa[k], ob[k] = ref, rule
        if not enc:
            opos[k] = pos  # decode: record where the op ended (start is implied)
            okind[k] = kind
        k += 1
        prev = kind
        run = 0
        if st[5]:
            return k
    if log:
        marks[n] = _bits_now(st)
    return k


@njit(cache=True)
def transform_candidates(data, r_strip, ra_s, ra_l, rbytes, nrules):
    """For each word start: (mtf index, rule) of the cheapest TRANSFORM producing the word, or -1.
    Mirrors the decoder's word tracking exactly."""
    n = data.shape[0]
    ref = np.full(n, -1, np.int64)
    rul = np.full(n, -1, np.int64)
    wl = np.zeros(n, np.int64)
    ms = np.zeros(MTF, np.int64)
    ml = np.zeros(MTF, np.int64)
    mh = np.zeros(MTF, np.int64)
    ws = np.zeros(3, np.int64)
    for pos in range(n):
        if _letter(data[pos]) and (pos == 0 or not _letter(data[pos - 1])):
            e = pos
            while e < n and _letter(data[e]):
                e += 1
            L = e - pos
            if L >= 3 and e < n:
                for j in range(ws[2]):
                    s, ln = ms[j], ml[j]
                    if data[s] != data[pos] or data[s + 1] != data[pos + 1] or data[s + 2] != data[pos + 2]:
                        continue
                    p = 3
                    while p < ln and p < L and data[s + p] == data[pos + p]:
                        p += 1
                    if p == ln and p == L:
                        ref[pos], rul[pos], wl[pos] = j, 0, L
                        break
                    strip, alen = ln - p, L - p
                    found = -1
                    for r in range(nrules):
                        if r_strip[r] == strip and ra_l[r] == alen:
                            ok = True
                            for t in range(alen):
                                if rbytes[ra_s[r] + t] != data[pos + p + t]:
                                    ok = False
                                    break
                            if ok:
                                found = r
                                break
                    if found >= 0:
                        ref[pos], rul[pos], wl[pos] = j, found + 1, L
                        break
        track(data, pos, ws, ms, ml, mh)
    return ref, rul, wl
