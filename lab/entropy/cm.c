/* The context-mixing byte model of lab/entropy/cm.py and the program coder of lab/procedural/bitstream.py,
 * in C: the same arithmetic step for step, so the same bits.
 *
 * cm.py and bitstream.py are the reference (read their docstrings); this file is a second implementation of
 * the machine's coding loop (pricing, and the program's encoder and decoder), loaded by lab/entropy/cm_native.py
 * through ctypes, and tests/test_cm_native.py checks that both give identical probabilities and streams.
 * What keeps it bit-exact with the numba code: float32 where cm.py has float32 (the mixer), float64 elsewhere,
 * no fused multiply-add (-ffp-contract=off), integer products wrapping as numba's int64 do, arithmetic right
 * shifts of signed values (cm.py's _mix64 shifts a negative int64).
 * The tables (stretch, squash, reciprocals, the APM's start, the bits of each probability) come from
 * lab/entropy/cm_tables.py, which cm.py uses too: lab/native.py writes them into cm_tables.h before compiling.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cm_tables.h"   /* STR[4096] (float), SQ[2049] (double), RECIP[256] (int64), APM0[33] (int32), BITS[65536] */
#include "words.h"       /* lab/procedural/words.h: bitstream.track, shared with search.c */

#define NM 7
#define NI (NM + 2)
#define MINLEN 6
#define MBITS 20
#define TBITS 22
#define TMASK ((1LL << TBITS) - 1)
#define LIMIT 255
#define T0 (1u << 31)

typedef struct {
    uint32_t *t;          /* NM tables of 2**TBITS entries: (22-bit probability << 10 | 10-bit count) ^ T0 */
    int32_t *apm;         /* (1 << 16) x 33 */
    int64_t *mtab;        /* 2**MBITS last positions */
    size_t t_bytes, apm_bytes, mtab_bytes;
    float w[256 * 3][NI];
    int64_t h[NM], base[NM];
    float sx[NI];
    int64_t word[2];
    int64_t mst[2];
    uint32_t mp[64];
} CM;

typedef struct {          /* the range coder's state, as lab/entropy/rangecoder.py's st[0..5] */
    int64_t low, rng, cache, csize, pos, err;
    uint8_t *buf;
    int64_t cap;
} RC;

static void *big_alloc(size_t n) {
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, n, MADV_HUGEPAGE);   /* random access over 117 MB: huge pages spare most TLB misses */
#endif
    return p;
}

void cm_free(CM *s) {
    if (!s) return;
    if (s->t) munmap(s->t, s->t_bytes);
    if (s->apm) munmap(s->apm, s->apm_bytes);
    if (s->mtab) munmap(s->mtab, s->mtab_bytes);
    free(s);
}

CM *cm_new(void) {
    CM *s = calloc(1, sizeof(CM));
    if (!s) return NULL;
    s->t_bytes = (size_t)NM << TBITS << 2;
    s->apm_bytes = (size_t)(1 << 16) * 33 * 4;
    s->mtab_bytes = (size_t)1 << MBITS << 3;
    s->t = big_alloc(s->t_bytes);
    s->apm = big_alloc(s->apm_bytes);
    s->mtab = big_alloc(s->mtab_bytes);     /* zero-filled by mmap */
    if (!s->t || !s->apm || !s->mtab) { cm_free(s); return NULL; }
    /* t holds each entry XOR T0 (T0 = 1 << 31, a fresh entry: p = 1/2, no hits), so the zero pages mmap
       gives are a fresh model without a pass over 117 MB */
    for (size_t i = 0; i < (1 << 16); i++) memcpy(s->apm + i * 33, APM0, sizeof(APM0));
    for (int i = 0; i < 256 * 3; i++)
        for (int m = 0; m < NI; m++) s->w[i][m] = 0.3f;
    for (int i = 0; i < 64; i++) s->mp[i] = 1u << 31;
    return s;
}

static inline int64_t mix64(int64_t x) {   /* numba's int64: products wrap, right shifts are arithmetic */
    x = (int64_t)((uint64_t)(x ^ (x >> 29)) * 0xBF58476D1CE4E5B9ULL);
    x &= 0x7FFFFFFFFFFFFFFFLL;
    x = (int64_t)((uint64_t)(x ^ (x >> 32)) * 0x94D049BB133111EBULL);
    return (x ^ (x >> 29)) & 0x7FFFFFFFFFFFFFFFLL;
}

/* ---- the range coder (rangecoder.py: _shift_low, _next_byte, dec_init, enc_flush, code_bit_p) ---- */

static inline void shift_low(RC *r) {
    int64_t low = r->low;
    if (low < 0xFF000000LL || low >= 0x100000000LL) {
        int64_t carry = low >> 32, temp = r->cache;
        for (;;) {
            if (r->pos < r->cap) r->buf[r->pos] = (uint8_t)((temp + carry) & 0xFF);
            else r->err = 1;
            r->pos++;
            temp = 0xFF;
            if (--r->csize == 0) break;
        }
        r->cache = (low >> 24) & 0xFF;
    }
    r->csize++;
    r->low = (low & 0x00FFFFFF) << 8;
}

static inline int64_t next_byte(RC *r) {
    int64_t p = r->pos++;
    if (p < r->cap) return r->buf[p];
    r->err = 1;
    return 0;
}

static void enc_init(RC *r, uint8_t *buf, int64_t cap) {
    memset(r, 0, sizeof(*r));
    r->rng = 0xFFFFFFFFLL; r->csize = 1; r->buf = buf; r->cap = cap;
}

static void enc_flush(RC *r) { for (int i = 0; i < 5; i++) shift_low(r); }

static void dec_init(RC *r, uint8_t *buf, int64_t len) {
    memset(r, 0, sizeof(*r));
    r->buf = buf; r->cap = len; r->rng = 0xFFFFFFFFLL;
    for (int i = 0; i < 5; i++) r->low = ((r->low << 8) | next_byte(r)) & 0xFFFFFFFFLL;
}

/* one bit with `bound` = the range of a 0 (code_bit_p's (range >> 16) * p0, code_bypass's range >> 1) */
static inline int code_bound(RC *r, int64_t bound, int bit, int enc) {
    int64_t rng = r->rng;
    if (enc) {
        if (bit == 0) r->rng = bound;
        else { r->low += bound; r->rng = rng - bound; }
    } else {
        if (r->low < bound) { r->rng = bound; bit = 0; }
        else { r->low -= bound; r->rng = rng - bound; bit = 1; }
    }
    while (r->rng < (1LL << 24)) {      /* _normalize */
        r->rng <<= 8;
        if (enc) shift_low(r);
        else r->low = ((r->low << 8) | next_byte(r)) & 0xFFFFFFFFLL;
    }
    return bit;
}

static inline int code_bit_p(RC *r, int64_t p0, int bit, int enc) {
    return code_bound(r, (r->rng >> 16) * p0, bit, enc);
}

/* rangecoder.code_bit: two counters adapting at 1/16 and 1/128 */
static inline int code_bit(RC *r, int32_t *probs, int ctx, int bit, int enc) {
    int32_t pa = probs[2 * ctx], pb = probs[2 * ctx + 1];
    bit = code_bit_p(r, (pa + pb) >> 1, bit, enc);
    if (bit == 0) { probs[2 * ctx] = pa + ((65536 - pa) >> 4); probs[2 * ctx + 1] = pb + ((65536 - pb) >> 7); }
    else { probs[2 * ctx] = pa - (pa >> 4); probs[2 * ctx + 1] = pb - (pb >> 7); }
    return bit;
}

/* ---- the model (cm.py: _contexts, _word_update, _match_update, _slots, cm_byte) ---- */

static inline void contexts(CM *s, const uint8_t *out, int64_t pos) {
    int64_t c[6];
    for (int k = 0; k < 6; k++) c[k] = pos >= k + 1 ? out[pos - k - 1] : 0;
    s->h[0] = 0;
    s->h[1] = c[0] << 9;
    s->h[2] = mix64(c[0] | (c[1] << 8) | 0x20000);
    s->h[3] = mix64(c[0] | (c[1] << 8) | (c[2] << 16) | 0x3000000);
    s->h[4] = mix64(c[0] | (c[1] << 8) | (c[2] << 16) | (c[3] << 24) | (4LL << 32));
    s->h[5] = mix64(c[0] | (c[1] << 8) | (c[2] << 16) | (c[3] << 24) | (c[4] << 32) | (c[5] << 40) | (6LL << 48));
    s->h[6] = mix64((int64_t)((uint64_t)s->word[0] * 0x2F0B3A49ULL + (uint64_t)s->word[1] + (7ULL << 56)));
}

static inline void word_update(CM *s, int64_t b) {
    if (65 <= b && b <= 90) b += 32;
    if ((97 <= b && b <= 122) || b >= 128) s->word[0] = (s->word[0] * 263 + b + 1) & 0xFFFFFFFFFFFFLL;
    else if (s->word[0] != 0) { s->word[1] = s->word[0]; s->word[0] = 0; }
}

static inline void match_update(CM *s, const uint8_t *out, int64_t pos) {
    int64_t *mst = s->mst;
    if (pos == 0) return;
    if (mst[1] > 0 && out[mst[0]] == out[pos - 1]) {
        mst[1] += mst[1] < 65535 ? 1 : 0;
        mst[0] += 1;
    } else mst[1] = 0;
    if (pos >= MINLEN) {
        int64_t x = 0;
        for (int64_t k = pos - MINLEN; k < pos; k++) x = (x << 8) | out[k];
        int64_t hh = mix64(x) & ((1 << MBITS) - 1);
        if (mst[1] == 0) {
            int64_t cand = s->mtab[hh];
            if (cand > 0) {
                int64_t n = 0;
                while (n < 32 && cand - n - 1 >= 0 && out[cand - n - 1] == out[pos - n - 1]) n++;
                if (n >= MINLEN) { mst[0] = cand; mst[1] = n; }
            }
        }
        s->mtab[hh] = pos;
    }
}

static inline void slots(CM *s, int64_t c0) {
    int64_t off = c0 == 1 ? 0 : c0 << 4;
    s->base[0] = off;
    s->base[1] = s->h[1] + off;
    for (int m = 2; m < NM; m++) {
        s->base[m] = (mix64(s->h[m] + c0 * 0x9E3779B1LL) & TMASK) & ~15LL;
        __builtin_prefetch(s->t + ((size_t)m << TBITS) + s->base[m]);
    }
}

static inline void update(uint32_t *e_ptr, int64_t target, uint32_t x) {   /* x: T0 for t's entries, else 0 */
    int64_t e = *e_ptr ^ x, cnt = e & 1023, p = e >> 10;
    p += ((target - p) * RECIP[cnt]) >> 16;
    if (cnt < LIMIT) cnt++;
    *e_ptr = (uint32_t)((p << 10) | cnt) ^ x;
}

/* mode 0 encode `byte`, 1 decode, 2 update only, 3 price (returns bits, stores the 8 probabilities) */
static inline int cm_byte(CM *s, RC *r, uint8_t *out, int64_t pos, int byte, int mode, int32_t *pstore,
                          double *bits_out) {
    contexts(s, out, pos);
    match_update(s, out, pos);
    int64_t pb = s->mst[1] > 0 ? (int64_t)out[s->mst[0]] + 256 : 0;
    int64_t mlb = s->mst[1] < 16 ? s->mst[1] : 16 + (((s->mst[1] - 16) >> 3) < 15 ? ((s->mst[1] - 16) >> 3) : 15);
    int64_t c1 = pos >= 1 ? out[pos - 1] : 0;
    int64_t c0 = 1, local = 1;
    double bits = 0.0;
    float *sx = s->sx;
    slots(s, c0);
    for (int j = 7; j >= 0; j--) {
        if (j == 3) { slots(s, c0); local = 1; }
        int64_t mi = -1, ws = c0;
        if (pb && (pb >> (j + 1)) == c0) {
            mi = 2 * mlb + ((pb >> j) & 1);
            sx[NM] = STR[s->mp[mi] >> 20];
            ws = c0 + 256 * (1 + (mlb >= 16));
        } else sx[NM] = 0.0f;
        float *w = s->w[ws];
        float dot = 0.0f;
        for (int m = 0; m < NM; m++) {
            float v = STR[(s->t[((size_t)m << TBITS) + s->base[m] + local] ^ T0) >> 20];
            sx[m] = v;
            dot += w[m] * v;
        }
        dot += w[NM] * sx[NM];
        sx[NM + 1] = 0.25f;
        dot += w[NM + 1] * sx[NM + 1];
        if (dot > 15.0) dot = 15.0f;
        else if (dot < -15.0) dot = -15.0f;
        double p1 = SQ[(int64_t)(((double)dot + 16.0) * 64.0)];
        double sv = ((double)dot + 8.0) * 2.0;
        if (sv < 0.0) sv = 0.0;
        else if (sv > 31.999) sv = 31.999;
        int64_t lo = (int64_t)sv;
        double fr = sv - (double)lo;
        int32_t *a = s->apm + ((c1 << 8) | c0) * 33;
        double pa = ((1.0 - fr) * a[lo] + fr * a[lo + 1]) / 65536.0;
        double pf = 0.5 * p1 + 0.5 * pa;
        int64_t p1i = (int64_t)(pf * 65536.0);
        if (p1i < 32) p1i = 32;
        else if (p1i > 65504) p1i = 65504;
        int bit;
        if (mode == 0) { bit = (byte >> j) & 1; code_bit_p(r, 65536 - p1i, bit, 1); }
        else if (mode == 1) bit = code_bit_p(r, 65536 - p1i, 0, 0);
        else {
            bit = (byte >> j) & 1;
            if (mode == 3) {
                bits += bit ? BITS[p1i] : BITS[65536 - p1i];
                pstore[8 * pos + 7 - j] = (int32_t)p1i;
            }
        }
        float err = (float)((double)bit - p1) * 0.0025f;
        for (int m = 0; m < NI; m++) w[m] += err * sx[m];
        int64_t target = bit ? (1 << 22) - 1 : 0;
        for (int m = 0; m < NM; m++) update(s->t + ((size_t)m << TBITS) + s->base[m] + local, target, T0);
        if (mi >= 0) update(s->mp + mi, target, 0);
        int64_t ta = bit ? 65535 : 0;
        int64_t k = fr < 0.5 ? lo : lo + 1;
        a[k] += (int32_t)(((ta - a[k]) * 5) >> 6);
        c0 = (c0 << 1) | bit;
        local = (local << 1) | bit;
    }
    int b = (int)(c0 & 0xFF);
    out[pos] = (uint8_t)b;
    word_update(s, b);
    if (bits_out) *bits_out = bits;
    return b;
}

/* ---- entry points (cm_native.py) ---- */

/* cm._price_all: a fresh model prices data[0..n): costs[i] bits, pstore[8i..8i+8) the coded probabilities.
   Returns 0, or -1 when memory ran out. */
int cm_price_all(const uint8_t *data, int64_t n, int32_t *pstore, float *costs) {
    CM *s = cm_new();
    uint8_t *out = malloc(n ? n : 1);
    if (!s || !out) { cm_free(s); free(out); return -1; }
    RC dummy;
    memset(&dummy, 0, sizeof(dummy));
    for (int64_t i = 0; i < n; i++) {
        double b;
        cm_byte(s, &dummy, out, i, data[i], 3, pstore, &b);
        costs[i] = (float)b;
    }
    cm_free(s);
    free(out);
    return 0;
}

/* ---- the whole program (bitstream.run_program without its bit log): literals and operators ---- */

#define LIT 0
#define COPY 1
#define REPEAT 2
#define TEMPLATE 3
#define TRANSFORM 4
#define MINCOPY 4
enum { C_FLAG = 0, C_KIND = 64, C_LEN = 96, C_REP = 160, C_SLOT = 176, C_PER = 432, C_RLEN = 448, C_TID = 512,
       C_SLEN = 768, C_REF = 832, C_RULE = 896, N_CTX = 928 };

static inline int code_bypass(RC *r, int bit, int enc) { return code_bound(r, r->rng >> 1, bit, enc); }

static int64_t code_bits_bypass(RC *r, int64_t value, int nbits, int enc) {
    int64_t out = 0;
    for (int i = nbits - 1; i >= 0; i--) out = (out << 1) | code_bypass(r, (int)((value >> i) & 1), enc);
    return out;
}

static int64_t code_tree(RC *r, int32_t *probs, int ctx0, int64_t value, int nbits, int enc) {
    int64_t node = 1;
    for (int i = nbits - 1; i >= 0; i--)
        node = (node << 1) | code_bit(r, probs, (int)(ctx0 + node), (int)((value >> i) & 1), enc);
    return node - (1LL << nbits);
}

static int64_t code_eg(RC *r, int32_t *probs, int ctx0, int64_t value, int enc) {
    int64_t v1 = value + 1, n = 0;
    if (enc) for (int64_t t = v1; t > 1; t >>= 1) n++;
    int64_t k = 0;
    for (;;) {
        int c = ctx0 + (int)(k < 31 ? k : 31);
        if (code_bit(r, probs, c, k < n ? 1 : 0, enc) == 0) break;
        if (++k > 30) { r->err = 1; return 0; }
    }
    n = k;
    if (n == 0) return 0;
    int64_t hi = code_bit(r, probs, (int)(ctx0 + 32 + n), (int)((v1 >> (n - 1)) & 1), enc);
    int64_t rest = code_bits_bypass(r, v1 & ((1LL << (n - 1)) - 1), (int)(n - 1), enc);
    v1 = (1LL << n) | (hi << (n - 1)) | rest;
    return v1 - 1;
}

static inline int bitlen(int64_t x) { int n = 0; while (x > 0) { x >>= 1; n++; } return n; }

typedef struct {        /* the learned tables (templates: A = prefix, B = suffix; rules: strip, add) */
    const int64_t *ta_s, *ta_l, *tb_s, *tb_l; const uint8_t *tbytes; int64_t ntmpl;
    const int64_t *r_strip, *ra_s, *ra_l; const uint8_t *rbytes; int64_t nrules;
} Tables;

/* a byte an operator produced: the decoder's model learns it; both sides track words */
static inline void emit(CM *s, uint8_t *out, int64_t pos, int b, Words *w, int enc) {
    if (!enc) cm_byte(s, NULL, out, pos, b, 2, NULL, NULL);
    track_words(out, pos, w);
}

static inline void literal(CM *s, RC *r, uint8_t *out, int64_t pos, const int32_t *pstore, int enc) {
    if (enc) for (int j = 7; j >= 0; j--) code_bit_p(r, 65536 - pstore[8 * pos + 7 - j], (out[pos] >> j) & 1, 1);
    else cm_byte(s, r, out, pos, 0, 1, NULL, NULL);
}

/* Encode (enc = 1: out holds the data, ops in opos/okind/oa/ob, literals coded with pstore) or decode (out
   filled, the ops not returned). Returns: encoding, the stream's length (-1: buf too small); decoding, 0 (-1:
   invalid or truncated stream, -2: out of memory). *nops_out: the number of operators. marks (encoding, may be
   NULL): the coder's state before each literal or operator at pos and at n, as (pos + csize, rng) in marks[2 pos],
   marks[2 pos + 1] (bits so far: 8 (pos + csize) - log2 rng, formed by the caller; bitstream.run_program's log). */
int64_t proc_run(int enc, uint8_t *buf, int64_t buflen, uint8_t *out, int64_t n, const int64_t *opos,
                 const int64_t *okind, const int64_t *oa, const int64_t *ob, int64_t nops, const int64_t *ta_s,
                 const int64_t *ta_l, const int64_t *tb_s, const int64_t *tb_l, const uint8_t *tbytes, int64_t ntmpl,
                 const int64_t *r_strip, const int64_t *ra_s, const int64_t *ra_l, const uint8_t *rbytes,
                 int64_t nrules, const int32_t *pstore, int64_t *nops_out, int64_t *marks) {
    Tables T = {ta_s, ta_l, tb_s, tb_l, tbytes, ntmpl, r_strip, ra_s, ra_l, rbytes, nrules};
    CM *s = NULL;
    if (!enc && !(s = cm_new())) return -2;
    RC r;
    if (enc) enc_init(&r, buf, buflen);
    else dec_init(&r, buf, buflen);
    int32_t probs[2 * N_CTX];
    for (int i = 0; i < 2 * N_CTX; i++) probs[i] = 32768;
    Words w;
    memset(&w, 0, sizeof(w));
    int64_t pos = 0, k = 0, prev = 0, run = 0, last_off = 0;
    while (pos < n && !r.err) {
        if (marks) { marks[2 * pos] = r.pos + r.csize; marks[2 * pos + 1] = r.rng; }
        int isop = enc && k < nops && opos[k] == pos;
        int wstart = (pos == 0 || !is_letter(out[pos - 1])) ? 1 : 0;
        int64_t rb = run < 3 ? run : 3;
        isop = code_bit(&r, probs, (int)(C_FLAG + (prev * 4 + rb) * 2 + wstart), isop, enc);
        if (!isop) {
            literal(s, &r, out, pos, pstore, enc);
            track_words(out, pos, &w);
            pos++; run++; prev = 0;
            continue;
        }
        int64_t kind = enc ? okind[k] : 1;
        kind = 1 + code_tree(&r, probs, (int)(C_KIND + prev * 4), kind - 1, 2, enc);
        if (kind == COPY || kind == REPEAT) {
            int64_t ln, off;
            if (kind == COPY) {
                ln = MINCOPY + code_eg(&r, probs, C_LEN, (enc ? ob[k] : MINCOPY) - MINCOPY, enc);
                off = enc ? oa[k] : 1;
                if (code_bit(&r, probs, C_REP, off == last_off ? 1 : 0, enc)) off = last_off;
                else {
                    int64_t lb = ln - MINCOPY < 3 ? ln - MINCOPY : 3;
                    int64_t nb = code_tree(&r, probs, (int)(C_SLOT + lb * 64), bitlen(off), 6, enc);
                    if (nb < 1 || nb > 40) { r.err = 1; break; }
                    off = (1LL << (nb - 1)) | code_bits_bypass(&r, off & ((1LL << (nb - 1)) - 1), (int)(nb - 1), enc);
                }
                last_off = off;
            } else {
                off = 1 + code_tree(&r, probs, C_PER, (enc ? oa[k] : 1) - 1, 4, enc);
                ln = 1 + code_eg(&r, probs, C_RLEN, (enc ? ob[k] : 1) - 1, enc);
            }
            if (off > pos || pos + ln > n) { r.err = 1; break; }
            for (int64_t t = 0; t < ln; t++, pos++) emit(s, out, pos, out[pos - off], &w, enc);
        } else if (kind == TEMPLATE) {
            int64_t tid = code_tree(&r, probs, C_TID, enc ? oa[k] : 0, 8, enc);
            int64_t sl = 1 + code_eg(&r, probs, C_SLEN, (enc ? ob[k] : 1) - 1, enc);
            if (tid >= T.ntmpl || pos + T.ta_l[tid] + sl + T.tb_l[tid] > n) { r.err = 1; break; }
            for (int64_t t = 0; t < T.ta_l[tid]; t++, pos++) emit(s, out, pos, T.tbytes[T.ta_s[tid] + t], &w, enc);
            for (int64_t t = 0; t < sl; t++, pos++) {
                literal(s, &r, out, pos, pstore, enc);
                track_words(out, pos, &w);
            }
            for (int64_t t = 0; t < T.tb_l[tid]; t++, pos++) emit(s, out, pos, T.tbytes[T.tb_s[tid] + t], &w, enc);
        } else {    /* TRANSFORM */
            int64_t ref = code_tree(&r, probs, C_REF, enc ? oa[k] : 0, 6, enc);
            int64_t rule = code_tree(&r, probs, C_RULE, enc ? ob[k] : 0, 5, enc);
            if (ref >= w.n || rule > T.nrules) { r.err = 1; break; }
            int64_t strip = rule == 0 ? 0 : T.r_strip[rule - 1];
            int64_t keep = w.l[ref] - strip, add = rule == 0 ? 0 : T.ra_l[rule - 1];
            if (keep < 0 || pos + keep + add > n) { r.err = 1; break; }
            int64_t src = w.s[ref];
            for (int64_t t = 0; t < keep; t++, pos++) emit(s, out, pos, out[src + t], &w, enc);
            for (int64_t t = 0; t < add; t++, pos++) emit(s, out, pos, T.rbytes[T.ra_s[rule - 1] + t], &w, enc);
        }
        k++; prev = kind; run = 0;
    }
    cm_free(s);
    if (marks && !r.err) { marks[2 * n] = r.pos + r.csize; marks[2 * n + 1] = r.rng; }
    if (nops_out) *nops_out = k;
    if (enc) {
        enc_flush(&r);
        return r.err ? -1 : r.pos;
    }
    return r.err ? -1 : 0;
}
