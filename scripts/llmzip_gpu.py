"""llmzip's GPU figures (reports/shannon.md): SmolLM2 coding whole files on one GPU, round trip verified.

    python scripts/llmzip_gpu.py --out reports/llmzip_gpu/run1.json --runs canterbury-large/bible.txt:1024 \
        canterbury/alice29.txt:16

Each run: FILE:STREAMS or DATASET@SPLIT:STREAMS, optionally :BYTES (the first BYTES bytes only) (context 2048, keep 512: the CLI's defaults; `--mix` the online
models mixed in); compress, decompress, compare, time both ways (CUDA synchronised). `--device cpu` runs the same
on the CPU (one thread: slow, for documents of ~100 KB). The JSON is rewritten after every run, so a call cut short keeps what it finished.

A run longer than one device call (one stream codes a token a step: the held-out document is ~33k steps a side)
is split across two calls on the same warm machine: `--phase encode --blobs /root/llmz` writes each run's `.llmz`
and its half of the row there (and to --out); `--phase decode --blobs /root/llmz` with the same --runs decodes
those files, compares them with the input and writes the whole rows to --out. `--profile` adds each phase's
milliseconds a step by part (adapt, forward, mix, code: lab.llmzip.steptime) to its row.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path
from lab.report import machine  # noqa: E402

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def main() -> int:
    import torch

    from lab import data, models
    from lab.llmzip import codec

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", nargs="+", default=["canterbury-large/bible.txt:1024", "canterbury/alice29.txt:16"])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--context", type=int, default=2048)
    ap.add_argument("--keep", type=int, default=512)
    ap.add_argument("--mix", default="none", help="online models mixed with the LM (lab.llmzip.mixing: bias,ngram,match,ctx,shared|all|none)")
    ap.add_argument("--adapt-lr", type=float, help="with --mix ...,adapt: the adapter's rate (default lab.llmzip.adapt.LR; the file records it)")
    ap.add_argument("--engine", default="eager", choices=["eager", "static", "banded"],
                    help="lab.llmzip.codec's engines")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="lab.llmzip.codec's dtypes")
    ap.add_argument("--phase", default="both", choices=["both", "encode", "decode"],
                    help="encode and decode in one call, or in two (the files kept in --blobs between them)")
    ap.add_argument("--profile", action="store_true",
                    help="time each step's parts (lab.llmzip.steptime; the device synchronised at each: slower)")
    ap.add_argument("--kernels", action="store_true",
                    help="torch.profiler over each encode: the 25 kernels that take the most device time, in the row "
                    "(use a short run, FILE:STREAMS:BYTES: the trace holds every step)")
    ap.add_argument("--blobs", help="folder of the .llmz files (and half rows) between an encode and a decode call")
    a = ap.parse_args()
    if a.phase != "both" and not a.blobs:
        ap.error("--phase encode|decode needs --blobs")
    from lab.llmzip import mixing
    from lab.llmzip.steptime import StepTimer

    mix = mixing.flags_of(a.mix.split(","))
    dev = a.device
    lm, tok = models.load_lm(a.model, dev)
    sha = models.MODELS[a.model].sha256
    res = {"command": "python scripts/llmzip_gpu.py " + " ".join(sys.argv[1:]), "model": a.model, "sha256": sha,
           "device": machine()["device"], "machine": machine(),
           "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs": []}
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    for spec in a.runs:
        rel, streams, *head = spec.split(":")
        if "@" in rel:                                       # DATASET@SPLIT: a split of a dataset (e.g. its test part)
            raw = data.read_split(*rel.split("@", 1))
        else:
            raw = data.path(*rel.split("/", 1)).read_bytes()
        if head:                                             # FILE:STREAMS:BYTES: the file's first BYTES bytes
            raw = raw[:int(head[0])]
        if dev == "cuda":
            torch.cuda.reset_peak_memory_stats()
        key = str(Path(a.blobs or ".") / (spec.replace("/", "_").replace(":", "_") + f"_{a.mix}_{a.engine}"
                                                 + ("" if a.dtype == "float32" else f"_{a.dtype}")))
        if a.phase == "decode":                              # the encode call's file and half row
            blob, r = Path(key + ".llmz").read_bytes(), json.loads(Path(key + ".json").read_text())
        else:
            timer = StepTimer(dev) if a.profile else None
            sync(); t0 = time.perf_counter()
            with _kernels(a.kernels, dev) as prof:
                blob = codec.compress(raw, lm, tok, sha, streams=int(streams), device=dev, context=a.context,
                                      keep=a.keep, mix=mix, engine=a.engine, dtype=a.dtype, timer=timer,
                                      adapt_lr=a.adapt_lr)
            sync(); t1 = time.perf_counter()
            r = {"file": rel, "bytes": len(raw), **({"first_bytes": int(head[0])} if head else {}), "streams": int(streams),
                 "context": a.context, "keep": a.keep, "mix": a.mix, "mix_flags": mix, "engine": a.engine, "dtype": a.dtype,
                 "adapt_lr": codec.read_header(blob)[0][8], "llmz_bytes": len(blob), "bits_per_byte": 8 * len(blob) / len(raw), "encode_s": t1 - t0,
                 "encode_MBps": len(raw) / (t1 - t0) / 1e6,
                 "tokens": len(codec.Vocab(tok, codec._start(tok)).encode(raw)),
                 "peak_gpu_GiB": torch.cuda.max_memory_allocated() / 2**30 if dev == "cuda" else None,
                 **({"encode_ms_per_step": timer.per_step()} if timer else {}),
                 **({"encode_kernels": _top_kernels(prof, dev)} if a.kernels else {})}
            if a.phase == "both":                            # the encode half first: a decode that fails keeps it
                print(json.dumps({**r, "decoded": "not yet"}), flush=True)
                Path(a.out).write_text(json.dumps({**res, "runs": res["runs"] + [{**r, "decoded": "not yet"}]}, indent=1))
            if a.phase == "encode":
                Path(key).parent.mkdir(parents=True, exist_ok=True)
                Path(key + ".llmz").write_bytes(blob)
                Path(key + ".json").write_text(json.dumps(r))
        if a.phase != "encode":
            if dev == "cuda":                                # the encoder's cache and graphs go before the decoder's
                gc.collect()
                torch.cuda.empty_cache()
            timer = StepTimer(dev) if a.profile else None
            sync(); t1 = time.perf_counter()
            back = codec.decompress(blob, lm, tok, sha, device=dev, timer=timer)
            sync(); t2 = time.perf_counter()
            r.update(round_trip=back == raw, decode_s=t2 - t1, decode_MBps=len(raw) / (t2 - t1) / 1e6,
                     **({"phases": "encode and decode in two calls"} if a.phase == "decode" else {}),
                     **({"decode_ms_per_step": timer.per_step()} if timer else {}))
        res["runs"].append(r)
        print(json.dumps(r), flush=True)
        Path(a.out).write_text(json.dumps(res, indent=1))
    return 0


def _kernels(on: bool, dev: str):
    """torch.profiler around a block when `on` (CUDA activity on a GPU), else nothing."""
    import contextlib

    import torch

    if not on:
        return contextlib.nullcontext()
    acts = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if dev == "cuda" else [])
    return torch.profiler.profile(activities=acts)


def _top_kernels(prof, dev: str, n: int = 25) -> list[dict]:
    """The n operations or kernels with the most self time on the device (the CPU's on a CPU run), in ms."""
    key = "self_device_time_total" if dev == "cuda" else "self_cpu_time_total"
    rows = sorted(prof.key_averages(), key=lambda e: getattr(e, key, 0), reverse=True)[:n]
    return [{"name": e.key[:120], "calls": e.count, "ms": getattr(e, key, 0) / 1e3} for e in rows]


if __name__ == "__main__":
    raise SystemExit(main())
