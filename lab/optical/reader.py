"""Stage 1: read every vision token back into the characters of its 64x64 cell, the dense signal that
teaches the encoder to see before a language model is asked to read it.

The renderer knows where every character is, so each cell's target is exact and positional: the text
lines whose centre falls in the cell's row of cells, in order (at most LINES), and in each line the
characters whose centre falls in the cell, in order (at most CHARS); slot (line, k) holds the k-th such
character or EMPTY. The head predicts every slot at once (cross-entropy: no alignment to discover, which is
what a CTC head spent its first thousand steps on). The page text is rebuilt by joining, line by line,
the cells of each row.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

CHARSET = "".join(chr(c) for c in range(32, 127))
EMPTY = 0
VOCAB = len(CHARSET) + 1
LINES, CHARS = 8, 24
_LUT = np.zeros(128, np.int64)
_LUT[32:127] = np.arange(1, VOCAB)
_LUT[:32] = _LUT[ord("?")]


def cell_lines(lines, page_size: int, grid: int) -> list[list[str]]:
    """Row-major, per cell: the segments of the lines whose centre is in the cell's row (the exact,
    untruncated target). A line's characters run left to right, so each cell's share is one slice."""
    cell = page_size / grid
    out: list[list[str]] = [[] for _ in range(grid * grid)]
    bounds = np.arange(1, grid) * cell
    for ln in lines:
        r = int(min(max(((ln.y0 + ln.y1) / 2) // cell, 0), grid - 1))
        cut = np.searchsorted(np.asarray(ln.xs), bounds, side="left") if ln.text else np.zeros(grid - 1, int)
        edges = [0, *cut.tolist(), len(ln.text)]
        for c in range(grid):
            out[r * grid + c].append(ln.text[edges[c]:edges[c + 1]])
    return out


def slot_targets(cells: list[list[str]]) -> np.ndarray:
    """(cells, LINES, CHARS) int8 slot targets (EMPTY where nothing is); longer content is cut."""
    t = np.zeros((len(cells), LINES, CHARS), np.int8)
    for i, segs in enumerate(cells):
        for j, s in enumerate(segs[:LINES]):
            if s:
                codes = np.frombuffer(s[:CHARS].encode("ascii", "replace"), np.uint8)
                t[i, j, :len(codes)] = _LUT[np.minimum(codes, 127)]
    return t


def page_from_cells(cells: list[list[str]], grid: int) -> str:
    """Page text from row-major per-cell line segments: each row's lines joined across its cells; lines
    empty in every cell of a row are dropped."""
    out = []
    for r in range(grid):
        row = cells[r * grid:(r + 1) * grid]
        n = max((len(c) for c in row), default=0)
        for i in range(n):
            line = "".join(c[i] if i < len(c) else "" for c in row)
            if line.strip():
                out.append(line)
    return "\n".join(out)


class SlotReader(nn.Module):
    """Vision token -> LINES x CHARS distributions over the charset + EMPTY."""

    def __init__(self, dim: int, hidden: int = 768, emb: int = 48):
        super().__init__()
        self.emb = emb
        self.up = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, LINES * CHARS * emb))
        self.out = nn.Sequential(nn.LayerNorm(emb), nn.Linear(emb, VOCAB))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N, D) -> (B, N, LINES, CHARS, VOCAB) logits."""
        B, N, _ = tokens.shape
        return self.out(self.up(tokens).view(B, N, LINES, CHARS, self.emb))

    def loss(self, tokens: torch.Tensor, targets: torch.Tensor, empty_weight: float = 0.25) -> torch.Tensor:
        """Cross-entropy over every slot, EMPTY slots (most of them) weighted down; targets (B, N, LINES, CHARS)."""
        t = targets.reshape(-1).long()
        ce = F.cross_entropy(self(tokens).reshape(-1, VOCAB).float(), t, reduction="none")
        w = torch.where(t == EMPTY, empty_weight, 1.0)
        return (ce * w).sum() / w.sum()

    @torch.no_grad()
    def decode_cells(self, tokens: torch.Tensor) -> list[list[list[str]]]:
        best = self(tokens).argmax(-1).cpu().numpy()          # (B, N, LINES, CHARS)
        table = np.array([""] + list(CHARSET), dtype=object)
        return [[["".join(table[line[line != EMPTY]]) for line in cell] for cell in page] for page in best]

    def read(self, tokens: torch.Tensor) -> list[str]:
        """Page texts from vision tokens (B, N, D); N must be a square number (the cell grid)."""
        grid = int(round(tokens.shape[1] ** 0.5))
        return [page_from_cells(c, grid) for c in self.decode_cells(tokens)]
