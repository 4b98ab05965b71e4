"""The vision-token projector of the seed (and LLaVA's mm_projector): vision width -> the LM's hidden width."""
from __future__ import annotations

import torch
from torch import nn

KINDS = ("linear", "mlp", "bands")


class Projector(nn.Module):
    """Linear + LayerNorm (seed 002); `kind="mlp"` is LLaVA-1.5's two-layer GELU MLP; `kind="bands"` reads
    each token through the frozen stage-1 reader first (`stage1`, a `reader.GridReader`): its frame
    posteriors, cut into one slot per band of each cell (`slots` = reader.LINES LM positions per vision token,
    ordered cell row, band, cell: the page's reading order), each slot Linear + LayerNorm into the LM.

    One LM position per vision token could not be read (GPU runs 22-24: the cell task learnt a cell's shape,
    not its letters); a band of a cell holds a few characters of one line, which the LM can spell out."""

    def __init__(self, vision_dim: int, lm_dim: int, kind: str = "linear", stage1=None):
        super().__init__()
        self.kind, self.slots = kind, 1
        if kind == "linear":
            self.net = nn.Sequential(nn.Linear(vision_dim, lm_dim), nn.LayerNorm(lm_dim))
        elif kind == "mlp":
            self.net = nn.Sequential(nn.Linear(vision_dim, lm_dim), nn.GELU(), nn.Linear(lm_dim, lm_dim))
        elif kind == "bands":
            from lab.optical.reader import FRAMES, LINES, VOCAB

            if stage1 is None:
                raise ValueError("a bands projector reads through the stage-1 reader: pass stage1=")
            object.__setattr__(self, "stage1", stage1)          # not a submodule: its weights stay the model's
            self.slots = LINES
            self.net = nn.Sequential(nn.Linear(FRAMES * VOCAB, lm_dim), nn.LayerNorm(lm_dim))
        else:
            raise ValueError(f"unknown projector kind {kind!r} ({', '.join(KINDS)})")

    @property
    def dtype(self) -> torch.dtype:
        return self.net[0].weight.dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, vision_dim) -> (B, N * slots, lm_dim)."""
        if self.kind != "bands":
            return self.net(x)
        from lab.optical.reader import FRAMES, LINES

        B, N, _ = x.shape
        g = int(round(N ** 0.5))
        with torch.no_grad():
            p = self.stage1(x.float()).float().softmax(-1)        # (B * g * LINES, g * FRAMES, V)
        p = p.view(B, g * LINES, g, FRAMES * p.shape[-1]).reshape(B, g * LINES * g, -1)
        return self.net(p.to(self.dtype))
