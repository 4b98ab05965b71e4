"""An answering model that answers: SmolLM2 + LoRA fine-tuned on extractive questions made from the *training*
documents' pages, in the answerer's own prompt (`qa.answer.prompt`), the loss on the answer tokens only; scored
on pages of the held-out documents (`qa.study`), so no question it is scored on comes from a page it saw.

    items = training_items(pages=2000, seed=0)        # [(context, question, answer)] from the train documents
    lm, rec = finetune(lm, tok, items, FinetuneConfig(), seconds=300)   # LoRA (peft) on every linear layer
    save_adapter(lm, "models/optical-qa-lora", rec)   # fp16 safetensors + adapter.json (config, curve, sha256)
    lm = load_adapter(base_lm, "models/optical-qa-lora")

Kinds: qa.questions' extractive ones (cloze, follows, who, number) and unanswerable (a question from another
document's page: the answer is NO_ANSWER); the whole-page summaries are left out.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from lab import FormatError
from lab.optical.qa import questions as Q
from lab.optical.qa.answer import prompt

KINDS = ("cloze", "follows", "who", "number", "unanswerable")
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
FORMAT = "optical-qa-lora/1"


@dataclass(frozen=True)
class FinetuneConfig:
    r: int = 16
    alpha: int = 32
    lr: float = 5e-4              # peak, after `warmup` steps, cosine to 10% over `steps` (or the time limit's guess)
    warmup: int = 20
    steps: int = 2000
    tokens: int = 16384           # tokens a step (prompt + answer, padding included)
    max_tokens: int = 1024        # longer items are cut from the context's end
    seed: int = 0


def training_pages(n: int, seed: int = 0, chars: int = 2800) -> list[tuple[str, str, str]]:
    """n (page id, document, text) chunks of ~`chars` characters of whole paragraphs from the optical page
    corpus's *train* prose documents, documents chosen in proportion to their length, places seeded."""
    from lab import data
    from lab.optical.corpus import paragraphs

    docs = [(name, paragraphs(text)) for name, text, kind in data.page_documents("train") if kind == "text"]
    w = np.array([sum(map(len, p)) for _, p in docs], float)
    rng = np.random.default_rng([seed, 11])
    out = []
    for k in range(n):
        name, paras = docs[int(rng.choice(len(docs), p=w / w.sum()))]
        i, chunk = int(rng.integers(len(paras))), []
        while sum(map(len, chunk)) < chars and i < len(paras):
            chunk.append(paras[i])
            i += 1
        out.append((f"{name}@{k}", name, "\n".join(chunk)))
    return out


def training_items(pages: int, seed: int = 0, per_page: int = 4) -> list[tuple[str, str, str]]:
    """(context, question, answer) triplets from `training_pages` (qa.questions, `who` also where the speaker is
    named first; the summary kind left out)."""
    ps = training_pages(pages, seed)
    text = {pid: t for pid, _, t in ps}
    return [(text[q.page], q.question, q.answer)
            for q in Q.questions(ps, seed=seed, per_page=per_page, speaker_first=True) if q.kind in KINDS]


def encode(tok, context: str | None, question: str, answer: str, max_tokens: int = 1024) -> tuple[list[int], int]:
    """Token ids of prompt + " answer" + <|im_end|>, and how many of them are the prompt. A prompt too long for
    `max_tokens` loses the end of its context (the question and answer are kept)."""
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    ans = tok(" " + answer, add_special_tokens=False)["input_ids"][: max_tokens // 4] + [eos]
    p = tok(prompt(context, question), add_special_tokens=False)["input_ids"]
    over = len(p) + len(ans) - max_tokens
    if over > 0 and context:
        ctx_ids = tok(context, add_special_tokens=False)["input_ids"]
        p = tok(prompt(tok.decode(ctx_ids[: max(0, len(ctx_ids) - over - 8)]), question),
                add_special_tokens=False)["input_ids"]
    return p + ans, len(p)


def batches(encoded: list[tuple[list[int], int]], tokens: int, rng) -> list[list[int]]:
    """Index lists of items whose padded length x count stays within `tokens`: items sorted by length within
    random pools of 256, then the batches shuffled."""
    order = rng.permutation(len(encoded))
    out = []
    for i in range(0, len(order), 256):
        pool = sorted(order[i:i + 256], key=lambda j: len(encoded[j][0]))
        cur, longest = [], 0
        for j in pool:
            n = len(encoded[j][0])
            if cur and max(longest, n) * (len(cur) + 1) > tokens:
                out.append(cur)
                cur, longest = [], 0
            cur.append(int(j))
            longest = max(longest, n)
        if cur:
            out.append(cur)
    return [out[k] for k in rng.permutation(len(out))]


def add_lora(lm, cfg: FinetuneConfig):
    from lab.optical.decoder import with_lora

    return with_lora(lm, cfg.r, cfg.alpha, TARGETS)


def kept_logits(model, input_ids, keep):
    """The LM head only at the positions `keep` marks ([n, vocab]): the decoder's hidden states, then the head on
    the kept rows (transformers' boolean logits_to_keep is not in every version)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    h = base.model(input_ids=input_ids).last_hidden_state
    return base.lm_head(h[keep])


def finetune(lm, tok, items: list[tuple], cfg: FinetuneConfig = FinetuneConfig(), seconds: float | None = None,
             progress=None):
    """LoRA fine-tuning of `lm` on (context, question, answer) items: answer-only cross-entropy, token-budget
    batches, AdamW with warm-up and a cosine over cfg.steps, bf16 autocast on CUDA; stops after cfg.steps or
    `seconds`. -> (the peft model, a record: steps, examples, seconds, loss curve).

    Under torchrun (lab.optical.distributed) every rank draws the same global batches and takes its share of
    each (items rank, rank + world, ...); its answer tokens' summed cross-entropy is divided by the global count
    and the gradients summed across ranks, so the steps are those of one process holding the whole batch; the
    time limit stops every rank as soon as any rank's clock passes it. `cfg.tokens` stays the global batch's budget."""
    import torch

    from lab.optical import distributed as D

    rank, world = D.rank_world()
    torch.manual_seed(cfg.seed)
    model = add_lora(lm, cfg)
    dev = next(model.parameters()).device
    rng = np.random.default_rng([cfg.seed, 5])
    enc = [encode(tok, c, q, a, cfg.max_tokens) for c, q, a in items]
    if not enc:
        raise ValueError("no training items")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0, betas=(0.9, 0.98))
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    model.train()
    rec = {"config": asdict(cfg), "items": len(items), "curve": [], "examples": 0, "steps": 0}
    t0, step = time.time(), 0
    curve = Curve(rec, t0, progress)

    def out_of_time() -> bool:
        late = float(seconds is not None and time.time() - t0 >= seconds)
        return bool(D.all_sum([late], dev, op="max")[0])     # any rank past the limit stops every rank

    while step < cfg.steps and not out_of_time():
        for batch in batches(enc, cfg.tokens, rng):
            if step >= cfg.steps or out_of_time():
                break
            b = batch[rank::world]                   # this rank's share (all of it on one process)
            f = lr_factor(step, cfg.warmup, cfg.steps)
            for g in opt.param_groups:
                g["lr"] = cfg.lr * f
            loss_sum, mine = torch.zeros((), device=dev), 0.0
            if b:
                L = max(len(enc[j][0]) for j in b)
                x = torch.full((len(b), L), eos, dtype=torch.long)
                y = torch.full((len(b), L), -100, dtype=torch.long)
                for r, j in enumerate(b):
                    ids, n_p = enc[j]
                    x[r, :len(ids)] = torch.tensor(ids)
                    y[r, n_p:len(ids)] = torch.tensor(ids[n_p:])
                # logits only where the next token is an answer token (kept_logits):
                # the vocabulary head over every prompt position would be ~99% of the logits, GBs at 16k tokens
                keep = torch.zeros_like(y, dtype=torch.bool)
                keep[:, :-1] = y[:, 1:] != -100
                tgt = y[:, 1:][keep[:, :-1]].to(dev)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                    logits = kept_logits(model, x.to(dev), keep.to(dev))
                loss_sum = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tgt,
                                                             reduction="sum")
                mine = float(tgt.numel())
            # the global batch's answer tokens and summed loss, in one collective
            n_tokens, loss_g = D.all_sum([mine, float(loss_sum.detach())], dev)
            opt.zero_grad(set_to_none=True)
            if b:
                (loss_sum / max(n_tokens, 1.0)).backward()
            D.sum_gradients(params)
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            rec["examples"] += len(batch)
            curve.add(step, loss_g / max(n_tokens, 1.0), f, last=step == cfg.steps)
    rec.update(steps=step, seconds=round(time.time() - t0, 1))
    model.eval()
    return model, rec


def lr_factor(step: int, warmup: int, steps: int) -> float:
    """The fine-tunings' schedule: linear warm-up over `warmup` steps, then a cosine to 10% at `steps`."""
    return min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / steps))))


def fit(groups: list[tuple[list, float]], step_loss, rec: dict, warmup: int, steps: int, seconds: float | None = None,
        progress=None) -> dict:
    """One process's fine-tuning loop (the pooled reader's, the vision answering reader's): AdamW over
    `groups` of (parameters, peak learning rate) on lr_factor's schedule, `step_loss(step)` -> (mean loss, examples)
    of one batch, gradients clipped at 1, until `steps` or `seconds`; the curve and counts in `rec`. -> rec."""
    import torch

    params = [p for ps, _ in groups for p in ps]
    fused = params[0].device.type == "cuda"
    opt = torch.optim.AdamW([{"params": ps, "lr": lr} for ps, lr in groups], weight_decay=0.0, fused=fused)
    rec.update(curve=[], examples=0, steps=0)
    t0, step = time.time(), 0
    curve = Curve(rec, t0, progress)
    while step < steps and not (seconds is not None and time.time() - t0 >= seconds):
        f = lr_factor(step, warmup, steps)
        for g, (_, peak) in zip(opt.param_groups, groups):
            g["lr"] = peak * f
        loss, n = step_loss(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        rec["examples"] += n
        curve.add(step, float(loss.detach()), f, last=step == steps)
    rec.update(steps=step, seconds=round(time.time() - t0, 1))
    return rec


class Curve:
    """A run's logged loss: the mean of every 25 steps (and of the last ones), appended to rec["curve"] with the
    examples so far, the seconds and the learning-rate factor, and told to `progress`."""

    def __init__(self, rec: dict, t0: float, progress=None):
        self.rec, self.t0, self.progress, self.acc, self.n = rec, t0, progress, 0.0, 0

    def add(self, step: int, loss: float, lr_factor: float, last: bool = False) -> None:
        self.acc, self.n = self.acc + loss, self.n + 1
        if step % 25 == 0 or last:
            row = {"step": step, "examples": self.rec["examples"], "seconds": round(time.time() - self.t0, 1),
                   "loss": self.acc / self.n, "lr_factor": round(lr_factor, 4)}
            self.rec["curve"].append(row)
            self.acc, self.n = 0.0, 0
            if self.progress:
                self.progress(row)


def write_weights(folder: str | Path, state: dict, weights: str, meta_name: str, meta: dict) -> str:
    """`state` as fp16 safetensors `weights` and `meta` (+ the file's sha256) as JSON `meta_name` in `folder`,
    each written to a temporary file and renamed. -> sha256 of the weights file."""
    import hashlib

    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (weights + ".tmp")
    save_file({k: v.detach().half().contiguous().cpu() for k, v in state.items()}, str(tmp))
    sha = hashlib.sha256(tmp.read_bytes()).hexdigest()
    os.replace(tmp, folder / weights)
    (folder / (meta_name + ".tmp")).write_text(json.dumps({**meta, "sha256": sha}, indent=1))
    os.replace(folder / (meta_name + ".tmp"), folder / meta_name)
    return sha


def save_adapter(model, folder: str | Path, record: dict) -> str:
    """The LoRA weights as fp16 safetensors and adapter.json (format, config, record, sha256); atomic. -> sha256."""
    from peft import get_peft_model_state_dict

    return write_weights(folder, get_peft_model_state_dict(model), "adapter.safetensors", "adapter.json",
                         {"format": FORMAT, **record})


def read_weights(folder: str | Path, weights: str, meta_name: str, what: str, fmt: str) -> tuple[dict, dict]:
    """A write_weights folder read back and checked (JSON, its format, the weights' sha256) -> (meta, state in
    fp32); FormatError naming the folder and `what` it should be."""
    import hashlib

    from safetensors.torch import load

    folder = Path(folder)
    try:
        meta = json.loads((folder / meta_name).read_text())
        raw = (folder / weights).read_bytes()
    except (OSError, ValueError) as e:
        raise FormatError(f"{folder}: not {what} ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != fmt or hashlib.sha256(raw).hexdigest() != meta.get("sha256"):
        raise FormatError(f"{folder}: not {what} of format {fmt}, or its weights are damaged (sha256)")
    return meta, {k: v.float() for k, v in load(raw).items()}


def load_adapter(lm, folder: str | Path):
    """`lm` with the LoRA weights of a save_adapter folder (sha256-checked); FormatError naming the folder."""
    from peft import set_peft_model_state_dict

    meta, state = read_weights(folder, "adapter.safetensors", "adapter.json", "an answering adapter", FORMAT)
    cfg = FinetuneConfig(**meta["config"])
    model = add_lora(lm, cfg)
    dev = next(model.parameters()).device
    try:
        set_peft_model_state_dict(model, {k: v.to(dev) for k, v in state.items()})
    except RuntimeError as e:           # shapes of another LM
        raise FormatError(f"{folder}: the adapter does not fit this language model ({str(e).splitlines()[0]})") from None
    return model.eval()
