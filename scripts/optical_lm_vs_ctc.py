"""LM against the stage-1 CTC reader window by window, for a guided read written before `train_lm evaluate` kept
each window's CTC precision (2026-12-06): the stage-1 reader is run again on the read's windows (the same held-out
pages, tokens and windows: it does not depend on the LM) and paired with the read's own per-window precisions.

    python scripts/optical_lm_vs_ctc.py reports/optical_gpu/campaign/c34_pages28_small_g1_cpu.json --rows 10 \
        --out reports/optical_gpu/campaign/c34_pages28_small_g1_lm_vs_ctc_cpu.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("read", help="a guided read's JSON (train_lm evaluate --guidance)")
    ap.add_argument("--rows", type=int, required=True, help="the read's --rows")
    ap.add_argument("--out", required=True)
    ap.add_argument("--stage1", default="optical-reader")
    a = ap.parse_args()
    from lab import models
    from lab.optical import model as M, train_lm as L
    from lab.optical.encoder import MODES
    from lab.optical.metrics import precision

    torch.set_num_threads(1)
    r = json.load(open(a.read))
    mode, keys = r["mode"], [k for k in r if k.startswith(f"win{a.rows}_g") and k.endswith("_precisions")]
    if len(keys) != 1:
        print(f"optical_lm_vs_ctc: {a.read} holds no guided read of {a.rows} rows", file=sys.stderr)
        return 2
    lm = r[keys[0]]
    fox = L.eval_set(models.load_tokenizer("smollm2-135m-instruct"), r["pages"])
    model, _ = M.load(models.trained_path(a.stage1) if a.stage1 in models.TRAINED else a.stage1)
    bands = model.reader.read_bands(L.encode(model, [p.image for p in fox], mode))
    g, ctc = MODES[mode] // 64, []
    for i, p in enumerate(fox):
        ref = p.bands(mode)
        for s in L.text_windows(ref, g, a.rows):
            ctc.append(precision(L.window_text(bands[i], s, s + a.rows), L.window_text(ref, s, s + a.rows)))
    if len(ctc) != len(lm) or abs(np.mean(ctc) - r[f"ctc_win{a.rows}_{mode}"]) > 1e-6:
        print("optical_lm_vs_ctc: the stage-1 reader's windows do not match the read's", file=sys.stderr)
        return 2
    d = np.asarray(lm) - np.asarray(ctc)
    out = {"command": "python " + " ".join(sys.argv), "read": a.read, "mode": mode, "windows": len(d),
           "lm": float(np.mean(lm)), "ctc": float(np.mean(ctc)), "ctc_precisions": [round(float(x), 4) for x in ctc],
           "lm_minus_ctc": float(d.mean()), "standard_error": float(d.std(ddof=1) / np.sqrt(len(d))),
           "windows_lm_better": int((d > 0).sum())}
    with open(a.out + ".tmp", "w") as f:
        json.dump(out, f, indent=1)
    os.replace(a.out + ".tmp", a.out)
    print(json.dumps({k: v for k, v in out.items() if k != "ctc_precisions"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
