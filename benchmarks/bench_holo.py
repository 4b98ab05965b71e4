"""Holo benchmarks: encode/decode time per Kodak image Prints tables (format fuzzing: `make fuzz`).

    make bench            (or: python benchmarks/bench_holo.py --limit 24)
"""
from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from lab import data
from lab.holo import codec as C
from lab.metrics import bpp, psnr
from lab.report import table


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=24)
    args = ap.parse_args()
    images, src = data.load_images("kodak", limit=args.limit)
    print(f"# holo benchmark\n\nmachine: {platform.processor() or platform.machine()}, data: {src}\n")
    # warm the JIT once so that timings are steady-state
    C.decode_image(C.encode(images[0][1][:64, :64], C.HoloParams(mode="residual", clusters=8)))
    rows = []
    C.decode_image(C.encode(images[0][1][:64, :64], C.HoloParams(mode="intra")))
    for mode, params in (("intra step 16", C.HoloParams(mode="intra", step=16)),
                         ("vq C=256", C.HoloParams(mode="vq", clusters=256)),
                         ("pca step 16", C.HoloParams(mode="pca", step=16)),
                         ("residual C=64 step 16", C.HoloParams(mode="residual", clusters=64, step=16))):
        enc, dec, rates, quals = [], [], [], []
        for _, img in images:
            t0 = time.perf_counter()
            blob = C.encode(img, params)
            t1 = time.perf_counter()
            rec = C.decode_image(blob)
            t2 = time.perf_counter()
            enc.append(t1 - t0)
            dec.append(t2 - t1)
            rates.append(bpp(len(blob), img.shape))
            quals.append(psnr(img, rec))
        rows.append({"mode": mode, "images": len(images), "bpp": np.mean(rates), "psnr": np.mean(quals),
                     "encode s mean": np.mean(enc), "encode s max": np.max(enc), "decode s mean": np.mean(dec),
                     "decode s max": np.max(dec)})
    print(table(rows))
    print("bars: encode <= 2 s and decode <= 0.2 s per Kodak image at C=256 (this 2-core CPU); the same for "
          "intra (issue 14)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
