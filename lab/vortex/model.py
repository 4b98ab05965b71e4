"""The Vortex model: byte embedding, compressive transformer blocks with rotary positions relative to the
segment, a 256-way head. `forward_segment` is the teacher-forced path (training, evaluation); the codec runs
the same function one byte at a time through `lab.vortex.stepper.Stepper`."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from lab.vortex.compressive import CompressiveTransformerBlock, MemoryManager, memory_positions


@dataclass(frozen=True)
class VortexConfig:
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 512
    segment: int = 64          # bytes per segment (memory update period)
    recent: int = 128          # recent-memory slots per layer (seed: 512)
    longterm: int = 128        # long-term (compressed) slots per layer (seed: 512)
    rate: int = 4              # compression rate of the Conv1d (seed: 4)
    memory: bool = True        # False: a plain transformer over the segment (ablation)
    dropout: float = 0.0

    def __post_init__(self):
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError("d_model must split into heads of even size")
        if min(self.segment, self.rate) < 1 or min(self.recent, self.longterm) < 0:
            raise ValueError("segment and rate must be >= 1, memories >= 0")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def context(self) -> int:
        """Bytes of history a prediction can see at most (segment + recent + rate x long-term)."""
        if not self.memory:
            return self.segment
        return self.segment + self.recent + (self.rate * self.longterm if self.recent else 0)


START = 32  # the byte fed before the first one of a stream (a space)


class VortexModel(nn.Module):
    def __init__(self, cfg: VortexConfig):
        super().__init__()
        self.cfg = cfg
        self.emb = nn.Embedding(256, cfg.d_model)
        self.blocks = nn.ModuleList(CompressiveTransformerBlock(cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout)
                                    for _ in range(cfg.n_layers))
        rec = cfg.recent if cfg.memory else 0
        lt = cfg.longterm if cfg.memory and rec else 0
        self.mems = nn.ModuleList(MemoryManager(cfg.d_model, cfg.rate, rec, lt) for _ in range(cfg.n_layers))
        self.ln = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, 256)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def init_state(self):
        return [(None, None) for _ in self.blocks]

    @staticmethod
    def detach_state(state):
        return [tuple(None if t is None else t.detach() for t in st) for st in state]

    def memory_context(self, st, device=None):
        """[cmem; mem] of one layer and their positions relative to the next segment (or (None, None))."""
        mem, cmem = st
        nm = 0 if mem is None else mem.shape[1]
        nc = 0 if cmem is None else cmem.shape[1]
        if nm + nc == 0:
            return None, None
        parts = [t for t in (cmem, mem) if t is not None and t.shape[1]]
        ctx = torch.cat([p.to(parts[-1].dtype) for p in parts], dim=1)
        return ctx, memory_positions(nm, nc, self.cfg.rate, device=ctx.device)

    def forward_segment(self, x: torch.Tensor, state, grad_memory: bool = False):
        """Teacher-forced segment: x (B, S) input bytes -> logits (B, S, 256), new state."""
        h = self.emb(x)
        new = []
        for blk, mm, st in zip(self.blocks, self.mems, state):
            inp = h
            ctx, pos = self.memory_context(st)
            h = blk(h, blk.memory_kv(ctx, pos) if ctx is not None else None)
            new.append(mm.update(st[0], st[1], inp, grad=grad_memory))
        return self.head(self.ln(h)), new

    def forward(self, x: torch.Tensor, state):
        """A training window of whole segments, x (B, n*S), memory carried across them; the compressed
        slots written inside the window keep their graph so that the Conv1d learns from later segments."""
        S = self.cfg.segment
        out = []
        for s in range(0, x.shape[1], S):
            lg, state = self.forward_segment(x[:, s:s + S], state, grad_memory=True)
            out.append(lg)
        return torch.cat(out, dim=1), state
