/* The procedural machine's search in C: the inner loops of matcher.py (LCP, longest previous match, periodic
 * runs), bitstream.transform_candidates and parse.py (template candidates, the optimal parse), step for step
 * as their numba versions in lab/procedural/search_numba.py and bitstream.py, so the same program comes out (the DP's
 * float64 sums in the same order, no fused multiply-add). Loaded by lab/native.py with lab/entropy/cm.c;
 * tests/test_cm_native.py compares every kernel with its numba twin.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "words.h"      /* bitstream.track, shared with cm.c */

enum { K_LIT = 0, K_COPY = 1, K_REPEAT = 2, K_TEMPLATE = 3, K_TRANSFORM = 4, K_MINCOPY = 4, };

/* matcher._kasai: lcp[r] = LCP(sa[r-1], sa[r]); lcp[0] = lcp[n] = 0 (lcp has n + 1 entries, zeroed) */
int search_kasai(const uint8_t *s, const int64_t *sa, int64_t n, int64_t *lcp) {
    int64_t *rank = malloc(sizeof(int64_t) * (n ? n : 1));
    if (!rank) return -1;
    for (int64_t i = 0; i < n; i++) rank[sa[i]] = i;
    int64_t h = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = rank[i];
        if (r > 0) {
            int64_t j = sa[r - 1];
            while (i + h < n && j + h < n && s[i + h] == s[j + h]) h++;
            lcp[r] = h;
            if (h > 0) h--;
        } else h = 0;
    }
    free(rank);
    return 0;
}

/* matcher._nearest_smaller: one stack pass in suffix-array order (forward: previous ranks, else next ranks) */
int search_nearest_smaller(const int64_t *sa, const int64_t *lcp, int64_t n, int64_t *best_src, int64_t *best_len,
                           int forward) {
    int64_t *stack_r = malloc(sizeof(int64_t) * (n ? n : 1)), *stack_m = malloc(sizeof(int64_t) * (n ? n : 1));
    if (!stack_r || !stack_m) { free(stack_r); free(stack_m); return -1; }
    int64_t top = -1;
    for (int64_t k = 0; k < n; k++) {
        int64_t r = forward ? k : n - 1 - k;
        int64_t m = forward ? lcp[r] : lcp[r + 1];
        while (top >= 0 && sa[stack_r[top]] > sa[r]) {
            if (stack_m[top] < m) m = stack_m[top];
            top--;
        }
        if (top >= 0) {
            int64_t i = sa[r], src = sa[stack_r[top]];
            if (m > best_len[i] || (m == best_len[i] && m > 0 && src > best_src[i])) {
                best_len[i] = m;
                best_src[i] = src;
            }
        } else m = 0;
        top++;
        stack_r[top] = r;
        stack_m[top] = m;
    }
    free(stack_r);
    free(stack_m);
    return 0;
}

/* matcher.periodic_runs: for each position the period p (1..max_period) of the longest run a[i+k] == a[i+k-p]
   and its length (best_p, best_l zeroed by the caller) */
int search_periodic_runs(const uint8_t *a, int64_t n, int64_t max_period, int64_t *best_p, int64_t *best_l) {
    int64_t top = max_period < n - 1 ? max_period : n - 1;
    for (int64_t p = 1; p <= top; p++) {
        int64_t c = 0;
        for (int64_t i = n - 1; i >= 0; i--) {
            c = (i >= p && a[i] == a[i - p]) ? c + 1 : 0;
            if (c > best_l[i]) { best_l[i] = c; best_p[i] = p; }
        }
    }
    return 0;
}

/* bitstream.transform_candidates: for each word start, (mtf index, rule) of the cheapest TRANSFORM producing
   the word, or -1 (ref, rul filled with -1 and wl zeroed by the caller) */
int search_transform_candidates(const uint8_t *data, int64_t n, const int64_t *r_strip, const int64_t *ra_s,
                                const int64_t *ra_l, const uint8_t *rbytes, int64_t nrules, int64_t *ref,
                                int64_t *rul, int64_t *wl) {
    Words w;
    memset(&w, 0, sizeof(w));
    for (int64_t pos = 0; pos < n; pos++) {
        if (is_letter(data[pos]) && (pos == 0 || !is_letter(data[pos - 1]))) {
            int64_t e = pos;
            while (e < n && is_letter(data[e])) e++;
            int64_t L = e - pos;
            if (L >= 3 && e < n) {
                for (int64_t j = 0; j < w.n; j++) {
                    int64_t s = w.s[j], ln = w.l[j];
                    if (data[s] != data[pos] || data[s + 1] != data[pos + 1] || data[s + 2] != data[pos + 2]) continue;
                    int64_t p = 3;
                    while (p < ln && p < L && data[s + p] == data[pos + p]) p++;
                    if (p == ln && p == L) { ref[pos] = j; rul[pos] = 0; wl[pos] = L; break; }
                    int64_t strip = ln - p, alen = L - p, found = -1;
                    for (int64_t r = 0; r < nrules; r++) {
                        if (r_strip[r] == strip && ra_l[r] == alen) {
                            int ok = 1;
                            for (int64_t t = 0; t < alen; t++)
                                if (rbytes[ra_s[r] + t] != data[pos + p + t]) { ok = 0; break; }
                            if (ok) { found = r; break; }
                        }
                    }
                    if (found >= 0) { ref[pos] = j; rul[pos] = found + 1; wl[pos] = L; break; }
                }
            }
        }
        track_words(data, pos, &w);
    }
    return 0;
}

static inline int64_t eg_bits(int64_t v) {
    int64_t n = 0;
    for (int64_t x = v + 1; x > 1; x >>= 1) n++;
    return 2 * n + 1;
}

/* parse._template_candidates: the best TEMPLATE at each token start (outputs zeroed by the caller) */
int search_template_candidates(const uint8_t *data, int64_t n, const float *lit, const uint8_t *starts,
                               const int64_t *ta_s, const int64_t *ta_l, const int64_t *tb_s, const int64_t *tb_l,
                               const uint8_t *tbytes, const int64_t *key, const int64_t *order, int64_t ntmpl,
                               double op_base, int64_t *t_end, double *t_cost, int64_t *t_id, int64_t *t_slot) {
    for (int64_t i = 0; i < n - 4; i++) {
        if (!starts[i]) continue;
        int64_t k4 = ((int64_t)data[i] << 24) | ((int64_t)data[i + 1] << 16) | ((int64_t)data[i + 2] << 8)
                     | data[i + 3];
        int64_t lo = 0, hi = ntmpl;
        while (lo < hi) {
            int64_t mid = (lo + hi) / 2;
            if (key[order[mid]] < k4) lo = mid + 1;
            else hi = mid;
        }
        double best = 1e30;
        while (lo < ntmpl && key[order[lo]] == k4) {
            int64_t t = order[lo++], la = ta_l[t];
            if (i + la >= n) continue;
            int ok = 1;
            for (int64_t q = 0; q < la; q++)
                if (data[i + q] != tbytes[ta_s[t] + q]) { ok = 0; break; }
            if (!ok) continue;
            int64_t s = i + la, e = s;
            while (e < n && is_letter(data[e])) e++;
            int64_t sl = e - s;
            if (sl == 0 || e + tb_l[t] > n) continue;
            for (int64_t q = 0; q < tb_l[t]; q++)
                if (data[e + q] != tbytes[tb_s[t] + q]) { ok = 0; break; }
            if (!ok) continue;
            double c = op_base + 7.0 + 0.8 * (double)eg_bits(sl - 1);
            for (int64_t q = s; q < e; q++) c += (double)lit[q];
            if (c < best) {
                best = c;
                t_end[i] = e + tb_l[t]; t_cost[i] = c; t_id[i] = t; t_slot[i] = sl;
            }
        }
    }
    return 0;
}

/* parse._dp: the cheapest program by estimated cost. Writes the ops (at most n) into opos/okind/oa/ob and
   their count into *nops, the cost into *total. Returns 0, or -1 when memory ran out. */
int search_dp(int64_t n, const float *lit, const int64_t *m_off, const int64_t *m_len, const int64_t *r_per,
              const int64_t *r_len, const int64_t *t_end, const double *t_cost, const int64_t *t_id,
              const int64_t *t_slot, const int64_t *x_end, const double *x_cost, const int64_t *x_ref,
              const int64_t *x_rule, int use_copy, int use_rep, double flag_lit, double op_base,
              int64_t *opos, int64_t *okind, int64_t *oa, int64_t *ob, int64_t *nops, double *total) {
    const double INF = 1e30;
    double *dp = malloc(sizeof(double) * (n + 1));
    int64_t *bk = calloc(n + 1, sizeof(int64_t)), *bp = calloc(n + 1, sizeof(int64_t));
    int64_t *ba = calloc(n + 1, sizeof(int64_t)), *bb = calloc(n + 1, sizeof(int64_t));
    if (!dp || !bk || !bp || !ba || !bb) { free(dp); free(bk); free(bp); free(ba); free(bb); return -1; }
    for (int64_t i = 0; i <= n; i++) dp[i] = INF;
    dp[0] = 0.0;
#define RELAX(e, cost, kind, a, b) \
    if ((cost) < dp[e]) { dp[e] = (cost); bk[e] = (kind); bp[e] = i; ba[e] = (a); bb[e] = (b); }
    for (int64_t i = 0; i < n; i++) {
        double d = dp[i];
        if (d >= INF) continue;
        double c = d + (double)lit[i] + flag_lit;
        if (c < dp[i + 1]) { dp[i + 1] = c; bk[i + 1] = K_LIT; bp[i + 1] = i; }
        if (use_rep && r_len[i] >= 2) {
            int64_t p = r_per[i], L = r_len[i];
            double base = d + op_base + 2.0;
            int64_t ls[3] = {L, L < 8 ? L : 8, L < 16 ? L : 16};
            for (int q = 0; q < 3; q++) {
                int64_t l = ls[q];
                if (l >= 2) {
                    c = base + 0.8 * (double)eg_bits(l - 1);
                    RELAX(i + l, c, K_REPEAT, p, l)
                }
            }
        }
        if (use_copy && m_len[i] >= K_MINCOPY) {
            int64_t off = m_off[i], L = m_len[i], nb = 0;
            for (int64_t x = off; x > 0; x >>= 1) nb++;
            double ocost = 3.0 + (double)(nb - 1);
            int64_t top = L < K_MINCOPY + 32 ? L : K_MINCOPY + 32;
            for (int64_t l = K_MINCOPY; l <= top; l++) {
                c = d + op_base + ocost + 0.8 * (double)eg_bits(l - K_MINCOPY);
                RELAX(i + l, c, K_COPY, off, l)
            }
            if (L > top) {
                c = d + op_base + ocost + 0.8 * (double)eg_bits(L - K_MINCOPY);
                RELAX(i + L, c, K_COPY, off, L)
            }
        }
        if (t_end[i] > 0) {
            int64_t e = t_end[i];
            c = d + t_cost[i];
            RELAX(e, c, K_TEMPLATE, t_id[i], t_slot[i])
        }
        if (x_end[i] > 0) {
            int64_t e = x_end[i];
            c = d + x_cost[i];
            RELAX(e, c, K_TRANSFORM, x_ref[i], x_rule[i])
        }
    }
#undef RELAX
    int64_t cnt = 0;
    for (int64_t j = n; j > 0; j = bp[j]) if (bk[j] != K_LIT) cnt++;
    int64_t k = cnt - 1;
    for (int64_t j = n; j > 0; j = bp[j])
        if (bk[j] != K_LIT) { opos[k] = bp[j]; okind[k] = bk[j]; oa[k] = ba[j]; ob[k] = bb[j]; k--; }
    *nops = cnt;
    *total = dp[n];
    free(dp); free(bk); free(bp); free(ba); free(bb);
    return 0;
}
