"""The Vortex model: byte embedding + positions, compressive transformer blocks, a 256-way head."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from lab.vortex.compressive import CompressiveTransformerBlock, MemoryManager


@dataclass(frozen=True)
class VortexConfig:
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 512
    segment: int = 64          # bytes per segment (training window step, memory update period)
    recent: int = 128          # recent-memory slots per layer (seed: 512)
    longterm: int = 128        # long-term (compressed) slots per layer (seed: 512)
    rate: int = 4              # compression rate of the Conv1d (seed: 4)
    memory: bool = True        # False: a plain transformer over the segment (ablation)
    dropout: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def sinusoid(n: int, d: int, offset: int = 0, device=None) -> torch.Tensor:
    pos = torch.arange(offset, offset + n, device=device, dtype=torch.float32)[:, None]
    i = torch.arange(0, d, 2, device=device, dtype=torch.float32)[None, :]
    ang = pos / torch.pow(10000.0, i / d)
    pe = torch.zeros(n, d, device=device)
    pe[:, 0::2] = torch.sin(ang)
    pe[:, 1::2] = torch.cos(ang)
    return pe


START = 32  # the byte fed before the first one of a stream (a space)


class VortexModel(nn.Module):
    def __init__(self, cfg: VortexConfig):
        super().__init__()
        self.cfg = cfg
        self.emb = nn.Embedding(256, cfg.d_model)
        self.blocks = nn.ModuleList(CompressiveTransformerBlock(cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.dropout)
                                    for _ in range(cfg.n_layers))
        rec = cfg.recent if cfg.memory else 0
        lt = cfg.longterm if cfg.memory else 0
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

    def _ctx(self, st):
        mem, cmem = st
        parts = [t for t in (cmem, mem) if t is not None and t.shape[1]]
        return torch.cat(parts, dim=1) if parts else None

    def forward_segment(self, x: torch.Tensor, state):
        """Teacher-forced segment (training): x (B, S) bytes -> logits (B, S, 256), new state."""
        B, S = x.shape
        h = self.emb(x) * math.sqrt(self.cfg.d_model) + sinusoid(S, self.cfg.d_model, device=x.device)
        new = []
        for blk, mm, st in zip(self.blocks, self.mems, state):
            inp = h
            h, _ = blk(h, blk.memory_kv(self._ctx(st)))
            new.append(mm.update(st[0], st[1], inp))
        return self.head(self.ln(h)), new

    # ---- incremental decoding: one byte per stream per call, identical in encoder and decoder
    def step(self, byte: torch.Tensor, cache: dict):
        """byte (B,) the previous byte (START before the first) -> logits (B, 256) for the next one."""
        cfg = self.cfg
        pos = cache["pos"]
        h = self.emb(byte)[:, None, :] * math.sqrt(cfg.d_model)
        h = h + sinusoid(1, cfg.d_model, offset=pos, device=byte.device)
        if pos == 0:  # a new segment: keys/values of the memories, once
            cache["mem_kv"] = [blk.memory_kv(self._ctx(st)) for blk, st in zip(self.blocks, cache["state"])]
        for li, blk in enumerate(self.blocks):
            cache["inputs"][li].append(h)
            h, cache["kv"][li] = blk(h, cache["mem_kv"][li], cache["kv"][li])
        logits = self.head(self.ln(h))[:, 0]
        cache["pos"] = pos + 1
        if cache["pos"] == cfg.segment:  # segment full: fold it into the memories, start a new one
            new = []
            for li, (mm, st) in enumerate(zip(self.mems, cache["state"])):
                seg = torch.cat(cache["inputs"][li], dim=1)
                new.append(mm.update(st[0], st[1], seg))
            cache.update(state=new, pos=0, kv=[None] * len(self.blocks), inputs=[[] for _ in self.blocks])
        return logits

    def new_cache(self) -> dict:
        return {"state": self.init_state(), "pos": 0, "kv": [None] * len(self.blocks),
                "inputs": [[] for _ in self.blocks]}
