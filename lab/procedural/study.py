"""The experiments behind reports/procedural.md, as functions the notebook calls and tests can reach."""
from __future__ import annotations

import time

from lab import baselines as BL
from lab import data
from lab.procedural import machine as M

ABLATIONS = {"literal only": "", "full machine": "CRTX", "without COPY": "RTX", "without REPEAT": "CTX",
             "without TEMPLATE": "CRX", "without TRANSFORM": "CRT"}


def tinystories_lines(n: int) -> tuple[bytes, str]:
    """The first n lines of the TinyStories sample (or of bible.txt when it is missing, said so)."""
    try:
        text = data.path("tinystories", "tinystories.txt").read_bytes()
        src = f"TinyStories, first {n:,} lines"
    except data.DataError:
        text = data.path("canterbury-large", "bible.txt").read_bytes()
        src = f"FALLBACK bible.txt, first {n:,} lines (TinyStories not found)"
    lines = text.split(b"\n")
    return b"\n".join(lines[:n]) + (b"\n" if len(lines) > n else b""), src


def operator_rows(corpora: dict[str, bytes]) -> list[dict]:
    """Times each operator is used and bits saved per use (vs the CM's price of the same bytes), from the
    real coded bits of the operator program (fallback off, so the operators are visible)."""
    rows = []
    for name, d in corpora.items():
        _, stats = M.explain(d, M.MachineParams(fallback=False))
        for op in ("COPY", "REPEAT", "TEMPLATE", "TRANSFORM", "LITERAL"):
            s = stats.get(op, {"uses": 0, "bytes": 0, "bits": 0.0, "saved_bits": 0.0, "saved_per_use": 0.0})
            rows.append({"corpus": name, "operator": op, "uses": s["uses"], "bytes covered": int(s["bytes"]),
                         "bits": s["bits"], "bits saved per use": s["saved_per_use"] if op != "LITERAL" else float("nan"),
                         "bits saved total": s["saved_bits"] if op != "LITERAL" else float("nan")})
        t = stats["total"]
        rows.append({"corpus": name, "operator": f"(templates used {t['templates_used']}/{t['templates_learned']}, "
                                                f"rules used {t['rules_used']}/{t['rules_learned']})",
                     "uses": float("nan"), "bytes covered": len(d), "bits": 8.0 * t["stream_bytes"],
                     "bits saved per use": float("nan"), "bits saved total": float("nan")})
    return rows


def ablation_rows(corpora: dict[str, bytes]) -> list[dict]:
    """Bits per character of real, round-trip-verified files for each operator set (fallback off)."""
    rows = []
    for name, d in corpora.items():
        row = {"corpus": name, "bytes": len(d)}
        for label, ops in ABLATIONS.items():
            blob = M.compress(d, M.MachineParams(ops=ops, fallback=False))
            assert M.decompress(blob) == d, (name, label)
            row[label] = 8 * len(blob) / len(d)
        row["machine (default, with fallback)"] = 8 * len(M.compress(d)) / len(d)
        rows.append(row)
    return rows


def _timed(f, *a):
    t0 = time.perf_counter()
    r = f(*a)
    return r, time.perf_counter() - t0


ENGLISH = ("alice29.txt", "asyoulik.txt", "lcet10.txt", "plrabn12.txt", "bible.txt")


def baseline_rows(files: dict[str, bytes], strong=("ppmd", "zpaq")) -> list[dict]:
    """bpc and encode/decode MB/s of the machine, gzip/bzip2/xz/zstd/brotli and the context-modelling
    compressors in `strong` (7-Zip PPMd, zpaq -m5), all round-trip-verified."""
    codecs = {**BL.LOSSLESS, **{k: BL.STRONG[k] for k in strong}}
    rows = []
    for name, d in files.items():
        n = len(d)
        blob, te = _timed(M.compress, d)
        back, td = _timed(M.decompress, blob)
        rows.append({"file": name, "codec": "machine", "bytes": n, "compressed": len(blob), "bpc": 8 * len(blob) / n,
                     "enc MB/s": n / te / 1e6, "dec MB/s": n / td / 1e6, "round-trip": back == d})
        for cname, c in codecs.items():
            b, te = _timed(c.encode, d)
            back, td = _timed(c.decode, b)
            rows.append({"file": name, "codec": f"{cname} {c.setting}", "bytes": n, "compressed": len(b),
                         "bpc": 8 * len(b) / n, "enc MB/s": n / te / 1e6, "dec MB/s": n / td / 1e6,
                         "round-trip": back == d})
    return rows


def ppmd_rows(rows) -> list[dict]:
    """Issue 14's bar: the machine against 7-Zip PPMd (and zpaq -m5, the stretch) on English texts >= 100 KB."""
    by = {(r["file"], r["codec"].split()[0]): r for r in rows}
    out = []
    for f in ENGLISH:
        m, p, z = by.get((f, "machine")), by.get((f, "ppmd")), by.get((f, "zpaq"))
        if m and p and m["bytes"] >= 100_000:
            zb = z["bpc"] if z else float("nan")
            out.append({"file": f, "bytes": m["bytes"], "machine bpc": m["bpc"], "PPMd bpc": p["bpc"],
                        "zpaq -m5 bpc": zb, "below PPMd": m["bpc"] < p["bpc"], "below zpaq": m["bpc"] < zb})
    return out


def pivot_bpc(rows) -> list[dict]:
    out = {}
    for r in rows:
        out.setdefault(r["file"], {"file": r["file"]})[r["codec"].split()[0]] = r["bpc"]
    return list(out.values())


GOALS = {"alice29.txt": 2.272, "lcet10.txt": 2.019, "bible.txt": 1.671}


def goal_rows(rows) -> list[dict]:
    bz = {r["file"]: r["bpc"] for r in rows if r["codec"].startswith("bzip2")}
    m = {r["file"]: r for r in rows if r["codec"] == "machine"}
    out = []
    for f, ref in GOALS.items():
        if f in m:
            out.append({"file": f, "machine bpc": m[f]["bpc"], "bzip2 -9 bpc (this run)": bz.get(f, float("nan")),
                        "goal (bzip2, data README)": ref, "margin bpc": m[f]["bpc"] - bz.get(f, ref),
                        "met": m[f]["bpc"] < bz.get(f, ref)})
    return out


def verdicts(op_rows, abl_rows, base_rows) -> list[str]:
    v = []
    # seed claim 1: the machine gains over literal-only coding
    for r in abl_rows:
        gain = 100 * (r["literal only"] - r["full machine"]) / r["literal only"]
        v.append(f"- {r['corpus']}: literal-only {r['literal only']:.3f} bpc -> full machine {r['full machine']:.3f} "
                 f"bpc ({gain:+.1f}% of the literal cost saved by operators). The seed's 6.3% (2.97 -> 2.79) came "
                 f"against a weak literal model; against a context-mixing literal model the operators' share is "
                 f"{'smaller' if gain < 6.3 else 'comparable or larger'}.")
    tm = [r for r in op_rows if r["operator"] == "TEMPLATE"]
    used = sum(r["uses"] for r in tm)
    v.append(f"- TEMPLATE: learned on every corpus, used {used} times in total at the default operator price; "
             "frames around a slot are predicted almost for free by the literal model's order-2..6 contexts, "
             "so templates rarely pay for their id and table entry.")
    tr = [r for r in op_rows if r["operator"] == "TRANSFORM" and r["uses"]]
    if tr:
        v.append("- TRANSFORM (walk -> walked): " + "; ".join(
            f"{r['corpus']}: {r['uses']} uses, {r['bits saved per use']:+.2f} bits/use" for r in tr) + ".")
    goals = goal_rows(base_rows)
    if goals:
        v.append("- Below bzip2 -9: " + "; ".join(
            f"{g['file']} {g['machine bpc']:.3f} vs {g['bzip2 -9 bpc (this run)']:.3f} ({'met' if g['met'] else 'missed'})"
            for g in goals) + ".")
    pp = ppmd_rows(base_rows)
    if pp:
        v.append("- Issue 14, below 7-Zip PPMd (order 32) on every English text of 100 KB or more: " + "; ".join(
            f"{r['file']} {r['machine bpc']:.3f} vs {r['PPMd bpc']:.3f}" for r in pp)
            + f": **{'met' if all(r['below PPMd'] for r in pp) else 'missed'}**. zpaq -m5 (the stretch): " + "; ".join(
            f"{r['file']} {r['zpaq -m5 bpc']:.3f}" for r in pp) + ": "
            + ("below on every one." if all(r["below zpaq"] for r in pp) else
               "not reached (zpaq's many mixed models and SSE chains stay ahead).")
            + " What closed PPMd: a match model inside the literal model (the byte that followed the last "
            "occurrence of the current 6-byte context, with a confidence learned per match length), mixer weights "
            "chosen by the match state and a slower mixer. With it the literal-only stream is smaller than the "
            "program on the English texts: the operators' savings no longer cover their flags and ids.")
    speed = [r for r in base_rows if r["codec"] == "machine" and r["bytes"] >= 100_000]
    if speed:
        enc = min(r["enc MB/s"] for r in speed)
        dec = min(r["dec MB/s"] for r in speed)
        v.append(f"- Speed goal (>= 0.5 MB/s both ways, files of 100 KB or more; smaller files are dominated by the "
                 f"model's fixed set-up): slowest file encodes at {enc:.2f} MB/s and decodes at "
                 f"{dec:.2f} MB/s in one warm process (the C coder; section 3b has the whole process): "
                 + ("met." if min(enc, dec) >= 0.5 else "missed (the literal model runs for every byte in both "
                    "directions)."))
    return v
