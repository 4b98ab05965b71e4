"""Training, Transformer-XL style: contiguous streams read a few segments per step with the compressive
memory carried from step to step (detached, so back-propagation stays inside the step; the Conv1d learns
through the compressed slots it writes within the step), AdamW with warm-up and a cosine decay over steps
or wall-clock time, bf16 autocast on CUDA, DDP under torchrun.
Checkpoints: safetensors weights + config JSON + sha256 of the weights."""
from __future__ import annotations

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
    segments: int = 2          # segments per optimiser step (memory also carried between steps)
    lr: float = 2e-3
    warmup: int = 20
    weight_decay: float = 0.01
    seed: int = 0
    time_limit: float = 0.0    # seconds; 0 = no limit
    log_every: int = 20
    reset: int = 4096          # bytes per training stream before the memories restart empty
    val_every: int = 0         # steps between held-out evaluations in the log (0: only at the end)
    val_bytes: int = 65536


def load_yaml(path: str) -> tuple[VortexConfig, TrainConfig]:
    import yaml

    raw = yaml.safe_load(Path(path).read_text()) or {}
    mk = {f.name for f in fields(VortexConfig)}
    tk = {f.name for f in fields(TrainConfig)}
    model = VortexConfig(**{k: v for k, v in raw.get("model", {}).items() if k in mk})
    train = TrainConfig(**{k: v for k, v in raw.get("train", {}).items() if k in tk})
    return model, train


def _sha(state: dict) -> str:
    from lab.models import state_sha

    return state_sha(state)


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


def _dist() -> tuple[int, int, int]:
    """(rank, world size, local rank): initialises torch.distributed when launched by torchrun."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0"))
    return 0, 1, 0


def train(model: VortexModel, data, tc: TrainConfig, device="cpu", val: bytes | None = None, progress=True,
          resume: str | None = None, save_state: str | None = None, stop_after: float | None = None,
          select: bytes | None = None):
    """Stateful training: `tc.batch` streams read in lock-step, `tc.segments` segments per optimiser step,
    memories carried between steps (detached) and reset every `tc.reset` bytes. Under torchrun every
    process trains its own streams and DDP averages the gradients; rank 0 logs and evaluates.
    `resume`/`save_state`: a training-state file (weights, optimiser, step, seconds used) to continue from /
    write at the end; `stop_after`: seconds after which to stop this call (the schedule still runs to
    `tc.time_limit`). `select`: validation bytes (not the held-out test) evaluated every `tc.val_every`
    steps; the weights with the best validation bits/byte are the ones returned (early stopping). Returns (log of step, seconds, train bits/byte [, val bits/byte]), held-out bits/byte."""
    from tqdm import tqdm

    from lab.vortex.data import StreamBatcher

    rank, world, local = _dist()
    if world > 1 and str(device).startswith("cuda"):
        device = f"cuda:{local}"
        torch.cuda.set_device(local)
    torch.manual_seed(tc.seed)
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay, betas=(0.9, 0.95))
    step0, used, log = 0, 0.0, []
    best = (float("inf"), None, -1)
    if resume and Path(resume).exists():
        ck = torch.load(resume, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step0, used, log = ck["step"], ck["seconds"], ck["log"]
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[local] if str(device).startswith("cuda") else None,
                  find_unused_parameters=model.cfg.memory)
    S = model.cfg.segment
    n = S * tc.segments
    batcher = StreamBatcher(data, tc.batch, n, tc.reset, seed=tc.seed + step0, rank=rank, world=world)
    cuda = str(device).startswith("cuda")
    amp = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else nullcontext
    t0 = time.time() - used
    state, run = model.init_state(), []
    bar = tqdm(range(step0, tc.steps), disable=not progress or rank != 0, desc="train", initial=step0, total=tc.steps)
    done = step0
    for step in bar:
        el = torch.tensor([time.time() - t0], dtype=torch.float64, device=device)
        if world > 1:  # every process follows rank 0's clock: same learning rate, same stop
            torch.distributed.broadcast(el, 0)
        el = float(el)
        frac = step / tc.steps
        if tc.time_limit:
            frac = max(frac, el / tc.time_limit)
        if frac >= 1.0 or (stop_after and el - used >= stop_after):
            break
        lr = tc.lr * min(1.0, (step + 1) / max(1, tc.warmup)) * 0.5 * (1 + math.cos(math.pi * frac))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y, fresh = batcher.next(device)
        if fresh:
            state = model.init_state()
        with amp():
            logits, state = net(x, state)
            loss = F.cross_entropy(logits.float().reshape(-1, 256), y.reshape(-1))
        state = model.detach_state(state)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        run.append(loss.detach())
        done = step + 1
        if rank == 0 and (step % tc.log_every == 0 or step == tc.steps - 1):
            bpb = torch.stack(run).mean().item() / math.log(2)
            run = []
            row = {"step": step, "seconds": time.time() - t0, "train_bpb": bpb}
            vdata = select if select else val
            if tc.val_every and vdata and step % tc.val_every == 0 and step:
                row["val_bpb"] = evaluate(model, vdata[: tc.val_bytes], device)
                model.train()
                if select and row["val_bpb"] < best[0]:
                    best = (row["val_bpb"], {k: v.detach().clone() for k, v in model.state_dict().items()}, step)
            log.append(row)
            bar.set_postfix(bpb=f"{bpb:.3f}")
    if rank == 0 and run:
        log.append({"step": done - 1, "seconds": time.time() - t0,
                    "train_bpb": torch.stack(run).mean().item() / math.log(2)})
    if save_state and rank == 0:
        tmp = str(save_state) + ".tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": done,
                    "seconds": time.time() - t0, "log": log}, tmp)
        os.replace(tmp, save_state)
    if rank == 0 and select:
        vs = evaluate(model, select[: tc.val_bytes], device)
        log.append({"step": done - 1, "seconds": time.time() - t0, "train_bpb": log[-1]["train_bpb"] if log else
                    float("nan"), "val_bpb": vs})
        if best[1] is not None and best[0] < vs:
            model.load_state_dict(best[1])
            log.append({"step": best[2], "seconds": time.time() - t0, "selected": True, "val_bpb": best[0]})
    model.eval()
    vb = evaluate(model, val, device) if val and rank == 0 else float("nan")
    return log, vb


@torch.no_grad()
def evaluate(model: VortexModel, data: bytes, device="cpu", batch_streams: int = 16) -> float:
    """Teacher-forced bits/byte over `data` split into `batch_streams` long streams, each starting from empty
    memory, memory carried across segments (what the codec sees, less the CDF quantisation)."""
    import numpy as np

    from lab.vortex.model import START

    a = np.frombuffer(data, np.uint8)
    S = model.cfg.segment
    n = len(a) // (batch_streams * S) * S
    if n == 0:
        return float("nan")
    x = torch.from_numpy(a[: n * batch_streams].reshape(batch_streams, n).astype(np.int64)).to(device)
    inp = torch.cat([torch.full((batch_streams, 1), START, device=device), x[:, :-1]], dim=1)
    state = model.init_state()
    tot = 0.0
    for s in range(0, n, S):
        logits, state = model.forward_segment(inp[:, s:s + S], state)
        tot += F.cross_entropy(logits.float().reshape(-1, 256), x[:, s:s + S].reshape(-1), reduction="sum").item()
    return tot / (n * batch_streams) / math.log(2)
