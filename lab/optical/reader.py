"""Stage 1: read the vision tokens back into the page's text lines, the dense signal that teaches the
encoder to see before a language model is asked to read it.

Everything is spatial, so the encoder only has to say *what ink is where*:
- a vision token covers a 64x64-pixel cell; its cell is cut into LINES bands of 8 pixels, and each text
  line belongs to the band (of the cell row) that holds its centre (the renderer keeps lines >= 8.5 pixels
  apart, so no two share a band);
- each band of a token is read out as FRAMES frames, one per 64/FRAMES pixels from left to right, and
  the frames of a band across a whole row of cells form one sequence, scored with CTC against the line's
  text. No character has to be assigned to a cell (CTC finds where it is), and no character's *index* has
  to be counted (an earlier head predicted "the k-th character of the cell" and plateaued at ~35%
  precision: it learnt the letter frequencies of each slot, not the glyphs; GPU run 5);
- CTC alone spends its first hundreds of steps emitting only blanks, so an auxiliary cross-entropy tells
  every frame of a text band what it holds from the start: the character whose centre is in the frame,
  else BLANK (one valid CTC alignment; frames holding two centres are left out).
The page text is rebuilt band by band (greedy CTC decoding), top to bottom.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

CHARSET = "".join(chr(c) for c in range(32, 127))
BLANK = 0
VOCAB = len(CHARSET) + 1
LINES = 8              # bands of 8 pixels in a 64-pixel cell
BAND = 8
FRAMES = 32            # CTC frames per band per cell (2 pixels each)
MAXLEN = 256           # characters kept of one text line (longer: cut)
EMPTY_WEIGHT = 1.0     # CTC of the bands without text, per frame, beside the text bands' CTC per character
_LUT = np.zeros(128, np.int64)
_LUT[32:127] = np.arange(1, VOCAB)
_LUT[:32] = _LUT[ord("?")]
_TABLE = np.array([""] + list(CHARSET), dtype=object)


def band_lines(lines, page_size: int, grid: int) -> list[str]:
    """(grid * LINES) strings, row-major over (cell row, band): the text line whose centre lies in each
    band, "" where none does. Lines that meet in one band (never in training pages) are joined by a space."""
    out = [""] * (grid * LINES)
    for ln in lines:
        k = _band(ln, page_size, grid)
        out[k] = f"{out[k]} {ln.text}" if out[k] else ln.text
    return out


def _band(line, page_size: int, grid: int) -> int:
    """The band (row-major over cell rows) that holds a text line's centre."""
    y = (line.y0 + line.y1) / 2 / (page_size / (grid * 64))
    return int(min(max(y // BAND, 0), grid * LINES - 1))


def _codes(s: str) -> np.ndarray:
    return _LUT[np.minimum(np.frombuffer(s.encode("ascii", "replace"), np.uint8), 127)]


def line_targets(bands: list[str]) -> np.ndarray:
    """(bands, MAXLEN) int8 character codes per band (1..95; 0 pads, so a line's length is its count of
    non-zero codes)."""
    t = np.zeros((len(bands), MAXLEN), np.int8)
    for i, s in enumerate(bands):
        if s:
            c = _codes(s[:MAXLEN])
            t[i, :len(c)] = c
    return t


def targets(lines, page_size: int, grid: int) -> np.ndarray:
    """Both targets of a page, (grid * LINES, MAXLEN + grid * FRAMES) int8: each band's line codes
    (`line_targets`), then its frame labels across the cell row: the code of the character whose centre
    lies in the frame, BLANK, or -1 (ignored: a frame with two centres, or a band without text)."""
    bands = band_lines(lines, page_size, grid)
    frames = np.full((len(bands), grid * FRAMES), -1, np.int8)
    scale = page_size / (grid * 64) * (64 / FRAMES)             # page pixels per frame
    for ln in lines:
        if not ln.text:
            continue
        row = frames[_band(ln, page_size, grid)]
        if (row == -1).all():
            row[:] = BLANK
        f = np.clip((np.asarray(ln.xs) / scale).astype(np.int64), 0, grid * FRAMES - 1)
        c = _codes(ln.text)
        ok = c != _LUT[32]                                      # spaces are left to CTC (no ink)
        f, c = f[ok], c[ok]
        clash = np.bincount(f, minlength=grid * FRAMES) > 1
        row[f] = c
        row[clash] = -1
    return np.concatenate([line_targets(bands), frames], axis=1)


def _frame_weights(device) -> torch.Tensor:
    w = torch.ones(VOCAB, device=device)
    w[BLANK] = 0.2
    return w


def page_from_bands(bands: list[str]) -> str:
    return "\n".join(b for b in bands if b.strip())


class LineReader(nn.Module):
    """Vision token -> LINES bands x FRAMES frames of CTC logits (charset + BLANK).

    token --MLP--> one vector per band (emb) --+ frame position--> MLP --> logits per frame."""

    def __init__(self, dim: int, hidden: int = 768, emb: int = 256, frame_hidden: int = 384):
        super().__init__()
        self.emb = emb
        self.up = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, LINES * emb))
        self.pos = nn.Parameter(torch.randn(FRAMES, emb))      # as large as the band vector: frames must differ
        self.frame = nn.Sequential(nn.LayerNorm(emb), nn.Linear(emb, frame_hidden), nn.GELU(), nn.Linear(frame_hidden, VOCAB))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N, D), N = grid^2 row-major -> (B * grid * LINES, grid * FRAMES, VOCAB) logits: one sequence
        per band of each cell row, its frames running left to right across the row's cells."""
        B, N, D = tokens.shape
        g = int(round(N ** 0.5))
        y = self.grid_logits(tokens.view(B, g, g, D))
        return y.permute(0, 2, 3, 1).reshape(B * g * LINES, g * FRAMES, VOCAB)

    def grid_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, R, C, D) tokens of R cell rows x C columns -> (B, VOCAB, R * LINES, C * FRAMES) logits."""
        B, R, C, _ = tokens.shape
        h = self.up(tokens).view(B, R, C, LINES, 1, self.emb) + self.pos.view(1, 1, 1, 1, FRAMES, self.emb)
        y = self.frame(h)                                        # (B, row, col, band, frame, V)
        return y.permute(0, 5, 1, 3, 2, 4).reshape(B, VOCAB, R * LINES, C * FRAMES)

    def loss(self, tokens: torch.Tensor, targets: torch.Tensor, frame_weight: float = 0.5,
             ctc_weight: float = 1.0) -> torch.Tensor:
        """CTC per band line + frame_weight x the frames' cross-entropy; targets (B, bands, MAXLEN +
        frames) from `targets`. CTC per character of the text bands plus EMPTY_WEIGHT x CTC per 16 frames
        of the empty bands."""
        logits = self(tokens).float()                            # (S, T, V)
        S, T_, _ = logits.shape
        t = targets.reshape(S, -1)
        lines, frames = t[:, :MAXLEN], t[:, MAXLEN:].long()
        lens = (lines != 0).sum(-1)
        logp = logits.log_softmax(-1)
        ctc = F.ctc_loss(logp.transpose(0, 1), lines[lines != 0].long(), torch.full((S,), T_, dtype=torch.long,
                         device=logp.device), lens, blank=BLANK, reduction="none", zero_infinity=True)
        text = lens > 0
        # per character on the text bands, per 16 frames on the empty ones: summed over all bands the
        # empty bands' "all blank" gradients drowned the few text bands (a page was never memorised)
        loss = ctc_weight * (ctc[text].sum() / lens.sum().clamp(min=1) + EMPTY_WEIGHT * ctc[~text].sum() / (16 * (~text).sum().clamp(min=1)))
        if frame_weight and (frames >= 0).any():       # BLANK frames (most of a line) weighted down
            loss = loss + frame_weight * F.nll_loss(logp.reshape(-1, VOCAB), frames.reshape(-1), ignore_index=-1,
                                                    weight=_frame_weights(logp.device))
        return loss

    @torch.no_grad()
    def read_bands(self, tokens: torch.Tensor) -> list[list[str]]:
        """Greedy CTC decoding: per page, the text of every band."""
        B, N, _ = tokens.shape
        best = self(tokens).argmax(-1).cpu().numpy()             # (B * bands, frames)
        keep = np.ones_like(best, bool)
        keep[:, 1:] = best[:, 1:] != best[:, :-1]
        keep &= best != BLANK
        lines = ["".join(_TABLE[row[k]]) for row, k in zip(best, keep)]
        per = len(lines) // B
        return [lines[i * per:(i + 1) * per] for i in range(B)]

    def read(self, tokens: torch.Tensor) -> list[str]:
        """Page texts from vision tokens (B, N, D); N must be a square number (the cell grid)."""
        return [page_from_bands(b) for b in self.read_bands(tokens)]


class GridReader(LineReader):
    """The same bands, frames, loss and decoding as `LineReader`, read out spatially:

    token --Linear--> its cell's (LINES x FRAMES x ch) feature map (a "pixel shuffle"), the maps of all
    cells side by side as one (grid*LINES, grid*FRAMES) image --convolutions--> logits per frame.

    Every frame gets its own features straight from the token (the band vector + position MLP of
    `LineReader` must decode 32 positions from one vector through one hidden layer), and the convolutions
    see across cell borders, where a glyph cut by a border lies in two tokens."""

    def __init__(self, dim: int, ch: int = 32, hidden: int = 128):
        nn.Module.__init__(self)
        self.ch = ch
        self.up = nn.Linear(dim, LINES * FRAMES * ch)
        self.conv = nn.Sequential(nn.Conv2d(ch, hidden, (3, 5), padding=(1, 2)), nn.GELU(),
                                  nn.Conv2d(hidden, hidden, (1, 5), padding=(0, 2)), nn.GELU(),
                                  nn.Conv2d(hidden, VOCAB, 1))

    def grid_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        B, R, C, _ = tokens.shape
        h = self.up(tokens).view(B, R, C, LINES, FRAMES, self.ch).permute(0, 5, 1, 3, 2, 4)
        return self.conv(h.reshape(B, self.ch, R * LINES, C * FRAMES))     # (B, V, bands, frames)


def make_reader(kind: str, dim: int, hidden: int, emb: int, frame_hidden: int) -> LineReader:
    """A stage-1 reader by name: "line" (band vector + frame MLP) or "grid" (pixel shuffle + convolutions;
    emb is its channels per frame, frame_hidden its convolution width)."""
    if kind == "grid":
        return GridReader(dim, emb, frame_hidden)
    if kind == "line":
        return LineReader(dim, hidden, emb, frame_hidden)
    raise ValueError(f"unknown reader kind {kind!r} (line, grid)")
