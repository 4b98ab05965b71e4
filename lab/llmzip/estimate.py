"""What llmzip's rate is made of, without running the coder (an **estimate**: code lengths, not files).

    ids, z = logits_of(lm, tok, raw)                       # one pass, sliding window, bf16 logits kept
    rows = breakdown(ids, z, len(raw))                     # per online-model setting: ideal and quantised bits

`ideal` is -log2 p of each token under the LM (or the LM mixed with the online models, lab.llmzip.mixing);
the `q16x2` column is what the coder's own scheme costs (two 16-bit CDFs a token: its bucket of 256 ids, then
the id in the bucket, every symbol floored at 1), `q16x1` one 16-bit CDF over the whole vocabulary (the floors of
~49k ids in one table of 65,536: the overhead Nacrith measured), `q24x1` and `q24x2` the same at 24 bits. The
difference to `ideal` is the quantisation's price; a real .llmz file adds its header (~100 bytes) and the
restarts of its cache (the window here slides instead), so whole-file rates of real files are quoted beside.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch

from lab.llmzip import codec, mixing

SCHEMES = {"q16x2": (16, 2), "q16x1": (16, 1), "q24x2": (24, 2), "q24x1": (24, 1)}
SETTINGS = {"lm": 0, "bias": mixing.BIAS | mixing.SHARED, "ngram": mixing.NGRAM | mixing.SHARED,
            "match": mixing.MATCH | mixing.SHARED, "ctx": mixing.BIAS | mixing.CTX | mixing.SHARED,
            "linear": mixing.ALL & ~mixing.CTX, "all": mixing.ALL, "all-per-stream": mixing.ALL & ~mixing.SHARED & ~mixing.CTX}


def _tokens(tok, raw: bytes, V: int):
    """(start token, llmzip's token ids of `raw` with escapes, ids -> what the model reads for them)."""
    start = codec._start(tok)
    voc = codec.Vocab(tok, start)
    return start, np.array(voc.encode(raw), np.int64), lambda a: np.where(a >= V, voc.esc, a)


@torch.no_grad()
def logits_of(lm, tok, raw: bytes, window: int = 1024, stride: int = 512) -> tuple[np.ndarray, torch.Tensor]:
    """The token ids of `raw` (llmzip's own tokenisation, escapes included) and the LM's logits for each (bf16),
    from windows of `window` tokens advanced by `stride` (each token seen with >= window - stride of context)."""
    V = lm.config.vocab_size
    start, ids, model_in = _tokens(tok, raw, V)
    x = [start] + model_in(ids).tolist()
    zs, pos = [], 0
    while pos < len(ids):
        lo = max(0, pos - (window - stride)) if pos else 0
        hi = min(len(ids), lo + window)
        z = lm(input_ids=torch.tensor([x[lo:hi]]), use_cache=False).logits[0].to(torch.bfloat16)
        zs.append(z[pos - lo:hi - lo])
        pos = hi
    return ids, torch.cat(zs) if zs else torch.zeros(0, V, dtype=torch.bfloat16)


@torch.no_grad()
def logits_coded(lm, tok, raw: bytes, context: int = 8192, keep: int = 4096, adapt: bool = False,
                 every: int | None = None, lr: float | None = None, span: int | None = None
                 ) -> tuple[np.ndarray, torch.Tensor]:
    """As logits_of, but as the coder sees them (one stream): a KV cache grown `every` tokens at a time (the
    adapter's cadence, lab.llmzip.adapt.EVERY), restarted from the last `keep` tokens when it would pass `context`,
    and with `adapt` the LM taking the adapter's step on the tokens before each chunk (the cache's older entries
    stay as the older weights made them, as in the coder). Restarts fall on chunk boundaries (the coder restarts at
    the exact position): an estimate. `lr`, `span` (and `every`): the adapter's rate, read span and cadence
    (default lab.llmzip.adapt's, those .llmz files use), for probes of other settings. The model's weights are
    restored on return."""
    from transformers import DynamicCache

    from lab.llmzip import adapt as A

    every = every or A.EVERY
    V = lm.config.vocab_size
    start, ids, model_in = _tokens(tok, raw, V)
    toks, lens = ids[None], np.array([len(ids)])
    zs, cache, used = [], None, 0
    with A.adapting(lm, every=every, lr=lr, span=span) if adapt else contextlib.nullcontext() as ad:
        for t in range(0, len(ids), every):
            if ad:
                ad.step(toks, t, lens, model_in, start)
            hi = min(len(ids), t + every)
            if cache is None or used + (hi - t) > context:      # (re)start: [start] + the last keep tokens
                k0 = min(keep, t)
                x = np.concatenate([[start], model_in(ids[t - k0:hi - 1])])
                cache, used = DynamicCache(), 0
            else:                                                # the cache holds the inputs up to ids[t - 2]
                x = model_in(ids[t - 1:hi - 1])
            z = lm(input_ids=torch.from_numpy(x)[None], past_key_values=cache, use_cache=True).logits[0]
            used += len(x)
            zs.append(z[-(hi - t):].to(torch.bfloat16))
    return ids, torch.cat(zs) if zs else torch.zeros(0, V, dtype=torch.bfloat16)


def breakdown(ids: np.ndarray, z: torch.Tensor, n_bytes: int, settings=("lm", "bias", "ngram", "match", "all"),
              schemes=tuple(SCHEMES), chunk: int = 128, streams: int = 1) -> list[dict]:
    """One row per online-model setting: bits per byte ideal and under each quantisation scheme. Escaped bytes
    (ids >= V) cost 8 bits under every column (the coder codes them flat). The tokens are split into `streams`
    contiguous streams as the coder splits them and coded a step at a time, every stream's token t together
    (the LM's logits stay the one-pass ones: a stream's cold start is not in them); the mixing learns from each
    coded step, the quantisations run on chunks of `chunk` rows at once."""
    from lab.streams import split

    V = z.shape[1]
    lens = [x for x in split(len(ids), streams) if x > 0] or [0]
    B, n = len(lens), max(lens)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    toks = np.zeros((B, n), np.int64)
    for b in range(B):
        toks[b, :lens[b]] = ids[starts[b]:starts[b] + lens[b]]
    lens_a = np.array(lens)
    rows = []
    for name in settings:
        flags = SETTINGS[name]
        m = mixing.OnlineMix(flags, B, V, "cpu") if flags else None
        bits = {"ideal": 0.0, **{s: 0.0 for s in schemes}}
        ps, ys = [], []

        def code(ps, ys):
            p, y = torch.cat(ps), torch.tensor(ys)
            bits["ideal"] -= float(torch.log2(p.gather(1, y[:, None]).double().clamp_min(1e-30)).sum())
            for s in schemes:
                bits[s] += float(codec.coded_bits(p, y, *SCHEMES[s]).sum())

        for t in range(n):
            live = t < lens_a
            word = live & (toks[:, t] < V)
            for k in bits:                              # escaped bytes: flat, after their escape token
                bits[k] += 8.0 * int((live & ~word).sum())
            zt = z[np.minimum(starts + t, len(ids) - 1)].float()
            p = m.probs(zt, toks, t, word) if m else zt.softmax(-1)
            ps.append(p[torch.from_numpy(word)])
            ys += toks[word, t].tolist()
            if m:
                m.update(toks, t, word)
            if sum(len(q) for q in ps) >= chunk:
                code(ps, ys)
                ps, ys = [], []
        if ys:
            code(ps, ys)
        rows.append({"setting": name, "tokens": len(ids), "streams": B,
                     **{f"{k} bpb": v / max(n_bytes, 1) for k, v in bits.items()}})
    return rows
