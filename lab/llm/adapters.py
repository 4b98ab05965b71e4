"""Learned low-rank K/V adapters (Palu-style): each layer's W_k and W_v factored as B @ A with a rank-r latent
z = A h per token, which is what the cache stores (r numbers per layer instead of kv_heads x head_dim); keys are
rebuilt as RoPE(B_k z_k) at attention time, values as B_v z_v.

    lat = adapters.fit(lm, calib_k_pre, calib_v, rank_k=48, rank_v=48)   # joint PCA of the pre-rotary K / V
    adapters.apply(lm, lat)                                              # k_proj / v_proj replaced in place
    adapters.distil(lm, tok, text, steps=...)                            # A, B fine-tuned: KL to the original
    cache = kv.make("latent", bits=4, budget=...).cache(lm.config)       # stores the latents

The initialisation is the data-aware SVD: with B the top-r principal directions (uncentred) of the layer's
outputs W x on calibration text and A = B^T W, B A x is the best rank-r approximation of W x there (what a
pre-rotary eigen-KV would keep, which a post-rotary cache cannot).
"""
from __future__ import annotations

import torch
from torch import nn


class LatentProj(nn.Module):
    """W ~ B @ A: forward gives B(A h); `latent` holds A h of the last call (for the cache); `bypass` runs the
    original W (the teacher)."""

    def __init__(self, W: torch.Tensor, B: torch.Tensor):
        super().__init__()
        self.register_buffer("W", W.detach().clone(), persistent=False)
        self.A = nn.Parameter((B.T @ W).detach().clone())           # (r, in)
        self.B = nn.Parameter(B.detach().clone())                   # (out, r)
        self.latent = None
        self.bypass = False

    @property
    def rank(self) -> int:
        return self.A.shape[0]

    def forward(self, h):
        if self.bypass:
            return h @ self.W.T
        z = h @ self.A.T
        self.latent = z
        return z @ self.B.T


def _top(X: torch.Tensor, r: int) -> torch.Tensor:
    """Top-r uncentred principal directions of rows X (N, d) -> (d, r)."""
    C = (X.double().T @ X.double()) / len(X)
    _, vec = torch.linalg.eigh(C)
    return vec.flip(1)[:, :r].float()


def fit(lm, k_pre, v, rank_k: int, rank_v: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer (B_k, B_v) from calibration pre-rotary keys and values ((layers, heads, N, head_dim) arrays)."""
    out = []
    for i in range(len(lm.model.layers)):
        K = torch.as_tensor(k_pre[i]).permute(1, 0, 2).reshape(k_pre.shape[2], -1)
        V = torch.as_tensor(v[i]).permute(1, 0, 2).reshape(v.shape[2], -1)
        out.append((_top(K, rank_k), _top(V, rank_v)))
    return out


def apply(lm, bases) -> None:
    """Replace every layer's k_proj / v_proj by LatentProj (initialised from `bases`), in place."""
    for layer, (bk, bv) in zip(lm.model.layers, bases):
        att = layer.self_attn
        dev = att.k_proj.weight.device
        att.k_proj = LatentProj(att.k_proj.weight.float(), bk.to(dev))
        att.v_proj = LatentProj(att.v_proj.weight.float(), bv.to(dev))


def remove(lm) -> None:
    """Back to the original projections (the weights LatentProj kept)."""
    for layer in lm.model.layers:
        att = layer.self_attn
        for name in ("k_proj", "v_proj"):
            m = getattr(att, name)
            if isinstance(m, LatentProj):
                lin = nn.Linear(m.W.shape[1], m.W.shape[0], bias=False).to(m.W.device)
                lin.weight.data.copy_(m.W)
                setattr(att, name, lin)


def latents(lm) -> list[tuple[LatentProj, LatentProj]]:
    out = [(layer.self_attn.k_proj, layer.self_attn.v_proj) for layer in lm.model.layers]
    if not all(isinstance(k, LatentProj) and isinstance(v, LatentProj) for k, v in out):
        raise ValueError("this model has no latent K/V adapters (adapters.apply first)")
    return out


def set_bypass(lm, on: bool) -> None:
    for k, v in latents(lm):
        k.bypass = v.bypass = on


def distil(lm, tok, text: str, steps: int, batch: int = 8, length: int = 512, lr: float = 1e-3, seed: int = 0,
           on_log=None, time_limit: float | None = None) -> list[dict]:
    """Fine-tune every A and B (nothing else) to match the original model's next-token distribution (KL to the
    same model with the original projections), on random windows of `text`."""
    import math
    import time

    dev = next(lm.parameters()).device
    ids = torch.tensor(tok(text, add_special_tokens=False)["input_ids"])
    params = [p for k, v in latents(lm) for p in (k.A, k.B, v.A, v.B)]
    for p in lm.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(seed)
    log, t0 = [], time.time()
    for step in range(steps):
        if time_limit and time.time() - t0 > time_limit:
            break
        starts = torch.randint(0, len(ids) - length - 1, (batch,), generator=g)
        x = torch.stack([ids[s:s + length] for s in starts]).to(dev)
        for gr in opt.param_groups:
            gr["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        with torch.no_grad():
            set_bypass(lm, True)
            teacher = lm(input_ids=x).logits.float().log_softmax(-1)
            set_bypass(lm, False)
        student = lm(input_ids=x).logits.float().log_softmax(-1)
        loss = torch.nn.functional.kl_div(student, teacher, log_target=True, reduction="batchmean") / length
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 25 == 0 or step == steps - 1:
            log.append({"step": step, "kl": loss.item(), "seconds": round(time.time() - t0, 1)})
            if on_log:
                on_log(log[-1])
    for p in params:
        p.requires_grad_(False)
    lm.eval()
    return log


def state(lm) -> dict:
    """The adapters' weights (A, B per layer) for saving."""
    return {f"{i}.{n}.{w}": getattr(m, w).detach().cpu().half().contiguous() for i, (k, v) in enumerate(latents(lm))
            for n, m in (("k", k), ("v", v)) for w in ("A", "B")}


def load(lm, path) -> None:
    """Apply adapters saved by `state` (safetensors): each layer's A and B as trained. `path` may name a
    lab-trained model (`llm-latent-r48`, committed under models/)."""
    from pathlib import Path

    from safetensors.torch import load_file

    from lab import FormatError, models

    if str(path) in models.TRAINED:
        path = Path(models.trained_path(str(path))) / "adapters.safetensors"

    try:
        st = load_file(str(path))
    except Exception as e:  # noqa: BLE001 - safetensors raises several kinds on a bad file
        raise FormatError(f"{path}: not a safetensors file of K/V adapters ({e.__class__.__name__})") from None
    if str(path).endswith("adapters.safetensors") and Path(path).with_name("config.json").is_file():
        import json

        if models.state_sha(st) != json.loads(Path(path).with_name("config.json").read_text()).get("sha256"):
            raise FormatError(f"{path}: the adapters do not match their config's sha256")
    n = len(lm.model.layers)
    want = {f"{i}.{k}.{w}" for i in range(n) for k in "kv" for w in "AB"}
    if set(st) != want:
        raise FormatError(f"{path}: not adapters for this model ({len(st)} tensors, expected {len(want)})")
    for i, layer in enumerate(lm.model.layers):
        att = layer.self_attn
        for k, name in (("k", "k_proj"), ("v", "v_proj")):
            lin = getattr(att, name)
            W = lin.W if isinstance(lin, LatentProj) else lin.weight
            A, B = st[f"{i}.{k}.A"].float(), st[f"{i}.{k}.B"].float()
            if B.shape[0] != W.shape[0] or A.shape[1] != W.shape[1] or A.shape[0] != B.shape[1]:
                raise FormatError(f"{path}: layer {i} {name}: shapes {tuple(A.shape)}, {tuple(B.shape)} do not fit {tuple(W.shape)}")
            m = LatentProj(W.float(), B.to(W.device))
            m.A.data.copy_(A.to(W.device))
            setattr(att, name, m)
