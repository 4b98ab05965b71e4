"""llmzip (.llmz): a pretrained causal LM's next-token distributions drive the range coder, losslessly.

Any byte string round-trips: valid UTF-8 runs are tokenised by the model's tokenizer (special-token text stays
plain text), every other byte, and any run whose tokens would not give back its exact bytes, is coded as the
byte-level BPE's single-byte tokens (the escape). The token sequence is split into `streams` contiguous parts
coded as one batch, one token per step, through the model's KV cache; encoder and decoder run the same steps
(same shapes, one CPU thread), so both see the same probabilities. Each token is coded in two 16-bit steps (the
range coder's CDFs are 16-bit and a vocabulary is ~49k): its bucket of 256 ids, then the id within the bucket;
the CDFs are formed on the model's device and only the entries the coder needs cross to the host.
Every `context` tokens the cache restarts from the last `keep` tokens of each stream. With `mix` flags
(lab.llmzip.mixing) the LM's distribution is mixed with online models learned from the tokens already coded,
and with the ADAPT flag the LM's own weights learn from them too (lab.llmzip.adapt).
Two engines run the model: `eager` (transformers' growing DynamicCache) and `static` (a StaticCache of
`context` positions allocated once, and on CUDA the one-token step compiled into a captured CUDA graph,
`torch.compile(mode="reduce-overhead")`, to take the ~60 kernel launches a layer off the host), and `banded`, the
static engine whose one-token steps attend only the cache's filled part, rounded up to one of <= 8 bands of the
context (a compiled graph each: a step's attention reads the whole cache it is given, and on a GPU that memory
traffic is ~90% of a bfloat16 step, reports/llmzip_gpu); the file records which one, so the decoder runs the same
computation. `dtype` bfloat16 runs a bfloat16 copy of the model (weights,
activations and cache; the distribution is formed in float32 from its logits): faster on a GPU, at a rate cost
that is measured, not assumed; the file records it too.

.llmz (lab.container): magic b"LLMZ", version 4, header (original length u64, CRC32 u32, streams u16, device
class u8 (0 cpu, 1 cuda; +2: the static engine; +10: the banded one; +4: bfloat16), context u32, keep u32, model sha256 32 bytes, online models u8:
lab.llmzip.mixing's flags, the adapter's rate f32: 0 without the ADAPT flag), sections
LENS (tokens per stream, u64) and DATA. Version 3 (the same header without the rate: an ADAPT file's rate is
lab.llmzip.adapt.LR_V3) and version 2 (without the online models too: the LM alone) still decode; version 1
interleaved buckets and ids per stream.
"""
from __future__ import annotations

import contextlib
import struct
import zlib

import numpy as np
import torch

from lab import FormatError, container
from lab.streams import one_thread, split
from lab.entropy.rangecoder import code_cdf_rows, dec_buffer, dec_init, enc_flush, encode_ranges, new_encoder
from lab.llmzip import adapt
from lab.llmzip.adapt import adapting
from lab.llmzip.mixing import ADAPT, ALL as MIX_ONLINE, KNOWN as MIX_ALL, OnlineMix

MAGIC = b"LLMZ"
VERSION = 4
_HEAD = struct.Struct("<QIHBII32sBf")
_HEADS = {2: struct.Struct("<QIHBII32s"), 3: struct.Struct("<QIHBII32sB"), 4: _HEAD}   # version -> header (2: no
                                                                                        # online models; 3: no rate)
DEVICES = {"cpu": 0, "cuda": 1}
ENGINES = {"eager": 0, "static": 2, "banded": 10}     # added to the device class in the header (8: banded, static)
BANDS = 8                                   # the banded engine's attention lengths a context (a graph each)
DTYPES = {"float32": 0, "bfloat16": 4}      # likewise
TOTAL = 1 << 16
MAX_STREAMS = 4096


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte-level alphabet (byte -> printable character), as byte-level BPE tokenizers use it."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class Vocab:
    """Token ids <-> bytes for a byte-level tokenizer: `encode(data)` (with the escape) and `decode(ids)`.

    A byte with no single-byte token (SmolLM2 has none for 21 byte values that never occur in text, such as
    0xC0 or 0xFF) is coded as the escape token (a special token that text never produces) followed by the
    pseudo-token V + byte, which the coder codes with a flat 1/256."""

    def __init__(self, tok, start: int):
        self.tok = tok
        if hasattr(tok, "byte_table"):                      # the tiny byte tokenizer of the tests
            self.table = tok.byte_table()
        else:
            inv = {c: b for b, c in _bytes_to_unicode().items()}
            pieces = tok.convert_ids_to_tokens(list(range(len(tok))))
            self.table = [bytes(inv[c] for c in p) if p is not None and all(c in inv for c in p) else None
                          for p in pieces]
            for t in getattr(tok, "all_special_ids", []):
                self.table[t] = None
        self.V = len(self.table)
        self.byte_id = np.full(256, -1, np.int64)
        for i, b in enumerate(self.table):
            if b is not None and len(b) == 1 and self.byte_id[b[0]] < 0:
                self.byte_id[b[0]] = i
        free = [i for i, b in enumerate(self.table) if b is None and i != start]
        self.esc = free[0] if free else -1
        if (self.byte_id < 0).any() and self.esc < 0:
            raise ValueError("this tokenizer has neither every single-byte token nor a spare token for an escape")

    def _raw(self, chunk: bytes) -> list[int]:
        out = []
        for b in chunk:
            out += [int(self.byte_id[b])] if self.byte_id[b] >= 0 else [self.esc, self.V + b]
        return out

    def _text(self, chunk: bytes) -> list[int]:
        ids = self.tok(chunk.decode("utf-8"), add_special_tokens=False, split_special_tokens=True)["input_ids"]
        if any(self.table[i] is None for i in ids) or b"".join(self.table[i] for i in ids) != chunk:
            return self._raw(chunk)
        return list(ids)

    def encode(self, data: bytes) -> list[int]:
        out, i = [], 0
        while i < len(data):
            try:
                data[i:].decode("utf-8")
                j, bad = len(data), len(data)
            except UnicodeDecodeError as e:
                j, bad = i + e.start, i + e.end
            if j > i:
                out += self._text(data[i:j])
            out += self._raw(data[j:bad])
            i = bad
        return out

    def decode(self, ids) -> bytes:
        out = []
        for k, i in enumerate(ids):
            if i >= self.V:
                if k == 0 or ids[k - 1] != self.esc or i >= self.V + 256:
                    raise FormatError("corrupt .llmz file (an escaped byte without its escape)")
                out.append(bytes([i - self.V]))
            elif i == self.esc:
                if k + 1 >= len(ids) or ids[k + 1] < self.V:
                    raise FormatError("corrupt .llmz file (an escape without its byte)")
            elif self.table[i] is None:
                raise FormatError("corrupt .llmz file (a token with no bytes)")
            else:
                out.append(self.table[i])
        return b"".join(out)


def quantise(p: torch.Tensor, total: int = TOTAL) -> torch.Tensor:
    """Probabilities (..., K) -> integer CDFs (..., K+1) summing to `total` (the coder's 2**16), every symbol >= 1;
    computed where p lives (float64, deterministic: the same input gives the same CDF on the encoder's and the
    decoder's side)."""
    K = p.shape[-1]
    p = p.double()
    c = torch.floor(p / p.sum(-1, keepdim=True).clamp_min(1e-30) * (total - K)).long() + 1
    c.scatter_add_(-1, c.argmax(-1, keepdim=True), (total - c.sum(-1, keepdim=True)))
    return torch.cat([torch.zeros_like(c[..., :1]), c.cumsum(-1)], -1)


def coded_bits(p: torch.Tensor, ids: torch.Tensor, bits: int = 16, steps: int = 2) -> torch.Tensor:
    """Bits each token costs under CDFs quantised to `bits` of precision (T rows of probabilities, T ids):
    steps=2 is the coder's scheme (the bucket of 256 ids, then the id in its bucket, each CDF with its own
    floors of 1), steps=1 one CDF over the whole vocabulary (the floors of every id in one table). Measures what
    the quantisation costs against -log2 p, without running the coder (its own overhead is ~2 bytes a file)."""
    total = 1 << bits
    ids = ids.long().view(-1, 1)
    if steps == 1:
        c = quantise(p, total)
        return -torch.log2((c.gather(1, ids + 1) - c.gather(1, ids)).double() / total).view(-1)
    nb = -(-p.shape[1] // 256)
    rows = torch.nn.functional.pad(p, (0, nb * 256 - p.shape[1])).view(p.shape[0], nb, 256)
    hi, lo = ids // 256, ids % 256
    cb = quantise(rows.sum(-1), total)
    ci = quantise(rows[torch.arange(p.shape[0]), hi.view(-1)], total)
    q = (cb.gather(1, hi + 1) - cb.gather(1, hi)).double() * (ci.gather(1, lo + 1) - ci.gather(1, lo)).double()
    return -torch.log2(q / total ** 2).view(-1)


FLAT = np.arange(257, dtype=np.int64) * 256          # 1/256 each: an escaped byte


def _code(st, buf, cdfs: torch.Tensor, syms: np.ndarray, active: np.ndarray, enc: bool) -> None:
    """Code syms[i] under row i of the device's CDFs for the active rows (decoded symbols land in syms). The
    encoder knows its symbols, so only each row's two bounds cross to the host; the decoder searches, so it takes
    whole rows (a bucket CDF of ~200 entries, an id CDF of 257), never the vocabulary's distribution."""
    if enc:
        s = torch.from_numpy(syms).to(cdfs.device).clamp(0, cdfs.shape[1] - 2).unsqueeze(1)
        lo_hi = torch.cat([cdfs.gather(1, s), cdfs.gather(1, s + 1)], 1).cpu().numpy()
        encode_ranges(st, buf, lo_hi, active)
    else:
        code_cdf_rows(st, buf, cdfs.cpu().numpy(), syms, active, False)


FEW_BLOCKS = 132             # streams x K/V heads below an H100's SM count: a step attends by matmuls (CUDA only)


def _pack_gqa(t, g: int):
    """One query token's heads onto their K/V heads: (batch, heads, 1, dim) -> (batch, heads / g, g, dim); a mask
    shared by every head as it is (transformers' `pack_gqa`, which its releases before 5.2x lack)."""
    if t is None or t.shape[1] == 1:
        return t
    return t.reshape(t.shape[0], t.shape[1] // g, g, t.shape[3])


def _grouped_step_attention(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, **kw):
    """transformers' SDPA attention, but a one-token step's query heads are packed onto their shared K/V heads
    (transformers' `pack_gqa`) inside torch.compile too, where transformers instead copies the grouped K/V of the
    whole static cache out to every query head, each layer and step (x3 for SmolLM2: at 4,096 streams x 288
    positions, ~5 GB a layer). Outside compile the same operations as transformers' path, so the same numbers."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    band = kw.pop("band", None)               # the banded engine: a one-token step reads the cache's first `band`
    if band is not None and query.shape[2] == 1:
        key, value = key[:, :, :band], value[:, :, :band]
        attention_mask = attention_mask[..., :band] if attention_mask is not None else None
    g = getattr(module, "num_key_value_groups", 1)
    if query.shape[2] != 1 or g == 1 or kw.get("position_bias") is not None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kw)
    q, mask = _pack_gqa(query, g), _pack_gqa(attention_mask, g)
    if query.device.type == "cuda" and q.shape[0] * q.shape[1] < FEW_BLOCKS:
        out = _step_attention_matmul(q, key, value, mask, scaling)
    else:
        out = torch.nn.functional.scaled_dot_product_attention(q, key, value, attn_mask=mask, dropout_p=dropout,
                                                               scale=scaling)
    return out.reshape(out.shape[0], -1, 1, value.shape[-1]).transpose(1, 2).contiguous(), None


def _step_attention_matmul(q, key, value, mask, scaling):
    """A one-token step's attention as two matmuls and a softmax (in float32), for few streams on a GPU: the
    fused attention kernel gives each (stream, K/V head) one thread block that walks the whole cache, so one
    stream's step at context 8,192 took 30 blocks x ~1 ms (29.6 of its 31 ms a step on an H100,
    reports/llmzip_gpu/bible600_static_kernels_gpu.json), where a matmul spreads the cache over the GPU."""
    s = torch.matmul(q, key.transpose(-1, -2)).float() * (scaling if scaling is not None else q.shape[-1] ** -0.5)
    if mask is not None:
        s = s.masked_fill(~mask, -torch.inf) if mask.dtype == torch.bool else s + mask.float()
    return torch.matmul(s.softmax(-1).to(value.dtype), value)


class _StaticStep:
    """The static engine: one StaticCache of `context` positions for the whole run (reset in place at a
    restart) and, on CUDA, the one-token step compiled with CUDA graphs; a restart's prefix runs uncompiled.
    The LM attends through `_grouped_step_attention` while the engine runs (`close` restores its own), with
    SDPA's causal mask registered under the same name: an attention transformers has no mask for gets none, and
    a step would then attend to the static cache's unwritten places (2.07 against 1.78 bits/byte on 3 KB of alice29
    with SmolLM2 at context 96, 1.72 against 1.17 on the bible on an H100, before this was found).
    `banded`: a step at position p attends the cache's first band_length(p + 1) places (the rest are unwritten and
    masked anyway), each length its own compiled graph."""

    def __init__(self, lm, context: int, device, banded: bool = False):
        from transformers import AttentionInterface, StaticCache
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

        self.lm, self.cache = lm, StaticCache(config=lm.config, max_cache_len=context)
        self.pos, self.context, self.banded = 0, context, banded
        self.attn = lm.config._attn_implementation
        if self.attn == "sdpa":
            AttentionInterface.register("lab_grouped_step", _grouped_step_attention)
            AttentionMaskInterface.register("lab_grouped_step", sdpa_mask)    # see above: no mask else
            lm.set_attn_implementation("lab_grouped_step")
        self.step = self._forward
        if str(device).startswith("cuda"):
            if banded:                                   # one graph a band (and the restart's eager prefix)
                torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 2 * BANDS)
            self.step = torch.compile(self._forward, mode="reduce-overhead", fullgraph=True, dynamic=False)

    def _forward(self, x, cache_position, band: int | None = None):
        kw = {"band": band} if band is not None else {}
        return self.lm(input_ids=x, past_key_values=self.cache, cache_position=cache_position, use_cache=True,
                       logits_to_keep=1, **kw).logits

    def band_length(self, n: int) -> int:
        """The attention length for a step that sees n cache places: n rounded up to a band (a multiple of 16)."""
        w = -(-self.context // BANDS)                          # ceil(context / BANDS), up to a multiple of 16
        w = -(-w // 16) * 16
        return min(self.context, -(-n // w) * w)

    def restart(self, prefix: torch.Tensor) -> torch.Tensor:
        if self.pos:
            self.cache.reset()
        n = prefix.shape[1]
        logits = self._forward(prefix, torch.arange(n, device=prefix.device))
        self.pos = n
        return logits

    def next(self, x: torch.Tensor) -> torch.Tensor:
        band = self.band_length(self.pos + 1) if self.banded else None
        logits = self.step(x, torch.tensor([self.pos], device=x.device), band).clone()   # a graph's output is reused
        self.pos += 1
        return logits

    def close(self) -> None:
        if self.lm.config._attn_implementation != self.attn:
            self.lm.set_attn_implementation(self.attn)


def _run(lm, lens: list[int], ids: np.ndarray | None, st, buf, enc: bool, start: int, esc: int, context: int,
         keep: int, device, mix: int = 0, engine: str = "eager", adapter=None, timer=None) -> np.ndarray:
    """Code (enc) or decode the token streams; returns the (B, max len) token array (escaped bytes as V + b).
    `adapter` (lab.llmzip.adapt, with the ADAPT flag): the LM's step on the tokens coded so far, before each step.
    `timer` (lab.llmzip.steptime.StepTimer): each step's time split into adapt, forward, mix and code.

    Each step codes, in this order: every stream's escaped byte (flat), then every other stream's bucket of 256
    ids, then its id within the bucket; the decoder needs the buckets before it can form the second CDFs."""
    from transformers import DynamicCache

    B, n = len(lens), max(lens)
    V = lm.config.vocab_size
    model_in = lambda a: np.where(a >= V, esc, a)  # noqa: E731 - what the model reads for an escaped byte
    nb = -(-V // 256)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    if enc:
        toks = np.zeros((B, n), np.int64)
        for b in range(B):
            toks[b, :lens[b]] = ids[starts[b]:starts[b] + lens[b]]
    else:                       # grown as decoding goes: a corrupt header's lengths allocate nothing up front
        toks = np.zeros((B, min(n, 4096)), np.int64)
    lens_a = np.array(lens)
    flat = torch.from_numpy(FLAT).to(device).expand(B, -1)
    rows_b = torch.arange(B, device=device)
    mixer = OnlineMix(mix & MIX_ONLINE, B, V, device) if mix & MIX_ONLINE else None
    static = _StaticStep(lm, context, device, engine == "banded") if engine != "eager" else None
    cache, x, pos, restart = None, torch.full((B, 1), start, dtype=torch.long, device=device), 0, True
    lap = timer.lap if timer else (lambda part: None)
    try:
        for t in range(n):
            if timer:
                timer.start()
            if t >= toks.shape[1]:
                toks = np.concatenate([toks, np.zeros_like(toks)], 1)[:, :n]
            if adapter:                                              # the LM learns from the tokens coded so far
                adapter.step(toks, t, lens_a, model_in, start)
                lap("adapt")
            if restart or pos >= context:                            # (re)start: the last `keep` tokens as a prefix
                cache = None if static else DynamicCache()
                k0 = min(keep, t)
                prefix = np.concatenate([np.full((B, 1), start), model_in(toks[:, t - k0:t])], 1)
                x = torch.from_numpy(prefix).to(device)
                pos, restart = 0, False
            if static:
                logits = static.restart(x) if pos == 0 else static.next(x)
            else:                                                    # a restart's prefix: no (B, keep, V) logits
                logits = lm(input_ids=x, past_key_values=cache, use_cache=True, logits_to_keep=1).logits
            pos += x.shape[1]
            lap("forward")
            live = t < lens_a
            escaped = live & (toks[:, t - 1] == esc) if t else np.zeros(B, bool)
            if escaped.any():
                raw = toks[:, t] - V if enc else np.zeros(B, np.int64)
                _code(st, buf, flat, raw, escaped, enc)
                if not enc:
                    toks[escaped, t] = V + raw[escaped]
            word = live & ~escaped
            lap("code")
            p = mixer.probs(logits[:, -1], toks, t, word) if mixer else logits[:, -1].float().softmax(-1)
            lap("mix")
            rows = torch.nn.functional.pad(p, (0, nb * 256 - V)).view(B, nb, 256)
            hi = toks[:, t] >> 8 if enc else np.zeros(B, np.int64)
            _code(st, buf, quantise(rows.sum(-1)), hi, word, enc)
            lo = toks[:, t] & 255 if enc else np.zeros(B, np.int64)
            hi_d = torch.from_numpy(np.clip(hi, 0, nb - 1)).to(device)
            _code(st, buf, quantise(rows[rows_b, hi_d]), lo, word, enc)
            if not enc:
                if st[5] or ((hi << 8 | lo)[word] >= V).any():
                    raise FormatError("corrupt .llmz file (stream ended early or a token out of range)")
                toks[word, t] = (hi << 8 | lo)[word]
            lap("code")
            if mixer:
                mixer.update(toks, t, word)
            lap("mix")
            x = torch.from_numpy(model_in(toks[:, t:t + 1])).to(device)
        return toks
    finally:
        if static:
            static.close()


def _adapter(lm, mix: int, lr: float):
    """The LM's online adapter at rate `lr` for a file with the ADAPT flag (weights restored on exit), else nothing."""
    return adapting(lm, lr=lr) if mix & ADAPT else contextlib.nullcontext()


def adapt_rate(mix: int, lr: float | None = None) -> float:
    """The adapter's rate a file records: 0 without the ADAPT flag, else `lr` (default lab.llmzip.adapt.LR) as the
    header's float32 holds it (encoder and decoder step at the very same rate); ValueError if not in (0, 1]."""
    if not mix & ADAPT:
        return 0.0
    r = float(np.float32(adapt.LR if lr is None else lr))
    if not 0 < r <= 1:
        raise ValueError(f"adapt-lr {lr}: the adapter's rate must be in (0, 1]")
    return r


def _devclass(device, engine: str = "eager", dtype: str = "float32") -> int:
    return DEVICES["cuda" if str(device).startswith("cuda") else "cpu"] + ENGINES[engine] + DTYPES[dtype]


def _engine(devclass: int) -> str:
    return "banded" if devclass & 8 else "static" if devclass & 2 else "eager"


def _describe(devclass: int) -> str:
    return (f"{'cuda' if devclass & 1 else 'cpu'} with the {_engine(devclass)} engine"
            + (" in bfloat16" if devclass & 4 else ""))


def _in_dtype(lm, dtype: str):
    """The model to run: `lm` itself in float32, else a copy in `dtype` (the caller's model keeps its weights)."""
    if dtype == "float32" or next(lm.parameters()).dtype == getattr(torch, dtype):
        return lm
    import copy

    return copy.deepcopy(lm).to(getattr(torch, dtype))


@torch.no_grad()
def compress(data: bytes, lm, tok, sha: str, streams: int = 16, device="cpu", context: int = 2048,
             keep: int = 512, mix: int = 0, engine: str = "eager", dtype: str = "float32", timer=None,
             adapt_lr: float | None = None) -> bytes:
    """`lm`/`tok` a causal LM and its byte-level tokenizer, `sha` the model's identity (sha256 hex); `mix` the
    online models mixed in (lab.llmzip.mixing flags; 0: the LM alone); `engine` eager or static and `dtype`
    float32 or bfloat16 (the module's docstring); `timer` a lab.llmzip.steptime.StepTimer to profile the steps
    (the same bytes out); `adapt_lr` the adapter's rate with the ADAPT flag (default lab.llmzip.adapt.LR; the
    file records it)."""
    check_settings(streams, context, keep)
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r}: must be one of {', '.join(ENGINES)}")
    check_dtype(dtype, mix)
    if not 0 <= mix <= MIX_ALL:
        raise ValueError(f"mix {mix}: must be 0..{MIX_ALL} (lab.llmzip.mixing flags)")
    lr = adapt_rate(mix, adapt_lr)
    vocab = Vocab(tok, _start(tok))
    ids = np.array(vocab.encode(data), np.int64)
    lens = split(len(ids), streams)
    for b in range(len(lens) - 1):                          # an escape and its byte stay in one stream
        if ids[sum(lens[:b + 1])] >= vocab.V:
            lens[b] += 1
            lens[b + 1] -= 1
    lens = [x for x in lens if x > 0] or lens[:1]
    st, buf = new_encoder(), np.empty(len(data) * 3 + 1024, np.uint8)
    if len(ids):
        with one_thread(), _adapter(lm, mix, lr) as adapter:
            _run(_in_dtype(lm, dtype).eval(), lens, ids, st, buf, True, _start(tok), vocab.esc, context, keep, device,
                 mix, engine, adapter, timer)
    enc_flush(st, buf)
    if st[5]:
        raise RuntimeError("encoder buffer overflow")
    head = (len(data), zlib.crc32(data), len(lens), _devclass(device, engine, dtype), context, keep, bytes.fromhex(sha), mix, lr)
    return container.pack(MAGIC, VERSION, _HEAD, head, {"LENS": np.array(lens, np.uint64).tobytes(),
                                                         "DATA": buf[: st[4]].tobytes()})


def check_settings(streams: int, context: int, keep: int) -> None:
    """ValueError naming the setting that is out of range."""
    if not 1 <= streams <= MAX_STREAMS:
        raise ValueError(f"streams {streams}: must be 1..{MAX_STREAMS}")
    if not 2 <= context <= 1 << 20:
        raise ValueError(f"context {context}: must be 2..{1 << 20} tokens")
    if not 0 <= keep < context:
        raise ValueError(f"keep {keep}: must be at least 0 and below the context ({context} tokens)")


def check_dtype(dtype: str, mix: int) -> None:
    """ValueError if the dtype is unknown or cannot go with the online models `mix` (the adapting LM: float32)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r}: must be one of {', '.join(DTYPES)}")
    if dtype != "float32" and mix & ADAPT:
        raise ValueError("dtype: the adapting LM (mix adapt) learns in float32 only")


def model_of(blob: bytes) -> str:
    """The sha256 (hex) of the model a .llmz file was written with (FormatError if the file is malformed)."""
    return read_header(blob)[0][6].hex()


def read_header(blob: bytes):
    """-> ((n, crc, streams, device class, context, keep, model sha, online models, adapter's rate), sections), any
    version (an older one's missing fields as it meant them)."""
    v = blob[len(MAGIC)] if len(blob) > len(MAGIC) and blob[:len(MAGIC)] == MAGIC else VERSION
    if v not in _HEADS:
        v = VERSION                                                  # unpack names the unsupported version
    fields, sec = container.unpack(blob, MAGIC, v, _HEADS[v], ".llmz")
    if v == 2:
        fields += (0,)
    if v <= 3:
        fields += (adapt.LR_V3 if fields[7] & ADAPT else 0.0,)
    return fields, sec


def _start(tok) -> int:
    s = getattr(tok, "bos_token_id", None)
    return int(s if s is not None else getattr(tok, "eos_token_id", 0) or 0)


@torch.no_grad()
def decompress(blob: bytes, lm, tok, sha: str, device="cpu", timer=None) -> bytes:
    (n, crc, B, dev, context, keep, msha, mix, lr), sec = read_header(blob)
    if msha.hex() != sha:
        raise FormatError(f"this .llmz file was written with model {msha.hex()[:12]}..., not {sha[:12]}...: "
                          "decompress with the same model")
    if dev > 15 or (dev & 8 and not dev & 2) or (dev & 4 and mix & ADAPT):
        raise FormatError("corrupt .llmz file (bad header or sections)")
    engine, dtype = _engine(dev), "bfloat16" if dev & 4 else "float32"
    if dev != _devclass(device, engine, dtype):
        raise FormatError(f"this .llmz file was encoded on {_describe(dev)}; decode on the same device class")
    if set(sec) != {"LENS", "DATA"} or len(sec["LENS"]) != 8 * B or not 1 <= B <= MAX_STREAMS \
            or not (2 <= context <= 1 << 20 and keep < context) or mix > MIX_ALL \
            or not (0 < lr <= 1 if mix & ADAPT else lr == 0):
        raise FormatError("corrupt .llmz file (bad header or sections)")
    lens = np.frombuffer(sec["LENS"], np.uint64).astype(np.int64).tolist()
    if n == 0:
        if sum(lens):
            raise FormatError("corrupt .llmz file (tokens for an empty input)")
        return b""
    if min(lens) < 1 or sum(lens) > 2 * n:        # <= 2 tokens a byte (an escape): bounded work on a bad header
        raise FormatError("corrupt .llmz file (stream lengths do not fit the input length)")
    st = np.zeros(6, np.int64)
    buf = dec_buffer(sec["DATA"])
    dec_init(st, buf)
    vocab = Vocab(tok, _start(tok))
    with one_thread(), _adapter(lm, mix, lr) as adapter:
        toks = _run(_in_dtype(lm, dtype).eval(), lens, None, st, buf, False, _start(tok), vocab.esc, context, keep,
                    device, mix, engine, adapter, timer)
    out = b"".join(vocab.decode(toks[b, :lens[b]].tolist()) for b in range(B))
    if len(out) != n or zlib.crc32(out) != crc:
        raise FormatError("corrupt .llmz file (decoded data fails its length or CRC32)")
    return out


def tiny_model():
    """A tiny random LLaMA on bytes and its sha: the tests' and the fuzz campaign's model (no download)."""
    from lab.models import TINY, state_sha, tiny_lm

    lm, tok = tiny_lm(TINY)
    return lm, tok, state_sha(lm.state_dict())


def fuzz_target():
    """Small .llmz files from the tiny random model (lab.formats)."""
    from lab.formats import Target

    lm, tok, sha = tiny_model()
    text = b"In the beginning God created the heaven and the earth.\n"
    samples = [compress(text, lm, tok, sha, streams=1), compress(text * 2, lm, tok, sha, streams=3, mix=MIX_ALL),
               compress(text, lm, tok, sha, streams=2, context=16, keep=4, engine="static"),
               compress(text, lm, tok, sha, streams=2, context=48, keep=4, engine="banded"),
               compress(text, lm, tok, sha, streams=2, context=16, keep=4, dtype="bfloat16"),
               compress(b"\xff\xfe" + text[:9], lm, tok, sha, streams=2), compress(b"", lm, tok, sha),
               compress(text, lm, tok, sha, streams=1, mix=MIX_ALL | ADAPT, adapt_lr=3e-3)]
    return Target(".llmz", MAGIC, VERSION, _HEAD, samples, lambda b: decompress(b, lm, tok, sha))
