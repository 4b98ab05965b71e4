"""Why the stage-1 reader fails on real PDF pages (issue optical IV's PDF bar): two measurements on the held-out
PDFs' body pages (lab.optical.pdfdocs, `make documents`), written to one JSON.

1. Size: each page read whole, and read as tiles of its text column (lab.optical.tiles: the text ~1.6x larger,
   one mode's tokens a tile), by the committed stage-1 reader.
2. The tokens: the stage-1 CTC head alone (encoder frozen) trained on pages of the *training* PDFs; if the
   encoder's tokens of a PDF page held its text, the head would learn to read it.

    python scripts/optical_pdf_probe.py --out reports/optical_gpu/campaign/pdf_probe_cpu.json
    python scripts/optical_pdf_probe.py --head-pages 300 --head-steps 75 --out ...   # also part 2 (slow on a CPU)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default="optical-reader")
    ap.add_argument("--modes", default="small,large")
    ap.add_argument("--per-doc", type=int, default=2, help="held-out pages a document (the report's choice)")
    ap.add_argument("--tile", type=float, nargs="*", default=[1.0, 0.5], help="tile heights (x the column width)")
    ap.add_argument("--head-pages", type=int, default=0, help="training-PDF pages for part 2 (0: skip it)")
    ap.add_argument("--head-steps", type=int, default=75)
    ap.add_argument("--head-lr", type=float, default=3e-4)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()

    from lab import models
    from lab.report import machine
    from lab.optical import model as M, pdfdocs, study as S, tiles as T
    from lab.optical.metrics import precision

    if not pdfdocs.available("test"):
        print("optical_pdf_probe: the held-out PDFs are not installed (make documents)", file=sys.stderr)
        return 2
    torch.manual_seed(a.seed)
    model, meta = M.load(models.trained_path(a.model) if a.model in models.TRAINED else a.model)
    model.eval()
    read = S.model_reader(model)
    pages = pdfdocs.eval_pages("test", lambda s: len(s) // 4, per_doc=a.per_doc)
    rows = []
    for mode in a.modes.split(","):
        for p in pages:
            row = {"mode": mode, "page": p.source, "whole": precision(read(p.image, mode), p.text)}
            for h in a.tile:
                parts = T.tiles(p.image, h)
                row[f"tiles_{h:g}"] = precision("\n".join(read(t, mode).strip() for t in parts), p.text)
                row[f"tiles_{h:g}_count"] = len(parts)
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {mode: {k: float(np.mean([r[k] for r in rows if r["mode"] == mode]))
                      for k in rows[0] if k not in ("mode", "page")} for mode in a.modes.split(",")}
    out = {"command": "python " + " ".join(sys.argv), "machine": machine(),
           "model": a.model, "sha256": meta.get("sha256"), "pages": len(pages), "rows": rows, "summary": summary}
    if a.head_pages:
        out["head_only"] = head_only(model, pages, a.head_pages, a.head_steps, a.head_lr, a.seed)
    with open(a.out + ".tmp", "w") as f:
        json.dump(out, f, indent=1)
    os.replace(a.out + ".tmp", a.out)
    print(json.dumps(summary, indent=1))
    return 0


def head_only(model, test_pages, n: int, steps: int, lr: float, seed: int, mode: str = "small") -> dict:
    """The CTC head trained alone (AdamW, batches of 16) on `n` training-PDF pages' frozen tokens; held-out
    precision every 25 steps."""
    from lab.optical import pdfdocs
    from lab.optical.metrics import precision

    rng = np.random.default_rng(seed)
    t0 = time.process_time()
    samples = [pdfdocs.page_sample(rng, mode) for _ in range(n)]
    x = torch.cat([model.encode([s.image], mode) for s in samples])
    y = torch.stack([torch.as_tensor(s.targets) for s in samples])

    def held_out():
        model.eval()
        return float(np.mean([precision(model.ocr([p.image], mode)[0], p.text) for p in test_pages]))

    curve = [{"step": 0, "precision": held_out()}]
    opt = torch.optim.AdamW(model.reader.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for step in range(1, steps + 1):
        model.reader.train()
        idx = torch.randint(0, n, (16,), generator=g)
        loss = model.reader.loss(x[idx], y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 25 == 0 or step == steps:
            curve.append({"step": step, "loss": loss.item(), "precision": held_out(),
                          "cpu_seconds": round(time.process_time() - t0, 1)})
            print(json.dumps(curve[-1]), flush=True)
    return {"mode": mode, "train_pages": n, "lr": lr, "curve": curve}


if __name__ == "__main__":
    raise SystemExit(main())
