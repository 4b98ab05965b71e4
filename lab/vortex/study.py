"""Experiments behind reports/vortex.md (and the GPU run script), as functions."""
from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from lab import baselines as BL
from lab.vortex import codec
from lab.vortex import train as T
from lab.vortex.model import VortexConfig, VortexModel


def train_model(cfg: VortexConfig, tc: T.TrainConfig, train_bytes: bytes, val_bytes: bytes, device="cpu",
                progress=False):
    torch.manual_seed(tc.seed)
    m = VortexModel(cfg)
    log, vb = T.train(m, train_bytes, tc, device, val_bytes, progress=progress)
    return m, log, vb


def codec_row(model, sha, x: bytes, streams: int, device="cpu", graph: bool | None = None) -> dict:
    from lab import FormatError

    t0 = time.perf_counter()
    blob = codec.compress(x, model, sha, streams=streams, device=device, graph=graph)
    t1 = time.perf_counter()
    try:
        ok = codec.decompress(blob, model, sha, device=device, graph=graph) == x
    except FormatError:
        ok = False
    t2 = time.perf_counter()
    return {"codec": f"vortex ({device}, {streams} streams{', eager' if graph is False else ''})", "bytes": len(x), "compressed": len(blob),
            "bpb": 8 * len(blob) / len(x), "enc KB/s": len(x) / (t1 - t0) / 1e3, "dec KB/s": len(x) / (t2 - t1) / 1e3,
            "round-trip": ok}


def baseline_rows(x: bytes) -> list[dict]:
    rows = []
    for name, c in BL.LOSSLESS.items():
        t0 = time.perf_counter()
        b = c.encode(x)
        t1 = time.perf_counter()
        ok = c.decode(b) == x
        t2 = time.perf_counter()
        rows.append({"codec": f"{name} {c.setting}", "bytes": len(x), "compressed": len(b), "bpb": 8 * len(b) / len(x),
                     "enc KB/s": len(x) / (t1 - t0) / 1e3, "dec KB/s": len(x) / (t2 - t1) / 1e3, "round-trip": ok})
    return rows


def adjusted(compressed: int, raw: int, params: int, bytes_per_param: float = 2.0) -> dict:
    """Raw rate and the rate with the model's parameters counted (fp16), as in 'Language Modeling Is
    Compression' (Deletang et al., 2024)."""
    model_bytes = params * bytes_per_param
    return {"raw bpb": 8 * compressed / raw, "model bytes (fp16)": model_bytes,
            "adjusted bpb": 8 * (compressed + model_bytes) / raw}


def ablation_rows(base: VortexConfig, tc: T.TrainConfig, train_bytes, val_bytes, device="cpu") -> list[dict]:
    rows = []
    for name, over in (("no memory", {"memory": False}), ("memory, rate 2", {"rate": 2}),
                       ("memory, rate 4", {"rate": 4}), ("memory, rate 8", {"rate": 8})):
        cfg = replace(base, **over)
        m, log, vb = train_model(cfg, tc, train_bytes, val_bytes, device)
        rows.append({"variant": name, "params": m.n_params(), "steps": log[-1]["step"] + 1,
                     "train bpb (last)": log[-1]["train_bpb"], "held-out bpb": vb})
    return rows


def telemetry(n: int = 200_000, seed: int = 0) -> bytes:
    """The seed's demo data: CSV lines of a few synthetic sensors (periodic signals, drift, noise, events)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n // 40)
    temp = 21 + 3 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 0.05, len(t)).cumsum() * 0.01
    hum = 45 + 10 * np.sin(2 * np.pi * t / 288 + 1) + rng.normal(0, 0.3, len(t))
    pwr = np.where(rng.random(len(t)) < 0.02, 900, 120) + rng.integers(-3, 4, len(t))
    lines = [f"{1700000000 + 10 * i},s{i % 3},{a:.2f},{b:.1f},{int(c)}\n" for i, (a, b, c) in enumerate(zip(temp, hum, pwr))]
    return "".join(lines).encode()[:n]


def load_gpu_results(path: str) -> dict | None:
    p = Path(path)
    return json.loads(p.read_text()) if p.exists() else None


def log_rows(log) -> list[dict]:
    return [{"step": r["step"], "seconds": r["seconds"], "train bpb": r["train_bpb"]} for r in log]


def plot_curve(log, ax=None, label=None):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([r["seconds"] for r in log], [r["train_bpb"] for r in log], label=label)
    ax.set_xlabel("seconds")
    ax.set_ylabel("train bits/byte")
    ax.grid(alpha=0.3)
    return ax


def bits(x: float) -> float:
    return x / math.log(2)
