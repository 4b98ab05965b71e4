"""Training: windows of several segments, processed in order with the compressive memory carried
between segments (truncated back-propagation through time), AdamW with warm-up and cosine decay.
Checkpoints: safetensors weights + config JSON + sha256 of the weights."""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F

from lab.vortex.model import VortexConfig, VortexModel


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 200
    batch: int = 16
    segments: int = 4          # segments per training window (memory carried across them)
    lr: float = 2e-3
    warmup: int = 20
    weight_decay: float = 0.01
    seed: int = 0
    time_limit: float = 0.0    # seconds; 0 = no limit
    log_every: int = 20


def load_yaml(path: str) -> tuple[VortexConfig, TrainConfig]:
    import yaml

    raw = yaml.safe_load(Path(path).read_text()) or {}
    mk = {f.name for f in fields(VortexConfig)}
    tk = {f.name for f in fields(TrainConfig)}
    model = VortexConfig(**{k: v for k, v in raw.get("model", {}).items() if k in mk})
    train = TrainConfig(**{k: v for k, v in raw.get("train", {}).items() if k in tk})
    return model, train


def _sha(state: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def save(model: VortexModel, out: str, extra: dict | None = None) -> str:
    from safetensors.torch import save_file

    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    sha = _sha(state)
    tmp = d / "model.safetensors.tmp"
    save_file(state, str(tmp))
    os.replace(tmp, d / "model.safetensors")
    meta = {"config": model.cfg.to_dict(), "sha256": sha, "params": model.n_params(), **(extra or {})}
    (d / "config.json").write_text(json.dumps(meta, indent=1))
    return sha


def load(path: str, device="cpu") -> tuple[VortexModel, str]:
    from safetensors.torch import load_file

    from lab import FormatError

    d = Path(path)
    try:
        meta = json.loads((d / "config.json").read_text())
        state = load_file(str(d / "model.safetensors"))
    except (OSError, ValueError) as e:
        raise FormatError(f"cannot load model from {path}: {e}") from None
    model = VortexModel(VortexConfig(**meta["config"]))
    model.load_state_dict(state)
    sha = _sha(state)
    if sha != meta.get("sha256"):
        raise FormatError(f"model {path}: weights do not match the sha256 in config.json")
    return model.to(device).eval(), sha


def train(model: VortexModel, ds, tc: TrainConfig, device="cpu", val: bytes | None = None, progress=True):
    """Returns a log of (step, seconds, train bits/byte) and the final validation bits/byte."""
    from tqdm import tqdm

    torch.manual_seed(tc.seed)
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay, betas=(0.9, 0.95))
    S = model.cfg.segment
    log = []
    t0 = time.time()
    bar = tqdm(range(tc.steps), disable=not progress, desc="train")
    for step in bar:
        frac = step / tc.steps
        if tc.time_limit:
            frac = max(frac, (time.time() - t0) / tc.time_limit)
        lr = tc.lr * min(1.0, (step + 1) / max(1, tc.warmup)) * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = ds.batch(tc.batch, device)
        x, y = x[:, : S * tc.segments], y[:, : S * tc.segments]
        state = model.init_state()
        loss = 0.0
        # bf16 autocast on CUDA for speed; the codec itself always runs the model in float32
        amp = torch.autocast("cuda", dtype=torch.bfloat16) if str(device).startswith("cuda") else nullcontext()
        with amp:
            for s in range(tc.segments):
                logits, state = model.forward_segment(x[:, s * S:(s + 1) * S], state)
                loss = loss + F.cross_entropy(logits.float().reshape(-1, 256), y[:, s * S:(s + 1) * S].reshape(-1))
        loss = loss / tc.segments
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        bpb = loss.item() / math.log(2)
        if step % tc.log_every == 0 or step == tc.steps - 1:
            log.append({"step": step, "seconds": time.time() - t0, "train_bpb": bpb})
            bar.set_postfix(bpb=f"{bpb:.3f}")
        if tc.time_limit and time.time() - t0 > tc.time_limit:
            log.append({"step": step, "seconds": time.time() - t0, "train_bpb": bpb})
            break
    model.eval()
    vb = evaluate(model, val, device) if val else float("nan")
    return log, vb


@torch.no_grad()
def evaluate(model: VortexModel, data: bytes, device="cpu", batch_streams: int = 16) -> float:
    """Teacher-forced bits/byte over `data` split into streams, with memory carried across segments."""
    import numpy as np

    a = np.frombuffer(data, np.uint8)
    S = model.cfg.segment
    n = len(a) // (batch_streams * S) * S
    if n == 0:
        return float("nan")
    x = torch.from_numpy(a[: n * batch_streams].reshape(batch_streams, n).astype(np.int64)).to(device)
    from lab.vortex.model import START

    inp = torch.cat([torch.full((batch_streams, 1), START, device=device), x[:, :-1]], dim=1)
    state = model.init_state()
    tot = 0.0
    for s in range(0, n, S):
        logits, state = model.forward_segment(inp[:, s:s + S], state)
        tot += F.cross_entropy(logits.reshape(-1, 256), x[:, s:s + S].reshape(-1), reduction="sum").item()
    return tot / (n * batch_streams) / math.log(2)
