"""Optical benchmark on this machine: pages rendered per second (the training data path) and pages encoded
into vision tokens per second per resolution mode (the encoder's speed does not depend on its weights;
the GPU figure comes from `scripts/optical_gpu.py bench`, bar >= 20 pages/s there).

    make bench            (or: python benchmarks/bench_optical.py --config configs/optical/gpu.yaml --batch 4)
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lab import data
from lab.optical import model as M, train_ctc as T
from lab.optical.corpus import PageSampler
from lab.optical.encoder import MODES, tokens_for
from lab.report import table


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/optical/gpu.yaml", help="encoder/reader sizes (the GPU model's)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    enc, rd, _ = T.load_yaml(args.config)
    torch.manual_seed(0)
    model = M.OpticalModel(enc, rd).eval()
    sampler = PageSampler(data.page_documents("train"))
    rows = []
    for mode, res in MODES.items():
        sampler.size_range = (int(res / 80), int(res / 40))
        rng = np.random.default_rng(0)
        t0 = time.perf_counter()
        pages = [sampler.page(rng, mode) for _ in range(args.batch * args.repeats)]
        render = len(pages) / (time.perf_counter() - t0)
        imgs = [p.image for p in pages]
        model.encode(imgs[:1], mode)                                     # warm-up
        t0 = time.perf_counter()
        for i in range(0, len(imgs), args.batch):
            tokens = model.encode(imgs[i:i + args.batch], mode)
        enc_s = len(imgs) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        model.reader.read(tokens)
        read_s = len(tokens) / (time.perf_counter() - t0)
        rows.append({"mode": mode, "pixels": f"{res}x{res}", "vision tokens": tokens_for(mode),
                     "render pages/s": render, "encode pages/s": enc_s, "stage-1 read pages/s": read_s})
    print(f"# optical benchmark ({model.n_params():,} parameters, {torch.get_num_threads()} threads, batch {args.batch})\n")
    print(table(rows))
    print("bar: encode >= 20 pages/s on the GPU (scripts/optical_gpu.py bench); this table is the CPU figure\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
