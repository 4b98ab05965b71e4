"""Compressive memory (Rae et al., 2019): recent activations kept as memory, the oldest squeezed into a
long-term memory by a strided Conv1d, and attention over [long-term memory; recent memory; segment].

Positions are rotary (RoPE) and *relative to the current segment*: the segment's bytes sit at 0..S-1, the
recent memory at -M..-1 and each long-term slot at the centre of the `rate` bytes it summarises. Keys of the
memories are recomputed from the stored layer inputs at each segment, so attention depends only on distances,
and a model trained on streams of any length sees the same geometry at every position of a longer one."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def rope_tables(pos: torch.Tensor, hd: int):
    """cos/sin tables (T, hd/2) for float positions `pos` (T,)."""
    inv = 1.0 / torch.pow(10000.0, torch.arange(0, hd, 2, device=pos.device, dtype=torch.float32) / hd)
    ang = pos.float()[:, None] * inv[None, :]
    return ang.cos(), ang.sin()


def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x (..., T, hd) by the tables (T, hd/2) (half-split convention)."""
    x1, x2 = x.chunk(2, dim=-1)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def memory_positions(n_mem: int, n_cmem: int, rate: int, device=None) -> torch.Tensor:
    """Positions of [cmem; mem] relative to the segment start (float: a slot sits at its block's centre)."""
    m = torch.arange(-n_mem, 0, device=device, dtype=torch.float32)
    c = -n_mem - rate * (n_cmem - torch.arange(n_cmem, device=device, dtype=torch.float32)) + (rate - 1) / 2
    return torch.cat([c, m])


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

    def update(self, mem, cmem, h, grad: bool = False):
        """New (mem, cmem) after a segment whose layer inputs were h (B, S, d). The recent memory is
        detached; the compressed slots keep their graph to the Conv1d when `grad` (training: a later segment
        of the same window back-propagates into the compressor), and are detached otherwise."""
        h = h.detach()
        m = h if mem is None else torch.cat([mem, h], dim=1)
        if self.recent <= 0:
            return m[:, :0], cmem
        overflow = m[:, : max(0, m.shape[1] - self.recent)]
        m = m[:, -self.recent:]
        if overflow.shape[1] >= self.rate and self.longterm > 0:
            c = self.compress(overflow)
            if not grad:
                c = c.detach()
            cmem = c if cmem is None else torch.cat([cmem.to(c.dtype), c], dim=1)
            cmem = cmem[:, -self.longterm:]
        return m, cmem


def _heads(t: torch.Tensor, h: int) -> torch.Tensor:
    B, T, d = t.shape
    return t.view(B, T, h, d // h).transpose(1, 2)


class CompressiveAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.h = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def memory_kv(self, mem_ctx, pos):
        """Keys (rotated to `pos`) and values of the (normalised) memory context, (B, H, T, hd) each."""
        if mem_ctx is None or not mem_ctx.shape[1]:
            return None
        d = mem_ctx.shape[2]
        _, mk, mv = self.qkv(mem_ctx).split(d, dim=2)
        mk, mv = _heads(mk, self.h), _heads(mv, self.h)
        cos, sin = rope_tables(pos, d // self.h)
        return rope(mk, cos, sin), mv

    def forward(self, x, mem_kv):
        """x (B, S, d) the segment at positions 0..S-1; mem_kv from memory_kv (or None)."""
        B, S, d = x.shape
        q, k, v = (_heads(t, self.h) for t in self.qkv(x).split(d, dim=2))
        cos, sin = rope_tables(torch.arange(S, device=x.device), d // self.h)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        if mem_kv is not None:
            k = torch.cat([mem_kv[0].to(k.dtype), k], dim=2)
            v = torch.cat([mem_kv[1].to(v.dtype), v], dim=2)
        T = k.shape[2]
        # position i of the segment (index T - S + i) sees every memory slot and segment keys 0..i
        mask = torch.arange(T, device=x.device)[None, :] <= torch.arange(T - S, T, device=x.device)[:, None]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(B, S, d))


class CompressiveTransformerBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CompressiveAttention(d_model, n_heads)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def memory_kv(self, mem_ctx, pos):
        return self.attn.memory_kv(self.ln1(mem_ctx), pos) if mem_ctx is not None else None

    def forward(self, x, mem_kv):
        x = x + self.drop(self.attn(self.ln1(x), mem_kv))
        return x + self.drop(self.ff(self.ln2(x)))
