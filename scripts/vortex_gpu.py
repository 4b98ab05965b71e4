"""The GPU run behind reports/vortex.md: train on one CUDA device within a time budget (resumable across
device calls), evaluate held-out bits/byte, run the real codec on CUDA (every row round-trip verified) at
several stream counts, on held-out bible and on Canterbury texts never used in training, beside the classic
compressors on the same bytes.

    python scripts/vortex_gpu.py --config configs/vortex/gpu.yaml --out $OUT --name run4 \
        --state outputs/vortex_state.pt --stop-after 420     # first device call: trains, saves the state, exits
    python scripts/vortex_gpu.py ... (without --stop-after)  # second call: resumes, trains to time_limit, evaluates
Writes <name>.json and prints the log into --out.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch


from lab import corpora, data  # noqa: E402
from lab.vortex import codec  # noqa: E402
from lab.vortex import study as S  # noqa: E402
from lab.vortex import train as T  # noqa: E402
from lab.vortex.model import VortexConfig, VortexModel  # noqa: E402
from lab.vortex.stepper import Stepper  # noqa: E402
from lab.report import machine  # noqa: E402

CANTERBURY_TEXTS = ["alice29.txt", "lcet10.txt", "asyoulik.txt", "plrabn12.txt"]


def selftest(dev: str) -> dict:
    """Before spending the budget: the CUDA graph step equals the eager step, and the codec round-trips."""
    torch.manual_seed(0)
    cfg = VortexConfig(d_model=64, n_layers=2, n_heads=4, d_ff=128, segment=16, recent=32, longterm=16, rate=4)
    m = VortexModel(cfg).to(dev).eval()
    x = torch.randint(0, 256, (8, 6 * cfg.segment), device=dev)
    a, b = Stepper(m, 8, dev, graph=True), Stepper(m, 8, dev, graph=False)
    same = True
    for t in range(x.shape[1]):
        a.prev.copy_(x[:, t])
        b.prev.copy_(x[:, t])
        same &= bool(torch.equal(a.step(), b.step()))
    # the step against the teacher-forced forward (bf16 on CUDA: close, not equal)
    inp = torch.cat([torch.full((8, 1), 32, device=dev), x[:, :-1]], dim=1)
    with torch.no_grad():
        st, full = m.init_state(), []
        for s0 in range(0, inp.shape[1], cfg.segment):
            lg, st = m.forward_segment(inp[:, s0:s0 + cfg.segment], st)
            full.append(torch.softmax(lg.float(), -1))
        full = torch.cat(full, dim=1)
        c = Stepper(m, 8, dev)
        worst = 0.0
        for t in range(inp.shape[1]):
            c.prev.copy_(inp[:, t])
            p = torch.diff(c.step().double(), dim=-1) / 65536
            worst = max(worst, float((p - full[:, t]).abs().max()))
    text = data.read_split("canterbury-large", "test")[:3000]
    blob = codec.compress(text, m, "0" * 64, streams=5, device=dev)
    ok = codec.decompress(blob, m, "0" * 64, device=dev) == text
    return {"graph_equals_eager": same, "roundtrip": ok, "max_prob_diff_vs_forward": worst}


def determinism(model, text: bytes, dev: str, B: int = 128, nseg: int = 2) -> dict:
    """Run the step on the same bytes in fresh Steppers; count CDF rows that differ (graph vs graph, eager
    vs eager, graph vs eager). The codec needs the first two to be zero."""
    import numpy as np

    S = model.cfg.segment
    a = np.frombuffer(text[: B * S * nseg], np.uint8).reshape(B, S * nseg).astype(np.int64)
    x = torch.from_numpy(a).to(dev)

    def run(graph):
        stp, out = Stepper(model, B, dev, graph=graph), []
        for t in range(x.shape[1]):
            stp.prev.copy_(x[:, t])
            out.append(stp.step().clone())
        return torch.stack(out)

    g1, g2, e1, e2 = run(True), run(True), run(False), run(False)
    rows = lambda u, v: int((u != v).any(dim=-1).sum())  # noqa: E731
    return {"graph_vs_graph": rows(g1, g2), "eager_vs_eager": rows(e1, e2), "graph_vs_eager": rows(g1, e1),
            "rows": int(g1.shape[0] * g1.shape[1])}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/vortex/gpu.yaml")
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default="run")
    ap.add_argument("--state", default="outputs/vortex_state.pt", help="training state kept between device calls")
    ap.add_argument("--stop-after", type=float,
                    help="seconds of training in this call, then save the state and exit (a later call resumes)")
    ap.add_argument("--codec-bytes", type=int, default=400_000)
    ap.add_argument("--streams", default="128,512")
    ap.add_argument("--text-streams", default="128", help="streams per Canterbury text (one value, or one per text)")
    ap.add_argument("--texts", type=int, default=4, help="how many Canterbury texts to code")
    ap.add_argument("--time-limit", type=float, help="seconds for the whole schedule (overrides the config)")
    ap.add_argument("--select-bytes", type=int, default=131072,
                    help="validation bytes carved from the end of the training parts for early stopping (0: none)")
    ap.add_argument("--overlap-from", help="a previous run's JSON: reuse its overlap figures when its mix "
                                           "composition (parts and sha256s) is the same")
    ap.add_argument("--mix", default="bible", choices=sorted(corpora.MIXES),
                    help="training text (lab.corpora.MIXES); the held-out texts are in none")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    st = selftest(dev)
    print("selftest", st, flush=True)
    if not st["roundtrip"] or st["max_prob_diff_vs_forward"] > 0.02:
        return 3
    mc, tc = T.load_yaml(args.config)
    if args.time_limit:
        tc = dataclasses.replace(tc, time_limit=args.time_limit)
    torch.manual_seed(1)
    big = VortexModel(mc).to(dev).eval()
    det0 = determinism(big, data.read_split("canterbury-large", "test"), dev)
    print("determinism (random init)", det0, flush=True)
    del big
    test = data.read_split("canterbury-large", "test")
    fit, select, composition = corpora.mix(args.mix, args.select_bytes)
    select = select or None
    t_ov = time.time()
    overlap = None
    if args.overlap_from:        # the same mix (every part's sha256 equal) has the same overlap
        prev = json.loads(Path(args.overlap_from).read_text())
        if prev.get("composition") == composition:
            overlap = prev["overlap_32"]
            print(f"overlap from {args.overlap_from} (same parts, same sha256s)", flush=True)
    if overlap is None and not args.stop_after:   # an intermediate call writes no results
        seen = corpora.Overlap(fit)
        overlap = {name: seen(text) for name, text in corpora.held_out().items()}
        del seen
    print(f"mix {args.mix}: {len(fit):,} bytes {composition}; 32-byte overlap with held-out texts {overlap} "
          f"({time.time() - t_ov:.0f} s)", flush=True)
    Path(args.state).parent.mkdir(parents=True, exist_ok=True)
    resumed = Path(args.state).exists()
    torch.manual_seed(tc.seed)
    model = VortexModel(mc)
    t0 = time.time()
    log, vb = T.train(model, fit, tc, dev, test, progress=False, resume=args.state, save_state=args.state,
                      stop_after=args.stop_after, select=select)
    print(f"trained in this call {time.time() - t0:.0f} s; "
          f"teacher-forced held-out {vb:.4f}; log tail {log[-3:]}", flush=True)
    if args.stop_after:
        print(f"state saved to {args.state}; the next call (without --stop-after) resumes", flush=True)
        return 0
    sha = T.save(model, "outputs/vortex_ckpt", {"train_log": log})
    x = test[: args.codec_bytes]
    det = determinism(model, test, dev)
    print("determinism (trained)", det, flush=True)
    rows = []
    for b in [int(s) for s in args.streams.split(",")]:
        rows.append(S.codec_row(model, sha, x, b, dev))
        print(rows[-1], flush=True)
        if not rows[-1]["round-trip"]:
            rows.append(S.codec_row(model, sha, x, b, dev, graph=False))
            print(rows[-1], flush=True)
    def dump(texts):
        res = {"device": machine()["device"], "machine": machine(),
               "torch": torch.__version__, "command": " ".join(sys.argv), "selftest": st,
               "determinism": {"random_init": det0, "trained": det}, "resumed": resumed,
               "config": mc.to_dict(), "train": tc.__dict__, "train_bytes": len(fit),
               "mix": args.mix, "composition": composition, "overlap_32": overlap,
               "select_bytes": len(select or b""), "params": model.n_params(),
               "train_seconds": max(r["seconds"] for r in log),
               "steps": max(r["step"] for r in log if "train_bpb" in r) + 1,
               "selected_step": next((r["step"] for r in log if r.get("selected")), None),
               "heldout_bpb_teacher_forced": vb, "heldout_bytes": len(test), "codec": rows[0], "codec_rows": rows,
               "baselines": base_x, "canterbury": texts,
               "adjusted": S.adjusted(rows[0]["compressed"], len(x), model.n_params()), "train_log": log}
        (out / f"{args.name}.json").write_text(json.dumps(res, indent=1, default=float))
        return res

    base_x = S.baseline_rows(x)
    dump([])
    texts = []
    graph = None if rows[0]["round-trip"] else False
    ts = [int(v) for v in args.text_streams.split(",")]
    for i, name in enumerate(CANTERBURY_TEXTS[: args.texts if ts[0] else 0]):
        t = data.path("canterbury", name).read_bytes()
        r = S.codec_row(model, sha, t, ts[min(i, len(ts) - 1)], dev, graph=graph)
        base = {row["codec"].split()[0]: row["bpb"] for row in S.baseline_rows(t)}
        texts.append({"file": name, **r, **{f"{k} bpb": v for k, v in base.items()}})
        print(texts[-1], flush=True)
        dump(texts)
    res = dump(texts)
    print(json.dumps({k: v for k, v in res.items() if k not in ("train_log", "canterbury")}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
