"""Experiments behind reports/vortex.md (and the GPU run script), as functions."""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch

from lab import baselines as BL
from lab.vortex import codec
from lab.vortex import train as T
from lab.vortex.model import VortexConfig, VortexModel


def train_model(cfg: VortexConfig, tc: T.TrainConfig, train_bytes: bytes, val_bytes: bytes, device="cpu",
                progress=False):
    torch.manual_seed(tc.seed)
    m = VortexModel(cfg)
    log, vb = T.train(m, train_bytes, tc, device, val_bytes, progress=progress)
    return m, log, vb


def codec_row(model, sha, x: bytes, streams: int, device="cpu", graph: bool | None = None,
              online: dict | None = None) -> dict:
    """Compress and decompress `x` with a trained model, or online (model=None, `online` = its settings;
    CPU, one thread); sizes of the real file, round trip checked."""
    from lab import FormatError

    t0 = time.perf_counter()
    blob = codec.compress(x, model, sha, streams=streams, device=device, graph=graph, online=online)
    t1 = time.perf_counter()
    try:
        ok = codec.decompress(blob, model, sha, device=device, graph=graph) == x
    except FormatError:
        ok = False
    t2 = time.perf_counter()
    name = (f"vortex online ({device}, {streams} streams, no weights)" if model is None else
            f"vortex ({device}, {streams} streams{', eager' if graph is False else ''})")
    return {"codec": name, "bytes": len(x), "compressed": len(blob), "ratio": len(x) / len(blob),
            "bpb": 8 * len(blob) / len(x), "enc KB/s": len(x) / (t1 - t0) / 1e3, "dec KB/s": len(x) / (t2 - t1) / 1e3,
            "round-trip": ok}


def online_row(x: bytes, streams: int, conf: dict | None = None) -> dict:
    """Online mode (no trained weights), round trip verified."""
    return codec_row(None, None, x, streams, online=conf or {})


def baseline_rows(x: bytes) -> list[dict]:
    rows = []
    for name, c in BL.LOSSLESS.items():
        t0 = time.perf_counter()
        b = c.encode(x)
        t1 = time.perf_counter()
        ok = c.decode(b) == x
        t2 = time.perf_counter()
        rows.append({"codec": f"{name} {c.setting}", "bytes": len(x), "compressed": len(b), "ratio": len(x) / len(b),
                     "bpb": 8 * len(b) / len(x),
                     "enc KB/s": len(x) / (t1 - t0) / 1e3, "dec KB/s": len(x) / (t2 - t1) / 1e3, "round-trip": ok})
    return rows


def adjusted(compressed: int, raw: int, params: int, bytes_per_param: float = 2.0) -> dict:
    """Raw rate and the rate with the model's parameters counted (fp16), as in 'Language Modeling Is
    Compression' (Deletang et al., 2024)."""
    model_bytes = params * bytes_per_param
    return {"raw bpb": 8 * compressed / raw, "model bytes (fp16)": model_bytes,
            "adjusted bpb": 8 * (compressed + model_bytes) / raw}


def n_params(cfg: VortexConfig) -> int:
    with torch.device("meta"):
        return VortexModel(cfg).n_params()


def equal_params(cfg: VortexConfig, target: int) -> VortexConfig:
    """`cfg` with d_ff re-solved so that the parameter count is as close to `target` as it can be."""
    per = 2 * cfg.d_model + 1  # parameters per unit of d_ff, per layer
    d_ff = max(1, cfg.d_ff + round((target - n_params(cfg)) / (per * cfg.n_layers)))
    return replace(cfg, d_ff=d_ff)


def ablation_rows(base: VortexConfig, tc: T.TrainConfig, train_bytes, val_bytes, spec: dict, device="cpu") -> list[dict]:
    """Train every variant of `spec` (configs/vortex/ablation.yaml) with the same budget; held-out bits/byte
    teacher-forced over long streams, as the codec sees them."""
    import warnings

    rows, target = [], n_params(base)
    for name, over in spec["variants"].items():
        over = dict(over)
        eq = over.pop("equal_params", spec.get("equal_params", True))
        cfg = replace(base, **over)
        if eq:
            cfg = equal_params(cfg, target)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m, log, vb = train_model(cfg, tc, train_bytes, val_bytes, device)
        tl = [r for r in log if "train_bpb" in r]
        rows.append({"variant": name, "d_model": cfg.d_model, "layers": cfg.n_layers, "d_ff": cfg.d_ff,
                     "context bytes": cfg.context, "params": m.n_params(), "steps": tl[-1]["step"] + 1,
                     "train bpb (last)": tl[-1]["train_bpb"], "held-out bpb": vb})
    return rows


def ablation_note(rows: list[dict]) -> str:
    """What the ablation table says, in a sentence or two (from its numbers)."""
    by = {r["variant"]: r for r in rows}
    best = min(rows, key=lambda r: r["held-out bpb"])
    out = [f"Best held-out: **{best['variant']}** ({best['held-out bpb']:.3f} bits/byte)."]
    if "no memory" in by:
        mem = [r for r in rows if r["variant"].startswith("memory")]
        if mem:
            b = min(mem, key=lambda r: r["held-out bpb"])
            out.append(f"Equal parameters, same training budget: no memory {by['no memory']['held-out bpb']:.3f} in "
                       f"{by['no memory']['steps']} steps vs {b['variant']} {b['held-out bpb']:.3f} in {b['steps']} steps "
                       f"({'the memory pays' if b['held-out bpb'] < by['no memory']['held-out bpb'] else 'the memory does not pay at this budget: its longer context is not learned yet'}).")
    return " ".join(out)


def telemetry(n: int = 200_000, seed: int = 0) -> bytes:
    """The seed's demo data: CSV lines of a few synthetic sensors (periodic signals, drift, noise, events)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n // 40)
    temp = 21 + 3 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 0.05, len(t)).cumsum() * 0.01
    hum = 45 + 10 * np.sin(2 * np.pi * t / 288 + 1) + rng.normal(0, 0.3, len(t))
    pwr = np.where(rng.random(len(t)) < 0.02, 900, 120) + rng.integers(-3, 4, len(t))
    lines = [f"{1700000000 + 10 * i},s{i % 3},{a:.2f},{b:.1f},{int(c)}\n" for i, (a, b, c) in enumerate(zip(temp, hum, pwr))]
    return "".join(lines).encode()[:n]


SPEED_BAR, BPB_BAR = 200.0, 1.6   # KB/s decode on one H100; bits/byte on held-out bible (issue 14)
BAR_TEXTS = ("alice29.txt", "lcet10.txt")


def _streams(codec_name: str) -> int:
    """'vortex (cuda, 512 streams)' -> 512."""
    return int(codec_name.split(",")[1].split()[0])


def by_run(gpu: list[dict]) -> list[dict]:
    """GPU run JSONs in run order (run "10" after "9", "4a" after "4")."""
    import re

    return sorted(gpu, key=lambda g: (int(re.match(r"\d+", str(g["run"])).group()), str(g["run"])))


def english_runs(gpu: list[dict]) -> list[dict]:
    """GPU runs trained on an English mix (lab.corpora) rather than the bible alone."""
    return [g for g in gpu if str(g.get("mix", "bible")).startswith("english")]


def english_rows(gpu: list[dict]) -> tuple[list[dict], list[dict]]:
    """(held-out bible codec rows, Canterbury rows) of the English runs, each beside its bars."""
    bible, texts = [], []
    for g in english_runs(gpu):
        for r in g["codec_rows"]:
            bible.append({"run": g["run"], "mix": g["mix"], "streams": _streams(r["codec"]),
                          "bpb": r["bpb"], "dec KB/s": r["dec KB/s"], "enc KB/s": r["enc KB/s"],
                          "round-trip": r["round-trip"], f"<= {BPB_BAR}": r["bpb"] <= BPB_BAR,
                          f">= {SPEED_BAR:.0f} KB/s": r["dec KB/s"] >= SPEED_BAR})
        for t in g.get("canterbury", []):
            texts.append({"run": g["run"], "file": t["file"], "streams": _streams(t["codec"]),
                          "vortex bpb": t["bpb"], "xz -9e bpb": t["xz bpb"], "vs xz %": (t["bpb"] / t["xz bpb"] - 1) * 100,
                          "bzip2 bpb": t["bzip2 bpb"], "brotli bpb": t["brotli bpb"], "dec KB/s": t["dec KB/s"],
                          "round-trip": t["round-trip"],
                          "32-byte strings seen in training %": 100 * g.get("overlap_32", {}).get(t["file"], float("nan"))})
    return bible, texts


def goals(gpu: list[dict]) -> list[dict]:
    """Issue 14's vortex bars, each from the best measured row (an empty list without English runs)."""
    bible, texts = english_rows(gpu)
    if not bible:
        return []
    out = []
    b = min(bible, key=lambda r: r["bpb"])
    out.append({"goal": "held-out bible through the real codec", "bar": f"<= {BPB_BAR} bits/byte",
                "value": f"{b['bpb']:.3f} (run {b['run']}, {b['streams']} streams)", "met": b["bpb"] <= BPB_BAR})
    both = [r for r in bible if r["bpb"] <= BPB_BAR and r["round-trip"]]
    f = max(both or bible, key=lambda r: r["dec KB/s"])
    out.append({"goal": "decode on one H100 (held-out bible)", "bar": f">= {SPEED_BAR:.0f} KB/s",
                "value": f"{f['dec KB/s']:.0f} KB/s at {f['bpb']:.3f} bits/byte (run {f['run']}, {f['streams']} streams)",
                "met": f["dec KB/s"] >= SPEED_BAR})
    for name in BAR_TEXTS:
        rows = [t for t in texts if t["file"] == name]
        if rows:
            t = min(rows, key=lambda r: r["vortex bpb"])
            out.append({"goal": f"{name} (never trained on) below xz -9e", "bar": f"< {t['xz -9e bpb']:.3f}",
                        "value": f"{t['vortex bpb']:.3f} (run {t['run']}, {t['vs xz %']:+.1f}%)",
                        "met": t["vortex bpb"] < t["xz -9e bpb"]})
    return out


def verdict(gpu: list[dict], cpu_rows: list[dict]) -> str:
    """The report's verdict on the bars, from the GPU run JSONs and this run's CPU rows."""
    lines = []
    if gpu:
        best = min(gpu, key=lambda g: g["codec"]["bpb"])
        bpb = best["codec"]["bpb"]
        xzb = next(b for b in best["baselines"] if b["codec"].startswith("xz"))["bpb"]
        lines.append(
            f"- Goal '>= 20% below xz -9e on held-out English, model trained <= 15 min on one H100': best GPU run "
            f"({best['run']}, {best['train_seconds'] / 60:.1f} min) **{bpb:.3f}** bits/byte vs xz -9e {xzb:.3f} "
            f"({(bpb / xzb - 1) * 100:+.1f}%): **{'met' if bpb <= 0.8 * xzb else 'missed'}**.")
    g14 = goals(gpu)
    for g in g14:
        lines.append(f"- {g['goal']}, {g['bar']}: **{g['value']}**: **{'met' if g['met'] else 'missed'}**.")
    if g14:
        missed = [g for g in g14 if not g["met"]]
        longest = max(english_runs(gpu), key=lambda g: g["train_seconds"])
        lines.append(
            "- What changed: more English than one book (`lab.corpora`: the GCIDE dictionary, WordNet glosses, the "
            "Python docs, TinyStories and bible's train split; 67 MB against 3.5 MB) removes the memorisation that "
            "capped the bible-only runs (validation still falling at the end of the schedule), and a shallower, "
            "wider model (4 x 512 instead of 8 x 384: half the kernels a step, reports/vortex_gpu/speed.json) "
            "decodes faster and trains 2.3x faster per byte; the longest schedule (run "
            f"{longest['run']}: {longest['train_seconds'] / 60:.1f} min"
            f"{' over two device calls, the training state kept on the warm machine' if longest.get('resumed') else ''}"
            ") gives the lowest rates. "
            + ("What is left: " + "; ".join(
                f"{g['goal']} ({g['value']})" for g in missed) + ": the mix holds almost no narrative prose in "
               "mixed case (TinyStories is lowercased), which is what alice29 is; a fiction corpus that installs "
               "from a registry, or a longer schedule (validation was still falling), is what would close it."
               if missed else "Every bar is met."))
    elif gpu:
        lines.append("- The bible-only model memorises its 3.5 MB within minutes and does not transfer to other "
                     "English (Canterbury rows: worse than gzip).")
    lines += [
        f"- CPU: {cpu_rows[0]['dec KB/s']:.1f} KB/s decode with the small CPU model ({cpu_rows[0]['bpb']:.3f} bits/byte), "
        f"{cpu_rows[1]['dec KB/s']:.1f} KB/s online ({cpu_rows[1]['bpb']:.3f} bits/byte, no weights).",
        "- With the model's parameters counted the rate is far above every classic compressor at these data sizes "
        "(adjusted table): a pretrained codec pays only when its model is amortised over much more data; online mode "
        "pays nothing for weights but starts from nothing and runs at CPU speed."]
    return "\n".join(lines)


def plot_curve(log, ax=None, label=None):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    tl = [r for r in log if "train_bpb" in r]
    line, = ax.plot([r["seconds"] for r in tl], [r["train_bpb"] for r in tl], label=label)
    vl = [r for r in log if "val_bpb" in r and not r.get("selected")]
    if vl:
        ax.plot([r["seconds"] for r in vl], [r["val_bpb"] for r in vl], "o--", color=line.get_color(), ms=3,
                label=f"{label} (validation)" if label else None)
    ax.set_xlabel("seconds")
    ax.set_ylabel("bits/byte")
    ax.grid(alpha=0.3)
    return ax

