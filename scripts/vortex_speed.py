"""Decode speed of candidate Vortex shapes on one CUDA device before training one: each shape starts from a
seeded random initialisation (speed does not depend on the weights) and runs the real codec, round trip
checked, on held-out bible bytes at several stream counts.

    python scripts/vortex_speed.py --out reports/vortex_gpu/speed.json --shapes 8x384x6,6x512x8,4x512x8
A shape is LAYERSxD_MODELxHEADS (d_ff = 4 d_model; the memory and segment of configs/vortex/gpu.yaml)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch


from lab import data  # noqa: E402
from lab.vortex import study as S  # noqa: E402
from lab.vortex import train as T  # noqa: E402
from lab.vortex.model import VortexModel  # noqa: E402
from lab.report import machine  # noqa: E402


def train_speed(m, batch: int, x: bytes, dev: str, steps: int = 12) -> dict:
    """Training bytes/s of the stateful loop (2 segments a step, bf16 autocast on CUDA), after 3 warm-up steps."""
    import torch.nn.functional as F

    from lab.vortex.data import StreamBatcher

    m.train()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4)
    n = 2 * m.cfg.segment
    bt = StreamBatcher(x, batch, n, 4096, seed=0)
    st = m.init_state()
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if dev == "cuda" else torch.autocast("cpu", enabled=False)
    for i in range(steps + 3):
        if i == 3:
            torch.cuda.synchronize() if dev == "cuda" else None
            t0 = time.time()
        xi, yi, fresh = bt.next(dev)
        if fresh:
            st = m.init_state()
        with amp:
            lg, st = m(xi, st)
            loss = F.cross_entropy(lg.float().reshape(-1, 256), yi.reshape(-1))
        st = m.detach_state(st)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    torch.cuda.synchronize() if dev == "cuda" else None
    dt = (time.time() - t0) / steps
    return {"step s": dt, "train KB/s": batch * n / dt / 1e3,
            "peak GB": torch.cuda.max_memory_allocated() / 1e9 if dev == "cuda" else None}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", default="configs/vortex/gpu.yaml")
    ap.add_argument("--shapes", default="8x384x6,6x512x8,4x512x8")
    ap.add_argument("--streams", default="256,512,1024")
    ap.add_argument("--bytes", type=int, default=262144)
    ap.add_argument("--train-batches", default="64,256", help="training throughput at these batch sizes")
    args = ap.parse_args()
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    base, _ = T.load_yaml(args.config)
    x = data.read_split("canterbury-large", "test")[: args.bytes]
    rows = []
    for shape in args.shapes.split(","):
        L, d, H = (int(v) for v in shape.split("x"))
        cfg = dataclasses.replace(base, n_layers=L, d_model=d, n_heads=H, d_ff=4 * d, dropout=0.0)
        torch.manual_seed(0)
        m = VortexModel(cfg).to(dev).eval()
        for tb in (int(s) for s in args.train_batches.split(",") if s):
            rows.append({"shape": shape, "params": m.n_params(), "train batch": tb, **train_speed(m, tb, x, dev)})
            print(rows[-1], flush=True)
        m.eval()
        for b in (int(s) for s in args.streams.split(",")):
            t0 = time.time()
            r = S.codec_row(m, "0" * 64, x, b, dev)
            rows.append({"shape": shape, "params": m.n_params(), "streams": b, **r, "wall s": time.time() - t0})
            print(rows[-1], flush=True)
        del m
        torch.cuda.empty_cache() if dev == "cuda" else None
    Path(args.out).write_text(json.dumps({"device": machine()["device"] if dev == "cuda" else "cpu", "machine": machine(), "torch": torch.__version__,
                                          "command": " ".join(sys.argv), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
