"""A bitwise context-mixing byte model (in the spirit of lpaq): the literal coder of the procedural machine.

Seven predictors (orders 0, 1, 2, 3, 4, 6 and a word context: the hash of the current word and the one
before it) each map their hashed context plus the bits of the current byte to an adaptive probability;
a match model (the byte that followed the last occurrence of the current 6-byte context, lpaq-style)
predicts the next bit with a confidence learned per match length; a gated linear mixer in the logistic
domain (weights selected by the partial byte) combines them, and an APM (secondary estimation) on the
order-1 context refines the result.

The model is updated on *every* byte of the output, whichever operator produced it, so the cost of a
byte under the model depends only on the bytes before it (not on how they were coded). All arithmetic
is deterministic (integer tables, float32 mixer evaluated in a fixed order on the same machine class).

State lives in a tuple of arrays made by `new_state()`; `cm_byte` codes, decodes, updates or prices one
byte: mode 0 encode, 1 decode, 2 update only (byte known to both sides), 3 price only (returns bits,
updates the model like mode 2).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from lab.entropy.cm_tables import _APM0, _BITS, _RECIP, _SQUASH, _STRETCH, LIMIT  # noqa: F401 (shared with cm.c)
from lab.entropy.rangecoder import code_bit_p

NM = 7
NI = NM + 2          # mixer inputs: the context models, the match model, a bias
MINLEN = 6           # the match model's context length (bytes)
MBITS = 20           # its hash table: 2**MBITS last positions
TBITS = 22
TMASK = (1 << TBITS) - 1


@njit(cache=True, nogil=True)
def _big_tables(apm0):
    """The large arrays of a fresh state, filled without the GIL (the machine builds them on its pricing thread)."""
    t = np.full((NM, 1 << TBITS), np.uint32(1 << 31), dtype=np.uint32)
    apm = np.empty((1 << 16, 33), dtype=np.int32)     # order 1 (c1, partial byte)
    for i in range(apm.shape[0]):
        for j in range(33):
            apm[i, j] = apm0[j]
    mtab = np.zeros(1 << MBITS, dtype=np.int64)
    return t, apm, mtab


def new_state():
    """(tables, mixer weights, apm, ctx hashes, slot bases, scratch, word state, stretch, reciprocals, squash,
    match table, match state, match probabilities, bits table)."""
    # each table entry: probability of a 1 in the high 22 bits, a hit count in the low 10 bits
    t, apm, mtab = _big_tables(_APM0)
    w = np.full((256 * 3, NI), 0.3, dtype=np.float32)   # weight sets by partial byte x match state
    h = np.zeros(NM, dtype=np.int64)
    base = np.zeros(NM, dtype=np.int64)
    sx = np.zeros(NI, dtype=np.float32)
    word = np.zeros(2, dtype=np.int64)  # current word hash, previous word hash
    # match model: last position after each hashed 6-byte context; [pointer, length]; p(bit = 1) per
    # (length bucket, predicted bit) as in the tables (22-bit probability, 10-bit count)
    mst = np.zeros(2, dtype=np.int64)
    mp = np.full(64, (1 << 31), dtype=np.uint32)
    return (t, w, apm, h, base, sx, word, _STRETCH, _RECIP, _SQUASH, mtab, mst, mp, _BITS)


@njit(cache=True)
def _mix64(x):
    x = (x ^ (x >> 29)) * 0xBF58476D1CE4E5B9
    x = x & 0x7FFFFFFFFFFFFFFF
    x = (x ^ (x >> 32)) * 0x94D049BB133111EB
    return (x ^ (x >> 29)) & 0x7FFFFFFFFFFFFFFF


@njit(cache=True, inline="always")
def _contexts(out, pos, h, word):
    c0 = np.int64(out[pos - 1]) if pos >= 1 else 0
    c1 = np.int64(out[pos - 2]) if pos >= 2 else 0
    c2 = np.int64(out[pos - 3]) if pos >= 3 else 0
    c3 = np.int64(out[pos - 4]) if pos >= 4 else 0
    c4 = np.int64(out[pos - 5]) if pos >= 5 else 0
    c5 = np.int64(out[pos - 6]) if pos >= 6 else 0
    h[0] = 0
    h[1] = c0 << 9
    h[2] = _mix64(c0 | (c1 << 8) | 0x20000)
    h[3] = _mix64(c0 | (c1 << 8) | (c2 << 16) | 0x3000000)
    h[4] = _mix64(c0 | (c1 << 8) | (c2 << 16) | (c3 << 24) | (4 << 32))
    h[5] = _mix64(c0 | (c1 << 8) | (c2 << 16) | (c3 << 24) | (c4 << 32) | (c5 << 40) | (6 << 48))
    h[6] = _mix64(word[0] * 0x2F0B3A49 + word[1] + (7 << 56))


@njit(cache=True)
def _word_update(word, byte):
    b = byte
    if 65 <= b <= 90:
        b += 32
    if 97 <= b <= 122 or b >= 128:
        word[0] = (word[0] * 263 + b + 1) & 0xFFFFFFFFFFFF
    elif word[0] != 0:
        word[1] = word[0]
        word[0] = 0


@njit(cache=True, inline="always")
def _match_update(out, pos, mtab, mst):
    """Extend the current match by the byte just coded, or look up the last occurrence of the context."""
    if pos == 0:
        return
    if mst[1] > 0 and out[mst[0]] == out[pos - 1]:
        mst[1] += 1 if mst[1] < 65535 else 0
        mst[0] += 1
    else:
        mst[1] = 0
    if pos >= MINLEN:
        x = np.int64(0)
        for k in range(pos - MINLEN, pos):
            x = (x << 8) | np.int64(out[k])
        hh = _mix64(x) & ((1 << MBITS) - 1)
        if mst[1] == 0:
            cand = mtab[hh]
            if cand > 0:
                n = 0
                while n < 32 and cand - n - 1 >= 0 and out[cand - n - 1] == out[pos - n - 1]:
                    n += 1
                if n >= MINLEN:
                    mst[0], mst[1] = cand, n
        mtab[hh] = pos


@njit(cache=True, inline="always")
def _slots(h, base, c0):
    """Per-nibble slot bases: 16 consecutive entries share a cache line for the bits of one nibble."""
    off = 0 if c0 == 1 else c0 << 4  # first nibble: 1..15; second: (16..31) * 16 + 1..15
    base[0] = off  # order 0: direct, 512 entries
    base[1] = h[1] + off  # order 1: direct, 128K entries
    for m in range(2, NM):
        base[m] = (_mix64(h[m] + c0 * 0x9E3779B1) & TMASK) & ~15


@njit(cache=True, inline="always")
def cm_byte(st, buf, state, out, pos, byte, mode, pstore):
    """Code/decode/update/price out[pos] (= byte for modes 0, 2, 3). Returns (byte, bits).
    Mode 3 also stores the 8 coded probabilities (of a 1 bit, /65536) in pstore[8*pos : 8*pos+8], so an
    encoder can price the whole input once and code literals later without re-running the model."""
    t, w, apm, h, base, sx, word, STR, RECIP, SQ, mtab, mst, mp, LOG2 = state
    _contexts(out, pos, h, word)
    _match_update(out, pos, mtab, mst)
    pb = np.int64(out[mst[0]]) + 256 if mst[1] > 0 else 0     # the predicted byte, with a leading 1
    mlb = mst[1] if mst[1] < 16 else 16 + min(15, (mst[1] - 16) >> 3)
    c1 = np.int64(out[pos - 1]) if pos >= 1 else 0
    c0 = 1
    local = 1
    bits = 0.0
    _slots(h, base, c0)
    for j in range(7, -1, -1):
        if j == 3:
            _slots(h, base, c0)
            local = 1
        mi = -1
        ws = c0
        if pb and (pb >> (j + 1)) == c0:                          # the match still agrees with this byte
            mi = 2 * mlb + ((pb >> j) & 1)
            sx[NM] = STR[mp[mi] >> 20]
            ws = c0 + 256 * (1 + (mlb >= 16))
        else:
            sx[NM] = np.float32(0.0)
        dot = np.float32(0.0)
        for m in range(NM):
            s = STR[t[m, base[m] + local] >> 20]
            sx[m] = s
            dot += w[ws, m] * s
        dot += w[ws, NM] * sx[NM]
        sx[NM + 1] = np.float32(0.25)
        dot += w[ws, NM + 1] * sx[NM + 1]
        if dot > 15.0:
            dot = np.float32(15.0)
        elif dot < -15.0:
            dot = np.float32(-15.0)
        p1 = SQ[int((dot + 16.0) * 64.0)]  # probability of a 1 bit
        sv = (dot + 8.0) * 2.0
        if sv < 0.0:
            sv = 0.0
        elif sv > 31.999:
            sv = 31.999
        lo = int(sv)
        fr = sv - lo
        actx = (c1 << 8) | c0
        pa = ((1.0 - fr) * apm[actx, lo] + fr * apm[actx, lo + 1]) / 65536.0
        pf = 0.5 * p1 + 0.5 * pa
        p1i = int(pf * 65536.0)
        if p1i < 32:
            p1i = 32
        elif p1i > 65504:
            p1i = 65504
        if mode == 0:
            bit = (byte >> j) & 1
            code_bit_p(st, buf, 65536 - p1i, bit, True)
        elif mode == 1:
            bit = code_bit_p(st, buf, 65536 - p1i, 0, False)
        else:
            bit = (byte >> j) & 1
            if mode == 3:
                bits += LOG2[p1i] if bit else LOG2[65536 - p1i]
                pstore[8 * pos + 7 - j] = p1i
        err = np.float32(bit - p1) * np.float32(0.0025)
        for m in range(NI):
            w[ws, m] += err * sx[m]
        target = (1 << 22) - 1 if bit else 0
        for m in range(NM):
            i = base[m] + local
            e = np.int64(t[m, i])
            cnt = e & 1023
            p = e >> 10
            p += ((target - p) * RECIP[cnt]) >> 16
            if cnt < LIMIT:
                cnt += 1
            t[m, i] = (p << 10) | cnt
        if mi >= 0:
            e = np.int64(mp[mi])
            cnt = e & 1023
            p = e >> 10
            p += ((target - p) * RECIP[cnt]) >> 16
            if cnt < LIMIT:
                cnt += 1
            mp[mi] = (p << 10) | cnt
        ta = 65535 if bit else 0
        k = lo if fr < 0.5 else lo + 1
        apm[actx, k] += ((ta - apm[actx, k]) * 5) >> 6
        c0 = (c0 << 1) | bit
        local = (local << 1) | bit
    byte = c0 & 0xFF
    out[pos] = byte
    _word_update(word, byte)
    return byte, bits


@njit(cache=True, nogil=True)     # nogil: the procedural machine prices while it learns, on another core
def _price_all(state, data, pstore):
    st = np.zeros(6, np.int64)
    buf = np.zeros(1, np.uint8)
    out = np.zeros(data.shape[0], np.uint8)
    costs = np.zeros(data.shape[0], np.float32)
    for i in range(data.shape[0]):
        _, b = cm_byte(st, buf, state, out, i, data[i], 3, pstore)
        costs[i] = b
    return costs


def price(data: bytes, with_probs: bool = False):
    """Bits each byte costs under a fresh model that has seen the bytes before it (and, if asked, the
    8 coded probabilities per byte, for `code_stored`), by numba (lab.entropy.cm_native.price: the same in C;
    lab.procedural.parse.literal_costs chooses)."""
    pstore = np.zeros(8 * len(data), np.int32)
    costs = _price_all(new_state(), np.frombuffer(data, np.uint8), pstore)
    return (costs, pstore) if with_probs else costs


@njit(cache=True, inline="always")
def code_stored(st, buf, pstore, pos, byte):
    """Encode a byte with the probabilities stored by a pricing pass (encoder side only)."""
    for j in range(7, -1, -1):
        code_bit_p(st, buf, 65536 - pstore[8 * pos + 7 - j], (byte >> j) & 1, True)


@njit(cache=True)
def _code_all(st, buf, state, out, n, enc):
    dummy = np.zeros(1, np.int32)
    for i in range(n):
        cm_byte(st, buf, state, out, i, out[i], 0 if enc else 1, dummy)
        if st[5]:
            return


def encode(data: bytes) -> bytes:
    """Pure context-mixing compression of bytes (no operators): the literal-only machine."""
    from lab.entropy.rangecoder import enc_flush, new_encoder

    arr = np.frombuffer(data, np.uint8).copy()
    cap = len(arr) + len(arr) // 2 + 64
    st, buf = new_encoder(), np.empty(cap, np.uint8)
    _code_all(st, buf, new_state(), arr, len(arr), True)
    enc_flush(st, buf)
    return buf[: st[4]].tobytes()


def decode(blob: bytes, n: int) -> bytes:
    from lab import FormatError
    from lab.entropy.rangecoder import dec_buffer, dec_init

    buf = dec_buffer(blob)
    st = np.zeros(6, np.int64)
    dec_init(st, buf)
    out = np.zeros(n, np.uint8)
    _code_all(st, buf, new_state(), out, n, False)
    if st[5]:
        raise FormatError("literal stream is truncated")
    return out.tobytes()
