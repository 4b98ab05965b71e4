"""The optical family's GPU runs (one H100 through the device tool); every result lands in --report as
JSON + log, copied to reports/optical_gpu/ and read by notebooks/optical.ipynb.

    python scripts/optical_gpu.py stage1 --config configs/optical/gpu.yaml --ckpt /root/ckpt --report $OUT
    python scripts/optical_gpu.py stage2 --config configs/optical/gpu.yaml --ckpt /root/ckpt --report $OUT
    python scripts/optical_gpu.py bench  --ckpt /root/ckpt --report $OUT

stage1 trains the encoder + CTC reader and writes the checkpoint (fp16 shards) to --ckpt and --report;
stage2 trains the projector + LoRA on SmolLM2 (encoder frozen) and measures both readers on Fox-like
pages; bench measures encoding speed (pages/s) per mode.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def machine() -> dict:
    d = {"host": platform.node(), "python": platform.python_version(), "torch": torch.__version__}
    if torch.cuda.is_available():
        d["gpu"] = torch.cuda.get_device_name(0)
    return d


def write(report: Path, name: str, obj: dict) -> None:
    report.mkdir(parents=True, exist_ok=True)
    (report / f"{name}.json").write_text(json.dumps(obj, indent=1, default=str))


def stage1(args) -> None:
    from lab.optical import train as T

    enc, rd, tc = T.load_yaml(args.config, args.set)
    if args.time_limit:
        from dataclasses import replace

        tc = replace(tc, time_limit=args.time_limit)
    model = T.OpticalModel(enc, rd)
    if args.init:
        model, _ = T.load(args.init, args.device)
        print(f"initialised from {args.init}", flush=True)
    if args.init_encoder:
        _, state = T.load_state(args.init_encoder)
        model.encoder.load_state_dict({k[8:]: v.float() for k, v in state.items() if k.startswith("encoder.")})
        print(f"encoder initialised from {args.init_encoder}", flush=True)
    print(f"stage 1: {model.n_params():,} parameters, config {tc}", flush=True)
    if args.profile:
        profile(model, tc, args.device)
    t0 = time.time()
    def keep(m, log):      # weights along the way, in --report too: a run cut short still brings them back
        T.save(m, args.report / "ckpt", {"train_log": log, "partial": True})
        print(f"checkpoint at step {log[-1]['step']}", flush=True)

    log = T.train(model, tc, args.device, progress=False, resume=args.resume, save_state=args.save_state,
                  checkpoint=keep, checkpoint_every=150)
    secs = time.time() - t0
    evals = [T.evaluate(model, m, args.eval_pages, split="test") for m in ("tiny", "small", "base", "large")]
    sha = T.save(model, args.ckpt, {"train_log": log, "train_seconds": secs, "machine": machine(),
                                     "config": args.config, "test_sampled": evals})
    shutil.rmtree(args.report / "ckpt", ignore_errors=True)
    for f in Path(args.ckpt).iterdir():
        shutil.copy(f, args.report / f.name)
    write(args.report, "stage1", {"log": log, "seconds": secs, "params": model.n_params(), "sha256": sha,
                                  "test_sampled": evals, "machine": machine(), "command": " ".join(sys.argv)})
    print(json.dumps({"steps": log[-1]["step"] if log else 0, "evals": evals, "sha256": sha}), flush=True)


def profile(model, tc, device) -> None:
    """Where a step's time goes: pages from the DataLoader alone, then GPU steps on one batch."""
    from lab.optical import train as T

    sched = T.mode_schedule(tc.modes, 400, 99)
    dl = torch.utils.data.DataLoader(T.PageBatches(tc, sched), batch_size=None, num_workers=tc.workers, prefetch_factor=4)
    it = iter(dl)
    next(it)
    t0, n = time.time(), 0
    for i, (_, mode, imgs, tg, _) in zip(range(30), it):
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
            with T._autocast(device):
                loss = model.reader.loss(model.encoder(x), tg)
            opt.zero_grad()
            loss.backward()
            opt.step()
        torch.cuda.synchronize()
        print(f"profile: {mode} batch {b}: {(time.time() - t0) / 10 * 1000:.0f} ms/step on the GPU", flush=True)


def stage2(args) -> None:
    """Projector + LoRA on the frozen encoder's tokens; then the LM reader against the stage-1 reader on
    held-out pages: a few lines, more lines, and Fox pages (precision, samples, generation time)."""
    from lab import models
    from lab.optical import corpus
    from lab.optical import train as T
    from lab.optical.decoder import LMReader, LoraSpec
    from lab.optical.encoder import tokens_for
    from lab.optical.metrics import precision

    raw = T.read_yaml(args.config, args.set)
    lc = T.build_config(T.LMTrainConfig, raw.get("lm"), args.config)
    if args.time_limit:
        from dataclasses import replace

        lc = replace(lc, time_limit=args.time_limit)
    spec = raw.get("lora", {})
    spec = LoraSpec(**{**spec, "targets": tuple(spec.get("targets", ("q_proj", "v_proj")))})
    model, meta = T.load(args.ckpt, args.device)
    if args.init_lm:
        reader, _ = T.load_lm(args.init_lm, model.enc_cfg.dim, args.device, stage1=model.reader)
        for n, p in reader.named_parameters():
            p.requires_grad_("lora_" in n or n.startswith("projector."))
    else:
        lm, tok = models.load_lm(device=args.device)
        reader = LMReader(lm, tok, model.enc_cfg.dim, spec, model.reader).to(args.device)
    tok = reader.tok
    print(f"stage 2: {sum(p.numel() for p in reader.parameters() if p.requires_grad):,} trainable", flush=True)
    t0 = time.time()
    log = T.train_lm(model, reader, lc, args.device, progress=False,
                     on_log=lambda e: print(json.dumps(e), flush=True)) if lc.time_limit > 0 else []
    secs = time.time() - t0
    sha = T.save_lm(reader, args.report, {"train_log": log, "train_seconds": secs, "machine": machine(),
                                          "init_lm": args.init_lm})
    T.save_lm(reader, args.ckpt, {"train_log": log, "train_seconds": secs})
    evals = []
    if lc.task == "cells":
        for mode in ("tiny", "small"):
            evals.append(T.evaluate_cells(model, reader, mode, pages=8, cells=128))
            print(json.dumps({k: v for k, v in evals[-1].items() if k != "samples"}), flush=True)
            print(json.dumps(evals[-1]["samples"][:3]), flush=True)
            write(args.report, "stage2", {"log": log, "seconds": secs, "sha256": sha, "evals": evals,
                                          "machine": machine(), "command": " ".join(sys.argv)})
    plan = () if lc.task == "cells" else (("tiny", 3, 32, 160), ("small", 3, 32, 160), ("tiny", 10, 16, 320))
    for mode, lines, n, mx in plan:
        evals.append(T.evaluate_lm(model, reader, mode, n, lines, max_new_tokens=mx))
        print(json.dumps({k: v for k, v in evals[-1].items() if k != "samples"}), flush=True)
        write(args.report, "stage2", {"log": log, "seconds": secs, "sha256": sha, "evals": evals, "machine": machine(),
                                      "command": " ".join(sys.argv)})
    if not args.fox_per_bucket:
        return
    count = lambda s: len(tok(s, add_special_tokens=False)["input_ids"])  # noqa: E731
    pages = corpus.fox_pages(count, per_bucket=args.fox_per_bucket)
    rows = []
    for mode in ("tiny", "small"):
        vt = torch.cat([model.encode([p.image for p in pages[i:i + 8]], mode) for i in range(0, len(pages), 8)])
        ctc = model.reader.read(vt)
        t1 = time.time()
        with T._autocast(args.device):
            lm_out = reader.generate(vt, max_new_tokens=args.max_new_tokens)
        gen_s = time.time() - t1
        for p, a, b in zip(pages, ctc, lm_out):
            rows.append({"mode": mode, "bucket": p.bucket, "text_tokens": p.text_tokens, "vision_tokens": tokens_for(mode),
                         "ctc_precision": precision(a, p.text), "lm_precision": precision(b, p.text),
                         "lm_sample": b[:300]})
        print(mode, "fox: ctc", sum(r["ctc_precision"] for r in rows if r["mode"] == mode) / len(pages),
              "lm", sum(r["lm_precision"] for r in rows if r["mode"] == mode) / len(pages), f"gen {gen_s:.0f}s", flush=True)
        write(args.report, "stage2", {"log": log, "seconds": secs, "sha256": sha, "evals": evals, "fox_sample": rows,
                                      "machine": machine(), "command": " ".join(sys.argv)})


def bench(args) -> None:
    from lab.optical import train as T
    from lab.optical.encoder import MODES

    model, _ = T.load(args.ckpt, "cuda")
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
    ap.add_argument("what", choices=["stage1", "stage2", "bench"])
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
    ap.add_argument("--fox-per-bucket", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=1100)
    ap.add_argument("--init-lm", help="stage 2: start from this checkpoint's projector and adapter (lm/)")
    args = ap.parse_args()
    args.report.mkdir(parents=True, exist_ok=True)
    {"stage1": stage1, "stage2": stage2, "bench": bench}[args.what](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
