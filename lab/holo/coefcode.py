"""Context-adaptive entropy coding of quantised patch coefficients, VQ labels and small integer arrays.

Each routine runs in encode or decode mode (see lab.entropy.rangecoder), so one function defines
both directions of the bitstream.

Coefficient model, per block in raster order, per channel type (luma / chroma):
- DC level predicted by the median edge detector (MED) from the left, top and top-left blocks' DC;
  the residual coded as zero flag + sign + adaptive Exp-Golomb, contexts by the local DC gradient;
- `last`, the index of the last non-zero component, coded with a binary tree whose contexts depend
  on the neighbours' `last`;
- for each index up to `last`: a significance flag (contexts: frequency band x magnitude of the same
  component in the left and top blocks x magnitude of the previous component), greater-than-1 and
  greater-than-2 flags, an Exp-Golomb remainder and a bypass sign.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from lab import FormatError
from lab.entropy.rangecoder import (ST_LEN, code_bit, code_bypass, code_eg, code_tree, dec_buffer, dec_init,
                                    enc_flush, new_encoder, new_probs)

# context layout inside one channel type's slab
_DC = 0            # 5 gradient classes x 80
_LAST = 400        # 8 classes x 512 (tree of up to 9 bits)
_SIG = 4496        # 12 bands x 4 x 3
_GT1 = 4640        # 12 bands x 3
_GT2 = 4676        # 12 bands x 3
_REM = 4712        # 4 band classes x 64
SLAB = 4976
N_TYPES = 2

_BAND = np.array([0, 0, 1, 2, 3, 3] + [4] * 4 + [5] * 5 + [6] * 6 + [7] * 7 + [8] * 8 + [9] * 9 + [10] * 10
                 + [11] * 1000, dtype=np.int64)


@njit(cache=True)
def code_signed(st, buf, probs, ctx0, v, enc):
    """Signed integer: zero flag (ctx0), bypass sign, Exp-Golomb of |v|-1 (ctx0+1 .. ctx0+64)."""
    nz = code_bit(st, buf, probs, ctx0, 1 if v != 0 else 0, enc)
    if nz == 0:
        return 0
    s = code_bypass(st, buf, 1 if v < 0 else 0, enc)
    m = code_eg(st, buf, probs, ctx0 + 1, abs(v) - 1, enc) + 1
    return -m if s else m


@njit(cache=True)
def _nbits(k):
    n = 0
    while (1 << n) < k:
        n += 1
    return n


@njit(cache=True)
def _last_class(a):
    if a <= 2:
        return a
    if a <= 4:
        return 3
    if a <= 8:
        return 4
    if a <= 16:
        return 5
    if a <= 32:
        return 6
    return 7


@njit(cache=True)
def code_plane(st, buf, probs, lv, last, base, band, enc):
    """Code (by, bx, K) int levels `lv` (filled in decode mode); `last` (by, bx) scratch; `base` ctx offset."""
    by, bx, K = lv.shape
    nbl = _nbits(K)
    for y in range(by):
        for x in range(bx):
            # ---- DC by MED prediction
            if x > 0 and y > 0:
                a, b, c = lv[y, x - 1, 0], lv[y - 1, x, 0], lv[y - 1, x - 1, 0]
            elif x > 0:
                a = lv[y, x - 1, 0]
                b, c = a, a
            elif y > 0:
                b = lv[y - 1, x, 0]
                a, c = b, b
            else:
                a, b, c = 0, 0, 0
            mx, mn = max(a, b), min(a, b)
            if c >= mx:
                pred = mn
            elif c <= mn:
                pred = mx
            else:
                pred = a + b - c
            g = abs(a - c) + abs(b - c)
            gc = 0 if g == 0 else (1 if g <= 2 else (2 if g <= 6 else (3 if g <= 16 else 4)))
            r = code_signed(st, buf, probs, base + _DC + gc * 80, lv[y, x, 0] - pred, enc)
            lv[y, x, 0] = pred + r
            if K == 1:
                continue
            # ---- last significant index
            nl = 0
            cnt = 0
            if x > 0:
                nl += last[y, x - 1]
                cnt += 1
            if y > 0:
                nl += last[y - 1, x]
                cnt += 1
            if cnt == 2:
                nl = (nl + 1) >> 1
            lc = _last_class(nl)
            lst = 0
            if enc:
                for i in range(K - 1, 0, -1):
                    if lv[y, x, i] != 0:
                        lst = i
                        break
            lst = code_tree(st, buf, probs, base + _LAST + lc * 512, lst, nbl, enc)
            if lst >= K:
                st[5] = 1
                return
            last[y, x] = lst
            # ---- AC levels
            prev = 0
            for i in range(1, lst + 1):
                nb = 0
                if x > 0:
                    nb += abs(lv[y, x - 1, i])
                if y > 0:
                    nb += abs(lv[y - 1, x, i])
                nbc = 0 if nb == 0 else (1 if nb == 1 else (2 if nb <= 3 else 3))
                bd = band[i]
                v = lv[y, x, i]
                m = abs(v)
                if i < lst:
                    pc = prev if prev < 2 else 2
                    sig = code_bit(st, buf, probs, base + _SIG + (bd * 4 + nbc) * 3 + pc, 1 if m != 0 else 0, enc)
                else:
                    sig = 1
                if sig == 0:
                    lv[y, x, i] = 0
                    prev = 0
                    continue
                n2 = nbc if nbc < 2 else 2
                g1 = code_bit(st, buf, probs, base + _GT1 + bd * 3 + n2, 1 if m > 1 else 0, enc)
                if g1 == 0:
                    m = 1
                else:
                    g2 = code_bit(st, buf, probs, base + _GT2 + bd * 3 + n2, 1 if m > 2 else 0, enc)
                    if g2 == 0:
                        m = 2
                    else:
                        m = 3 + code_eg(st, buf, probs, base + _REM + (bd // 3) * 64, m - 3, enc)
                s = code_bypass(st, buf, 1 if v < 0 else 0, enc)
                lv[y, x, i] = -m if s else m
                prev = m
            if st[5]:
                return


@njit(cache=True)
def code_labels(st, buf, probs, lab, nbits, enc):
    """VQ labels (by, bx): 'same as left' / 'same as top' flags, else a binary tree over nbits."""
    by, bx = lab.shape
    for y in range(by):
        for x in range(bx):
            L = lab[y, x - 1] if x > 0 else -1
            T = lab[y - 1, x] if y > 0 else -1
            v = lab[y, x]
            if L >= 0:
                e = code_bit(st, buf, probs, 0 if L == T else 1, 1 if v == L else 0, enc)
                if e:
                    lab[y, x] = L
                    continue
            if T >= 0 and T != L:
                e = code_bit(st, buf, probs, 2, 1 if v == T else 0, enc)
                if e:
                    lab[y, x] = T
                    continue
            lab[y, x] = code_tree(st, buf, probs, 4, v, nbits, enc)
            if st[5]:
                return


@njit(cache=True)
def code_ints(st, buf, probs, arr, nclass, cls, enc):
    """Flat signed int array with per-entry context class cls[i] < nclass (65 contexts a class)."""
    for i in range(arr.shape[0]):
        arr[i] = code_signed(st, buf, probs, cls[i] * 65, arr[i], enc)
        if st[5]:
            return


class Encoder:
    """Accumulates coded items into one range-coded stream."""

    def __init__(self, cap: int = 1 << 16):
        self.cap = cap
        self.items = []

    def planes(self, planes: list[np.ndarray], types: list[int]):
        self.items.append(("planes", [np.ascontiguousarray(p, np.int64) for p in planes], list(types)))

    def labels(self, lab: np.ndarray, nbits: int):
        self.items.append(("labels", np.ascontiguousarray(lab, np.int64), nbits))

    def ints(self, arr: np.ndarray, cls: np.ndarray, nclass: int):
        self.items.append(("ints", np.ascontiguousarray(arr, np.int64).ravel(),
                           np.ascontiguousarray(cls, np.int64).ravel(), nclass))

    def finish(self) -> bytes:
        cap = self.cap
        while True:
            st, buf = new_encoder(), np.empty(cap, np.uint8)
            _run(st, buf, self.items, True)
            enc_flush(st, buf)
            if not st[5]:
                return buf[: st[4]].tobytes()
            cap *= 4


def _run(st, buf, items, enc):
    for it in items:
        kind = it[0]
        if kind == "planes":
            probs = new_probs(SLAB * N_TYPES)
            for lv, t in zip(it[1], it[2]):
                last = np.zeros(lv.shape[:2], np.int64)
                code_plane(st, buf, probs, lv, last, t * SLAB, _BAND, enc)
        elif kind == "labels":
            lab, nbits = it[1], it[2]
            code_labels(st, buf, new_probs(4 + (2 << nbits)), lab, nbits, enc)
        else:
            arr, cls, nclass = it[1], it[2], it[3]
            code_ints(st, buf, new_probs(65 * nclass), arr, nclass, cls, enc)
        if st[5]:
            return


class Decoder:
    """Reads items back in the order the Encoder wrote them."""

    def __init__(self, blob: bytes):
        self.buf = dec_buffer(blob)
        self.st = np.zeros(ST_LEN, np.int64)
        dec_init(self.st, self.buf)

    def _check(self):
        if self.st[5] or self.st[4] > self.buf.shape[0] + 8:
            raise FormatError("coefficient stream is corrupt or truncated")

    def planes(self, shapes: list[tuple], types: list[int]) -> list[np.ndarray]:
        out = [np.zeros(s, np.int64) for s in shapes]
        _run(self.st, self.buf, [("planes", out, list(types))], False)
        self._check()
        return out

    def labels(self, shape: tuple, nbits: int) -> np.ndarray:
        lab = np.zeros(shape, np.int64)
        _run(self.st, self.buf, [("labels", lab, nbits)], False)
        self._check()
        return lab

    def ints(self, n: int, cls: np.ndarray, nclass: int) -> np.ndarray:
        arr = np.zeros(n, np.int64)
        _run(self.st, self.buf, [("ints", arr, np.ascontiguousarray(cls, np.int64).ravel(), nclass)], False)
        self._check()
        return arr
