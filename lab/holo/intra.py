"""Intra-predicted transform coding: the `intra` mode of .holo, with the tools that put WebP, AVIF and HEVC
ahead of a JPEG-style block codec.

Each plane (Y; Cb and Cr at half resolution) is cut into 32x32 coding units in raster order. Each unit is a
quadtree of 32/16/8 transform blocks whose shape is chosen by rate-distortion cost D + lambda * R, with
R priced from the adaptive range coder's current probabilities (the bits the block would really cost):

- prediction from decoded neighbours (HEVC's planar, DC and 33 angular directions, the reference row and
  column extended to twice the block and substituted where not yet decoded); chroma also has a
  chroma-from-luma mode whose linear model is fitted on the neighbouring decoded samples (VVC's CCLM:
  nothing signalled). Candidate modes are screened by SAD, the best few (and the most probable modes)
  priced in full;
- the residual's orthonormal DCT, quantised by rate-distortion-optimised quantisation: each level chosen
  among round/round-1/0 by distortion + lambda * bits under its real contexts (coded in reverse scan, so
  the template context of higher frequencies is known), then the last position moved earlier where that
  saves cost (HM's RDOQ);
- the levels coded in reverse diagonal scan: coded-block flag, last position, significance / >1 / >2 flags
  with contexts by frequency band and a template of five already-coded higher-frequency neighbours,
  Exp-Golomb remainders and bypass signs; modes through three most probable modes from the left and top;
- a deblocking filter across transform-block edges after reconstruction (HEVC-style normal and strong
  filters), its two thresholds per plane chosen by the encoder to minimise squared error and signalled.

Everything runs in numba kernels that share one routine per bitstream element for both directions; the
encoder reconstructs exactly what the decoder will.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from lab import FormatError
from lab.holo.pca import dct_matrix
from lab.entropy.rangecoder import (PROB_ONE, ST_LEN, code_bit, code_bypass, code_eg, code_tree, dec_buffer,
                                    dec_init, enc_flush, new_encoder, new_probs)

CTU = 32
N_ANG = 35            # planar (0), DC (1), angular 2..34 (HEVC numbering)
LM = 35               # chroma from luma
LO, HI = -128.0, 128.0
N_SAD, N_MPM = 3, 3   # modes priced in full: the best by SAD, and the most probable ones
TC_SCALE = np.array([0.0, 0.03, 0.06, 0.09, 0.13, 0.18, 0.25, 0.35])   # deblocking tc / step
BETA_SCALE = np.array([0.5, 1.0, 1.6, 2.4])                             # deblocking beta / step

# context layout of one channel type's slab
_SPLIT = 0          # 2 depths x 3
_LMF = 6
_MPM = 7            # flag, then 2 for the index
_REMM = 10          # 32-leaf tree
_CBF = 44           # 3 sizes
_LAST = 48          # 3 sizes x 1024
_SIG = 3120         # 3 sizes x 5 bands x 6 template classes
_GT1 = 3210         # 3 x 5 x 4
_GT2 = 3270
_REM = 3330         # 2 band classes x 64
SLAB = 3458

_ANGLE = np.array([0, 0, 32, 26, 21, 17, 13, 9, 5, 2, 0, -2, -5, -9, -13, -17, -21, -26,
                   -32, -26, -21, -17, -13, -9, -5, -2, 0, 2, 5, 9, 13, 17, 21, 26, 32], np.int64)
_INV = np.zeros(35, np.int64)
for _m in range(2, 35):
    _a = _ANGLE[_m]
    if _a < 0:
        _INV[_m] = {-2: -4096, -5: -1638, -9: -910, -13: -630, -17: -482, -21: -390, -26: -315, -32: -256}[int(_a)]
# bits of a binary decision at probability index p >> 4 (4096 bins)
_COST = -np.log2((np.arange(4096) + 0.5) / 4096)


def _scan(n: int) -> np.ndarray:
    """Up-right diagonal scan: raster indices ordered by r + c, bottom-left first within a diagonal."""
    order = sorted(((r, c) for r in range(n) for c in range(n)), key=lambda t: (t[0] + t[1], -t[0]))
    return np.array([r * n + c for r, c in order], np.int64)


MATS = np.zeros((6, CTU, CTU))          # the DCT of 8, 16, 32, then their transposes
SCANS = np.zeros((3, CTU * CTU), np.int64)
for _s, _n in enumerate((8, 16, 32)):
    MATS[_s, :_n, :_n] = dct_matrix(_n)
    MATS[3 + _s, :_n, :_n] = dct_matrix(_n).T
    SCANS[_s, :_n * _n] = _scan(_n)


# ------------------------------------------------------------------------------------------ prediction
@njit(cache=True)
def _refs(rec, avail, y, x, n, top, left):
    """Reference samples with HEVC substitution: top[k] = p(y-1, x-1+k), left[k] = p(y-1+k, x-1), k = 0..2n."""
    H, W = rec.shape
    m = 4 * n + 1
    vals = np.empty(m)
    ok = np.zeros(m, np.bool_)
    # order: bottom-left (left[2n]) .. left[1], corner, top[1] .. top[2n]
    for k in range(2 * n):
        yy, xx = y + 2 * n - 1 - k, x - 1
        if 0 <= yy < H and xx >= 0 and avail[yy, xx]:
            vals[k] = rec[yy, xx]
            ok[k] = True
    if y > 0 and x > 0 and avail[y - 1, x - 1]:
        vals[2 * n] = rec[y - 1, x - 1]
        ok[2 * n] = True
    for k in range(2 * n):
        yy, xx = y - 1, x + k
        if yy >= 0 and xx < W and avail[yy, xx]:
            vals[2 * n + 1 + k] = rec[yy, xx]
            ok[2 * n + 1 + k] = True
    first = -1
    for k in range(m):
        if ok[k]:
            first = k
            break
    if first < 0:
        for k in range(m):
            vals[k] = 0.0
    else:
        for k in range(first):
            vals[k] = vals[first]
        for k in range(first + 1, m):
            if not ok[k]:
                vals[k] = vals[k - 1]
    for k in range(2 * n + 1):
        left[k] = vals[2 * n - k]
        top[k] = vals[2 * n + k]


@njit(cache=True)
def _predict(mode, n, top, left, out, luma, lm_a, lm_b):
    """Fill out[:n, :n] with the prediction of `mode` from reference arrays (see _refs)."""
    if mode == 0:      # planar
        tr, bl = top[n + 1], left[n + 1]
        for r in range(n):
            for c in range(n):
                out[r, c] = ((n - 1 - c) * left[r + 1] + (c + 1) * tr + (n - 1 - r) * top[c + 1]
                             + (r + 1) * bl) / (2 * n)
    elif mode == 1:    # DC
        s = 0.0
        for k in range(1, n + 1):
            s += top[k] + left[k]
        s /= 2 * n
        for r in range(n):
            for c in range(n):
                out[r, c] = s
    elif mode == LM:
        for r in range(n):
            for c in range(n):
                out[r, c] = lm_a * luma[r, c] + lm_b
    else:
        a = _ANGLE[mode]
        inv = _INV[mode]
        ref = np.empty(3 * n + 3)          # ref[k + n] for k = -n .. 2n + 2
        vert = mode >= 18
        main = top if vert else left
        side = left if vert else top
        for k in range(2 * n + 1):
            ref[k + n] = main[k]
        ref[3 * n + 1] = main[2 * n]
        ref[3 * n + 2] = main[2 * n]
        if a < 0:
            lo = (n * a) >> 5
            for k in range(lo, 0):
                j = (k * inv + 128) >> 8
                ref[k + n] = side[j if j <= 2 * n else 2 * n]
        for i in range(n):             # i: distance from the main reference (row for vertical modes)
            p = (i + 1) * a
            idx = p >> 5
            f = p & 31
            for j in range(n):
                v = ((32 - f) * ref[j + idx + 1 + n] + f * ref[j + idx + 2 + n]) / 32.0
                if vert:
                    out[i, j] = v
                else:
                    out[j, i] = v


@njit(cache=True)
def _lm_params(rec, avail, luma, y, x, n):
    """Least-squares chroma = a * luma + b over the decoded neighbours (top row, left column)."""
    sl = 0.0
    sc = 0.0
    sll = 0.0
    slc = 0.0
    cnt = 0
    if y > 0 and avail[y - 1, x]:
        for k in range(n):
            l, c = luma[y - 1, x + k], rec[y - 1, x + k]
            sl += l
            sc += c
            sll += l * l
            slc += l * c
            cnt += 1
    if x > 0 and avail[y, x - 1]:
        for k in range(n):
            l, c = luma[y + k, x - 1], rec[y + k, x - 1]
            sl += l
            sc += c
            sll += l * l
            slc += l * c
            cnt += 1
    if cnt == 0:
        return 0.0, 0.0
    var = sll - sl * sl / cnt
    a = 0.0
    if var > 1e-6 * cnt:
        a = (slc - sl * sc / cnt) / var
        a = min(4.0, max(-4.0, a))
    return a, (sc - a * sl) / cnt


# ----------------------------------------------------------------------------------------- transforms
@njit(cache=True)
def _mul(a, b, n, out):
    """out[:n, :n] = a[:n, :n] @ b[:n, :n], the inner loop running along rows (vectorised)."""
    for i in range(n):
        for j in range(n):
            out[i, j] = 0.0
        for k in range(n):
            v = a[i, k]
            for j in range(n):
                out[i, j] += v * b[k, j]


@njit(cache=True)
def _fdct(x, n, d, dt, out, tmp):
    """out = D x D^T (d: the DCT matrix, dt: its transpose)."""
    _mul(d, x, n, tmp)
    _mul(tmp, dt, n, out)


@njit(cache=True)
def _idct(c, n, d, dt, out, tmp):
    """out = D^T c D."""
    _mul(dt, c, n, tmp)
    _mul(tmp, d, n, out)


# ------------------------------------------------------------------------------------ coefficient coding
@njit(cache=True)
def _band(d):
    if d == 0:
        return 0
    if d <= 2:
        return 1
    if d <= 5:
        return 2
    if d <= 10:
        return 3
    return 4


@njit(cache=True)
def _template(lv, r, c, n):
    """(non-zero count, sum of min(|l|, 4)) over (r,c+1), (r,c+2), (r+1,c), (r+2,c), (r+1,c+1)."""
    nz = 0
    sa = 0
    for dr, dc in ((0, 1), (0, 2), (1, 0), (2, 0), (1, 1)):
        rr, cc = r + dr, c + dc
        if rr < n and cc < n:
            v = abs(lv[rr, cc])
            if v:
                nz += 1
                sa += v if v < 4 else 4
    return nz, sa


@njit(cache=True)
def code_coeffs(st, buf, probs, base, lv, n, sc, scan, enc):
    """Code levels lv[:n, :n] (raster; filled when decoding); sc: size class (0: 8, 1: 16, 2: 32)."""
    nn = n * n
    last = -1
    if enc:
        for k in range(nn - 1, -1, -1):
            i = scan[k]
            if lv[i // n, i % n] != 0:
                last = k
                break
    else:
        for r in range(n):
            for c in range(n):
                lv[r, c] = 0
    cbf = code_bit(st, buf, probs, base + _CBF + sc, 1 if last >= 0 else 0, enc)
    if cbf == 0:
        return
    last = code_tree(st, buf, probs, base + _LAST + sc * 1024, last, 6 + 2 * sc, enc)
    for k in range(last, -1, -1):
        i = scan[k]
        r, c = i // n, i % n
        nz, sa = _template(lv, r, c, n)
        bd = _band(r + c)
        v = lv[r, c]
        m = abs(v)
        if k < last:
            sig = code_bit(st, buf, probs, base + _SIG + (sc * 5 + bd) * 6 + (nz if nz < 5 else 5),
                           1 if m != 0 else 0, enc)
            if sig == 0:
                lv[r, c] = 0
                continue
        g = sa - nz
        gc = (sc * 5 + bd) * 4 + (g if g < 3 else 3)
        if code_bit(st, buf, probs, base + _GT1 + gc, 1 if m > 1 else 0, enc) == 0:
            m = 1
        elif code_bit(st, buf, probs, base + _GT2 + gc, 1 if m > 2 else 0, enc) == 0:
            m = 2
        else:
            m = 3 + code_eg(st, buf, probs, base + _REM + (0 if bd < 2 else 1) * 64, m - 3, enc)
        s = code_bypass(st, buf, 1 if v < 0 else 0, enc)
        lv[r, c] = -m if s else m
        if st[5]:
            return


@njit(cache=True)
def _bit(probs, ctx, bit, cost):
    p0 = (probs[ctx, 0] + probs[ctx, 1]) >> 1
    return cost[(p0 if bit == 0 else PROB_ONE - p0) >> 4]


@njit(cache=True)
def _tree_bits(probs, ctx0, value, nbits, cost):
    node = 1
    s = 0.0
    for i in range(nbits - 1, -1, -1):
        b = (value >> i) & 1
        s += _bit(probs, ctx0 + node, b, cost)
        node = (node << 1) | b
    return s


@njit(cache=True)
def _eg_bits(probs, ctx0, value, cost):
    v1 = value + 1
    n = 0
    while v1 > 1:
        v1 >>= 1
        n += 1
    s = 0.0
    for k in range(n):
        s += _bit(probs, ctx0 + (k if k < 31 else 31), 1, cost)
    s += _bit(probs, ctx0 + (n if n < 31 else 31), 0, cost)
    if n > 0:
        s += _bit(probs, ctx0 + 32 + n, ((value + 1) >> (n - 1)) & 1, cost) + (n - 1)
    return s


@njit(cache=True)
def _level_bits(probs, base, sc, bd, nz, sa, m, cost):
    """Bits of magnitude m >= 1 after its significance flag (gt1, gt2, remainder, sign)."""
    g = sa - nz
    gc = (sc * 5 + bd) * 4 + (g if g < 3 else 3)
    s = 1.0 + _bit(probs, base + _GT1 + gc, 1 if m > 1 else 0, cost)
    if m > 1:
        s += _bit(probs, base + _GT2 + gc, 1 if m > 2 else 0, cost)
        if m > 2:
            s += _eg_bits(probs, base + _REM + (0 if bd < 2 else 1) * 64, m - 3, cost)
    return s


@njit(cache=True)
def _rdoq(coef, n, sc, scan, q, lam, probs, base, cost, lv, work):
    """Rate-distortion-optimised levels of coef[:n, :n] into lv; returns (distortion, bits)."""
    nn = n * n
    last0 = -1
    for k in range(nn - 1, -1, -1):
        i = scan[k]
        if abs(coef[i // n, i % n]) >= 0.5 * q:
            last0 = k
            break
    d_all = 0.0
    for r in range(n):
        for c in range(n):
            lv[r, c] = 0
            d_all += coef[r, c] * coef[r, c]
    zero_cost = d_all + lam * _bit(probs, base + _CBF + sc, 0, cost)
    if last0 < 0:
        return d_all, _bit(probs, base + _CBF + sc, 0, cost)
    # work[0, k]: cost if coded as chosen; work[1, k]: distortion if zero; work[2, k]: its sig-flag cost
    # (removed when it is the last); work[3, k]: bits as chosen
    for k in range(last0, -1, -1):
        i = scan[k]
        r, c = i // n, i % n
        a = abs(coef[r, c]) / q
        nz, sa = _template(lv, r, c, n)
        bd = _band(r + c)
        sctx = base + _SIG + (sc * 5 + bd) * 6 + (nz if nz < 5 else 5)
        d0 = coef[r, c] * coef[r, c]
        b0 = _bit(probs, sctx, 0, cost)
        b1 = _bit(probs, sctx, 1, cost)
        best = d0 + lam * b0
        bbits = b0
        bm = 0
        lmax = int(a + 0.5)
        lmin = lmax - 1 if lmax > 1 else 1
        for m in range(lmax, lmin - 1, -1):
            if m < 1:
                break
            dd = (a - m) * q
            bits = b1 + _level_bits(probs, base, sc, bd, nz, sa, m, cost)
            cst = dd * dd + lam * bits
            if cst < best:
                best, bbits, bm = cst, bits, m
        lv[r, c] = -bm if coef[r, c] < 0 else bm
        work[0, k] = best
        work[1, k] = d0
        work[2, k] = b1
        work[3, k] = bbits
    # last position: cost(last = p) = coded cost up to p (minus p's sig flag) + zeroed distortion after p
    tail = d_all
    best = zero_cost
    best_last = -1
    acc = 0.0
    acc_bits = 0.0
    cbf1 = _bit(probs, base + _CBF + sc, 1, cost)
    best_bits = _bit(probs, base + _CBF + sc, 0, cost)
    for k in range(last0 + 1):
        acc += work[0, k]
        acc_bits += work[3, k]
        tail -= work[1, k]
        i = scan[k]
        if lv[i // n, i % n] != 0:
            lb = _tree_bits(probs, base + _LAST + sc * 1024, k, 6 + 2 * sc, cost)
            cst = acc - lam * work[2, k] + tail + lam * (cbf1 + lb)
            if cst < best:
                best = cst
                best_last = k
                best_bits = acc_bits - work[2, k] + cbf1 + lb
    for k in range(best_last + 1, last0 + 1):
        i = scan[k]
        lv[i // n, i % n] = 0
    return best - lam * best_bits, best_bits


# ------------------------------------------------------------------------------------------ mode coding
@njit(cache=True)
def _mpms(mode_map, y, x, out):
    """HEVC's three most probable modes from the left and top 8x8 units (planar where unavailable)."""
    A = mode_map[y >> 3, (x >> 3) - 1] if x > 0 else 0
    B = mode_map[(y >> 3) - 1, x >> 3] if y > 0 else 0
    if A < 0 or A >= N_ANG:
        A = 1
    if B < 0 or B >= N_ANG:
        B = 1
    if A == B:
        if A < 2:
            out[0], out[1], out[2] = 0, 1, 26
        else:
            out[0], out[1], out[2] = A, 2 + ((A + 29) % 32), 2 + ((A - 2 + 1) % 32)
    else:
        out[0], out[1] = A, B
        if A != 0 and B != 0:
            out[2] = 0
        elif A != 1 and B != 1:
            out[2] = 1
        else:
            out[2] = 26


@njit(cache=True)
def code_mode(st, buf, probs, base, mode, mpm, chroma, enc):
    if chroma:
        if code_bit(st, buf, probs, base + _LMF, 1 if mode == LM else 0, enc):
            return LM
    idx = -1
    for k in range(3):
        if mpm[k] == mode:
            idx = k
    if code_bit(st, buf, probs, base + _MPM, 1 if idx >= 0 else 0, enc):
        if code_bit(st, buf, probs, base + _MPM + 1, 1 if idx > 0 else 0, enc) == 0:
            return mpm[0]
        return mpm[1 + code_bit(st, buf, probs, base + _MPM + 2, 1 if idx > 1 else 0, enc)]
    # remaining modes, in increasing order with the three MPMs removed
    rem = 0
    if enc:
        rem = mode
        for k in range(3):
            if mpm[k] < mode:
                rem -= 1
    rem = code_tree(st, buf, probs, base + _REMM, rem, 5, enc)
    m = rem
    s0, s1, s2 = mpm[0], mpm[1], mpm[2]
    if s0 > s1:
        s0, s1 = s1, s0
    if s1 > s2:
        s1, s2 = s2, s1
    if s0 > s1:
        s0, s1 = s1, s0
    if m >= s0:
        m += 1
    if m >= s1:
        m += 1
    if m >= s2:
        m += 1
    return m


@njit(cache=True)
def _mode_bits(probs, base, mode, mpm, chroma, cost):
    s = 0.0
    if chroma:
        if mode == LM:
            return _bit(probs, base + _LMF, 1, cost)
        s += _bit(probs, base + _LMF, 0, cost)
    for k in range(3):
        if mpm[k] == mode:
            s += _bit(probs, base + _MPM, 1, cost) + _bit(probs, base + _MPM + 1, 1 if k > 0 else 0, cost)
            if k > 0:
                s += _bit(probs, base + _MPM + 2, 1 if k > 1 else 0, cost)
            return s
    return s + _bit(probs, base + _MPM, 0, cost) + 5.0


@njit(cache=True)
def _split_ctx(depth_map, y, x, depth):
    c = 0
    if x > 0 and depth_map[y >> 3, (x >> 3) - 1] > depth:
        c += 1
    if y > 0 and depth_map[(y >> 3) - 1, x >> 3] > depth:
        c += 1
    return _SPLIT + depth * 3 + c


# ------------------------------------------------------------------------------------------- the search
@njit(cache=True)
def _write(rec, avail, mode_map, depth_map, levels, y, x, n, depth, mode, pred, lv, q, mats, tmp, tmp2):
    """Reconstruct a block (prediction + inverse DCT of the dequantised levels) into the plane."""
    for r in range(n):
        for c in range(n):
            tmp2[r, c] = lv[r, c] * q
            levels[y + r, x + c] = lv[r, c]
    res = np.empty((n, n))
    sc = 0 if n == 8 else (1 if n == 16 else 2)
    _idct(tmp2, n, mats[sc], mats[3 + sc], res, tmp)
    for r in range(n):
        for c in range(n):
            v = np.rint(4.0 * (pred[r, c] + res[r, c])) / 4.0
            rec[y + r, x + c] = min(HI, max(LO, v))
            avail[y + r, x + c] = 1
    for r in range(0, n, 8):
        for c in range(0, n, 8):
            mode_map[(y + r) >> 3, (x + c) >> 3] = mode
            depth_map[(y + r) >> 3, (x + c) >> 3] = depth


@njit(cache=True)
def _screen(orig, y, x, n, mode, top, left, pred, lblk, lm_a, lm_b, sl, probs, base, mpm, chroma, cost):
    """SAD of a mode's prediction + sqrt(lambda) * its mode bits (the cheap first pass of the mode search)."""
    _predict(mode, n, top, left, pred, lblk, lm_a, lm_b)
    s = 0.0
    for r in range(n):
        for c in range(n):
            s += abs(orig[y + r, x + c] - pred[r, c])
    return s + sl * _mode_bits(probs, base, mode, mpm, chroma, cost)


@njit(cache=True)
def _evaluate(orig, rec, avail, mode_map, luma, y, x, n, sc, chroma, q, lam, probs, base, cost, mats, scans,
              best_pred, best_lv, top, left, pred, resid, coef, lv, tmp, work):
    """Best mode of one block by D + lambda * R; fills best_pred / best_lv; returns (cost, mode)."""
    _refs(rec, avail, y, x, n, top, left)
    mpm = np.empty(3, np.int64)
    _mpms(mode_map, y, x, mpm)
    lm_a, lm_b = 0.0, 0.0
    lblk = luma[y:y + n, x:x + n]
    if chroma:
        lm_a, lm_b = _lm_params(rec, avail, luma, y, x, n)
    # screening by SAD + sqrt(lambda) * mode bits: even modes, then the neighbours of the best two
    sad = np.full(N_ANG + 1, 1e300)
    sl = np.sqrt(lam)
    nmodes = N_ANG + 1 if chroma else N_ANG
    for mode in range(nmodes):
        if 2 < mode < N_ANG and mode % 2 == 1:
            continue
        sad[mode] = _screen(orig, y, x, n, mode, top, left, pred, lblk, lm_a, lm_b, sl, probs, base, mpm, chroma,
                            cost)
    order = np.argsort(sad)
    for t in range(2):
        m0 = order[t]
        if 2 <= m0 < N_ANG:
            for mode in (m0 - 1, m0 + 1):
                if 2 <= mode < N_ANG and sad[mode] >= 1e300:
                    sad[mode] = _screen(orig, y, x, n, mode, top, left, pred, lblk, lm_a, lm_b, sl, probs, base,
                                        mpm, chroma, cost)
    order = np.argsort(sad)
    cands = np.empty(7, np.int64)
    nc = 0
    for t in range(N_SAD):
        cands[nc] = order[t]
        nc += 1
    for k in range(N_MPM):
        dup = False
        for t in range(nc):
            if cands[t] == mpm[k]:
                dup = True
        if not dup and nc < 6:
            cands[nc] = mpm[k]
            nc += 1
    best = 1e300
    best_mode = 0
    d, dt = mats[sc], mats[3 + sc]
    scan = scans[sc]
    for t in range(nc):
        mode = cands[t]
        _predict(mode, n, top, left, pred, lblk, lm_a, lm_b)
        for r in range(n):
            for c in range(n):
                resid[r, c] = orig[y + r, x + c] - pred[r, c]
        _fdct(resid, n, d, dt, coef, tmp)
        dist, bits = _rdoq(coef, n, sc, scan, q, lam, probs, base, cost, lv, work)
        cst = dist + lam * (bits + _mode_bits(probs, base, mode, mpm, chroma, cost))
        if cst < best:
            best = cst
            best_mode = mode
            for r in range(n):
                for c in range(n):
                    best_pred[r, c] = pred[r, c]
                    best_lv[r, c] = lv[r, c]
    return best, best_mode


@njit(cache=True)
def _code_ctu(st, buf, probs, base, rec, avail, mode_map, depth_map, levels, luma, y0, x0, chroma, q, mats,
              scans, enc):
    """Split flags, modes and levels of one 32x32 unit (decoding: reconstructs it too)."""
    top = np.empty(2 * CTU + 1)
    left = np.empty(2 * CTU + 1)
    pred = np.empty((CTU, CTU))
    lv = np.zeros((CTU, CTU), np.int64)
    tmp = np.empty((CTU, CTU))
    tmp2 = np.empty((CTU, CTU))
    mpm = np.empty(3, np.int64)
    # leaves in z-order: (y, x, n, depth)
    stack = np.empty((21, 4), np.int64)
    stack[0, 0], stack[0, 1], stack[0, 2], stack[0, 3] = y0, x0, CTU, 0
    sp = 1
    while sp > 0:
        sp -= 1
        y, x, n, depth = stack[sp, 0], stack[sp, 1], stack[sp, 2], stack[sp, 3]
        if n > 8:
            split = code_bit(st, buf, probs, base + _split_ctx(depth_map, y, x, depth),
                             1 if depth_map[y >> 3, x >> 3] > depth else 0, enc)
            if split:
                h = n // 2
                for (dy, dx) in ((h, h), (h, 0), (0, h), (0, 0)):      # pushed in reverse z-order
                    stack[sp, 0], stack[sp, 1], stack[sp, 2], stack[sp, 3] = y + dy, x + dx, h, depth + 1
                    sp += 1
                continue
        _mpms(mode_map, y, x, mpm)
        mode = code_mode(st, buf, probs, base, mode_map[y >> 3, x >> 3], mpm, chroma, enc)
        sc = 0 if n == 8 else (1 if n == 16 else 2)
        if enc:
            for r in range(n):
                for c in range(n):
                    lv[r, c] = levels[y + r, x + c]
        code_coeffs(st, buf, probs, base, lv, n, sc, scans[sc], enc)
        if st[5]:
            return
        if not enc:
            _refs(rec, avail, y, x, n, top, left)
            lm_a, lm_b = 0.0, 0.0
            if mode == LM:
                lm_a, lm_b = _lm_params(rec, avail, luma, y, x, n)
            _predict(mode, n, top, left, pred, luma[y:y + n, x:x + n], lm_a, lm_b)
            _write(rec, avail, mode_map, depth_map, levels, y, x, n, depth, mode, pred, lv, q, mats, tmp, tmp2)


@njit(cache=True)
def encode_plane(st, buf, probs, orig, rec, avail, mode_map, depth_map, levels, luma, chroma, q, lam, mats,
                 scans, cost, enc):
    """Search and code every 32x32 unit of a plane (sides multiples of 32) in raster order (enc: True, passed
    from Python so that the kernels it shares with the decoder compile once, not once per literal)."""
    H, W = orig.shape
    ints = np.array([8, 16, 32, 0, 1, 2])    # block sizes, size classes and depths as run-time integers
    n8, n16, n32, s8, s16, s32 = ints[0], ints[1], ints[2], ints[3], ints[4], ints[5]
    depth32, depth16, depth8 = s8, s16, s32
    base = SLAB if chroma else 0
    top = np.empty(2 * CTU + 1)
    left = np.empty(2 * CTU + 1)
    pred = np.empty((CTU, CTU))
    resid = np.empty((CTU, CTU))
    coef = np.empty((CTU, CTU))
    lv = np.zeros((CTU, CTU), np.int64)
    tmp = np.empty((CTU, CTU))
    tmp2 = np.empty((CTU, CTU))
    work = np.empty((4, CTU * CTU))
    p32, l32 = np.empty((32, 32)), np.zeros((32, 32), np.int64)
    p16, l16 = np.empty((16, 16)), np.zeros((16, 16), np.int64)
    p8, l8 = np.empty((8, 8)), np.zeros((8, 8), np.int64)
    for y0 in range(0, H, CTU):
        for x0 in range(0, W, CTU):
            c32, m32 = _evaluate(orig, rec, avail, mode_map, luma, y0, x0, n32, s32, chroma, q, lam, probs, base,
                                 cost, mats, scans, p32, l32, top, left, pred, resid, coef, lv, tmp, work)
            c32 += lam * _bit(probs, base + _split_ctx(depth_map, y0, x0, 0), 0, cost)
            tot16 = lam * _bit(probs, base + _split_ctx(depth_map, y0, x0, 0), 1, cost)
            for (dy, dx) in ((0, 0), (0, 16), (16, 0), (16, 16)):
                y1, x1 = y0 + dy, x0 + dx
                c16, m16 = _evaluate(orig, rec, avail, mode_map, luma, y1, x1, n16, s16, chroma, q, lam, probs,
                                     base, cost, mats, scans, p16, l16, top, left, pred, resid, coef, lv, tmp, work)
                c16 += lam * _bit(probs, base + _split_ctx(depth_map, y1, x1, 1), 0, cost)
                tot8 = lam * _bit(probs, base + _split_ctx(depth_map, y1, x1, 1), 1, cost)
                for (ey, ex) in ((0, 0), (0, 8), (8, 0), (8, 8)):
                    c8, m8 = _evaluate(orig, rec, avail, mode_map, luma, y1 + ey, x1 + ex, n8, s8, chroma, q, lam,
                                       probs, base, cost, mats, scans, p8, l8, top, left, pred, resid, coef, lv,
                                       tmp, work)
                    tot8 += c8
                    _write(rec, avail, mode_map, depth_map, levels, y1 + ey, x1 + ex, n8, depth8, m8, p8, l8, q,
                           mats, tmp, tmp2)
                if c16 <= tot8:
                    _write(rec, avail, mode_map, depth_map, levels, y1, x1, n16, depth16, m16, p16, l16, q, mats,
                           tmp, tmp2)
                    tot16 += c16
                else:
                    tot16 += tot8
            if c32 <= tot16:
                _write(rec, avail, mode_map, depth_map, levels, y0, x0, n32, depth32, m32, p32, l32, q, mats, tmp,
                       tmp2)
            _code_ctu(st, buf, probs, base, rec, avail, mode_map, depth_map, levels, luma, y0, x0, chroma, q,
                      mats, scans, enc)
            if st[5]:
                return


@njit(cache=True)
def decode_plane(st, buf, probs, rec, avail, mode_map, depth_map, levels, luma, chroma, q, mats, scans, enc):
    """Decode (enc: False, from Python) every 32x32 unit of a plane into rec."""
    H, W = rec.shape
    base = SLAB if chroma else 0
    for y0 in range(0, H, CTU):
        for x0 in range(0, W, CTU):
            _code_ctu(st, buf, probs, base, rec, avail, mode_map, depth_map, levels, luma, y0, x0, chroma, q,
                      mats, scans, enc)
            if st[5]:
                return


# ------------------------------------------------------------------------------------------- deblocking
@njit(cache=True)
def _filter_line(v, o, s, tc, beta):
    """Filter samples v[o - 4*s .. o + 3*s] across the edge between o - s and o (HEVC-style decisions)."""
    p3, p2, p1, p0 = v[o - 4 * s], v[o - 3 * s], v[o - 2 * s], v[o - s]
    q0, q1, q2, q3 = v[o], v[o + s], v[o + 2 * s], v[o + 3 * s]
    dp = abs(p2 - 2 * p1 + p0)
    dq = abs(q2 - 2 * q1 + q0)
    if dp + dq >= beta:
        return
    if (2 * (dp + dq) < beta / 4 and abs(p3 - p0) + abs(q0 - q3) < beta / 8 and abs(p0 - q0) < 2.5 * tc):
        c2 = 2 * tc
        v[o - s] = p0 + min(c2, max(-c2, (p2 + 2 * p1 + 2 * p0 + 2 * q0 + q1) / 8 - p0))
        v[o - 2 * s] = p1 + min(c2, max(-c2, (p2 + p1 + p0 + q0) / 4 - p1))
        v[o - 3 * s] = p2 + min(c2, max(-c2, (2 * p3 + 3 * p2 + p1 + p0 + q0) / 8 - p2))
        v[o] = q0 + min(c2, max(-c2, (p1 + 2 * p0 + 2 * q0 + 2 * q1 + q2) / 8 - q0))
        v[o + s] = q1 + min(c2, max(-c2, (p0 + q0 + q1 + q2) / 4 - q1))
        v[o + 2 * s] = q2 + min(c2, max(-c2, (p0 + q0 + q1 + 3 * q2 + 2 * q3) / 8 - q2))
        return
    delta = (9 * (q0 - p0) - 3 * (q1 - p1)) / 16
    if abs(delta) >= 10 * tc:
        return
    delta = min(tc, max(-tc, delta))
    v[o - s] = p0 + delta
    v[o] = q0 - delta
    if dp < 3 * beta / 16:
        v[o - 2 * s] = p1 + min(tc / 2, max(-tc / 2, ((p2 + p0) / 2 - p1 + delta) / 2))
    if dq < 3 * beta / 16:
        v[o + s] = q1 + min(tc / 2, max(-tc / 2, ((q2 + q0) / 2 - q1 - delta) / 2))


@njit(cache=True)
def deblock(rec, depth_map, tc, beta, out):
    """out = rec filtered across transform-block edges (vertical edges, then horizontal)."""
    H, W = rec.shape
    for y in range(H):
        for x in range(W):
            out[y, x] = rec[y, x]
    if tc <= 0:
        return
    flat = out.reshape(-1)
    for x in range(8, W, 8):
        for y in range(H):
            n = 32 >> depth_map[y >> 3, x >> 3]
            if x % n == 0:
                _filter_line(flat, y * W + x, 1, tc, beta)
    for y in range(8, H, 8):
        for x in range(W):
            n = 32 >> depth_map[y >> 3, x >> 3]
            if y % n == 0:
                _filter_line(flat, y * W + x, W, tc, beta)
    for y in range(H):
        for x in range(W):
            out[y, x] = min(HI, max(LO, out[y, x]))


@njit(cache=True)
def _sse(a, b, h, w):
    s = 0.0
    for y in range(h):
        for x in range(w):
            d = a[y, x] - b[y, x]
            s += d * d
    return s


# ------------------------------------------------------------------------------------------ plane driver
def _pad(plane: np.ndarray, m: int = CTU) -> np.ndarray:
    h, w = plane.shape
    return np.pad(plane, ((0, -h % m), (0, -w % m)), mode="edge")


def _luma_for_chroma(rec_y: np.ndarray, shape: tuple, subsample: bool) -> np.ndarray:
    """The decoded luma at chroma resolution and padding (2x2 means when subsampled)."""
    from lab.holo.patches import downsample2

    ds = downsample2(rec_y) if subsample else rec_y
    H, W = shape
    ds = ds[:H, :W]
    return np.ascontiguousarray(np.pad(ds, ((0, H - ds.shape[0]), (0, W - ds.shape[1])), mode="edge"))


class _Plane:
    def __init__(self, H: int, W: int):
        self.rec = np.zeros((H, W))
        self.avail = np.zeros((H, W), np.uint8)
        self.mode_map = np.full((H // 8, W // 8), -1, np.int64)
        self.depth_map = np.zeros((H // 8, W // 8), np.int64)
        self.levels = np.zeros((H, W), np.int64)


def encode_planes(planes: list[np.ndarray], steps: list[float], lam: float, subsample: bool):
    """Code [Y, Cb, Cr] float planes (lam: lambda / step^2) -> (DATA bytes, deblocking bytes, decoded planes)."""
    shapes = [p.shape for p in planes]
    padded = [np.ascontiguousarray(_pad(p)) for p in planes]
    cap = 64 + 4 * sum(p.size for p in padded)
    while True:
        st, buf, probs = new_encoder(), np.empty(cap, np.uint8), new_probs(2 * SLAB)
        recs, outs, filt = [], [], bytearray()
        for i, (orig, q) in enumerate(zip(padded, steps)):
            pl = _Plane(*orig.shape)
            luma = _luma_for_chroma(recs[0], orig.shape, subsample) if i else np.zeros(orig.shape)
            # a subsampled chroma error spreads over 4 pixels: its distortion weighs 4x
            lam_i = lam * q * q * (0.25 if i and subsample else 1.0)
            encode_plane(st, buf, probs, orig, pl.rec, pl.avail, pl.mode_map, pl.depth_map, pl.levels, luma,
                         i > 0, float(q), float(lam_i), MATS, SCANS, _COST, True)
            if st[5]:
                break
            recs.append(pl.rec)
            best, out = (np.inf, 0, 0), np.empty_like(pl.rec)
            for t in range(len(TC_SCALE)):
                for b in range(len(BETA_SCALE) if t else 1):
                    deblock(pl.rec, pl.depth_map, TC_SCALE[t] * q, BETA_SCALE[b] * q, out)
                    e = _sse(out, orig, *shapes[i])
                    if e < best[0]:
                        best = (e, t, b)
            filt += bytes(best[1:])
            deblock(pl.rec, pl.depth_map, TC_SCALE[best[1]] * q, BETA_SCALE[best[2]] * q, out)
            outs.append(out[: shapes[i][0], : shapes[i][1]])
        if not st[5]:
            enc_flush(st, buf)
        if not st[5]:
            return buf[: st[4]].tobytes(), bytes(filt), outs
        cap *= 4


def decode_planes(data: bytes, filt: bytes, shapes: list[tuple], steps: list[float], subsample: bool):
    """Inverse of encode_planes -> decoded planes (cropped to shapes)."""
    if len(filt) != 2 * len(shapes) or any(filt[2 * i] >= len(TC_SCALE) or filt[2 * i + 1] >= len(BETA_SCALE)
                                             for i in range(len(shapes))):
        raise FormatError("corrupt .holo file (bad deblocking section)")
    buf = dec_buffer(data)
    st = np.zeros(ST_LEN, np.int64)
    dec_init(st, buf)
    probs = new_probs(2 * SLAB)
    recs, outs = [], []
    for i, ((h, w), q) in enumerate(zip(shapes, steps)):
        H, W = h + (-h % CTU), w + (-w % CTU)
        pl = _Plane(H, W)
        luma = _luma_for_chroma(recs[0], (H, W), subsample) if i else np.zeros((H, W))
        decode_plane(st, buf, probs, pl.rec, pl.avail, pl.mode_map, pl.depth_map, pl.levels, luma, i > 0, float(q),
                     MATS, SCANS, False)
        if st[5] or st[4] > buf.shape[0] + 8:
            raise FormatError("coefficient stream is corrupt or truncated")
        recs.append(pl.rec)
        out = np.empty_like(pl.rec)
        t, b = filt[2 * i], filt[2 * i + 1]
        deblock(pl.rec, pl.depth_map, TC_SCALE[t] * q, BETA_SCALE[b] * q, out)
        outs.append(out[:h, :w])
    return outs
