"""The vision-token projector (the seed's, and LLaVA's mm_projector): vision tokens -> LM input positions.

`SlotProjector` is the expanding projector of the stage-2 reader: each vision token becomes LINES slots,
one per 8-pixel band of its 64x64-pixel cell, ordered as a page is read (cell row, band, cell column), so
the k-th LM position holds a few characters of one text line and the lines follow each other:

    slot input  = [the stage-1 head's character posteriors over the band's FRAMES frames ; the token itself]
    slot vector = MLP(slot input) + a line embedding (band index down the page) + a column embedding

The stage-1 head (`reader.GridReader`, a copy that may train on) turns a token into those posteriors, so the
LM starts from features that already say which glyph is where. A slot whose band holds no ink (every frame
blank with probability > 1 - `threshold`, a function of the tokens alone) is left out: empty margins and the
gaps between lines cost no LM positions. Characters per LM position: a small-mode token holds ~35 characters
in ~5 inked bands (~7 a position, where the oracle probe says ~10 is learnable quickly; a whole token, ~40
characters, was not).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from lab.optical.reader import BLANK, FRAMES, LINES, VOCAB

MAX_GRID = 20                 # cells per side in the largest mode (1280 / 64)


class SlotProjector(nn.Module):
    def __init__(self, head, vision_dim: int, lm_dim: int, threshold: float = 0.3, embed_rms: float = 0.14):
        """head: the stage-1 reader (GridReader/LineReader) whose posteriors feed the slots; embed_rms: the LM's
        input-embedding RMS, the scale the slot vectors start at (SmolLM2: 0.14 per dimension)."""
        super().__init__()
        self.head, self.threshold = head, threshold
        self.norm = nn.LayerNorm(vision_dim)
        self.net = nn.Sequential(nn.Linear(FRAMES * VOCAB + vision_dim, lm_dim), nn.GELU(), nn.Linear(lm_dim, lm_dim),
                                 nn.LayerNorm(lm_dim))
        self.line = nn.Embedding(MAX_GRID * LINES, lm_dim)
        self.col = nn.Embedding(MAX_GRID, lm_dim)
        with torch.no_grad():           # slot vectors start at the scale of the LM's own input embeddings
            self.net[3].weight.fill_(embed_rms)
            for e in (self.line, self.col):
                e.weight.normal_(0.0, embed_rms / 4)

    @property
    def dtype(self) -> torch.dtype:
        return self.net[0].weight.dtype

    def _posteriors(self, tokens: torch.Tensor, windows) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        """Band posteriors of each page's window: (B, h*LINES, g, FRAMES, VOCAB), the window's tokens
        (B, h, g, D), its first cell row per page (B,) and g. The head runs on the window and one cell row above
        and below it (all its convolutions see), so a window's slots are those of the whole page."""
        B, N, D = tokens.shape
        g = int(round(N ** 0.5))
        grid = tokens.view(B, g, g, D)
        if windows is None:
            windows = [(0, g)] * B
        r0 = torch.tensor([w[0] for w in windows], device=tokens.device)
        h = windows[0][1] - windows[0][0]
        if any(b - a != h for a, b in windows) or h < 1 or any(a < 0 or b > g for a, b in windows):
            raise ValueError(f"windows must be equal runs of cell rows inside the {g}-row grid: {windows[:4]}")
        H = min(g, h + 2)
        c0 = (r0 - 1).clamp(0, g - H)
        rows = c0[:, None] + torch.arange(H, device=tokens.device)
        b_idx = torch.arange(B, device=tokens.device)[:, None]
        crop = grid[b_idx, rows]                                         # (B, H, g, D)
        p = self.head.grid_logits(crop.float()).float().softmax(1)       # (B, V, H*LINES, g*FRAMES)
        p = p.permute(0, 2, 3, 1).reshape(B, H * LINES, g, FRAMES, VOCAB)
        off = (r0 - c0) * LINES
        bands = off[:, None] + torch.arange(h * LINES, device=tokens.device)
        win = grid[b_idx, r0[:, None] + torch.arange(h, device=tokens.device)]
        return p[b_idx, bands], win, r0, g

    @torch.no_grad()
    def posteriors(self, tokens: torch.Tensor, windows=None) -> "Posteriors":
        """The head's band posteriors of each page's window, computed once: their kept-slot counts for a
        step's budget and, for the pages chosen, their slot vectors (`forward(..., posteriors=post.select(sel))`)
        without running the head again. Only where the head is frozen (no gradient flows through it)."""
        return Posteriors(*self._posteriors(tokens, windows))

    def _keep(self, p: torch.Tensor) -> torch.Tensor:
        return (1.0 - p[..., BLANK]).amax(-1) > self.threshold         # (B, h*LINES, g)

    @torch.no_grad()
    def kept(self, tokens: torch.Tensor, windows=None, posteriors: "Posteriors | None" = None) -> torch.Tensor:
        """The number of kept slots of each page's window (B,), without forming the slot vectors."""
        p = posteriors.p if posteriors is not None else self._posteriors(tokens, windows)[0]
        return self._keep(p).flatten(1).sum(1)

    def forward(self, tokens: torch.Tensor, windows=None, posteriors: "Posteriors | None" = None) -> list[torch.Tensor]:
        """(B, N, D) tokens, N = g*g row-major; windows: one (r0, r1) run of cell rows per page, all of one
        height (None: whole pages) -> the kept slot vectors of each window in reading order, (S_i, lm_dim);
        posteriors: those of these tokens and windows, computed earlier by `posteriors` (the head is not run)."""
        p, win, r0, g = posteriors if posteriors is not None else self._posteriors(tokens, windows)
        B = p.shape[0]
        keep = self._keep(p)
        b, band, col = keep.nonzero(as_tuple=True)                       # row-major: page, then reading order
        x = torch.cat([p[b, band, col].flatten(1).to(self.dtype), self.norm(win[b, band // LINES, col].to(self.dtype))], -1)
        v = self.net(x) + self.line(r0[b] * LINES + band) + self.col(col)
        return list(v.split(torch.bincount(b, minlength=B).tolist()))


class Posteriors(NamedTuple):
    """`SlotProjector.posteriors`: band posteriors (B, h*LINES, g, FRAMES, VOCAB), the windows' tokens
    (B, h, g, D), their first cell rows (B,) and the grid side g."""
    p: torch.Tensor
    win: torch.Tensor
    r0: torch.Tensor
    g: int

    def select(self, sel: torch.Tensor) -> "Posteriors":
        """Those of the batch rows `sel` (an index tensor), in its order."""
        return Posteriors(self.p[sel], self.win[sel], self.r0[sel], self.g)
