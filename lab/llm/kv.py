"""KV-cache compression as real `transformers` caches: the cache generation and scoring actually run with.

Shaped like kvpress: a *method* is a small object that builds one cache layer per model layer; each layer stores
what it keeps in compressed form, hands attention its (de-compressed) keys and values, and reports the bytes it
holds (`nbytes`, counted from the tensors it stores: codes, scales, coefficients; fp16 where it keeps floats).

    cache = kv.make("kivi", bits=2).cache(lm.config)        # or kv.make("h2o", budget=256), ...
    out = lm(ids, past_key_values=cache); cache.nbytes()

Methods (`METHODS`):
- `full`: every key and value in fp16 (the reference: 2 x layers x kv_heads x head_dim x 2 bytes per token);
- `kivi`: KIVI (Liu et al. 2024): keys quantised per channel over groups of `group` tokens, values per token,
  `bits` 8/4/3/2, asymmetric min-max, the `window` most recent tokens in fp16; codes bit-packed;
- `eigen`: each layer's and KV head's keys and values projected on their principal directions (fitted on
  calibration text, post-rotary keys as the cache sees them), the rank of each head chosen by one global budget
  (`keep` of all dimensions: the directions of largest variance anywhere), coefficients fp16 or `bits`-quantised
  per token;
- `sinks`: StreamingLLM (Xiao et al. 2024): the first `sinks` tokens and the most recent ones, `budget` in all
  (positions stay the original ones);
- `h2o`: Heavy-Hitter Oracle (Zhang et al. 2023): the `recent` newest tokens plus the older ones with the most
  accumulated attention, `budget` in all, per KV head (needs `attach(lm)`: a hook gives the cache each layer's
  queries);
- combinations: `sinks`/`h2o` keep their tokens in any per-token store (`store="eigen"`, `bits=`), so eviction,
  low rank and quantisation multiply;
- `latent`: the learned low-rank K/V adapters' latents (`lab.llm.adapters`; `model=` the adapted LM), fp16 or
  `bits` per token, optionally evicted to `budget` (sinks + newest); keys rebuilt as RoPE(B_k z_k).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from transformers.cache_utils import Cache, CacheLayerMixin

STORE_DTYPE = torch.float16


# -- bit packing ---------------------------------------------------------------------------------------------
def pack(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Unsigned codes (< 2**bits) -> bit planes packed 8 per byte along the last axis (padded to 8): exactly
    bits/8 bytes per code plus the padding."""
    n = codes.shape[-1]
    pad = (-n) % 8
    c = torch.nn.functional.pad(codes.to(torch.uint8), (0, pad))
    c = c.view(*c.shape[:-1], -1, 8)
    weights = torch.tensor([1, 2, 4, 8, 16, 32, 64, 128], dtype=torch.uint8, device=c.device)
    planes = [(((c >> b) & 1) * weights).sum(-1, dtype=torch.uint8) for b in range(bits)]
    return torch.stack(planes)                                    # (bits, ..., ceil(n / 8))


def unpack(packed: torch.Tensor, bits: int, n: int) -> torch.Tensor:
    shifts = torch.arange(8, dtype=torch.uint8, device=packed.device)
    out = 0
    for b in range(bits):
        plane = (packed[b][..., None] >> shifts) & 1                # (..., n8, 8)
        out = out + (plane.reshape(*plane.shape[:-2], -1)[..., :n].to(torch.int32) << b)
    return out


def _minmax(x: torch.Tensor, bits: int, axis: int):
    """Asymmetric min-max quantisation along `axis`: (codes, scale, zero), scale and zero kept with that axis."""
    lo, hi = x.amin(axis, keepdim=True), x.amax(axis, keepdim=True)
    sc = ((hi - lo) / (2 ** bits - 1)).clamp(min=1e-6)
    return ((x - lo) / sc).round().clamp(0, 2 ** bits - 1), sc, lo


def _cat(a, b, dim: int):
    """Append b to a along dim (a may still be None)."""
    return b if a is None else torch.cat([a, b], dim)


def _sinks_index(T: int, budget: int, sinks: int, device) -> torch.Tensor:
    """StreamingLLM's kept positions among T: the first min(sinks, budget), then the newest up to `budget`."""
    s = min(sinks, budget)
    return torch.cat([torch.arange(s, device=device), torch.arange(T - (budget - s), T, device=device)])


# -- per-token stores (rows can be dropped: eviction composes with them) ------------------------------------
class Rows:
    """Rows (..., T, d) kept in fp16, or quantised per row to `bits` (packed codes along d, one fp16 scale and
    zero per row); rows append along T and can be gathered (eviction)."""

    def __init__(self, bits: int | None = None):
        self.bits, self.x, self.codes, self.scale, self.zero, self.d = bits, None, None, None, None, 0

    def add(self, x):
        if self.bits is None:
            x = x.to(STORE_DTYPE)
            self.x = x if self.x is None else torch.cat([self.x, x], -2)
            return
        x = x.float()
        self.d = x.shape[-1]
        q, sc, lo = _minmax(x, self.bits, -1)
        self.codes = _cat(self.codes, pack(q, self.bits), -2)
        self.scale, self.zero = _cat(self.scale, sc.to(STORE_DTYPE), -2), _cat(self.zero, lo.to(STORE_DTYPE), -2)

    def get(self, dtype):
        if self.bits is None:
            return self.x.to(dtype)
        c = unpack(self.codes, self.bits, self.codes.shape[-1] * 8)[..., :self.d].to(dtype)
        return c * self.scale.to(dtype) + self.zero.to(dtype)

    def gather(self, idx):
        """Keep rows idx (..., n) along T."""
        if self.bits is None:
            self.x = self.x.gather(-2, idx[..., None].expand(*idx.shape, self.x.shape[-1]))
            return
        self.codes = self.codes.gather(-2, idx[None, ..., None].expand(self.bits, *idx.shape, self.codes.shape[-1]))
        self.scale = self.scale.gather(-2, idx[..., None])
        self.zero = self.zero.gather(-2, idx[..., None])

    @property
    def length(self):
        t = self.x if self.bits is None else self.scale
        return 0 if t is None else t.shape[-2]

    @property
    def nbytes(self):
        if self.bits is None:
            return 0 if self.x is None else self.x.nbytes
        return 0 if self.codes is None else self.codes.nbytes + self.scale.nbytes + self.zero.nbytes


class Fp16Store:
    """Keys and values (B, H, T, D) kept in fp16."""

    def __init__(self):
        self.k, self.v = Rows(), Rows()

    def add(self, k, v):
        self.k.add(k)
        self.v.add(v)

    def get(self, dtype):
        return self.k.get(dtype), self.v.get(dtype)

    def keep(self, idx):
        """Keep tokens idx (B, H, n) per head."""
        self.k.gather(idx)
        self.v.gather(idx)

    @property
    def length(self):
        return self.k.length

    @property
    def nbytes(self):
        return self.k.nbytes + self.v.nbytes


class EigenStore:
    """Per KV head: coefficients on the head's top principal directions (rank r_h for keys, s_h for values),
    fp16 or `bits`-quantised per token (one fp16 scale and zero per token and head)."""

    def __init__(self, basis: "LayerBasis", bits: int | None = None):
        self.b, self.bits = basis, bits
        self.ck = [Rows(bits) for _ in basis.k]
        self.cv = [Rows(bits) for _ in basis.v]

    def add(self, k, v):
        for h in range(k.shape[1]):
            bk, mk = self.b.k[h]
            bv, mv = self.b.v[h]
            self.ck[h].add((k[:, h].float() - mk.to(k.device)) @ bk.to(k.device))
            self.cv[h].add((v[:, h].float() - mv.to(v.device)) @ bv.to(v.device))

    @staticmethod
    def _heads(rows, basis, dtype):
        out = []
        for r, (b, m) in zip(rows, basis):
            c = r.get(dtype)
            out.append(c @ b.T.to(dtype=dtype, device=c.device) + m.to(dtype=dtype, device=c.device))
        return torch.stack(out, 1)

    def get(self, dtype):
        return self._heads(self.ck, self.b.k, dtype), self._heads(self.cv, self.b.v, dtype)

    def keep(self, idx):
        for h in range(len(self.ck)):
            self.ck[h].gather(idx[:, h])
            self.cv[h].gather(idx[:, h])

    @property
    def length(self):
        return self.ck[0].length

    @property
    def nbytes(self):
        return sum(r.nbytes for r in self.ck + self.cv)


@dataclass
class LayerBasis:
    """Per KV head: (basis (D, r), mean (D,)) for keys and for values."""
    k: list = field(default_factory=list)
    v: list = field(default_factory=list)


# -- cache layers ---------------------------------------------------------------------------------------------
class _Layer(CacheLayerMixin):
    is_compileable = False
    is_sliding = False

    def __init__(self):
        super().__init__()
        self.cumulative_length = 0
        self.kept = 0

    def lazy_initialization(self, key_states, value_states):
        self.dtype, self.device = key_states.dtype, key_states.device
        self.is_initialized = True

    def get_seq_length(self) -> int:           # positions seen (RoPE positions of the next tokens)
        return self.cumulative_length

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        # the kept tokens come first, the new ones after them at their true positions
        return self.kept + query_length, self.cumulative_length - self.kept

    def get_max_length(self) -> int:
        return -1

    def nbytes(self) -> int:
        raise NotImplementedError


class StoreLayer(_Layer):
    """Every token kept, in a per-token store (fp16, eigen)."""

    def __init__(self, store):
        super().__init__()
        self.store = store

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        self.store.add(key_states, value_states)
        self.cumulative_length += key_states.shape[-2]
        self.kept = self.store.length
        return self.store.get(key_states.dtype)

    def nbytes(self):
        return self.store.nbytes


class KiviLayer(_Layer):
    """KIVI: blocks of `group` tokens leave the fp16 window once it holds more than `window` + `group` tokens;
    keys are quantised per channel within a block (one fp16 scale and zero per channel and block), values per
    token (per token and head). All quantised tokens live in one packed tensor, de-quantised in one pass."""

    def __init__(self, bits: int, group: int = 32, window: int = 32):
        super().__init__()
        self.bits, self.group, self.window = bits, group, window
        self.kc = self.ks = self.kz = None           # key codes (bits, B, H, Tq, D/8); scale/zero (B, H, Tq/G, D)
        self.v = Rows(bits)                          # values: per-token rows
        self.recent = Fp16Store()
        self.D = 0

    def _old(self, dtype):
        if self.kc is None:
            return None
        B, H = self.ks.shape[:2]
        c = unpack(self.kc, self.bits, self.kc.shape[-1] * 8)[..., :self.D].to(dtype)
        c = c.view(B, H, -1, self.group, self.D)
        k = c * self.ks.to(dtype)[:, :, :, None] + self.kz.to(dtype)[:, :, :, None]
        return k.view(B, H, -1, self.D), self.v.get(dtype)

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self.D = key_states.shape[-1]
        self.recent.add(key_states, value_states)
        self.cumulative_length += key_states.shape[-2]
        k, v = self.recent.get(key_states.dtype)
        old = self._old(key_states.dtype)
        out = (k, v) if old is None else (torch.cat([old[0], k], -2), torch.cat([old[1], v], -2))
        n = (self.recent.length - self.window) // self.group * self.group
        if n > 0:                     # after attention: the tokens just added were read at full precision
            rk, rv = self.recent.k.x, self.recent.v.x
            kb = rk[..., :n, :].float()
            B, H = kb.shape[:2]
            g = kb.view(B, H, n // self.group, self.group, self.D)
            q, sc, lo = _minmax(g, self.bits, -2)                    # per channel and block
            self.kc = _cat(self.kc, pack(q.view(B, H, n, self.D), self.bits), -2)
            self.ks, self.kz = _cat(self.ks, sc[:, :, :, 0].to(STORE_DTYPE), 2), _cat(self.kz, lo[:, :, :, 0].to(STORE_DTYPE), 2)
            self.v.add(rv[..., :n, :].float())
            self.recent.k.x, self.recent.v.x = rk[..., n:, :], rv[..., n:, :]
        self.kept = self.cumulative_length
        return out

    def nbytes(self):
        keys = 0 if self.kc is None else self.kc.nbytes + self.ks.nbytes + self.kz.nbytes
        return self.recent.nbytes + keys + self.v.nbytes


class EvictLayer(_Layer):
    """Keeps `budget` tokens in a per-token store: the first `sinks` and the newest (StreamingLLM), or the
    `recent` newest plus the heavy hitters by accumulated attention (H2O, per KV head). Eviction happens after
    attention, so a chunk of new tokens is always read in full."""

    def __init__(self, store, budget: int, policy: str = "sinks", sinks: int = 4, recent: int = 64):
        super().__init__()
        self.store, self.budget, self.policy, self.sinks, self.recent = store, budget, policy, sinks, recent
        self.pos = None               # (B, H, kept) original positions of the kept tokens
        self.score = None             # (B, H, kept) accumulated attention (h2o)
        self.queries = None           # (B, Hq, q, D) post-rotary queries of the current chunk (h2o; set by the hook)

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        B, H, q, _ = key_states.shape
        new_pos = torch.arange(self.cumulative_length, self.cumulative_length + q, device=key_states.device)
        new_pos = new_pos.expand(B, H, q)
        self.store.add(key_states, value_states)
        self.pos = new_pos if self.pos is None else torch.cat([self.pos, new_pos], -1)
        self.cumulative_length += q
        k, v = self.store.get(key_states.dtype)
        if self.policy == "h2o":
            self._accumulate(k)
        out = (k, v)
        self.kept = self.store.length
        if self.store.length > self.budget:
            self.store.keep(self._choose())
            self.kept = self.store.length
        return out

    def _accumulate(self, k):
        if self.queries is None:
            raise RuntimeError("h2o needs the queries: call kv.attach(lm, cache) before running the model")
        qs = self.queries.to(k.dtype)
        B, Hq, q, D = qs.shape
        H = k.shape[1]
        g = Hq // H
        att = (qs.view(B, H, g, q, D) @ k[:, :, None].transpose(-1, -2)) / D ** 0.5      # (B, H, g, q, T)
        T = k.shape[-2]
        qpos = torch.arange(self.cumulative_length - q, self.cumulative_length, device=k.device)
        causal = self.pos[:, :, None, None, :] > qpos[None, None, None, :, None]
        att = att.masked_fill(causal, float("-inf")).softmax(-1).sum((2, 3)).float()       # (B, H, T)
        prev = torch.zeros(B, H, T, device=k.device) if self.score is None else \
            torch.cat([self.score, torch.zeros(B, H, T - self.score.shape[-1], device=k.device)], -1)
        self.score = prev + att
        self.queries = None

    def _choose(self) -> torch.Tensor:
        T = self.store.length
        B, H = self.pos.shape[:2]
        dev = self.pos.device
        if self.policy == "sinks":
            idx = _sinks_index(T, self.budget, self.sinks, dev).expand(B, H, -1)
        else:
            recent = min(self.recent, self.budget)
            heavy = self.budget - recent
            old = self.score[..., :T - recent]
            top = old.topk(heavy, -1).indices.sort(-1).values if heavy > 0 else old[..., :0].long()
            idx = torch.cat([top, torch.arange(T - recent, T, device=dev).expand(B, H, -1)], -1)
        self.pos = self.pos.gather(-1, idx)
        if self.score is not None:
            self.score = self.score.gather(-1, idx)
        return idx

    def nbytes(self):
        return self.store.nbytes


class LatentLayer(_Layer):
    """Learned low-rank K/V (`lab.llm.adapters`): stores each token's latents z_k, z_v (fp16 or `bits` per
    token), rebuilds keys as RoPE(B_k z_k) at their true positions and values as B_v z_v; with `budget`, keeps
    the first `sinks` and the newest tokens (StreamingLLM over latents)."""

    def __init__(self, kmod, vmod, rotary, head_dim: int, bits: int | None = None, budget: int = 0, sinks: int = 4):
        super().__init__()
        self.kmod, self.vmod, self.rotary, self.hd = kmod, vmod, rotary, head_dim
        self.zk, self.zv = Rows(bits), Rows(bits)
        self.budget, self.sinks, self.pos = budget, sinks, None

    def update(self, key_states, value_states, *args, **kwargs):
        from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        B, _, q, _ = key_states.shape
        self.zk.add(self.kmod.latent[:, -q:])
        self.zv.add(self.vmod.latent[:, -q:])
        new = torch.arange(self.cumulative_length, self.cumulative_length + q, device=key_states.device)
        self.pos = new if self.pos is None else torch.cat([self.pos, new])
        self.cumulative_length += q
        dt = key_states.dtype
        k = (self.zk.get(dt) @ self.kmod.B.T.to(dt)).view(B, -1, key_states.shape[1], self.hd).transpose(1, 2)
        v = (self.zv.get(dt) @ self.vmod.B.T.to(dt)).view(B, -1, value_states.shape[1], self.hd).transpose(1, 2)
        cos, sin = self.rotary(k, self.pos[None])
        _, k = apply_rotary_pos_emb(k, k, cos, sin)
        T = self.zk.length
        self.kept = T
        if self.budget and T > self.budget:
            idx = _sinks_index(T, self.budget, self.sinks, k.device)
            self.zk.gather(idx.expand(B, -1))
            self.zv.gather(idx.expand(B, -1))
            self.pos = self.pos[idx]
            self.kept = self.zk.length
        return k, v

    def nbytes(self):
        return self.zk.nbytes + self.zv.nbytes


class MeasuredCache(Cache):
    """A Cache of the lab's layers; `nbytes()` is what it holds."""

    def __init__(self, layers, method: "Method"):
        super().__init__(layers=layers)
        self.method = method

    def nbytes(self) -> int:
        return sum(layer.nbytes() for layer in self.layers)


# -- methods ---------------------------------------------------------------------------------------------------
class Method:
    """A KV-cache method (kvpress's "press" shape): a small object holding only its own settings, whose
    `layer(i)` is the cache layer generation uses for layer i; `cache(config)` builds the whole cache and
    `label` names it in reports. `scores_attention`: it needs the queries (H2O; `attach` installs the hooks)."""
    name = "?"
    scores_attention = False

    @property
    def label(self) -> str:
        return self.name

    def layer(self, i: int):
        raise NotImplementedError

    def cache(self, config) -> MeasuredCache:
        n = config.get_text_config(decoder=True).num_hidden_layers
        return MeasuredCache([self.layer(i) for i in range(n)], self)


def _store(label: str, eigen: bool, bases, bits, i: int):
    """The per-token store of a method: fp16 rows, or eigen coefficients (optionally quantised to `bits`)."""
    if eigen:
        if bases is None:
            raise ValueError(f"{label}: fit the bases first (kv.fit_bases)")
        return EigenStore(bases[i], bits)
    if bits:
        raise ValueError(f"{label}: bits need store='eigen' (fp16 rows otherwise)")
    return Fp16Store()


@dataclass
class Full(Method):
    """Every key and value in fp16: the reference."""
    name = "full"

    def layer(self, i):
        return StoreLayer(Fp16Store())


@dataclass
class Kivi(Method):
    """KIVI: keys per channel, values per token, quantised to `bits` in groups; the newest `window` in fp16."""
    bits: int = 2
    group: int = 32
    window: int = 32
    name = "kivi"

    @property
    def label(self):
        return f"kivi {self.bits}b"

    def layer(self, i):
        return KiviLayer(self.bits, self.group, self.window)


@dataclass
class Eigen(Method):
    """Keys and values projected on their calibrated eigenbases, `keep` of the dimensions (optionally `bits`)."""
    keep: float = 1.0
    bases: list | None = None
    bits: int | None = None
    name = "eigen"

    @property
    def label(self):
        return f"eigen keep {self.keep:g}" + (f" {self.bits}b" if self.bits else "")

    def layer(self, i):
        return StoreLayer(_store(self.label, True, self.bases, self.bits, i))


@dataclass
class Sinks(Method):
    """StreamingLLM: the first `sinks` tokens and the newest, `budget` in all; rows in fp16 or eigen coefficients."""
    budget: int = 0
    sinks: int = 4
    store: str = "fp16"
    keep: float = 1.0                # store="eigen": share of dimensions kept
    bases: list | None = None
    bits: int | None = None
    name = "sinks"

    @property
    def label(self):
        return " ".join([self.name] + ([f"keep {self.keep:g}"] if self.store == "eigen" else []) + [f"{self.budget} tok"]
                        + ([f"{self.bits}b"] if self.bits else []))

    def _evict(self, i, recent):
        return EvictLayer(_store(self.name, self.store == "eigen", self.bases, self.bits, i), self.budget, self.name,
                          self.sinks, recent)

    def layer(self, i):
        return self._evict(i, 0)


@dataclass
class H2O(Sinks):
    """H2O: the `recent` newest tokens plus the heavy hitters by accumulated attention, `budget` in all."""
    recent: int = 64
    name = "h2o"
    scores_attention = True

    def layer(self, i):
        return self._evict(i, self.recent)


@dataclass
class Latent(Method):
    """Keys and values cached as the latents of trained low-rank adapters (`lab.llm.adapters`) of `model`."""
    model: object = None
    bits: int | None = None
    budget: int = 0
    sinks: int = 4
    name = "latent"

    @property
    def label(self):
        parts = [self.name]
        if self.model is not None:
            from lab.llm import adapters

            k, v = adapters.latents(self.model)[0]
            parts.append(f"r{k.rank}/{v.rank}")
        if self.budget:
            parts.append(f"{self.budget} tok")
        if self.bits:
            parts.append(f"{self.bits}b")
        return " ".join(parts)

    def layer(self, i):
        from lab.llm import adapters

        k, v = adapters.latents(self.model)[i]
        return LatentLayer(k, v, self.model.model.rotary_emb, self.model.config.head_dim, self.bits, self.budget,
                           self.sinks)


CLASSES = {c.name: c for c in (Full, Kivi, Eigen, Sinks, H2O, Latent)}
from lab.llm import METHOD_NAMES as METHODS  # noqa: E402

assert tuple(CLASSES) == METHODS, "lab.llm.METHOD_NAMES must list kv's methods"


def make(name: str, **kw) -> Method:
    """A method by name with its settings; a setting the method does not have is a ValueError."""
    if name not in CLASSES:
        raise ValueError(f"unknown KV method {name!r} ({', '.join(METHODS)})")
    try:
        return CLASSES[name](**kw)
    except TypeError as e:
        raise ValueError(f"KV method {name}: {e}") from None


def full_bytes_per_token(config, dtype_bytes: int = 2) -> int:
    c = config.get_text_config(decoder=True)
    hd = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    return 2 * c.num_hidden_layers * c.num_key_value_heads * hd * dtype_bytes


# -- eigen bases ----------------------------------------------------------------------------------------------
def fit_bases(keys: list[torch.Tensor], values: list[torch.Tensor], keep: float) -> list[LayerBasis]:
    """Principal directions per layer and KV head from calibration keys/values (per layer: (H, N, D)), ranks
    chosen globally: the `keep` share of all (layer, head, K|V) dimensions whose eigenvalues are the largest
    shares of their own head's variance (the least summed *relative* squared error for that many numbers per
    token; raw variances let the keys' large scale starve the values: rank 1 for most V heads, 2.8 bits/byte
    on alice29 at keep 0.25). Every head keeps >= 1."""
    eig = []                       # (value, layer, kind, head)
    fits = {}
    for li, (K, V) in enumerate(zip(keys, values)):
        for kind, X in (("k", K), ("v", V)):
            for h in range(X.shape[0]):
                x = X[h].double()
                m = x.mean(0)
                lam, vec = torch.linalg.eigh(torch.cov((x - m).T))
                lam, vec = lam.flip(0).clamp(min=0), vec.flip(1)
                fits[li, kind, h] = (vec.float(), m.float())
                rel = lam / lam.sum().clamp(min=1e-30)                # share of the head's own variance
                eig += [(float(v), li, kind, h) for v in rel[1:]]     # the first direction is always kept
    D = keys[0].shape[-1]
    total = len(fits) * D
    extra = max(0, round(keep * total) - len(fits))
    ranks = {k: 1 for k in fits}
    for _, li, kind, h in sorted(eig, reverse=True)[:extra]:
        ranks[li, kind, h] += 1
    out = []
    for li in range(len(keys)):
        lb = LayerBasis()
        for h in range(keys[li].shape[0]):
            for kind, dest in (("k", lb.k), ("v", lb.v)):
                vec, m = fits[li, kind, h]
                dest.append((vec[:, :ranks[li, kind, h]].contiguous(), m))
        out.append(lb)
    return out


def ranks(bases: list[LayerBasis]) -> list[dict]:
    return [{"layer": i, "k": [b.shape[1] for b, _ in lb.k], "v": [b.shape[1] for b, _ in lb.v]}
            for i, lb in enumerate(bases)]


# -- h2o: the queries reach the cache through a hook ---------------------------------------------------------
def attach(lm, cache: MeasuredCache):
    """Give each EvictLayer of an h2o cache its layer's post-rotary queries (a pre-hook on every attention
    module); returns the hook handles (remove them when done)."""
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    handles = []
    for i, layer in enumerate(lm.model.layers):
        att = layer.self_attn
        cl = cache.layers[i]
        if not (isinstance(cl, EvictLayer) and cl.policy == "h2o"):
            continue

        def hook(mod, args, kwargs, cl=cl):
            h = kwargs.get("hidden_states", args[0] if args else None)
            cos, sin = kwargs["position_embeddings"]
            q = mod.q_proj(h).view(*h.shape[:-1], -1, mod.head_dim).transpose(1, 2)
            cl.queries, _ = apply_rotary_pos_emb(q, q[:, :1], cos, sin)
        handles.append(att.register_forward_pre_hook(hook, with_kwargs=True))
    return handles
