"""Can SmolLM2 + LoRA learn to read ONE vector at all? A sanity probe for stage 2 of the optical reader (issue 9).

Each example is a snippet of `--chars` characters of English; its "vision token" is an *oracle* code that holds
the snippet exactly and linearly: `--chars` blocks of 384 / chars numbers, one fixed random code per character
class and position (no encoder, no rendering). The LM reads it through the same `LMReader` (projector + LoRA)
and training loop settings as stage 2. Conditions, each from the same initial weights:

  oracle        the snippet's own code                   (a reader should reach ~100%)
  oracle-mlp    the same through LLaVA-1.5's MLP projector
  shuffled      the code of another snippet               (the LM's prior: the floor)

If `oracle` reads and the real encoder's tokens do not (GPU runs 22-25), the obstacle is the tokens'
representation, not the loop; if `oracle` does not read either, the loop is at fault.

    python scripts/optical_probe.py --text bible.txt --device cuda --steps 400 --out probe.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from lab.report import machine  # noqa: E402



def edit_precision(p: str, r: str) -> float:
    """1 - Levenshtein(p, r) / max(len): the report's precision, without its dependencies."""
    if not p and not r:
        return 1.0
    prev = list(range(len(r) + 1))
    for i, a in enumerate(p, 1):
        cur = [i]
        for j, b in enumerate(r, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a != b)))
        prev = cur
    return 1.0 - prev[-1] / max(len(p), len(r))


def snippets(text: str, n: int, k: int, rng) -> list[str]:
    t = " ".join(text.split())
    starts = rng.integers(0, len(t) - k, n)
    return [t[s:s + k] for s in starts]


def codes(snips: list[str], k: int, dim: int, seed: int = 7) -> torch.Tensor:
    """(B, 1, dim): per position a block of dim // k numbers, a fixed Gaussian code per printable character."""
    g = np.random.default_rng(seed)
    block = dim // k
    table = g.standard_normal((k, 96, block)).astype(np.float32)
    out = np.zeros((len(snips), 1, dim), np.float32)
    for i, s in enumerate(snips):
        for j, c in enumerate(s[:k]):
            cls = min(max(ord(c) - 32, 0), 95)
            out[i, 0, j * block:(j + 1) * block] = table[j, cls]
    return torch.from_numpy(out)


def run(cond: str, lm_name: str, text_train: str, text_test: str, a) -> dict:
    from lab import models
    from lab.optical.decoder import LMReader, LoraSpec

    dev = torch.device(a.device)
    torch.manual_seed(0)
    lm, tok = models.load_lm(lm_name, a.device)
    spec = LoraSpec(r=16, alpha=32, dropout=0.05, targets=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                           "up_proj", "down_proj"),
                    projector="mlp" if cond == "oracle-mlp" else "linear")
    reader = LMReader(lm, tok, a.dim, spec).to(dev).train()
    if a.full:                                   # every LM weight learns too (not only the adapter)
        for n, p in reader.lm.named_parameters():
            p.requires_grad_(True)
    params = [p for p in reader.parameters() if p.requires_grad]
    proj = {id(p) for p in reader.projector.parameters()}
    opt = torch.optim.AdamW([{"params": [p for p in params if id(p) not in proj], "lr": a.lr},
                             {"params": [p for p in params if id(p) in proj], "lr": a.proj_lr}], weight_decay=0.0)
    rng = np.random.default_rng(1)
    auto = torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else torch.autocast("cpu", enabled=False)
    log, t0 = [], time.time()
    for step in range(a.steps):
        s = snippets(text_train, a.batch, a.chars, rng)
        v = codes(s, a.chars, a.dim)
        if cond == "shuffled":
            v = v[torch.randperm(len(s))]
        warm = min(1.0, (step + 1) / 20)
        for g, base in zip(opt.param_groups, (a.lr, a.proj_lr)):
            g["lr"] = base * warm
        with auto:
            loss = reader.loss(v.to(dev), s)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if (step + 1) % 25 == 0:
            log.append({"step": step + 1, "loss": round(loss.item(), 4), "seconds": round(time.time() - t0, 1)})
            print(cond, log[-1], flush=True)
    reader.eval()
    test = snippets(text_test, a.eval, a.chars, np.random.default_rng(2))
    outs = []
    for i in range(0, len(test), 32):
        with auto:
            outs += reader.generate(codes(test[i:i + 32], a.chars, a.dim).to(dev), max_new_tokens=3 * a.chars)
    prec = [edit_precision(o.strip(), r.strip()) for o, r in zip(outs, test)]
    return {"condition": cond, "steps": a.steps, "batch": a.batch, "chars": a.chars, "lr": a.lr, "proj_lr": a.proj_lr, "full": a.full,
            "train_seconds": round(time.time() - t0, 1), "log": log, "precision": float(np.mean(prec)),
            "exact": float(np.mean([o.strip() == r.strip() for o, r in zip(outs, test)])),
            "examples": [{"ref": r, "out": o} for r, o in list(zip(test, outs))[:8]]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--text", required=True, help="English text: the first 90%% trains, the last 10%% tests")
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--conditions", default="oracle,shuffled,oracle-mlp")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--chars", type=int, default=12)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--lr", type=float, default=6e-4)
    ap.add_argument("--proj-lr", type=float, default=2e-3)
    ap.add_argument("--eval", type=int, default=128)
    ap.add_argument("--full", action="store_true", help="fine-tune every LM weight as well as the adapter")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    t = Path(a.text).read_text(encoding="utf-8", errors="replace")
    cut = int(len(t) * 0.9)
    res = {"command": " ".join(sys.argv), "device": machine()["device"] if a.device == "cuda" else "cpu", "machine": machine(),
           "runs": []}
    for cond in a.conditions.split(","):
        res["runs"].append(run(cond, a.model, t[:cut], t[cut:], a))
        r = res["runs"][-1]
        print(f"{cond}: precision {r['precision']:.3f}, exact {r['exact']:.3f}, last loss {r['log'][-1]['loss'] if r['log'] else None}",
              flush=True)
        Path(a.out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
