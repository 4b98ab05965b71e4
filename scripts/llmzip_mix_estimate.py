#!/usr/bin/env python
"""What SmolLM2's llmzip rate is made of, on long texts (an estimate: code lengths, no coder): ideal -log2 p of
the LM alone and mixed with each online model, and the cost of each CDF quantisation (lab.llmzip.estimate).

    python scripts/llmzip_mix_estimate.py DATASET FILE [START STOP] --out reports/llmzip_gpu/X.json
"""
import argparse
import json
import time

import torch

from lab import data, models
from lab.llmzip import adapt as A, estimate
from lab.report import machine


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("file")
    ap.add_argument("range", nargs="*", type=int, help="START STOP byte offsets (default: the whole file)")
    ap.add_argument("--settings", default="lm,bias,ngram,match,linear,ctx,all")
    ap.add_argument("--schemes", default="q16x2,q16x1,q24x2,q24x1", help="CDF quantisations to price")
    ap.add_argument("--streams", type=int, default=1, help="streams the tokens are split into, as the coder does")
    ap.add_argument("--window", type=int, default=1024, help="the LM's window (tokens); it advances by half of it")
    ap.add_argument("--coded", action="store_true", help="the coder's view instead of a sliding window: a cache "
                    "grown 256 tokens at a time, restarted from the last window/2 tokens when it passes the window "
                    "(estimate.logits_coded)")
    ap.add_argument("--adapt", action="store_true", help="the coder's view with the LM adapted while coding "
                    "(lab.llmzip.adapt; implies --coded)")
    ap.add_argument("--adapt-lr", type=float, help="with --adapt: the adapter's rate (default lab.llmzip.adapt.LR, "
                    "what .llmz files use): a probe of another setting")
    ap.add_argument("--adapt-every", type=int, help="with --adapt: its cadence in tokens (default adapt.EVERY)")
    ap.add_argument("--adapt-span", type=int, help="with --adapt: tokens of context its step reads (default adapt.SPAN)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    raw = data.path(a.dataset, a.file).read_bytes()
    if a.range:
        raw = raw[a.range[0]:a.range[1]]
    lm, tok = models.load_lm("smollm2-135m-instruct", "cpu")
    t0 = time.time()
    if a.coded or a.adapt:
        ids, z = estimate.logits_coded(lm, tok, raw, context=a.window, keep=a.window // 2, adapt=a.adapt,
                                       every=a.adapt_every, lr=a.adapt_lr, span=a.adapt_span)
        view = (f"the coder's view: a cache grown {a.adapt_every or A.EVERY} tokens at a time, restarted from the "
                f"last {a.window // 2} at "
                f"{a.window}" + ("; the LM adapted while coding (lab.llmzip.adapt)" if a.adapt else ""))
    else:
        ids, z = estimate.logits_of(lm, tok, raw, window=a.window, stride=a.window // 2)
        view = f"window {a.window}, stride {a.window // 2}"
    print(f"logits of {len(ids):,} tokens in {time.time() - t0:.0f} s", flush=True)
    rows = estimate.breakdown(ids, z, len(raw), a.settings.split(","), a.schemes.split(","), streams=a.streams)
    res = {"command": "python scripts/llmzip_mix_estimate.py " + " ".join(
        [a.dataset, a.file, *map(str, a.range), "--settings", a.settings, "--schemes", a.schemes, "--streams",
         str(a.streams), "--window", str(a.window), *(["--adapt"] if a.adapt else ["--coded"] if a.coded else []),
         *[f"--adapt-{k}={v}" for k, v in (("lr", a.adapt_lr), ("every", a.adapt_every), ("span", a.adapt_span))
           if v is not None],
         "--out", a.out]),
        "machine": machine(), "file": f"{a.dataset}/{a.file}", "bytes": len(raw), "tokens": len(ids),
        "estimate": f"code lengths from logits computed once ({view}); no coder ran", "streams": a.streams,
        "window": a.window, "adapt": a.adapt, "rows": rows,
        **({"adapter": {"lr": a.adapt_lr or A.LR, "every": a.adapt_every or A.EVERY, "span": a.adapt_span or A.SPAN}}
           if a.adapt else {}),
        "bits_per_byte_ideal": {r["setting"]: round(r["ideal bpb"], 4) for r in rows}}
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    for r in rows:
        print(json.dumps(r), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
