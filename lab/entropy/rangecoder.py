"""Adaptive binary range coder (LZMA-style carry-less range coder, 32-bit range, 16-bit probabilities).

State is a small int64 array so that numba kernels can share it:
    st[0] low (encoder) / code (decoder)   st[1] range   st[2] cache   st[3] cache size
    st[4] byte position                    st[5] error flag (encoder: buffer overflow; decoder: read past end)
Probabilities: int32 array (n_contexts, 2), two counters per context adapting at rates 1/16 and 1/128;
the coded probability of a 0 bit is their mean. Every coding routine takes `enc` (True: encode the given
value, False: decode and return it), so one routine defines both directions of a bitstream.
"""
from __future__ import annotations

import numpy as np
from numba import njit

TOP = 1 << 24
PROB_ONE = 1 << 16
ST_LEN = 6


def new_probs(n: int) -> np.ndarray:
    return np.full((n, 2), PROB_ONE // 2, dtype=np.int32)


def dec_buffer(blob: bytes) -> np.ndarray:
    """A writable uint8 view for the decoder (numba kernels share one signature for both directions)."""
    return np.frombuffer(blob, np.uint8).copy()


def new_encoder() -> np.ndarray:
    st = np.zeros(ST_LEN, dtype=np.int64)
    st[1] = 0xFFFFFFFF
    st[3] = 1
    return st


@njit(cache=True)
def _shift_low(st, buf):
    low = st[0]
    if low < 0xFF000000 or low >= 0x100000000:
        carry = low >> 32
        temp = st[2]
        while True:
            pos = st[4]
            if pos < buf.shape[0]:
                buf[pos] = (temp + carry) & 0xFF
            else:
                st[5] = 1
            st[4] = pos + 1
            temp = 0xFF
            st[3] -= 1
            if st[3] == 0:
                break
        st[2] = (low >> 24) & 0xFF
    st[3] += 1
    st[0] = (low & 0x00FFFFFF) << 8


@njit(cache=True)
def _next_byte(st, buf):
    pos = st[4]
    st[4] = pos + 1
    if pos < buf.shape[0]:
        return np.int64(buf[pos])
    st[5] = 1
    return np.int64(0)


@njit(cache=True)
def dec_init(st, buf):
    st[0] = 0
    st[1] = 0xFFFFFFFF
    st[4] = 0
    st[5] = 0
    for _ in range(5):
        st[0] = ((st[0] << 8) | _next_byte(st, buf)) & 0xFFFFFFFF


@njit(cache=True)
def enc_flush(st, buf):
    for _ in range(5):
        _shift_low(st, buf)


@njit(cache=True)
def _normalize(st, buf, enc):
    while st[1] < TOP:
        st[1] <<= 8
        if enc:
            _shift_low(st, buf)
        else:
            st[0] = ((st[0] << 8) | _next_byte(st, buf)) & 0xFFFFFFFF


@njit(cache=True)
def code_bit_p(st, buf, p0, bit, enc):
    """Code one bit with an externally supplied probability of a 0 bit, p0 in [1, 65535] / 65536."""
    rng = st[1]
    bound = (rng >> 16) * p0
    if enc:
        if bit == 0:
            st[1] = bound
        else:
            st[0] += bound
            st[1] = rng - bound
    else:
        if st[0] < bound:
            st[1] = bound
            bit = 0
        else:
            st[0] -= bound
            st[1] = rng - bound
            bit = 1
    _normalize(st, buf, enc)
    return bit


@njit(cache=True)
def code_bit(st, buf, probs, ctx, bit, enc):
    """Code one bit with adaptive context `ctx`; returns the bit (decoded when enc is False)."""
    pa = probs[ctx, 0]
    pb = probs[ctx, 1]
    bit = code_bit_p(st, buf, (pa + pb) >> 1, bit, enc)
    if bit == 0:
        probs[ctx, 0] = pa + ((PROB_ONE - pa) >> 4)
        probs[ctx, 1] = pb + ((PROB_ONE - pb) >> 7)
    else:
        probs[ctx, 0] = pa - (pa >> 4)
        probs[ctx, 1] = pb - (pb >> 7)
    return bit


@njit(cache=True)
def code_bypass(st, buf, bit, enc):
    """Code one equiprobable bit."""
    rng = st[1]
    half = rng >> 1
    if enc:
        if bit:
            st[0] += half
            st[1] = rng - half
        else:
            st[1] = half
    else:
        if st[0] < half:
            st[1] = half
            bit = 0
        else:
            st[0] -= half
            st[1] = rng - half
            bit = 1
    _normalize(st, buf, enc)
    return bit


@njit(cache=True)
def code_bits_bypass(st, buf, value, nbits, enc):
    """Code an nbits unsigned integer as equiprobable bits, MSB first."""
    out = 0
    for i in range(nbits - 1, -1, -1):
        b = code_bypass(st, buf, (value >> i) & 1, enc)
        out = (out << 1) | b
    return out


@njit(cache=True)
def code_tree(st, buf, probs, ctx0, value, nbits, enc):
    """Code an nbits unsigned integer with a binary tree of adaptive contexts ctx0 + node (node < 2**nbits)."""
    node = 1
    for i in range(nbits - 1, -1, -1):
        b = code_bit(st, buf, probs, ctx0 + node, (value >> i) & 1, enc)
        node = (node << 1) | b
    return node - (1 << nbits)


@njit(cache=True)
def code_eg(st, buf, probs, ctx0, value, enc):
    """Adaptive Exp-Golomb code of an unsigned integer (< 2**30): unary prefix of the bit length with contexts
    ctx0 .. ctx0+31 (context ctx0 + i for the i-th prefix bit), then the suffix bits with contexts
    ctx0 + 32 + length (MSB after the leading one), remaining bits bypass. Uses 64 contexts."""
    v1 = value + 1
    n = 0
    if enc:
        t = v1
        while t > 1:
            t >>= 1
            n += 1
    # unary prefix: n ones then a zero
    k = 0
    while True:
        c = ctx0 + (k if k < 31 else 31)
        more = code_bit(st, buf, probs, c, 1 if k < n else 0, enc)
        if more == 0:
            break
        k += 1
        if k > 30:
            st[5] = 1
            return 0
    n = k
    if n == 0:
        return 0
    # first suffix bit adaptive, the rest bypass
    hi = code_bit(st, buf, probs, ctx0 + 32 + n, (v1 >> (n - 1)) & 1, enc)
    rest = code_bits_bypass(st, buf, v1 & ((1 << (n - 1)) - 1), n - 1, enc)
    v1 = (1 << n) | (hi << (n - 1)) | rest
    return v1 - 1


@njit(cache=True)
def _symbols_kernel(st, buf, probs, symbols, contexts, nbits, enc):
    for i in range(symbols.shape[0]):
        symbols[i] = code_tree(st, buf, probs, contexts[i] << nbits, symbols[i], nbits, enc)
        if st[5]:
            return


def encode_symbols(symbols, nbits: int, contexts=None) -> bytes:
    """Adaptive coding of integers in [0, 2**nbits), optionally under a per-symbol context id."""
    sym = np.ascontiguousarray(symbols, dtype=np.int64).copy()
    if sym.size and (sym.min() < 0 or sym.max() >= (1 << nbits)):
        raise ValueError("symbol out of range")
    ctx = np.zeros(sym.size, np.int64) if contexts is None else np.ascontiguousarray(contexts, np.int64)
    nctx = int(ctx.max()) + 1 if ctx.size else 1
    cap = 64 + sym.size * (nbits // 4 + 2)
    while True:
        st, buf = new_encoder(), np.empty(cap, np.uint8)
        _symbols_kernel(st, buf, new_probs(nctx << nbits), sym.copy(), ctx, nbits, True)
        enc_flush(st, buf)
        if not st[5]:
            return buf[: st[4]].tobytes()
        cap *= 2


def decode_symbols(blob: bytes, n: int, nbits: int, contexts=None) -> np.ndarray:
    from lab import FormatError

    ctx = np.zeros(n, np.int64) if contexts is None else np.ascontiguousarray(contexts, np.int64)
    nctx = int(ctx.max()) + 1 if ctx.size else 1
    buf = dec_buffer(blob)
    st = np.zeros(ST_LEN, np.int64)
    dec_init(st, buf)
    out = np.zeros(n, np.int64)
    _symbols_kernel(st, buf, new_probs(nctx << nbits), out, ctx, nbits, False)
    if st[5]:
        raise FormatError("entropy-coded stream is truncated")
    return out


@njit(cache=True)
def code_cdf_row(st, buf, cdf, sym, enc):
    """Code one symbol under an integer CDF (cdf[0] = 0 < ... < cdf[K] = 2**16); returns the symbol."""
    r = st[1] >> 16
    if enc:
        st[0] += r * cdf[sym]
        st[1] = r * (cdf[sym + 1] - cdf[sym])
    else:
        v = st[0] // r
        if v >= cdf[cdf.shape[0] - 1]:
            st[5] = 1
            v = cdf[cdf.shape[0] - 1] - 1
        lo, hi = 0, cdf.shape[0] - 2
        while lo < hi:
            mid = (lo + hi + 1) >> 1
            if cdf[mid] <= v:
                lo = mid
            else:
                hi = mid - 1
        sym = lo
        st[0] -= r * cdf[sym]
        st[1] = r * (cdf[sym + 1] - cdf[sym])
    _normalize(st, buf, enc)
    return sym


@njit(cache=True)
def code_cdf_rows(st, buf, cdfs, syms, active, enc):
    """Code syms[i] under cdfs[i] for the rows where active[i]; decoded symbols are written to syms."""
    for i in range(cdfs.shape[0]):
        if active[i]:
            syms[i] = code_cdf_row(st, buf, cdfs[i], syms[i], enc)


@njit(cache=True)
def encode_ranges(st, buf, lo_hi, active):
    """Encoder only: code the symbol whose CDF interval is [lo_hi[i, 0], lo_hi[i, 1]) for the active rows (the
    same bits as code_cdf_row with the whole CDF, when only the two bounds are at hand)."""
    for i in range(lo_hi.shape[0]):
        if active[i]:
            r = st[1] >> 16
            st[0] += r * lo_hi[i, 0]
            st[1] = r * (lo_hi[i, 1] - lo_hi[i, 0])
            _normalize(st, buf, True)
