"""Where llmzip's GPU time goes: the model's forward alone (DynamicCache, eager) against the whole codec step,
at a few stream counts and dtypes; then the codec under cProfile. Writes JSON (reports/llmzip_gpu/profile.json).

    python scripts/llmzip_profile.py --out reports/llmzip_gpu/profile.json
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import time
from pathlib import Path



def main() -> int:
    import torch
    from transformers import DynamicCache

    from lab import data, models
    from lab.llmzip import codec

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=64)
    a = ap.parse_args()
    dev = "cuda"
    res = {"command": "python scripts/llmzip_profile.py " + " ".join(sys.argv[1:]), "forward": []}
    for dtype in (torch.float32, torch.bfloat16):
        lm, tok = models.load_lm(device=dev, dtype=dtype)
        for B in (16, 256, 1024):
            for ctx in (0, 512):
                cache = DynamicCache()
                with torch.no_grad():
                    if ctx:
                        lm(input_ids=torch.randint(0, 40000, (B, ctx), device=dev), past_key_values=cache, use_cache=True,
                           logits_to_keep=1)
                    x = torch.randint(0, 40000, (B, 1), device=dev)
                    torch.cuda.synchronize(); t0 = time.perf_counter()
                    for _ in range(a.steps):
                        out = lm(input_ids=x, past_key_values=cache, use_cache=True)
                        out.logits[:, -1].float().softmax(-1)
                    torch.cuda.synchronize(); dt = (time.perf_counter() - t0) / a.steps
                r = {"dtype": str(dtype), "streams": B, "cache tokens": ctx, "ms/step (forward + softmax)": 1e3 * dt}
                print(json.dumps(r), flush=True)
                res["forward"].append(r)
                del cache
                torch.cuda.empty_cache()
        del lm
    lm, tok = models.load_lm(device=dev)
    sha = models.MODELS["smollm2-135m-instruct"].sha256
    d = data.path("canterbury", "alice29.txt").read_bytes()[:16000]
    pr = cProfile.Profile()
    t0 = time.perf_counter()
    pr.enable()
    blob = codec.compress(d, lm, tok, sha, streams=16, device=dev)
    pr.disable()
    res["codec"] = {"bytes": len(d), "streams": 16, "seconds": time.perf_counter() - t0,
                    "tokens": len(codec.Vocab(tok, codec._start(tok)).encode(d)), "llmz bytes": len(blob)}
    res["codec"]["ms/step"] = 1e3 * res["codec"]["seconds"] / (res["codec"]["tokens"] / 16)
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(25)
    res["profile_tottime"] = s.getvalue()
    print(json.dumps(res["codec"]), flush=True)
    print(s.getvalue()[:6000])
    Path(a.out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
