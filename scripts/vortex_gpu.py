"""The GPU run behind reports/vortex.md: train on one CUDA device within a time limit, evaluate held-out
bits/byte, run the real codec on CUDA (round trip verified) and the classic compressors on the same bytes.

    python scripts/vortex_gpu.py --config configs/vortex/gpu.yaml --out $OUT
Writes vortex_gpu.json and vortex_gpu.log into --out.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab import data  # noqa: E402
from lab.vortex import study as S  # noqa: E402
from lab.vortex import train as T  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/vortex/gpu.yaml")
    ap.add_argument("--out", required=True)
    ap.add_argument("--time-limit", type=float)
    ap.add_argument("--codec-bytes", type=int, default=400_000)
    ap.add_argument("--streams", type=int, default=512)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    mc, tc = T.load_yaml(args.config)
    if args.time_limit is not None:
        tc = replace(tc, time_limit=args.time_limit)
    train, test = data.read_split("canterbury-large", "train"), data.read_split("canterbury-large", "test")
    t0 = time.time()
    model, log, vb = S.train_model(mc, tc, train, test, dev, progress=False)
    train_s = time.time() - t0
    sha = T.save(model, str(out / "ckpt"), {"train_log": log})
    x = test[: args.codec_bytes]
    row = S.codec_row(model, sha, x, args.streams, dev)
    res = {"device": torch.cuda.get_device_name(0) if dev == "cuda" else platform.processor(),
           "torch": torch.__version__, "command": " ".join(sys.argv), "config": mc.to_dict(), "train": tc.__dict__,
           "params": model.n_params(), "train_seconds": train_s, "steps": log[-1]["step"] + 1,
           "heldout_bpb_teacher_forced": vb, "heldout_bytes": len(test), "codec": row,
           "baselines": S.baseline_rows(x), "adjusted": S.adjusted(row["compressed"], len(x), model.n_params()),
           "train_log": log}
    (out / "vortex_gpu.json").write_text(json.dumps(res, indent=1, default=float))
    print(json.dumps({k: v for k, v in res.items() if k != "train_log"}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
