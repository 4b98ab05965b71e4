"""The vision-token projector of the seed (and LLaVA's mm_projector): vision width -> the LM's hidden width."""
from __future__ import annotations

from torch import nn


class Projector(nn.Module):
    """Linear + LayerNorm (seed 002); `kind="mlp"` is LLaVA-1.5's two-layer GELU MLP."""

    def __init__(self, vision_dim: int, lm_dim: int, kind: str = "linear"):
        super().__init__()
        if kind == "linear":
            self.net = nn.Sequential(nn.Linear(vision_dim, lm_dim), nn.LayerNorm(lm_dim))
        elif kind == "mlp":
            self.net = nn.Sequential(nn.Linear(vision_dim, lm_dim), nn.GELU(), nn.Linear(lm_dim, lm_dim))
        else:
            raise ValueError(f"unknown projector kind {kind!r} (linear, mlp)")

    def forward(self, x):
        return self.net(x)
