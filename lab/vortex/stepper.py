"""Incremental decoding with static buffers: one byte per stream per step, the same arithmetic in the encoder
and the decoder. Keys/values of [long-term; recent] memory live in a fixed buffer per layer (recomputed once
per segment), keys/values of the current segment are written in place, and a validity mask replaces
concatenation, so every step has the same shapes. On CUDA the step is captured once as a CUDA graph and
replayed (bf16 autocast); on CPU it runs eagerly in float32.

A step ends in the integer CDFs (16 bits, every byte >= 1/65536) that drive the range coder."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from lab.vortex.compressive import rope, rope_tables
from lab.vortex.model import START, VortexModel

PREC = 16


def cdf_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """(B, 256) logits -> (B, 257) int32 CDFs: floor of the probabilities scaled to 2^16 - 256, plus one
    each, the remainder added to the most probable byte. Integer steps after one softmax."""
    p = torch.softmax(logits.float(), dim=-1).double()
    k = p.shape[-1]
    counts = torch.floor(p * ((1 << PREC) - k)).long() + 1
    rem = (1 << PREC) - counts.sum(dim=-1, keepdim=True)
    counts = counts.scatter_add(1, counts.argmax(dim=-1, keepdim=True), rem)
    return F.pad(torch.cumsum(counts, dim=-1), (1, 0)).int()


class Stepper:
    def __init__(self, model: VortexModel, batch: int, device="cpu", graph: bool | None = None):
        cfg = model.cfg
        self.model, self.B, self.device = model.eval(), batch, torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.graph_on = self.cuda if graph is None else (graph and self.cuda)
        L, H, d, S = cfg.n_layers, cfg.n_heads, cfg.d_model, cfg.segment
        hd = d // H
        mm = model.mems[0]
        self.Tm = mm.recent + (mm.longterm if mm.conv is not None else 0)
        kvtype = torch.bfloat16 if self.cuda else torch.float32
        z = dict(device=self.device)
        self.kv = torch.zeros(L, 2, batch, H, self.Tm + S, hd, dtype=kvtype, **z)
        self.valid = torch.zeros(self.Tm + S, dtype=torch.bool, **z)
        self.inputs = torch.zeros(L, batch, S, d, **z)
        self.pos = torch.zeros(1, dtype=torch.long, **z)
        self.ar = torch.arange(S, **z)
        self.cos, self.sin = rope_tables(self.ar, hd)
        self.prev = torch.full((batch,), START, dtype=torch.long, **z)
        self.cdf = torch.zeros(batch, 257, dtype=torch.int32, **z)
        self.state = model.init_state()
        self.prev_state = self.state  # the memories before the last completed segment (online training)
        self.t = 0  # position in the current segment (host copy of self.pos)
        self.graph = None

    def _attend(self, q, k, v, mask):
        """One query per stream. CPU: scaled_dot_product_attention (bit-equal to the teacher-forced path).
        CUDA: two batched matmuls over the bf16 buffers and a float32 softmax, deterministic cuBLAS kernels
        only, K and V read once (the fused kernels either upcast to float32 or are not bit-reproducible)."""
        if not self.cuda:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        s = torch.matmul(q, k.transpose(-1, -2)).float() * (q.shape[-1] ** -0.5)
        p = torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1)
        return torch.matmul(p.to(v.dtype), v)

    # ---- the step body (captured as a graph on CUDA)
    def _body(self):
        m, cfg = self.model, self.model.cfg
        B, d, H = self.B, cfg.d_model, cfg.n_heads
        pos = self.pos
        cos, sin = self.cos.index_select(0, pos), self.sin.index_select(0, pos)
        self.valid[self.Tm:] = self.ar <= pos
        mask = self.valid.view(1, 1, 1, -1)
        h = m.emb(self.prev)[:, None, :]
        for li, blk in enumerate(m.blocks):
            self.inputs[li].index_copy_(1, pos, h.float())
            q, k, v = blk.attn.qkv(blk.ln1(h)).view(B, 1, 3, H, d // H).permute(2, 0, 3, 1, 4)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            kv = self.kv[li]
            kv[0].index_copy_(2, self.Tm + pos, k.to(kv.dtype))
            kv[1].index_copy_(2, self.Tm + pos, v.to(kv.dtype))
            y = self._attend(q.to(kv.dtype), kv[0], kv[1], mask)
            h = h + blk.attn.out(y.transpose(1, 2).reshape(B, 1, d))
            h = h + blk.ff(blk.ln2(h))
        self.cdf.copy_(cdf_from_logits(m.head(m.ln(h))[:, 0]))
        self.pos.add_(1)

    def _run_body(self):
        if self.cuda:
            with torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False):
                self._body()
        else:
            self._body()

    @torch.no_grad()
    def step(self) -> torch.Tensor:
        """Predict the next byte of every stream from self.prev; returns the (B, 257) CDFs (device)."""
        if self.graph_on:
            if self.graph is None:
                self._capture()
            self.graph.replay()
        else:
            self._run_body()
        self.t += 1
        if self.t == self.model.cfg.segment:
            self._end_segment()
        return self.cdf

    def _capture(self):
        saved = (self.kv.clone(), self.valid.clone(), self.inputs.clone(), self.pos.clone(), self.cdf.clone())
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(2):  # warm-up outside the graph
                self.pos.copy_(saved[3])
                self._run_body()
        torch.cuda.current_stream().wait_stream(s)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self._run_body()
        for buf, v in zip((self.kv, self.valid, self.inputs, self.pos, self.cdf), saved):
            buf.copy_(v)

    @torch.no_grad()
    def _end_segment(self):
        """Fold the segment's layer inputs into the memories; recompute the memory keys/values."""
        m = self.model
        new = []
        ctx = torch.autocast("cuda", dtype=torch.bfloat16) if self.cuda else torch.autocast("cpu", enabled=False)
        with ctx:
            for li, (blk, mm, st) in enumerate(zip(m.blocks, m.mems, self.state)):
                st = mm.update(st[0], st[1], self.inputs[li].clone())
                new.append(st)
                c, pos = m.memory_context(st)
                if c is None:
                    continue
                k, v = blk.memory_kv(c, pos)
                n = k.shape[2]
                self.kv[li, 0, :, :, :n] = k.to(self.kv.dtype)
                self.kv[li, 1, :, :, :n] = v.to(self.kv.dtype)
                self.valid[:n] = True
        self.prev_state, self.state = self.state, new
        self.pos.zero_()
        self.t = 0
