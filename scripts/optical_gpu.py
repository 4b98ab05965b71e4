"""The optical family's stage-1 GPU runs (the device tool); every result lands in --report as JSON + log,
copied to reports/optical_gpu/ and read by notebooks/optical.ipynb. (Stage 2, the language-model reader, is
a campaign of its own: `python -m lab.optical.train_lm`.)

    python scripts/optical_gpu.py stage1 --config configs/optical/gpu.yaml --ckpt /root/ckpt --report $OUT
    python scripts/optical_gpu.py bench  --ckpt /root/ckpt --report $OUT

stage1 trains the encoder + CTC reader and writes the checkpoint (fp16 shards) to --ckpt and --report;
bench measures encoding speed (pages/s) per mode.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch

from lab.report import machine


def write(report: Path, name: str, obj: dict) -> None:
    report.mkdir(parents=True, exist_ok=True)
    (report / f"{name}.json").write_text(json.dumps(obj, indent=1, default=str))


def stage1(args) -> None:
    from lab.optical import model as M, train_ctc as T

    enc, rd, tc = T.load_yaml(args.config, args.set)
    if args.time_limit:
        from dataclasses import replace

        tc = replace(tc, time_limit=args.time_limit)
    model = M.OpticalModel(enc, rd)
    if args.init:
        model, _ = M.load(args.init, args.device)
        print(f"initialised from {args.init}", flush=True)
    if args.init_encoder:
        _, state = M.load_state(args.init_encoder)
        model.encoder.load_state_dict({k[8:]: v.float() for k, v in state.items() if k.startswith("encoder.")})
        print(f"encoder initialised from {args.init_encoder}", flush=True)
    print(f"stage 1: {model.n_params():,} parameters, config {tc}", flush=True)
    if args.profile:
        profile(model, tc, args.device)
    t0 = time.time()
    def keep(m, log):      # weights along the way, in --report too: a run cut short still brings them back
        M.save(m, args.report / "ckpt", {"train_log": log, "partial": True})
        print(f"checkpoint at step {log[-1]['step']}", flush=True)

    log = T.train(model, tc, args.device, progress=False, resume=args.resume, save_state=args.save_state,
                  checkpoint=keep, checkpoint_every=150)
    secs = time.time() - t0
    evals = [T.evaluate(model, m, args.eval_pages, split="test") for m in ("tiny", "small", "base", "large")]
    sha = M.save(model, args.ckpt, {"train_log": log, "train_seconds": secs, "machine": machine(),
                                     "config": args.config, "test_sampled": evals})
    shutil.rmtree(args.report / "ckpt", ignore_errors=True)
    for f in Path(args.ckpt).iterdir():
        shutil.copy(f, args.report / f.name)
    write(args.report, "stage1", {"log": log, "seconds": secs, "params": model.n_params(), "sha256": sha,
                                  "test_sampled": evals, "machine": machine(), "command": " ".join(sys.argv)})
    print(json.dumps({"steps": log[-1]["step"] if log else 0, "evals": evals, "sha256": sha}), flush=True)


def profile(model, tc, device) -> None:
    """Where a step's time goes: pages from the DataLoader alone, then GPU steps on one batch."""
    from lab.optical import model as M, train_ctc as T

    sched = T.mode_schedule(tc.modes, 400, 99)
    dl = torch.utils.data.DataLoader(T.PageBatches(tc, sched), batch_size=None, num_workers=tc.workers, prefetch_factor=4)
    it = iter(dl)
    next(it)
    t0, n = time.time(), 0
    for i, (_, mode, imgs, tg, _, _) in zip(range(30), it):
        n += len(imgs) // T.MODES[mode] ** 2
    dt = time.time() - t0
    print(f"profile: data {30 / dt:.2f} batches/s, {n / dt:.0f} pages/s with {tc.workers} workers", flush=True)
    del it, dl
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    for mode in tc.modes:
        b = T.batch_pages(tc.batch, mode)
        R = T.MODES[mode]
        x = torch.rand(b, 1, R, R, device=device)
        tg = torch.randint(1, 96, (b, R // 64 * 8, 256 + R // 64 * 32), dtype=torch.int8, device=device)
        tg[..., 100:256] = 0
        for k in range(13):
            if k == 3:
                torch.cuda.synchronize()
                t0 = time.time()
            with M.autocast(device):
                loss = model.reader.loss(model.encoder(x), tg)
            opt.zero_grad()
            loss.backward()
            opt.step()
        torch.cuda.synchronize()
        print(f"profile: {mode} batch {b}: {(time.time() - t0) / 10 * 1000:.0f} ms/step on the GPU", flush=True)


def bench(args) -> None:
    from lab.optical.encoder import MODES
    from lab.optical.model import load

    model, _ = load(args.ckpt, "cuda")
    rows = []
    for mode, R in MODES.items():
        x = torch.rand(32, 1, R, R, device="cuda")
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            for _ in range(3):
                model.encoder(x)
            torch.cuda.synchronize()
            t0 = time.time()
            for _ in range(10):
                model.encoder(x)
            torch.cuda.synchronize()
        rows.append({"mode": mode, "batch": 32, "pages_per_s": 320 / (time.time() - t0)})
        print(rows[-1], flush=True)
    write(args.report, "bench", {"encode": rows, "machine": machine(), "command": " ".join(sys.argv)})


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["stage1", "bench"])
    ap.add_argument("--config", default="configs/optical/gpu.yaml")
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--report", type=Path, required=True)
    ap.add_argument("--time-limit", type=float)
    ap.add_argument("--set", action="append", default=[], help="override a config entry: section.key=value")
    ap.add_argument("--resume")
    ap.add_argument("--save-state")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--init", help="start from this checkpoint's weights (a fresh optimiser)")
    ap.add_argument("--init-encoder", help="start the encoder from this checkpoint's (any reader)")
    ap.add_argument("--profile", action="store_true", help="time the data pipeline and GPU steps first")
    ap.add_argument("--eval-pages", type=int, default=32)
    args = ap.parse_args()
    args.report.mkdir(parents=True, exist_ok=True)
    {"stage1": stage1, "bench": bench}[args.what](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
