"""Compressive memory (Rae et al., 2019): recent activations kept as memory, the oldest squeezed into a
long-term memory by a strided Conv1d, and attention over [long-term memory; recent memory; segment]."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MemoryManager(nn.Module):
    """Keeps `recent` activations per layer; those pushed out are compressed `rate`:1 into a long-term
    memory of at most `longterm` slots."""

    def __init__(self, d_model: int, rate: int = 4, recent: int = 512, longterm: int = 512):
        super().__init__()
        self.rate, self.recent, self.longterm = rate, recent, longterm
        self.conv = nn.Conv1d(d_model, d_model, kernel_size=rate, stride=rate) if longterm > 0 else None

    def compress(self, old: torch.Tensor) -> torch.Tensor:
        """(B, n, d) -> (B, n // rate, d)."""
        n = old.shape[1] // self.rate * self.rate
        if n == 0 or self.conv is None:
            return old[:, :0]
        return self.conv(old[:, :n].transpose(1, 2)).transpose(1, 2)

    def update(self, mem, cmem, h):
        """New (mem, cmem) after a segment whose layer inputs were h (B, S, d). Memories are detached."""
        h = h.detach()
        m = h if mem is None else torch.cat([mem, h], dim=1)
        if self.recent <= 0:
            return m[:, :0], cmem
        overflow = m[:, : max(0, m.shape[1] - self.recent)]
        m = m[:, -self.recent:]
        if overflow.shape[1] and self.longterm > 0:
            c = self.compress(overflow).detach()
            cmem = c if cmem is None else torch.cat([cmem, c], dim=1)
            cmem = cmem[:, -self.longterm:]
        return m, cmem


class CompressiveAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.h = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def memory_kv(self, mem_ctx):
        """Keys and values of the (normalised) memory context, computed once per segment."""
        if mem_ctx is None or not mem_ctx.shape[1]:
            return None
        d = mem_ctx.shape[2]
        _, mk, mv = self.qkv(mem_ctx).split(d, dim=2)
        return mk, mv

    def forward(self, x, mem_kv, past_kv=None):
        """x (B, S, d) current positions; mem_kv keys/values of [cmem; mem] (or None); past_kv: keys/values of
        earlier positions of this segment (incremental decoding). Returns (y, (k, v)) for caching."""
        B, S, d = x.shape
        hd = d // self.h
        q, k, v = self.qkv(x).split(d, dim=2)
        if past_kv is not None:
            k = torch.cat([past_kv[0], k], dim=1)
            v = torch.cat([past_kv[1], v], dim=1)
        new_kv = (k, v)
        if mem_kv is not None:
            k = torch.cat([mem_kv[0], k], dim=1)
            v = torch.cat([mem_kv[1], v], dim=1)
        T = k.shape[1]
        q = q.view(B, S, self.h, hd).transpose(1, 2)
        k = k.view(B, T, self.h, hd).transpose(1, 2)
        v = v.view(B, T, self.h, hd).transpose(1, 2)
        # position i of the S new ones (absolute index T - S + i) sees keys 0 .. T - S + i
        qi = torch.arange(T - S, T, device=x.device)[:, None]
        kj = torch.arange(T, device=x.device)[None, :]
        mask = kj <= qi
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(B, S, d)), new_kv


class CompressiveTransformerBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CompressiveAttention(d_model, n_heads)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def memory_kv(self, mem_ctx):
        return self.attn.memory_kv(self.ln1(mem_ctx)) if mem_ctx is not None else None

    def forward(self, x, mem_kv, past_kv=None):
        a, kv = self.attn(self.ln1(x), mem_kv, past_kv)
        x = x + self.drop(a)
        return x + self.drop(self.ff(self.ln2(x))), kv
