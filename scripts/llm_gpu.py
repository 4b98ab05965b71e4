"""The GPU figures of reports/llm.md (issue: LLM activations and the KV cache), one call on the lent GPU:

    python scripts/llm_gpu.py --out $OUT/llm_gpu.json [--windows 8] [--window 2048]

Df of SmolLM2's activations on 8,192 calibration tokens and of its weights; the KV Pareto sweep on alice29, lcet10
and bible's held-out part (`--windows` windows of `--window` tokens each, spread over each text, chunks of 128);
weights re-quantised against low rank at equal bytes; generation speed and memory at 2k and 8k context. The JSON is
rewritten after every part, so a call cut short still brings back what it finished."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from lab.report import machine  # noqa: E402



def main() -> int:
    from lab import models
    from lab.llm import activations as A
    from lab.llm import kv, study

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--window", type=int, default=2048)
    ap.add_argument("--windows", type=int, default=8)
    ap.add_argument("--chunk", type=int, default=128)
    ap.add_argument("--calib-tokens", type=int, default=8192)
    ap.add_argument("--parts", default="df,kv,weights,speed,adapt")
    ap.add_argument("--methods", help="kv: only the methods whose label starts with one of these (comma-separated, _ for a space)")
    ap.add_argument("--ranks", default="48,24,96", help="adapt: latent ranks per layer (K and V each)")
    ap.add_argument("--adapt-seconds", type=float, default=75)
    ap.add_argument("--adapt-text", default="bible", choices=["bible", "mixed"])
    args = ap.parse_args()
    torch.manual_seed(0)
    lm, tok = models.load_lm(device=args.device)
    res = {"command": " ".join(sys.argv), "machine": machine(), "args": vars(args) | {"out": str(args.out)}}

    def save():
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1))

    parts = args.parts.split(",")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    texts = study.eval_texts()
    if "df" in parts:
        acts = A.capture(lm, tok, study.calibration_text(), args.calib_tokens, 512)
        res["df"] = A.df_rows(acts)
        res["weights_df"] = A.weight_rows(lm)
        res["df_seconds"] = time.time() - t0
        save()
        print("df done", time.time() - t0, flush=True)
    if "kv" in parts:
        res["kv"] = []
        ms = study.method_suite(lm, tok, args.window, args.calib_tokens)
        if args.methods:
            ms = [m for m in ms if m.name == "full" or any(m.label.startswith(x.replace("_", " ")) for x in args.methods.split(","))]
        study.kv_sweep(lm, tok, texts, ms, args.window, args.chunk, args.windows,
                       on_row=lambda r: (res["kv"].append(r), save(), print(json.dumps(r), flush=True)))
    if "weights" in parts:
        res["weights"] = study.weight_sweep(lm, tok, texts, window=args.window, count=args.windows)
        save()
        print("weights done", time.time() - t0, flush=True)
    if "speed" in parts:
        res["speed"] = []
        fit = study.bases(lm, tok, args.calib_tokens, 0.25)
        for ctx in (2048, 8192):
            for m in (kv.make("full"), kv.make("kivi", bits=2), kv.make("sinks", budget=ctx // 8),
                      kv.make("h2o", budget=ctx // 8, recent=ctx // 32),
                      kv.make("h2o", budget=ctx // 8, recent=ctx // 32, store="eigen", keep=0.25, bases=fit, bits=4)):
                text = "\n".join(texts.values())
                res["speed"].append(study.generation_speed(lm, tok, m, ctx, 64, text))
                print(json.dumps(res["speed"][-1]), flush=True)
                save()
    if "adapt" in parts:
        res["adapt"] = []
        from safetensors.torch import save_file

        from lab.llm import adapters

        acts = A.capture(lm, tok, study.calibration_text(), args.calib_tokens, args.window)
        train = study.adaptation_text(args.adapt_text)
        for r in (int(x) for x in args.ranks.split(",")):
            adapters.apply(lm, adapters.fit(lm, acts["k_pre"], acts["v"], r, r))
            row = {"rank": r, "init": {}, "trained": {}}
            for name, text in texts.items():
                row["init"][name] = study.score.bits_per_byte(lm, tok, text, kv.make("latent", model=lm), args.window,
                                                               args.chunk, args.windows)["bpb"]
            row["log"] = adapters.distil(lm, tok, train, steps=100000, batch=8, length=1024, lr=1e-3,
                                         time_limit=args.adapt_seconds, on_log=lambda e: print(json.dumps(e), flush=True))
            for m in (kv.make("latent", model=lm), kv.make("latent", model=lm, bits=4),
                      kv.make("latent", model=lm, bits=4, budget=args.window // 8)):
                for name, text in texts.items():
                    sc = study.score.bits_per_byte(lm, tok, text, m, args.window, args.chunk, args.windows)
                    row["trained"].setdefault(m.label, {})[name] = {"bpb": sc["bpb"], "ratio": kv.full_bytes_per_token(lm.config) / sc["kv_bytes_per_token"]}
            row["adapt_text"] = args.adapt_text
            save_file(adapters.state(lm), str(args.out.parent / f"latent_r{r}_{args.adapt_text}.safetensors"))
            adapters.remove(lm)
            res["adapt"].append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "log"}), flush=True)
            save()
    res["seconds"] = time.time() - t0
    save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
