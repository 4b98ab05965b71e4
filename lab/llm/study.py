"""The measurements of reports/llm.md, as functions the notebook (cpu profile) and scripts/llm_gpu.py call.

Texts (fixed, disjoint): calibration = the start of bible's train split (the eigen bases, nothing else);
evaluation = alice29 and lcet10 (Canterbury, never used by the lab's LM work) and bible's held-out test split.
"""
from __future__ import annotations

import time

import torch

from lab.llm import activations as A
from lab.llm import kv, score  # noqa: F401 (score: scripts reach it as study.score)

EVAL_TEXTS = (("alice29", "canterbury", "alice29.txt"), ("lcet10", "canterbury", "lcet10.txt"),
              ("bible-test", "canterbury-large", None))


def calibration_text(chars: int = 400_000) -> str:
    from lab import data

    return data.read_split("canterbury-large", "train")[:chars].decode("utf-8", "replace")


def adaptation_text(kind: str = "bible") -> str:
    """Text the K/V adapters are distilled on, never evaluated on: "bible" (its train split) or "mixed" (bible's
    train split, TinyStories' train split, and the Canterbury texts other than alice29 and lcet10)."""
    from lab import data

    if kind == "bible":
        return calibration_text(3_000_000)
    if kind != "mixed":
        raise ValueError(f"unknown adaptation text {kind!r} (bible, mixed)")
    parts = [calibration_text(1_500_000), data.read_split("tinystories", "train")[:1_000_000].decode("utf-8", "replace")]
    parts += [data.path("canterbury", f).read_text(errors="replace") for f in ("asyoulik.txt", "plrabn12.txt")]
    return "\n".join(parts)


def eval_texts(names=None) -> dict[str, str]:
    from lab import data

    out = {}
    for name, ds, fname in EVAL_TEXTS:
        if names and name not in names:
            continue
        raw = data.read_split(ds, "test") if fname is None else data.path(ds, fname).read_bytes()
        out[name] = raw.decode("utf-8", "replace")
    return out


def bases(lm, tok, tokens: int, keep: float, window: int = 512) -> list:
    """Eigen-KV bases at `keep` from `tokens` calibration tokens."""
    return bases_from(A.capture(lm, tok, calibration_text(), tokens, window), keep)


def bases_from(acts: dict, keep: float) -> list:
    """Eigen-KV bases at `keep` from captured activations (`activations.capture`): one capture, many budgets."""
    return kv.fit_bases([torch.from_numpy(k) for k in acts["k"]], [torch.from_numpy(v) for v in acts["v"]], keep)


def method_suite(lm, tok, window: int, calib_tokens: int) -> list:
    """The methods of the Pareto table: KIVI at 8/4/3/2 bits, eigen-KV at 1/2..1/8 of the dimensions (fp16 and
    4-bit coefficients), StreamingLLM and H2O at 1/2..1/16 of the window, and eviction x eigen x 4 bits."""
    acts = A.capture(lm, tok, calibration_text(), calib_tokens, 512)
    fit = {k: bases_from(acts, k) for k in (0.5, 0.25, 0.125)}
    ms = [kv.make("full")]
    ms += [kv.make("kivi", bits=b) for b in (8, 4, 3, 2)]
    ms += [kv.make("eigen", keep=k, bases=fit[k]) for k in (0.5, 0.25, 0.125)]
    ms += [kv.make("eigen", keep=k, bases=fit[k], bits=4) for k in (0.5, 0.25)]
    for f in (2, 4, 8, 16):
        ms += [kv.make("sinks", budget=window // f), kv.make("h2o", budget=window // f, recent=window // (4 * f))]
    for f in (4, 8):
        ms += [kv.make("h2o", budget=window // f, recent=window // (4 * f), store="eigen", keep=0.25,
                       bases=fit[0.25], bits=4)]
    return ms


def kv_sweep(lm, tok, texts: dict, methods, window: int, chunk: int, count: int | None, on_row=None) -> list[dict]:
    full = kv.full_bytes_per_token(lm.config)
    rows = []
    for m in methods:
        for name, text in texts.items():
            r = score.bits_per_byte(lm, tok, text, m, window, chunk, count)
            row = {"method": m.name, "label": m.label, "text": name, "bpb": r["bpb"], "tokens": r["tokens"],
                   "kv_bytes_per_token": r["kv_bytes_per_token"], "ratio": full / r["kv_bytes_per_token"],
                   "seconds": r["seconds"]}
            rows.append(row)
            if on_row:
                on_row(row)
    return rows


def ratio_at(rows: list[dict], tolerance: float) -> list[dict]:
    """Per method family and text: the largest compression ratio whose bits/byte is within `tolerance`
    (relative) of the full cache's on the same text."""
    out = []
    base = {r["text"]: r["bpb"] for r in rows if r["method"] == "full"}
    fams = sorted({(r["method"], r["text"]) for r in rows if r["method"] != "full"})
    for m, t in fams:
        ok = [r for r in rows if r["method"] == m and r["text"] == t and r["bpb"] <= base[t] * (1 + tolerance)]
        best = max(ok, key=lambda r: r["ratio"], default=None)
        out.append({"method": m, "text": t, "tolerance": tolerance, "ratio": best["ratio"] if best else 1.0,
                    "label": best["label"] if best else "-"})
    return out


@torch.no_grad()
def weight_sweep(lm, tok, texts: dict, bits=(4, 3, 2), window: int = 1024, count: int | None = 1) -> list[dict]:
    """The seed's "weights: use INT4, not low rank": every attention/MLP matrix re-quantised to b bits (groups of
    32) against its truncated SVD at the same bytes; held-out bits/byte of each (the shipped weights are Q4_1
    already: the "shipped" row is that)."""
    rows = []
    for name, text in texts.items():
        r = score.bits_per_byte(lm, tok, text, None, window, count=count)
        rows.append({"how": "shipped (Q4_1, de-quantised)", "bits": None, "text": name, "bpb": r["bpb"], "mbytes": None})
    for b in bits:
        for how in ("int", "lowrank"):
            st = A.compress_weights(lm, how, b)
            try:
                for name, text in texts.items():
                    r = score.bits_per_byte(lm, tok, text, None, window, count=count)
                    rows.append({"how": how, "bits": b, "text": name, "bpb": r["bpb"], "mbytes": st["bytes"] / 1e6})
            finally:
                A.restore_weights(lm, st["saved"])
    return rows


@torch.no_grad()
def generation_speed(lm, tok, method, context: int, new_tokens: int = 32, text: str | None = None) -> dict:
    """Prefill `context` tokens through the method's cache, then greedy-generate `new_tokens` one at a time:
    tokens/s of the generation and the bytes the cache holds at the end (and the CUDA peak, on a GPU)."""
    dev = next(lm.parameters()).device
    text = text or eval_texts(["bible-test"])["bible-test"]
    ids = tok(text, add_special_tokens=False)["input_ids"][:context]
    x = torch.tensor([ids], device=dev)
    cache = method.cache(lm.config)
    handles = kv.attach(lm, cache) if method.scores_attention else []
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    try:
        out = None
        for s in range(0, len(ids), 512):
            out = lm(input_ids=x[:, s:s + 512], past_key_values=cache, use_cache=True)
        nxt = out.logits[:, -1:].argmax(-1)
        t0 = time.perf_counter()
        for _ in range(new_tokens):
            out = lm(input_ids=nxt, past_key_values=cache, use_cache=True)
            nxt = out.logits[:, -1:].argmax(-1)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        secs = time.perf_counter() - t0
    finally:
        for h in handles:
            h.remove()
    return {"label": method.label, "context": len(ids), "tokens_per_s": new_tokens / secs, "kv_bytes": cache.nbytes(),
            "cuda_peak_bytes": torch.cuda.max_memory_allocated() if dev.type == "cuda" else None}


def load(name: str, device: str = "cpu"):
    """(lm, tok): a `lab.models` LM by name, or "tiny-random" (lab.models' 2-layer random LLaMA on bytes)."""
    from lab import models

    return models.load_any_lm(name, device)
