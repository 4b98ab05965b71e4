"""What a real pretrained LM's activations and weights look like through Df = (sum l)^2 / sum l^2.

    acts = capture(lm, tok, text, tokens=2048)        # hidden states, Q, K (pre/post rotary), V per layer
    df_rows(acts)                                     # Df per layer (and per KV head) of each
    weight_rows(lm)                                   # Df of every weight matrix's singular spectrum
    compress_weights(lm, "int", bits=4) / ("lowrank", bits=4)   # at equal bytes, in place (restore after)

Outlier ("massive activation") dimensions: those whose RMS over tokens is above `OUTLIER_RMS` times the median
dimension's; Df is reported with and without them.
"""
from __future__ import annotations

import numpy as np
import torch

from lab.df import effective_dim, spectrum

OUTLIER_RMS = 10.0


@torch.no_grad()
def capture(lm, tok, text: str, tokens: int = 2048, window: int = 512) -> dict:
    """Activations on the first `tokens` tokens of `text`, in windows of `window` tokens: 'hidden' (layers+1,
    N, hidden), 'q' (layers, q_heads, N, head_dim) and 'k_pre' (before rotary), 'k' (after, as cached), 'v'
    (layers, kv_heads, N, head_dim); float32 numpy arrays."""
    from lab.llm import kv

    ids = tok(text, add_special_tokens=False)["input_ids"][:tokens]
    if len(ids) < 2:
        raise ValueError("capture needs at least 2 tokens of text")
    dev = next(lm.parameters()).device
    layers = lm.model.layers
    got = {"q": [[] for _ in layers], "k_pre": [[] for _ in layers], "v": [[] for _ in layers]}
    handles = []
    for i, layer in enumerate(layers):
        att = layer.self_attn
        for name, mod in (("q", att.q_proj), ("k_pre", att.k_proj), ("v", att.v_proj)):
            def hook(m, a, out, name=name, i=i, hd=att.head_dim):
                got[name][i].append(out[0].view(out.shape[1], -1, hd).transpose(0, 1).float().cpu())
            handles.append(mod.register_forward_hook(hook))
    hidden, keys = [], [[] for _ in layers]
    try:
        for s in range(0, len(ids), window):
            x = torch.tensor([ids[s:s + window]], device=dev)
            cache = kv.make("full").cache(lm.config)
            out = lm(input_ids=x, past_key_values=cache, use_cache=True, output_hidden_states=True)
            hidden.append(torch.stack([h[0].float().cpu() for h in out.hidden_states]))
            for i, cl in enumerate(cache.layers):
                keys[i].append(cl.store.k.x[0].float().cpu())
    finally:
        for h in handles:
            h.remove()
    return {"hidden": torch.cat(hidden, 1).numpy(), "k": torch.stack([torch.cat(k, 1) for k in keys]).numpy(),
            **{n: torch.stack([torch.cat(x, 1) for x in v]).numpy() for n, v in got.items()}, "tokens": len(ids)}


@torch.no_grad()
def capture_encoder(model, tok, text: str, tokens: int = 2048, window: int = 256) -> np.ndarray:
    """Hidden states (layers+1, N, hidden) of a BERT-style encoder (e.g. all-MiniLM-L6-v2) on the first
    `tokens` tokens of `text`, in windows of `window` tokens (its own tokenizer; [CLS]/[SEP] dropped)."""
    ids = tok(text, add_special_tokens=False)["input_ids"][:tokens]
    if len(ids) < 2:
        raise ValueError("capture_encoder needs at least 2 tokens of text")
    dev = next(model.parameters()).device
    step = window - 2
    out = []
    for s in range(0, len(ids), step):
        x = torch.tensor([[tok.cls_token_id, *ids[s:s + step], tok.sep_token_id]], device=dev)
        hs = model(input_ids=x, output_hidden_states=True).hidden_states
        out.append(torch.stack([h[0, 1:-1].float().cpu() for h in hs]))
    return torch.cat(out, 1).numpy()


def outlier_dims(x: np.ndarray, ratio: float = OUTLIER_RMS) -> np.ndarray:
    """Indices of the dimensions of x (N, d) whose RMS is > ratio x the median dimension's."""
    rms = np.sqrt((x.astype(np.float64) ** 2).mean(0))
    return np.flatnonzero(rms > ratio * np.median(rms))


def df(x: np.ndarray) -> float:
    return effective_dim(spectrum(x))


def df_rows(acts: dict) -> list[dict]:
    """Per layer: Df of the hidden state (raw, outlier dimensions removed, their count), and the mean over heads
    of Df of Q, K before and after rotary, and V (each head's 64 dimensions), plus the per-head values."""
    rows = hidden_df_rows(acts["hidden"])
    for i, row in enumerate(rows):
        if i > 0:                        # hidden_states[0] is the embedding; attention layer i-1 feeds layer i
            for name in ("q", "k_pre", "k", "v"):
                per = [df(acts[name][i - 1, h]) for h in range(acts[name].shape[1])]
                row[f"{name}_df"] = float(np.mean(per))
                row[f"{name}_df_heads"] = [round(p, 2) for p in per]
                a = acts[name][i - 1]                              # all heads side by side (heads x head_dim)
                row[f"{name}_df_layer"] = df(a.transpose(1, 0, 2).reshape(a.shape[1], -1))
    return rows


def without_outliers(x: np.ndarray) -> np.ndarray:
    """x (N, d) with its outlier ("massive activation") dimensions removed."""
    return np.delete(x, outlier_dims(x), axis=1)


def hidden_df_rows(H: np.ndarray) -> list[dict]:
    """Per layer of hidden states H (layers, N, d): Df raw, Df with the outlier dimensions removed, their count."""
    rows = []
    for i, x in enumerate(H):
        out = outlier_dims(x)
        rows.append({"layer": i, "hidden_df": df(x), "hidden_df_no_outliers": df(np.delete(x, out, axis=1)),
                     "outlier_dims": len(out), "outliers": out.tolist()[:8]})
    return rows


def _linears(lm):
    for i, layer in enumerate(lm.model.layers):
        for name, mod in [*((f"self_attn.{n}", getattr(layer.self_attn, n)) for n in ("q_proj", "k_proj", "v_proj", "o_proj")),
                          *((f"mlp.{n}", getattr(layer.mlp, n)) for n in ("gate_proj", "up_proj", "down_proj"))]:
            yield i, name, mod


@torch.no_grad()
def weight_rows(lm) -> list[dict]:
    """Df of each linear weight's squared singular values (the spectrum of W W^T), with its shape."""
    rows = []
    for i, name, mod in _linears(lm):
        s = torch.linalg.svdvals(mod.weight.float())
        rows.append({"layer": i, "matrix": name, "shape": list(mod.weight.shape),
                     "df": effective_dim((s ** 2).cpu().numpy()), "max_df": min(mod.weight.shape)})
    return rows


def int_bytes(shape, bits: int, group: int = 32) -> float:
    """Bytes of a (m, n) matrix quantised to `bits` per weight in groups of `group` along rows (fp16 scale + zero)."""
    m, n = shape
    return m * n * bits / 8 + m * (n // group) * 4


def rank_for_bytes(shape, nbytes: float) -> int:
    """The rank whose fp16 factors (m x r + r x n) take at most nbytes (>= 1)."""
    m, n = shape
    return max(1, int(nbytes // (2 * (m + n))))


@torch.no_grad()
def compress_weights(lm, how: str, bits: int, group: int = 32) -> dict:
    """Replace every attention and MLP weight in place by its `bits`-bit group quantisation ("int") or by the
    truncated SVD of the same byte size ("lowrank"); returns the originals (restore_weights) and the bytes."""
    saved, total = {}, 0.0
    for i, name, mod in _linears(lm):
        W = mod.weight.float()
        saved[i, name] = mod.weight.detach().clone()
        nb = int_bytes(W.shape, bits, group)
        if how == "int":
            g = W.view(W.shape[0], -1, group)
            lo, hi = g.amin(-1, keepdim=True), g.amax(-1, keepdim=True)
            sc = ((hi - lo) / (2 ** bits - 1)).clamp(min=1e-8)
            Wq = (((g - lo) / sc).round().clamp(0, 2 ** bits - 1) * sc + lo).view_as(W)
        elif how == "lowrank":
            r = rank_for_bytes(W.shape, nb)
            U, S, Vh = torch.linalg.svd(W, full_matrices=False)
            Wq = (U[:, :r] * S[:r]) @ Vh[:r]
            nb = 2 * r * sum(W.shape)
        else:
            raise ValueError(f"unknown weight compression {how!r} (int, lowrank)")
        mod.weight.copy_(Wq.to(mod.weight.dtype))
        total += nb
    return {"saved": saved, "bytes": total}


@torch.no_grad()
def restore_weights(lm, saved: dict) -> None:
    for i, name, mod in _linears(lm):
        mod.weight.copy_(saved[i, name])


def spectrum_similarity(a: np.ndarray, b: np.ndarray, top: int = 64) -> float:
    """The seed's cross-model comparison: Pearson correlation of two spectra, each sorted descending, cut to
    `top` values and normalised to sum 1."""
    a = np.sort(np.asarray(a, np.float64))[::-1][:top]
    b = np.sort(np.asarray(b, np.float64))[::-1][:top]
    n = min(len(a), len(b))
    a, b = a[:n] / a[:n].sum(), b[:n] / b[:n].sum()
    return float(np.corrcoef(a, b)[0, 1])
