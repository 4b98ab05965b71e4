"""The LM itself adapted to the document while coding (`--mix adapt`, flag ADAPT of .llmz's online models):
dynamic evaluation (Krause et al., "Dynamic Evaluation of Neural Sequence Models", ICML 2018) as a coder.

Every `EVERY` steps the model takes one optimiser step (Adam, rate `LR`, every weight) on the log-loss of the
tokens just coded (each stream's last `EVERY`, read with up to `SPAN` tokens of their context), so the rest of
the file is coded by a model that has seen its beginning: its names, its numbers, its style. Encoder and decoder
take the same steps on the same coded tokens (same shapes, same order, same device class), so both see the same
probabilities; the KV cache already built is kept (its older entries were computed by the older weights, on both
sides alike). The weights are restored when the file is done (`adapting`), so a model is never left changed.

    with adapting(lm) as ad:
        ...  ad.step(toks, t, lens, model_in, start)   # at every coding step t; acts when t % EVERY == 0

The rate and cadence come from probes on the lab's tuning text (data/lab-tuning, never a scored document): its
first 12,000 tokens at a 1,024-token window, the LM alone 1.762 bits/byte, adapted at 3e-5 1.673 (an estimate);
the whole tuning text at 8,192 (`scripts/llmzip_mix_estimate.py --adapt [--adapt-lr 1e-4]`,
reports/llmzip_gpu/mix_estimate_tuning_w8192_adapt[_lr1e-4]_cpu.json): adapted at 3e-5 1.569, with `--mix all`
1.517; at 1e-4 1.520 and 1.492 (its first 10,796 tokens: 3e-4 worse than both). .llmz v4 records the rate;
a v3 file's ADAPT flag means LR_V3.
"""
from __future__ import annotations

import contextlib
import os

import numpy as np
import torch

EVERY, SPAN, LR = 256, 1024, 1e-4
LR_V3 = 3e-5                   # the rate of .llmz v3 files (their header has no rate field)
MICRO = 16                     # streams a forward/backward pass
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")   # deterministic cuBLAS (read when CUDA starts)


class Adapter:
    """One Adam step on a causal LM every `every` coding steps (the module's docstring)."""

    def __init__(self, lm, every: int | None = None, span: int | None = None, lr: float | None = None):
        self.lm, self.every = lm, every or EVERY
        self.span = max(span or SPAN, self.every)
        self.opt = torch.optim.Adam(list(lm.parameters()), lr=lr or LR)
        self.steps = 0

    def step(self, toks: np.ndarray, t: int, lens: np.ndarray, model_in, start: int) -> bool:
        """At coding step t (tokens < t coded in every stream): one optimiser step when t is a multiple of
        `every`, on each stream's tokens t - every .. t - 1 (those that exist and are vocabulary tokens, not an
        escape's byte), read after up to `span` tokens. The streams go through the model MICRO at a time (their
        gradients summed in stream order: bounded memory at any number of streams). -> whether it stepped."""
        if t == 0 or t % self.every:
            return False
        V = self.lm.config.vocab_size
        k, lo = min(self.every, t), max(0, t - self.span)
        inp = np.concatenate([np.full((toks.shape[0], 1), start), model_in(toks[:, lo:t - 1])], 1) if lo == 0 \
            else model_in(toks[:, lo - 1:t - 1])
        tgt = toks[:, t - k:t]
        use = (np.arange(t - k, t)[None, :] < np.asarray(lens)[:, None]) & (tgt < V)
        total = int(use.sum())
        if not total:
            return False
        dev = next(self.lm.parameters()).device
        self.opt.zero_grad(set_to_none=True)
        with torch.enable_grad(), _exact(dev):
            for b in range(0, toks.shape[0], MICRO):
                u = use[b:b + MICRO]
                if not u.any():
                    continue
                z = self.lm(input_ids=torch.from_numpy(np.ascontiguousarray(inp[b:b + MICRO])).to(dev),
                            use_cache=False, logits_to_keep=k).logits.float()
                m = torch.from_numpy(u).to(dev)
                y = torch.from_numpy(np.where(u, tgt[b:b + MICRO], 0)).to(dev)
                (torch.nn.functional.cross_entropy(z[m], y[m], reduction="sum") / total).backward()
            self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self.steps += 1
        return True


@contextlib.contextmanager
def _exact(dev):
    """On CUDA, the backward pass with deterministic kernels only (the decoder must take the very same step):
    torch's deterministic algorithms and the math attention kernel (the fused ones accumulate with atomics)."""
    if dev.type != "cuda":
        yield
        return
    from torch.nn.attention import SDPBackend, sdpa_kernel

    was = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        torch.use_deterministic_algorithms(was)


@contextlib.contextmanager
def adapting(lm, **kw):
    """An Adapter on `lm` whose changes are undone on exit (weights and requires_grad restored)."""
    saved = {k: v.detach().clone() for k, v in lm.state_dict().items()}
    grads = [p.requires_grad for p in lm.parameters()]
    for p in lm.parameters():
        p.requires_grad_(True)
    try:
        yield Adapter(lm, **kw)
    finally:
        with torch.no_grad():
            lm.load_state_dict(saved)
        for p, g in zip(lm.parameters(), grads):
            p.requires_grad_(g)
