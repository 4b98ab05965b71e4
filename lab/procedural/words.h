/* bitstream.track in C, for lab/entropy/cm.c (the program coder) and lab/procedural/search.c (the
 * transform candidates): the move-to-front list of the last 64 distinct words, updated after each byte. */
#ifndef LAB_WORDS_H
#define LAB_WORDS_H
#include <stdint.h>

#define MTF 64

static inline int is_letter(int b) { return (65 <= b && b <= 90) || (97 <= b && b <= 122); }

typedef struct { int64_t in_word, start, n, s[MTF], l[MTF], h[MTF]; } Words;   /* ws, mtf_s, mtf_l, mtf_h */

static inline void track_words(const uint8_t *out, int64_t pos, Words *w) {
    int b = out[pos];
    if (is_letter(b)) {
        if (w->in_word == 0) { w->in_word = 1; w->start = pos; }
        return;
    }
    if (w->in_word == 0) return;
    w->in_word = 0;
    int64_t s = w->start, ln = pos - s;
    uint64_t h = (uint64_t)ln;
    for (int64_t i = s; i < pos; i++) h = (h * 1000003ULL + out[i]) & 0xFFFFFFFFFFFFULL;
    int64_t j = -1;
    for (int64_t i = 0; i < w->n; i++)
        if (w->h[i] == (int64_t)h && w->l[i] == ln) { j = i; break; }
    if (j < 0) {
        j = w->n < MTF ? w->n : MTF - 1;
        if (w->n < MTF) w->n++;
    }
    for (int64_t i = j; i > 0; i--) { w->s[i] = w->s[i - 1]; w->l[i] = w->l[i - 1]; w->h[i] = w->h[i - 1]; }
    w->s[0] = s; w->l[0] = ln; w->h[0] = (int64_t)h;
}
#endif
