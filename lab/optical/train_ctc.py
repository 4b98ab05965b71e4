"""Stage 1 of the optical reader: the encoder + CTC line reader trained on rendered pages.

    lab optical train --config configs/optical/gpu.yaml --out outputs/optical [--resume S.pt --save-state S.pt]

Pages are rendered on the fly (DataLoader workers) from the page corpus's train split (a share `pdf` of them
pages of the training PDFs, lab.optical.pdfdocs); every batch is one resolution mode, the modes taking turns by weight. AdamW with warm-up and cosine decay, fp32 + TF32 (bf16
autocast optional), gradient clipping. The training state (weights, optimiser, step, log) can be saved and
resumed; the checkpoint is `lab.optical.model`'s.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lab.optical import corpus
from lab.optical.config import build_config, read_yaml
from lab.optical.encoder import MODES, EncoderConfig, tokens_for
from lab.optical.model import OpticalModel, ReaderConfig, autocast


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000                       # rendered batches (the schedule); optimiser steps = steps x reuse
    batch: int = 32
    lr: float = 1e-3
    min_lr: float = 5e-5
    warmup: int = 200
    weight_decay: float = 0.05
    clip: float = 1.0
    modes: dict = field(default_factory=lambda: {"tiny": 1.0, "small": 1.0})
    size_scale: tuple = (1 / 72, 1 / 40)    # font size range, as a fraction of the page resolution
    easy_batches: int = 0                   # a curriculum: the first batches use easy_scale (large fonts)
    easy_scale: tuple = (1 / 32, 1 / 20)
    workers: int = 0
    time_limit: float | None = None         # seconds for the whole schedule (the LR follows the clock)
    log_every: int = 50                     # optimiser steps
    max_nonfinite: int = 50                 # consecutive non-finite steps that end a run
    eval_pages: int = 16
    reuse: int = 1                          # optimiser steps per rendered batch (>1: draw from a bank)
    bank: int = 64                          # recent batches kept on the device for reuse
    frame_weight: float = 0.5               # the reader's per-frame cross-entropy beside CTC (reader.loss)
    bf16: bool = False                      # bf16 autocast on CUDA; off: fp32 with TF32 matrix products (the
                                            # conv-stem encoder's bf16 gradients turned non-finite, GPU runs 7-9)
    pdf: float = 0.0                        # share of pages taken from the training PDFs (lab.optical.pdfdocs,
                                            # real documents: their own fonts, sizes and layout)
    anchor: float = 0.0                     # fine-tuning: weight of the rendered pages' tokens' mean squared distance
                                            # from the starting encoder's (relative to their mean square), so that a
                                            # stage-2 reader trained on the old tokens still reads them
    seed: int = 0



def load_yaml(path: str, overrides: list[str] | None = None) -> tuple[EncoderConfig, ReaderConfig, TrainConfig]:
    """The three stage-1 configs of a YAML file; overrides "section.key=value" (value in YAML) replace entries."""
    raw = read_yaml(path, overrides)
    return tuple(build_config(cls, raw.get(sec), path) for cls, sec in
                 ((EncoderConfig, "encoder"), (ReaderConfig, "reader"), (TrainConfig, "train")))



def mode_schedule(modes: dict, steps: int, seed: int) -> list[str]:
    names = list(modes)
    w = np.array([modes[m] for m in names], float)
    rng = np.random.default_rng([seed, 7])
    return [names[i] for i in rng.choice(len(names), size=steps, p=w / w.sum())]


class PageBatches(torch.utils.data.IterableDataset):
    """Batch i (for i >= start) of the schedule: pages of mode schedule[i] (`batch` pages in small mode,
    scaled by the token count so every batch holds about as many vision tokens), rendered from a seed that
    depends on (seed, i) only, so a resumed run sees the same data."""

    def __init__(self, cfg: TrainConfig, schedule: list[str], start: int = 0, split: str = "train"):
        self.cfg, self.schedule, self.start, self.split = cfg, schedule, start, split

    def __iter__(self):
        from lab import data
        from lab.optical import pdfdocs
        from lab.optical.corpus import PageSampler

        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        sampler = PageSampler(data.page_documents(self.split))
        for i in range(self.start + wid, len(self.schedule), nw):
            mode = self.schedule[i]
            res = MODES[mode]
            easy = i < self.cfg.easy_batches
            lo, hi = self.cfg.easy_scale if easy else self.cfg.size_scale
            sampler.size_range = (max(6, int(res * lo)), max(7, int(res * hi)))
            rng = np.random.default_rng([self.cfg.seed, i])
            pages, from_pdf = [], []
            for _ in range(batch_pages(self.cfg.batch, mode)):
                real = bool(self.cfg.pdf) and rng.random() < self.cfg.pdf    # no draw without a pdf share
                pages.append(pdfdocs.page_sample(rng, mode) if real else sampler.page(rng, mode))
                from_pdf.append(real)
            # raw bytes, not arrays: the DataLoader would move arrays through shared memory (/dev/shm)
            yield (i, mode, np.stack([p.image for p in pages]).tobytes(), np.stack([p.targets for p in pages]).tobytes(),
                   [p.text for p in pages], from_pdf)


def batch_pages(batch: int, mode: str) -> int:
    return max(2, round(batch * 100 / tokens_for(mode)))


def targets_tensor(raw: bytes, mode: str, dev) -> torch.Tensor:
    from lab.optical.reader import FRAMES, LINES, MAXLEN

    grid = MODES[mode] // 64
    return torch.frombuffer(bytearray(raw), dtype=torch.int8).view(-1, grid * LINES, MAXLEN + grid * FRAMES).to(dev)


def pages_tensor(raw: bytes, mode: str, dev) -> torch.Tensor:
    """A batch's page pixels as (B, 1, R, R) uint8 on the device (`ink` turns them into model input)."""
    R = MODES[mode]
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(-1, 1, R, R).to(dev, non_blocking=True)


def ink(pages: torch.Tensor) -> torch.Tensor:
    return 1.0 - pages.float() / 255.0



def anchor_loss(tokens: torch.Tensor, frozen: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of `tokens` from the frozen encoder's tokens of the same pages (uint8 pixels `x`),
    relative to the frozen tokens' mean square."""
    with torch.no_grad():
        ref = frozen(ink(x)).float()
    return (tokens.float() - ref).pow(2).mean() / ref.pow(2).mean().clamp(min=1e-8)


def lr_at(cfg: TrainConfig, frac: float, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * min(1.0, frac)))


@torch.no_grad()
def evaluate(model: OpticalModel, mode: str, pages: int = 16, seed: int = 12345, split: str = "train",
             scale: tuple = (1 / 60, 1 / 40)) -> dict:
    """Precision of the stage-1 reader on freshly rendered pages of a split. Training monitors with fresh
    renders of train documents (never the test documents); reports measure the test split."""
    from lab.optical.metrics import precision

    smp, _ = corpus.fresh_pages(mode, pages, seed, split, scale)
    was = model.training
    model.eval()
    out = model.ocr([p.image for p in smp], mode)
    model.train(was)
    return {"mode": mode, "pages": pages, "precision": float(np.mean([precision(o, p.text) for o, p in zip(out, smp)]))}


def train(model: OpticalModel, cfg: TrainConfig, device="cpu", progress: bool = True, resume: str | None = None,
          save_state: str | None = None, stop_after: float | None = None, checkpoint=None,
          checkpoint_every: float = 120.0) -> list[dict]:
    """Stage 1. Returns the log (one row per log_every steps, plus evaluations). `checkpoint(model, log)`,
    when given, is called every `checkpoint_every` seconds (a run cut short still leaves its weights)."""
    from tqdm import tqdm

    dev = torch.device(device)
    torch.manual_seed(cfg.seed)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    model.to(dev).train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98),
                            fused=dev.type == "cuda")
    start, log, elapsed0 = 0, [], 0.0
    if resume and Path(resume).exists():
        st = torch.load(resume, map_location=dev, weights_only=False)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        start, log, elapsed0 = st["step"], st["log"], st["elapsed"]
    schedule = mode_schedule(cfg.modes, cfg.steps, cfg.seed)
    ds = PageBatches(cfg, schedule, start)
    dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=cfg.workers, prefetch_factor=4 if cfg.workers else None,
                                     persistent_workers=False)
    t0 = time.time()
    bar = tqdm(total=cfg.steps, initial=start, disable=not progress, desc="optical stage 1 (batches)", mininterval=5)
    run_loss, n_loss = 0.0, 0
    done = start
    bank, pick, skipped = [], np.random.default_rng([cfg.seed, 3, start]), 0
    last_ckpt, bad_run = time.time(), 0
    updates = log[-1]["step"] if log else 0
    frozen = None
    if cfg.anchor:          # the starting encoder, frozen: the rendered pages' tokens are held near its own
        import copy

        frozen = copy.deepcopy(model.encoder).eval().requires_grad_(False)
    for i, mode, imgs, targets, _, from_pdf in dl:
        rendered = torch.tensor([not f for f in from_pdf], device=dev)
        bank = (bank + [(mode, pages_tensor(imgs, mode, dev), targets_tensor(targets, mode, dev), rendered)])[-cfg.bank:]
        for r in range(cfg.reuse):        # the new batch, then batches drawn from the bank of recent ones
            elapsed = elapsed0 + time.time() - t0
            frac = elapsed / cfg.time_limit if cfg.time_limit else i / cfg.steps
            if frac >= 1.0 or (stop_after and time.time() - t0 > stop_after):
                break
            m, x, tg, keep = bank[-1] if r == 0 else bank[pick.integers(len(bank))]
            for g in opt.param_groups:
                g["lr"] = lr_at(cfg, frac, updates)
            with autocast(dev) if cfg.bf16 else contextlib.nullcontext():
                tokens = model.encoder(ink(x))
            loss = model.reader.loss(tokens.float(), tg, cfg.frame_weight)     # the reader and CTC in fp32
            if frozen is not None and keep.any():
                loss = loss + cfg.anchor * anchor_loss(tokens[keep], frozen, x[keep])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gn = float(nn.utils.clip_grad_norm_(model.parameters(), cfg.clip))
            if not math.isfinite(gn):       # a non-finite step would poison the weights (GPU run 4): skip it
                skipped += 1
                if skipped in (1, 10, 100, 1000):
                    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
                    print(f"non-finite step {skipped} at update {updates} ({m}): loss {loss.item()}, "
                          f"first bad grads {bad[:4]} of {len(bad)}", flush=True)
                opt.zero_grad(set_to_none=True)
                bad_run += 1
                if bad_run >= cfg.max_nonfinite:   # the weights no longer train: stop rather than idle to the limit
                    print(f"stopping: {bad_run} consecutive non-finite steps", flush=True)
                    break
                continue
            bad_run = 0
            opt.step()
            run_loss += loss.item()
            n_loss += 1
            updates += 1
            if updates % cfg.log_every == 0:
                row = {"step": updates, "batches": i + 1, "seconds": round(elapsed, 1), "loss": run_loss / n_loss,
                       "lr": opt.param_groups[0]["lr"], "grad_norm": gn, "skipped": skipped}
                if cfg.eval_pages and updates % (cfg.log_every * 5) == 0:
                    for mm in cfg.modes:
                        row[f"precision_{mm}"] = evaluate(model, mm, cfg.eval_pages)["precision"]
                        if i < cfg.easy_batches:       # during the curriculum: also on its large fonts
                            row[f"precision_easy_{mm}"] = evaluate(model, mm, cfg.eval_pages, scale=cfg.easy_scale)["precision"]
                log.append(row)
                bar.set_postfix(loss=f"{row['loss']:.3f}")
                run_loss, n_loss = 0.0, 0
                if checkpoint and time.time() - last_ckpt > checkpoint_every:
                    checkpoint(model, log)
                    model.train()
                    last_ckpt = time.time()
        else:
            done = i + 1
            bar.update(1)
            continue
        break
    bar.close()
    if save_state:
        tmp = save_state + ".tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": done, "log": log,
                    "elapsed": elapsed0 + time.time() - t0}, tmp)
        os.replace(tmp, save_state)
    model.eval()
    return log
