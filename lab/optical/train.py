"""Training of the optical reader, stage 1: encoder + CTC line reader on rendered pages.

    lab optical train --config configs/optical/gpu.yaml --out outputs/optical [--resume S.pt --save-state S.pt]

Pages are rendered on the fly (DataLoader workers) from the page corpus's train split; every batch is one
resolution mode, the modes taking turns by weight. AdamW with warm-up and cosine decay, bf16 autocast on
CUDA, gradient clipping. The training state (weights, optimiser, step, log) can be saved and resumed;
the checkpoint is fp16 safetensors shards (<= 15 MB each) + config.json with the sha256 of the weights.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lab.models import state_sha
from lab.optical.encoder import MODES, EncoderConfig, VisionEncoder, to_tensor, tokens_for
from lab.optical.reader import make_reader

SHARD_BYTES = 15 << 20


@dataclass(frozen=True)
class ReaderConfig:
    kind: str = "line"         # line | grid (reader.make_reader); checkpoints without the key are "line"
    hidden: int = 768
    emb: int = 256
    frame_hidden: int = 384


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
    seed: int = 0


def read_yaml(path: str, overrides: list[str] | None = None) -> dict:
    """A config file's sections; overrides "section.key=value" (value in YAML) replace entries."""
    import yaml

    raw = yaml.safe_load(Path(path).read_text()) or {}
    for o in overrides or []:
        key, sep, value = o.partition("=")
        section, dot, name = key.partition(".")
        if not (sep and dot and section in SECTIONS):
            raise ValueError(f"override {o!r}: expected section.key=value, section one of {', '.join(SECTIONS)}")
        raw.setdefault(section, {})[name] = yaml.safe_load(value)
    return raw


SECTIONS = ("encoder", "reader", "train", "lm", "lora")


def build_config(cls, d: dict | None, path: str = "config"):
    """A config dataclass from a YAML section: unknown keys are a ValueError, lists become tuples."""
    known = {f.name for f in fields(cls)}
    bad = set(d or {}) - known
    if bad:
        raise ValueError(f"{path}: unknown {cls.__name__} keys {sorted(bad)}")
    d = dict(d or {})
    for k in ("size_scale", "easy_scale"):
        if k in d:
            d[k] = tuple(d[k])
    return cls(**d)


def load_yaml(path: str, overrides: list[str] | None = None) -> tuple[EncoderConfig, ReaderConfig, TrainConfig]:
    """The three stage-1 configs of a YAML file; overrides "section.key=value" (value in YAML) replace entries."""
    raw = read_yaml(path, overrides)
    return tuple(build_config(cls, raw.get(sec), path) for cls, sec in
                 ((EncoderConfig, "encoder"), (ReaderConfig, "reader"), (TrainConfig, "train")))


class OpticalModel(nn.Module):
    """The encoder and its stage-1 reader, saved and loaded together."""

    def __init__(self, enc: EncoderConfig = EncoderConfig(), rd: ReaderConfig = ReaderConfig()):
        super().__init__()
        self.enc_cfg, self.rd_cfg = enc, rd
        self.encoder = VisionEncoder(enc)
        self.reader = make_reader(rd.kind, enc.dim, rd.hidden, rd.emb, rd.frame_hidden)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def encode(self, images, mode: str, device=None) -> torch.Tensor:
        dev = device or next(self.parameters()).device
        x = to_tensor(images, mode).to(dev)
        with _autocast(dev):
            return self.encoder(x).float()

    @torch.no_grad()
    def ocr(self, images, mode: str, batch: int = 8) -> list[str]:
        out = []
        for i in range(0, len(images), batch):
            out += self.reader.read(self.encode(images[i:i + batch], mode))
        return out


def _autocast(device):
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    if dev.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


# -- checkpoints ------------------------------------------------------------------------------------------
def save(model: OpticalModel, out: str | Path, extra: dict | None = None) -> str:
    """fp16 safetensors shards + config.json; -> sha256 of the fp16 weights."""
    from safetensors.torch import save_file

    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).cpu().contiguous() for k, v in model.state_dict().items()}
    sha = state_sha(state)
    shards, cur, size = [], {}, 0
    for k in sorted(state):
        n = state[k].numel() * 2
        if cur and size + n > SHARD_BYTES:
            shards.append(cur)
            cur, size = {}, 0
        cur[k] = state[k]
        size += n
    shards.append(cur)
    for old in d.glob("weights-*.safetensors"):
        old.unlink()
    names = []
    for i, sh in enumerate(shards):
        name = f"weights-{i + 1:02d}-of-{len(shards):02d}.safetensors"
        tmp = d / (name + ".tmp")
        save_file(sh, str(tmp))
        os.replace(tmp, d / name)
        names.append(name)
    meta = {"encoder": model.enc_cfg.to_dict(), "reader": asdict(model.rd_cfg), "sha256": sha,
            "params": model.n_params(), "shards": names, **(extra or {})}
    tmp = d / "config.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, d / "config.json")
    return sha


def load_state(path: str | Path) -> tuple[dict, dict]:
    """(config.json, fp16 state dict) of a checkpoint, its sha256 checked; any reader architecture."""
    from safetensors.torch import load_file

    from lab import FormatError

    d = Path(path)
    try:
        meta = json.loads((d / "config.json").read_text())
        state = {}
        for name in meta["shards"]:
            state.update(load_file(str(d / name)))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise FormatError(f"{path}: not a readable optical checkpoint ({e.__class__.__name__}: {e})") from None
    if state_sha(state) != meta.get("sha256"):
        raise FormatError(f"{path}: weights do not match their sha256 (corrupt checkpoint)")
    return meta, state


def load(path: str | Path, device="cpu") -> tuple[OpticalModel, dict]:
    from lab import FormatError

    meta, state = load_state(path)
    try:
        model = OpticalModel(EncoderConfig(**meta["encoder"]), ReaderConfig(**meta["reader"]))
    except (KeyError, TypeError) as e:
        raise FormatError(f"{path}: not a readable optical checkpoint ({e.__class__.__name__}: {e})") from None
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.to(device).eval(), meta


# -- data ------------------------------------------------------------------------------------------------
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
        from lab.optical.corpus import PageSampler

        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        sampler = PageSampler(data.page_documents(self.split))
        for i in range(self.start + wid, len(self.schedule), nw):
            mode = self.schedule[i]
            res = MODES[mode]
            easy = i < getattr(self.cfg, "easy_batches", 0)          # (stage 2's config has no curriculum)
            lo, hi = self.cfg.easy_scale if easy else self.cfg.size_scale
            sampler.size_range = (max(6, int(res * lo)), max(7, int(res * hi)))
            rng = np.random.default_rng([self.cfg.seed, i])
            cap = lines_cap(self.cfg, i)
            pages = [sampler.page(rng, mode, None if cap is None else int(rng.integers(1, cap + 1)))
                     for _ in range(batch_pages(self.cfg.batch, mode))]
            # raw bytes, not arrays: the DataLoader would move arrays through shared memory (/dev/shm)
            cells = getattr(self.cfg, "task", "page") == "cells"
            yield (i, mode, np.stack([p.image for p in pages]).tobytes(), np.stack([p.targets for p in pages]).tobytes(),
                   [p.cells if cells else p.text for p in pages])


def lines_cap(cfg, i: int) -> int | None:
    """Stage 2's curriculum: the most text lines a page of batch i keeps (None: whole pages). It grows with the
    square of the batch index from `lines_start` (+120 lines at `lines_batches`), then whole pages; off when 0."""
    start, span = getattr(cfg, "lines_start", 0), getattr(cfg, "lines_batches", 0)
    if not start or i >= span:
        return None
    return start + int(120 * (i / span) ** 2)


def batch_pages(batch: int, mode: str) -> int:
    return max(2, round(batch * 100 / tokens_for(mode)))


def _targets(raw: bytes, mode: str, dev) -> torch.Tensor:
    from lab.optical.reader import FRAMES, LINES, MAXLEN

    grid = MODES[mode] // 64
    return torch.frombuffer(bytearray(raw), dtype=torch.int8).view(-1, grid * LINES, MAXLEN + grid * FRAMES).to(dev)


def _pages(raw: bytes, mode: str, dev) -> torch.Tensor:
    """A batch's page pixels as (B, 1, R, R) uint8 on the device (`_ink` turns them into model input)."""
    R = MODES[mode]
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(-1, 1, R, R).to(dev, non_blocking=True)


def _ink(pages: torch.Tensor) -> torch.Tensor:
    return 1.0 - pages.float() / 255.0


def lr_at(cfg: TrainConfig, frac: float, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * min(1.0, frac)))


def fresh_pages(mode: str, pages: int, seed: int, split: str, scale: tuple, lines: int | None = None):
    """Freshly rendered pages of a split for evaluation (fonts at `scale` of the mode's resolution; `lines`:
    only their first lines) and the generator that drew them."""
    from lab import data
    from lab.optical.corpus import PageSampler

    res = MODES[mode]
    s = PageSampler(data.page_documents(split), size_range=(int(res * scale[0]), int(res * scale[1])))
    rng = np.random.default_rng(seed)
    return [s.page(rng, mode, lines) for _ in range(pages)], rng


@torch.no_grad()
def evaluate(model: OpticalModel, mode: str, pages: int = 16, seed: int = 12345, split: str = "train",
             scale: tuple = (1 / 60, 1 / 40)) -> dict:
    """Precision of the stage-1 reader on freshly rendered pages of a split. Training monitors with fresh
    renders of train documents (never the test documents); reports measure the test split."""
    from lab.optical.metrics import precision

    smp, _ = fresh_pages(mode, pages, seed, split, scale)
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
    for i, mode, imgs, targets, _ in dl:
        bank = (bank + [(mode, _pages(imgs, mode, dev), _targets(targets, mode, dev))])[-cfg.bank:]
        for r in range(cfg.reuse):        # the new batch, then batches drawn from the bank of recent ones
            elapsed = elapsed0 + time.time() - t0
            frac = elapsed / cfg.time_limit if cfg.time_limit else i / cfg.steps
            if frac >= 1.0 or (stop_after and time.time() - t0 > stop_after):
                break
            m, x, tg = bank[-1] if r == 0 else bank[pick.integers(len(bank))]
            for g in opt.param_groups:
                g["lr"] = lr_at(cfg, frac, updates)
            with _autocast(dev) if cfg.bf16 else contextlib.nullcontext():
                tokens = model.encoder(_ink(x))
            loss = model.reader.loss(tokens.float(), tg, cfg.frame_weight)     # the reader and CTC in fp32
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



@torch.no_grad()
def evaluate_lm(model: OpticalModel, reader, mode: str, pages: int = 16, lines: int | None = None, seed: int = 12345,
                split: str = "test", max_new_tokens: int = 1500, scale: tuple = (1 / 60, 1 / 40)) -> dict:
    """Precision of the language-model reader beside the stage-1 reader on the same freshly rendered pages of
    a split (`lines`: only each page's first lines, as in stage 2's curriculum), plus samples of its output."""
    from lab.optical.metrics import precision

    smp, _ = fresh_pages(mode, pages, seed, split, scale, lines)
    vt = model.encode([p.image for p in smp], mode)
    ctc = model.reader.read(vt)
    t0 = time.time()
    with _autocast(vt.device):
        out = reader.generate(vt, max_new_tokens=max_new_tokens)
    secs = time.time() - t0
    lm_p = [precision(o, p.text) for o, p in zip(out, smp)]
    return {"mode": mode, "pages": pages, "lines": lines, "lm_precision": float(np.mean(lm_p)),
            "ctc_precision": float(np.mean([precision(o, p.text) for o, p in zip(ctc, smp)])),
            "generate_seconds": round(secs, 1),
            "samples": [{"text": p.text[:200], "lm": o[:200], "precision": round(q, 3)} for p, o, q in zip(smp[:3], out, lm_p)]}


# -- stage 2: the language model reads the vision tokens ------------------------------------------------
@dataclass(frozen=True)
class LMTrainConfig:
    steps: int = 1000
    batch: int = 16
    lr: float = 3e-4               # LoRA and projector
    min_lr: float = 2e-5
    warmup: int = 100
    weight_decay: float = 0.0
    clip: float = 1.0
    modes: dict = field(default_factory=lambda: {"tiny": 1.0, "small": 1.0})
    size_scale: tuple = (1 / 72, 1 / 40)
    max_tokens: int = 1536
    lines_start: int = 0           # curriculum (lines_cap): pages of 1..lines_start text lines at first,
    lines_batches: int = 0         # growing to whole pages by this batch; 0: whole pages from the start
    proj_lr: float | None = None   # the projector's learning rate (default: lr)
    task: str = "page"             # page: all tokens in, the page's text out; cells: one token in, its cell's text
    cells_per_batch: int = 512     # (cells) non-empty cells drawn from each batch's pages
    workers: int = 0
    time_limit: float | None = None
    log_every: int = 25
    seed: int = 1


def train_lm(model: OpticalModel, reader, cfg: LMTrainConfig, device="cpu", progress: bool = True,
             stop_after: float | None = None, on_log=None) -> list[dict]:
    """Stage 2: the encoder frozen; the projector and the LoRA adapter learn to read its tokens."""
    from tqdm import tqdm

    dev = torch.device(device)
    torch.manual_seed(cfg.seed)
    model.to(dev).eval()
    reader.to(dev).train()
    params = [p for p in reader.parameters() if p.requires_grad]
    proj = {id(p) for p in reader.projector.parameters()}
    groups = [{"params": [p for p in params if id(p) not in proj], "scale": 1.0},
              {"params": [p for p in params if id(p) in proj], "scale": (cfg.proj_lr or cfg.lr) / cfg.lr}]
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=dev.type == "cuda")
    schedule = mode_schedule(cfg.modes, cfg.steps, cfg.seed)
    dl = torch.utils.data.DataLoader(PageBatches(cfg, schedule), batch_size=None, num_workers=cfg.workers,
                                     prefetch_factor=4 if cfg.workers else None)
    t0, log, run, n, wait, t_ready = time.time(), [], 0.0, 0, 0.0, time.time()
    bar = tqdm(total=cfg.steps, disable=not progress, desc="optical stage 2 (LM)", mininterval=5)
    for step, mode, imgs, _, texts in dl:
        wait += time.time() - t_ready
        elapsed = time.time() - t0
        frac = elapsed / cfg.time_limit if cfg.time_limit else step / cfg.steps
        if frac >= 1.0 or (stop_after and elapsed > stop_after):
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(cfg, frac, step) * g["scale"]
        x = _ink(_pages(imgs, mode, dev))
        with torch.no_grad(), _autocast(dev):
            vt = model.encoder(x).float()
        if cfg.task == "cells":
            vt, texts = pick_cells(vt, texts, cfg.cells_per_batch, np.random.default_rng([cfg.seed, step]))
        with _autocast(dev):
            loss = reader.loss(vt, list(texts), cfg.max_tokens)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = float(nn.utils.clip_grad_norm_(params, cfg.clip))
        opt.step()
        run += loss.item()
        n += 1
        bar.update(1)
        if (step + 1) % cfg.log_every == 0:
            log.append({"step": step + 1, "seconds": round(elapsed, 1), "loss": run / n, "lr": opt.param_groups[0]["lr"],
                        "grad_norm": gn, "data_wait_s": round(wait, 1), "lines_cap": lines_cap(cfg, step)})
            if on_log:
                on_log(log[-1])
            bar.set_postfix(loss=f"{run / n:.3f}")
            run, n = 0.0, 0
        t_ready = time.time()
    bar.close()
    reader.eval()
    return log


def pick_cells(vt: torch.Tensor, cells: list[list[str]], n: int, rng) -> tuple[torch.Tensor, list[str]]:
    """Stage 2's cell task: up to n non-empty cells of a batch, each as its own one-token sequence (n, 1, D),
    and their texts."""
    flat = [(b, j, t) for b, page in enumerate(cells) for j, t in enumerate(page) if t]
    pick = [flat[k] for k in sorted(rng.permutation(len(flat))[:n])]
    idx_b = torch.tensor([b for b, _, _ in pick], device=vt.device)
    idx_j = torch.tensor([j for _, j, _ in pick], device=vt.device)
    return vt[idx_b, idx_j][:, None], [t for _, _, t in pick]


@torch.no_grad()
def evaluate_cells(model: OpticalModel, reader, mode: str, pages: int = 8, cells: int = 64, seed: int = 12345,
                   split: str = "test", max_new_tokens: int = 48, scale: tuple = (1 / 60, 1 / 40)) -> dict:
    """The cell task on fresh pages of a split: the LM reader's precision on single non-empty cells (one vision
    token each), with samples."""
    from lab.optical.metrics import precision

    smp, rng = fresh_pages(mode, pages, seed, split, scale)
    vt = model.encode([p.image for p in smp], mode)
    vt, gold = pick_cells(vt, [p.cells for p in smp], cells, rng)
    with _autocast(vt.device):
        out = reader.generate(vt, max_new_tokens=max_new_tokens)
    p = [precision(o, g) for o, g in zip(out, gold)]
    return {"mode": mode, "cells": len(gold), "lm_precision": float(np.mean(p)),
            "samples": [{"text": g, "lm": o, "precision": round(q, 3)} for g, o, q in zip(gold[:6], out, p)]}


def save_lm(reader, out: str | Path, extra: dict | None = None) -> str:
    """The projector and LoRA weights (fp16) in <out>/lm/, with their sha256."""
    from safetensors.torch import save_file

    d = Path(out) / "lm"
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).cpu().contiguous() for k, v in reader.trainable_state().items()}
    sha = state_sha(state)
    save_file(state, str(d / "adapter.safetensors.tmp"))
    os.replace(d / "adapter.safetensors.tmp", d / "adapter.safetensors")
    (d / "config.json").write_text(json.dumps({"lora": reader.spec.to_dict(), "sha256": sha, **(extra or {})}, indent=1))
    return sha


def load_lm(ckpt: str | Path, vision_dim: int, device="cpu", lm_name: str = "smollm2-135m-instruct", stage1=None):
    """An LMReader with the projector and adapter of a checkpoint's lm/ folder (FormatError if absent);
    stage1: the stage-1 reader of the same checkpoint (needed by a "bands" projector)."""
    from safetensors.torch import load_file

    from lab import FormatError, models
    from lab.optical.decoder import LMReader, LoraSpec

    d = Path(ckpt) / "lm"
    try:
        meta = json.loads((d / "config.json").read_text())
        state = load_file(str(d / "adapter.safetensors"))
    except (OSError, ValueError) as e:
        raise FormatError(f"{ckpt}: no language-model reader in this checkpoint ({e.__class__.__name__})") from None
    if state_sha(state) != meta["sha256"]:
        raise FormatError(f"{ckpt}: the adapter does not match its sha256")
    spec = meta["lora"]
    lm, tok = models.load_lm(lm_name, device)
    reader = LMReader(lm, tok, vision_dim, LoraSpec(**{**spec, "targets": tuple(spec["targets"])}), stage1)
    reader.load_trainable({k: v.float() for k, v in state.items()})
    return reader.to(device).eval(), meta
