"""Held-out bits per byte of a causal LM, read through a KV cache the way generation reads it.

Text is cut into windows of `window` tokens; each window is fed in chunks of `chunk` tokens (chunk 1 is
token-by-token generation), every chunk attending to what the cache kept of the earlier ones. The score is
-log2 p of every token after a window's first, over the UTF-8 bytes those tokens decode to.

    r = score.bits_per_byte(lm, tok, text, kv.make("kivi", bits=2), window=1024, chunk=64)
    r["bpb"], r["kv_bytes_per_token"]
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch


def windows(ids: list[int], window: int, count: int | None = None) -> list[list[int]]:
    """Non-overlapping windows of `window` tokens; `count` of them evenly spread (deterministic), all if None."""
    n = len(ids) // window
    if n == 0:
        return [ids] if len(ids) > 1 else []
    picks = range(n) if count is None or count >= n else np.linspace(0, n - 1, count).round().astype(int)
    return [ids[i * window:(i + 1) * window] for i in picks]


@torch.no_grad()
def bits_per_byte(lm, tok, text: str, method=None, window: int = 1024, chunk: int = 64, count: int | None = None,
                  device=None) -> dict:
    """Bits per byte of `text` under `lm` reading through `method`'s cache (None: the model's own cache)."""
    dev = device or next(lm.parameters()).device
    ids = tok(text, add_special_tokens=False)["input_ids"]
    bits, nbytes, ntok, kv_bytes, kv_tokens = 0.0, 0, 0, 0, 0
    t0 = time.perf_counter()
    handles = []
    for w in windows(ids, window, count):
        cache = method.cache(lm.config) if method is not None else None
        if method is not None and method.scores_attention:
            from lab.llm import kv

            handles = kv.attach(lm, cache)
        x = torch.tensor([w], device=dev)
        prev = None
        try:
            step = chunk if cache is not None else len(w)
            for s in range(0, len(w), step):
                out = lm(input_ids=x[:, s:s + step], past_key_values=cache, use_cache=cache is not None)
                if cache is None:           # no cache: the whole window at once
                    logits = out.logits[0].float()
                    lp = logits[:-1].log_softmax(-1).gather(-1, x[0, 1:, None])[:, 0]
                    bits -= float(lp.sum()) / math.log(2)
                    break
                lg = out.logits[0].float()                   # positions s .. e-1
                start = s
                if prev is not None:
                    lg, start = torch.cat([prev[None], lg]), s - 1
                tgt = x[0, start + 1:s + step]              # each row predicts the next token
                if len(tgt):
                    lp = lg[:len(tgt)].log_softmax(-1).gather(-1, tgt[:, None])[:, 0]
                    bits -= float(lp.sum()) / math.log(2)
                prev = lg[-1]
        finally:
            for h in handles:
                h.remove()
            handles = []
        if cache is not None and hasattr(cache, "nbytes"):
            kv_bytes += cache.nbytes()
            kv_tokens += len(w)
        nbytes += len(tok.decode(w[1:]).encode("utf-8"))
        ntok += len(w) - 1
    return {"bits": bits, "bytes": nbytes, "tokens": ntok, "bpb": bits / max(nbytes, 1),
            "kv_bytes_per_token": kv_bytes / kv_tokens if kv_tokens else None,
            "seconds": time.perf_counter() - t0}
