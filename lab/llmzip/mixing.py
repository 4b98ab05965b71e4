"""Online models mixed with the LM's next-token distribution while coding (llmzip's `mix` mode, .llmz v3).

What the LM cannot know about *this* document, learned from the tokens already coded, the same on the encoder's
and the decoder's side (every update uses only coded tokens, in the same order, on the same device class):

- `BIAS`: an adaptive log-space bias over the vocabulary, one per stream, added to the LM's logits and moved by
  online gradient descent on each coded token's log-loss (d/d bias = onehot(y) - p): the document's own word
  frequencies (Nacrith's "adaptive bias head", arXiv 2602.19626);
- `NGRAM`: a token 2-gram successor model: the token that last followed the previous two tokens (hashed, the
  context verified), with a confirmation count;
- `MATCH`: a match model over the already-coded text: the token that followed the last occurrence of the last 8
  tokens, with the length of the current run of correct predictions.

The three are mixed by a small online mixing layer: p = w0 * softmax(logits + bias) + w1 * onehot(ngram) +
w2 * onehot(match), w = softmax(0, a[ngram confidence], a[match confidence]), the weight tables `a` (shared by the
streams) trained by gradient descent on each coded token's log-loss. All of it vectorised across streams (numpy on
the host for the tables, torch where the logits live for the bias).

- `CTX`: the document's token n-gram statistics (every successor of the last 1, 2, 3, 4 and 6 tokens with its
  count, and the last successor of the last 8 with the current run of correct predictions) as features of a
  log-linear boost: each candidate token's logit gets sum_k W1[k, n, l] * count_k(x) / n_k + W0[k, n, l], plus
  Wm[run, l] for the match, the weights indexed by the context's count bucket n and the LM's own probability of
  the candidate l (a token the LM already expects needs less help than one it thinks unlikely), trained by online
  gradient descent on each coded token's log-loss and shared by the streams (its tables too). Applied before the
  linear layer above, which then mixes the boosted distribution. On the lab's 2026 tuning text (issues 26-30,
  README, reports/optical_gpu/README; never the scored held-out document) it took the LM + bias + linear mix from
  1.717 to 1.654 bits/byte in the estimate (scripts/llmzip_mix_estimate.py).

- `SHARED`: one bias and one table per model for *every* stream, updated after each step in stream order (the
  decoder knows every stream's token of a step before the next, so both sides agree). Per-stream models learn
  from 1/streams of a file each: on the post-cutoff document at 16 streams they gained nothing (1.977 bits/byte
  in a real file against 1.496 estimated on one stream). `all` includes it.
"""
from __future__ import annotations

import numpy as np
import torch

BIAS, NGRAM, MATCH, SHARED, CTX = 1, 2, 4, 8, 16
ADAPT = 32                     # not a mixed model: the LM's own weights adapted while coding (lab.llmzip.adapt)
ALL = BIAS | NGRAM | MATCH | SHARED | CTX
KNOWN = ALL | ADAPT            # every flag a .llmz file may carry
NAMES = {BIAS: "bias", NGRAM: "ngram", MATCH: "match", SHARED: "shared", CTX: "ctx", ADAPT: "adapt"}
# learning rates (bias, mixing layer): per-stream models (the first .llmz v3 files) keep theirs; shared models use
# the rates chosen on a 6 KB bible slice (scripts/llmzip_mix_estimate.py; never on a file they are scored on)
RATES = {False: (0.02, 0.02), True: (0.1, 1.0)}
BUCKETS = 16
CTX_ORDERS, CTX_MATCH, CTX_LR = (1, 2, 3, 4, 6), 8, 0.2


def flags_of(names) -> int:
    """{"bias", "match"} (or "all", "none") -> the header's flag byte; ValueError naming an unknown model."""
    names = set(names)
    out = 0
    if "all" in names:
        out, names = ALL, names - {"all"}
    for n in names - {"none"}:
        f = next((k for k, v in NAMES.items() if v == n), None)
        if f is None:
            raise ValueError(f"mix {n!r}: unknown online model; choose from "
                             + ", ".join([*NAMES.values(), "all", "none"]))
        out |= f
    return out


class _Successor:
    """The token that followed the last occurrence of the last `k` tokens (hashed table of positions, the context
    checked against the history), and a confidence bucket 0..15. Per stream, or `shared`: one table for every
    stream (an entry remembers its stream), so each stream predicts from what all of them coded."""

    def __init__(self, B: int, k: int, bits: int = 14, run: bool = False, shared: bool = False):
        bits = bits + 4 if shared else bits
        self.k, self.mask, self.run, self.shared = k, (1 << bits) - 1, run, shared
        rows = 1 if shared else B
        self.tr = np.zeros(B, np.int64) if shared else np.arange(B)      # each stream's table row
        self.pos = np.full((rows, 1 << bits), -1, np.int64)
        self.src = np.zeros((rows, 1 << bits), np.int64)                 # the stream an entry came from
        self.conf = np.zeros((rows, 1 << bits), np.int64)     # the entry's confirmations (n-gram)
        self.streak = np.zeros(B, np.int64)                # correct predictions in a row (match)
        self.h = np.zeros(B, np.int64)
        self.pred = np.full(B, -1, np.int64)

    def _hash(self, toks, t):
        h = np.zeros(toks.shape[0], np.int64)
        for i in range(self.k):
            h = (h * 0x9E3779B1 + toks[:, t - self.k + i] + 1) & 0x7FFFFFFF
        return h & self.mask

    def predict(self, toks: np.ndarray, t: int, V: int) -> tuple[np.ndarray, np.ndarray]:
        """-> (predicted token or -1, confidence bucket) per stream, for token t."""
        B = toks.shape[0]
        self.pred[:] = -1
        if t < self.k:
            return self.pred, np.zeros(B, np.int64)
        self.h = self._hash(toks, t)
        p = self.pos[self.tr, self.h]
        src = self.src[self.tr, self.h] if self.shared else np.arange(B)
        ok = p >= self.k
        if ok.any():
            rows = np.nonzero(ok)[0]
            ctx_then = toks[src[rows, None], p[rows, None] - self.k + np.arange(self.k)]
            same = (ctx_then == toks[rows, t - self.k:t]).all(1)
            nxt = toks[src[rows], p[rows]]
            good = same & (nxt < V)
            self.pred[rows[good]] = nxt[good]
        conf = self.streak if self.run else self.conf[self.tr, self.h]
        return self.pred, np.minimum(conf, BUCKETS - 1)

    def update(self, toks: np.ndarray, t: int, live: np.ndarray) -> None:
        if t < self.k:
            return
        y = toks[:, t]
        hit = (self.pred == y) & (self.pred >= 0)
        rows = np.nonzero(live)[0]
        h, tr = self.h[rows], self.tr[rows]
        self.conf[tr, h] = np.where(hit[rows], self.conf[tr, h] + 1, 0)
        self.streak[rows] = np.where(hit[rows], self.streak[rows] + 1, 0)
        self.pos[tr, h] = t
        self.src[tr, h] = rows


class _Contexts:
    """CTX: count tables of the last k tokens' successors (k in CTX_ORDERS) and the last successor of the last
    CTX_MATCH tokens, one set for every stream, as a log-linear boost of the candidates' logits (see the module's
    docstring). Exact contexts (tuples of token ids) as keys: the tables grow with the file (~5 entries a token)."""

    def __init__(self, B: int):
        K = len(CTX_ORDERS)
        self.tabs = [dict() for _ in CTX_ORDERS]              # context tuple -> {token: count}
        self.last = {}                                        # CTX_MATCH-token context -> its last successor
        self.W1, self.W0 = np.zeros((K, 8, 8)), np.zeros((K, 8, 8))
        self.Wm = np.zeros((BUCKETS, 8))
        self.run = np.zeros(B, np.int64)
        self.mpred = np.full(B, -1, np.int64)
        self._rows = []

    @staticmethod
    def _lm_bucket(p: np.ndarray) -> np.ndarray:
        return np.clip((-np.log2(np.maximum(p, 1e-12)) / 2).astype(np.int64), 0, 7)

    def probs(self, p: torch.Tensor, toks: np.ndarray, t: int, live: np.ndarray) -> torch.Tensor:
        """p (B, V) -> the boosted distribution; remembers each live row's candidates and features for update."""
        V = p.shape[1]
        self._rows = []
        self.mpred[:] = -1
        out = None
        for b in np.nonzero(live)[0]:
            h = toks[b, :t]
            feats = {}                                    # candidate -> [(kind, index tuple, value)]
            for i, k in enumerate(CTX_ORDERS):
                d = self.tabs[i].get(tuple(h[t - k:].tolist())) if t >= k else None
                if d:
                    N = sum(d.values())
                    nb = min(int(np.log2(N + 1)), 7)
                    for x, c in d.items():
                        feats.setdefault(x, []).append((i, nb, c / N))
            if t >= CTX_MATCH:
                m = self.last.get(tuple(h[t - CTX_MATCH:].tolist()), -1)
                self.mpred[b] = m
                if 0 <= m < V:
                    feats.setdefault(m, []).append((-1, min(int(self.run[b]), BUCKETS - 1), 1.0))
            xs = np.array([x for x in feats if x < V], np.int64)
            if not len(xs):
                continue
            xi = torch.from_numpy(xs).to(p.device)
            pl = p[b, xi].double().cpu().numpy()
            lb = self._lm_bucket(pl)
            boost = np.zeros(len(xs))
            for j, x in enumerate(xs.tolist()):
                for i, nb, fr in feats[x]:
                    boost[j] += self.Wm[nb, lb[j]] if i < 0 else self.W1[i, nb, lb[j]] * fr + self.W0[i, nb, lb[j]]
            e = np.exp(np.clip(boost, -20.0, 20.0))
            Z = 1.0 + float((pl * (e - 1.0)).sum())
            q = pl * e / Z
            if out is None:
                out = p.clone()
            out[b] /= Z
            out[b, xi] = torch.from_numpy(q).to(p)
            self._rows.append((b, xs, q, lb, feats))
        return p if out is None else out

    def update(self, toks: np.ndarray, t: int, live: np.ndarray) -> None:
        """After token t: every remembered row's gradient (d log q(y) = f(y) - E_q f), summed in stream order, then
        the tables, streams in order."""
        lr = CTX_LR
        gW1, gW0, gWm = np.zeros_like(self.W1), np.zeros_like(self.W0), np.zeros_like(self.Wm)
        for b, xs, q, lb, feats in self._rows:
            if not live[b]:
                continue
            y = toks[b, t]
            for j, x in enumerate(xs.tolist()):
                g = (1.0 if x == y else 0.0) - q[j]
                for i, nb, fr in feats[x]:
                    if i < 0:
                        gWm[nb, lb[j]] += g
                    else:
                        gW1[i, nb, lb[j]] += g * fr
                        gW0[i, nb, lb[j]] += g
        self.W1 += lr * gW1
        self.W0 += lr * gW0
        self.Wm += lr * gWm
        for b in np.nonzero(live)[0]:
            y = int(toks[b, t])
            h = toks[b, :t]
            for i, k in enumerate(CTX_ORDERS):
                if t >= k:
                    d = self.tabs[i].setdefault(tuple(h[t - k:].tolist()), {})
                    d[y] = d.get(y, 0) + 1
            self.run[b] = self.run[b] + 1 if self.mpred[b] == y else 0
            if t >= CTX_MATCH:
                self.last[tuple(h[t - CTX_MATCH:].tolist())] = y


class OnlineMix:
    """The online models of `flags` for B streams over a vocabulary of V (the LM's logits are (B, V))."""

    def __init__(self, flags: int, B: int, V: int, device, bias_lr: float | None = None, mix_lr: float | None = None):
        """flags & SHARED: one bias and one table per model for every stream (updated after each step, streams in
        order: the same on both sides), at RATES[True]; otherwise per-stream models at RATES[False]."""
        self.B, self.V, self.device, self.shared = B, V, device, bool(flags & SHARED)
        sh = self.shared
        self.bias = torch.zeros(1 if sh else B, V, device=device) if flags & BIAS else None
        self.models = ([_Successor(B, 2, shared=sh)] if flags & NGRAM else []) + \
            ([_Successor(B, 8, run=True, shared=sh)] if flags & MATCH else [])
        self.ctx = _Contexts(B) if flags & CTX else None
        self.a = np.tile(-4.0 + 0.4 * np.arange(BUCKETS), (len(self.models), 1))     # mixing weights by confidence
        self.bias_lr = RATES[sh][0] if bias_lr is None else bias_lr
        self.mix_lr = RATES[sh][1] if mix_lr is None else mix_lr
        self._p = self._w = self._preds = self._conf = None

    def probs(self, logits: torch.Tensor, toks: np.ndarray, t: int, live: np.ndarray | None = None) -> torch.Tensor:
        """The mixed next-token distribution (B, V) for token t, given the coded history toks[:, :t] (`live`: the
        rows coding a token at t; the context models skip the others)."""
        z = logits.float()
        if self.bias is not None:
            z = z + self.bias
        p = z.softmax(-1)
        self._p = p                                   # the bias learns from the LM + bias alone
        if self.ctx is not None:
            p = self.ctx.probs(p, toks, t, np.ones(self.B, bool) if live is None else live)
        self._q = p                                   # the linear layer's first component
        if not self.models:
            return p
        preds, conf = zip(*(m.predict(toks, t, self.V) for m in self.models))
        self._preds, self._conf = np.stack(preds, 1), np.stack(conf, 1)              # (B, M)
        logit_w = np.concatenate([np.zeros((self.B, 1)), np.where(
            self._preds >= 0, self.a[np.arange(len(self.models)), self._conf], -np.inf)], 1)
        w = np.exp(logit_w - logit_w.max(1, keepdims=True))
        w /= w.sum(1, keepdims=True)
        self._w = w
        if not (self._preds >= 0).any():
            return p
        out = p * torch.from_numpy(w[:, :1]).to(p)
        idx = torch.from_numpy(np.maximum(self._preds, 0)).to(p.device)
        return out.scatter_add(1, idx, torch.from_numpy(w[:, 1:]).to(p))

    def update(self, toks: np.ndarray, t: int, live: np.ndarray) -> None:
        """After token t of every `live` stream is coded (rows not live: unchanged)."""
        y = toks[:, t]
        if self.bias is not None and live.any():
            rows = torch.from_numpy(np.nonzero(live)[0]).to(self.device)
            g = -self._p[rows]
            g[torch.arange(len(rows), device=self.device), torch.from_numpy(y[live]).to(self.device)] += 1.0
            if self.shared:                       # the streams' mean gradient (rows summed in a fixed order)
                self.bias[0] += self.bias_lr * g.sum(0) / len(rows)
            else:
                self.bias[rows] += self.bias_lr * g
        if self.models:
            q0 = self._q.gather(1, torch.from_numpy(np.minimum(y, self.V - 1)).to(self._p.device)[:, None]).double().cpu().numpy()[:, 0]
            q = np.concatenate([q0[:, None], (self._preds == y[:, None]).astype(float)], 1)      # (B, 1 + M)
            pf = np.maximum((self._w * q).sum(1), 1e-12)
            grad = self._w[:, 1:] * (q[:, 1:] - pf[:, None]) / pf[:, None]                       # d log pf / d a
            for j in range(len(self.models)):
                m = live & (self._preds[:, j] >= 0)
                np.add.at(self.a[j], self._conf[m, j], self.mix_lr * grad[m, j])
            for mdl in self.models:
                mdl.update(toks, t, live)
        if self.ctx is not None:
            self.ctx.update(toks, t, live)
