"""A DeepEncoder-style vision encoder, trained by the lab: page image -> a budget of vision tokens.

    patch embedding (16x16 pixels: a convolutional stem of five 3x3 convolutions, four of stride 2; early
        convolutions make a from-scratch transformer learn to see far faster than a linear patchifier)
    -> local perception: transformer blocks with windowed attention (8x8 patches a window, SAM-style)
    -> 16x token compressor: two stride-2 convolutions (4x fewer tokens each)
    -> global attention: transformer blocks over the compressed tokens (CLIP-style)

Each vision token covers a 64x64-pixel cell of the page; the resolution mode sets the token budget, as in
DeepSeek-OCR: tiny 512^2 -> 64 tokens, small 640^2 -> 100, base 1024^2 -> 256, large 1280^2 -> 400.
Positions are fixed 2-D sinusoids, so one set of weights serves every mode.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lab.optical.modes import CELL, MODES, PATCH, tokens_for  # noqa: F401  (the encoder's modes, re-exported)


@dataclass(frozen=True)
class EncoderConfig:
    local_dim: int = 256
    local_layers: int = 4
    local_heads: int = 4
    window: int = 8            # patches per window side
    dim: int = 384             # vision-token width
    global_layers: int = 6
    global_heads: int = 6
    mlp: float = 4.0
    stem: str = "conv"         # conv: five 3x3 convolutions; res: a residual CNN (three stages of two 3x3
                               # convolutions, GroupNorm); patch: two non-overlapping 4x4 convolutions

    def to_dict(self) -> dict:
        return asdict(self)


def sincos_2d(h: int, w: int, dim: int, device=None) -> torch.Tensor:
    """(h*w, dim) fixed 2-D sinusoidal positions (half the channels for y, half for x)."""
    q = dim // 4
    freq = torch.exp(-math.log(10000.0) * torch.arange(q, device=device) / q)
    y, x = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float32),
                          torch.arange(w, device=device, dtype=torch.float32), indexing="ij")
    parts = []
    for t in (y.reshape(-1), x.reshape(-1)):
        a = t[:, None] * freq[None]
        parts += [a.sin(), a.cos()]
    return torch.cat(parts, dim=1)


class Block(nn.Module):
    """Pre-norm transformer block; attention over the second axis of (B, N, D)."""

    def __init__(self, dim: int, heads: int, mlp: float):
        super().__init__()
        self.heads = heads
        self.n1, self.n2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.ff = nn.Sequential(nn.Linear(dim, int(dim * mlp)), nn.GELU(), nn.Linear(int(dim * mlp), dim))

    def forward(self, x):
        B, N, D = x.shape
        q, k, v = self.qkv(self.n1(x)).view(B, N, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, N, D)
        x = x + self.proj(a)
        return x + self.ff(self.n2(x))


class ResStage(nn.Module):
    """A residual stage of the "res" stem: two 3x3 convolutions (the first of stride 2), GroupNorm, GELU."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1), nn.GroupNorm(8, cout), nn.GELU(),
                               nn.Conv2d(cout, cout, 3, 1, 1), nn.GroupNorm(8, cout))
        self.skip = nn.Conv2d(cin, cout, 1, 2)

    def forward(self, x):
        return F.gelu(self.a(x) + self.skip(x))


def _windows(x, h: int, w: int, s: int):
    """(B, h*w, D) -> (B * h/s * w/s, s*s, D)."""
    B, _, D = x.shape
    return x.view(B, h // s, s, w // s, s, D).permute(0, 1, 3, 2, 4, 5).reshape(-1, s * s, D)


def _unwindows(x, B: int, h: int, w: int, s: int):
    D = x.shape[-1]
    return x.view(B, h // s, w // s, s, s, D).permute(0, 1, 3, 2, 4, 5).reshape(B, h * w, D)


class VisionEncoder(nn.Module):
    def __init__(self, cfg: EncoderConfig = EncoderConfig()):
        super().__init__()
        self.cfg = cfg
        c = cfg
        if c.stem == "patch":
            self.embed = nn.Sequential(nn.Conv2d(1, 64, 4, 4), nn.GELU(), nn.Conv2d(64, c.local_dim, 4, 4))
        elif c.stem == "res":
            self.embed = nn.Sequential(nn.Conv2d(1, 32, 3, 2, 1), nn.GroupNorm(8, 32), nn.GELU(), ResStage(32, 64),
                                       ResStage(64, 128), ResStage(128, c.local_dim))
        else:
            ch = [1, 24, 48, 96, 192]
            layers = [nn.Conv2d(1, 24, 3, 1, 1), nn.GELU()]
            for a, b in zip(ch[1:], ch[2:] + [c.local_dim]):
                layers += [nn.Conv2d(a, b, 3, 2, 1), nn.GELU()] if b != c.local_dim else [nn.Conv2d(a, b, 3, 2, 1)]
            self.embed = nn.Sequential(*layers)
        self.local = nn.ModuleList(Block(c.local_dim, c.local_heads, c.mlp) for _ in range(c.local_layers))
        self.compress = nn.Sequential(nn.Conv2d(c.local_dim, c.dim, 3, 2, 1), nn.GELU(), nn.Conv2d(c.dim, c.dim, 3, 2, 1))
        self.glob = nn.ModuleList(Block(c.dim, c.global_heads, c.mlp) for _ in range(c.global_layers))
        self.norm = nn.LayerNorm(c.dim)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, pages: torch.Tensor) -> torch.Tensor:
        """pages: (B, 1, R, R) float, ink = 1, paper = 0 (see `to_tensor`); R a multiple of 512/8 = 64 whose
        patch grid divides into windows. -> (B, (R/64)^2, dim) vision tokens, row-major over the page."""
        B, _, R, _ = pages.shape
        x = self.embed(pages)                                   # (B, Dl, R/16, R/16)
        g = x.shape[-1]
        x = x.flatten(2).transpose(1, 2) + sincos_2d(g, g, x.shape[1], x.device).to(x.dtype)
        s = self.cfg.window if g % self.cfg.window == 0 else g
        xw = _windows(x, g, g, s)
        for blk in self.local:
            xw = blk(xw)
        x = _unwindows(xw, B, g, g, s).transpose(1, 2).reshape(B, -1, g, g)
        x = self.compress(x)                                    # (B, D, R/64, R/64)
        t = x.shape[-1]
        x = x.flatten(2).transpose(1, 2) + sincos_2d(t, t, x.shape[1], x.device).to(x.dtype)
        for blk in self.glob:
            x = blk(x)
        return self.norm(x)


def to_tensor(images, mode: str) -> torch.Tensor:
    """Grey page images (list of (H, W) uint8) -> (B, 1, R, R) float tensor at the mode's resolution,
    ink = 1 (`resample` gives the pixels)."""
    R = MODES[mode]
    out = np.empty((len(images), 1, R, R), np.float32)
    for i, im in enumerate(images):
        out[i, 0] = 1.0 - resample(im, mode).astype(np.float32) / 255.0
    return torch.from_numpy(out)


def resample(image, mode: str) -> np.ndarray:
    """A grey page (H, W) uint8 as the encoder sees it in a mode: padded with paper to a square (keeping
    its aspect), resampled to the mode's resolution. The reference OCR engines get the same pixels."""
    from PIL import Image

    R = MODES[mode]
    im = np.asarray(image)
    h, w = im.shape[:2]
    if h != w:
        side = max(h, w)
        sq = np.full((side, side), 255, np.uint8)
        sq[:h, :w] = im
        im = sq
    if im.shape[0] != R:
        im = np.asarray(Image.fromarray(im).resize((R, R), Image.Resampling.LANCZOS if im.shape[0] > R
                                                   else Image.Resampling.BICUBIC))
    return im
