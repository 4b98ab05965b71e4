"""The stage-2 reader fine-tuned to answer from vision tokens (issue optical V; phases 2-3 of the seed): the LM
answers a question from a page's vision tokens in its context without writing the page out.

Triplets (vision tokens, question, answer) come from pages of the *training* documents (qa.finetune's
training_pages), rendered as the study renders its held-out pages (study.page_layout), with questions made
from each rendered page's own text (qa.questions: the answer is on the page). The reader starts from the
campaign's state (projector + LoRA, a copy: the campaign is not touched) and learns to write the answer after

    [chat start; the page's slots; the question] -> answer <|im_end|>

A share of each batch (`transcribe`) keeps the campaign's task, the page's first lines written out, so the
reader goes on reading. With several `modes`, each page is encoded in each, and the steps take the modes in
turn (one mode a batch: its token count), so the reader learns to answer at every budget of the study. The fine-tuned reader is saved in the campaign's folder format (reader.json +
adapter shards, with the fine-tuning's record under "qa"), so study.run's `vision` condition and
`lab optical ask --via vision --lm-reader DIR` load it as they load the campaign's.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from lab.optical.qa import finetune as F
from lab.optical.qa import questions as Q


@dataclass(frozen=True)
class VisionQAConfig:
    lr: float = 2e-4              # LoRA, peak (the campaign's is 1e-3 from scratch; this reader already reads)
    proj_lr: float = 2e-4
    warmup: int = 20
    steps: int = 2000             # the cosine's length (stops earlier at the time limit)
    batch: int = 16
    modes: tuple[str, ...] = ("small",)   # the encoder modes of the pages' tokens (small: 100); a step takes one
                                          # mode's tokens, the modes in turn
    transcribe: float = 0.125     # share of a batch that transcribes the page's first lines (the campaign's task;
    transcribe_chars: int = 120   # ~27 tokens each: the loss is a mean over answer tokens, answers are ~5)
    seed: int = 0


@dataclass
class Triplets:
    pages: list                   # render.Page, one a training chunk
    items: list[tuple[int, str, str]]   # (page index, question, answer)


def _first_page(args):
    from lab.optical import render as R
    from lab.optical.qa.study import page_layout

    text, source, size, res = args
    pages = R.render_text(text, page_layout(size, res), source=source)
    return pages[0] if pages else None


def triplets(n_pages: int, seed: int = 0, per_page: int = 4, size: int = 20, res: int = 1024,
             workers: int = 1) -> Triplets:
    """Training pages rendered (in `workers` processes) and their questions: extractive kinds of
    qa.finetune.KINDS made from each rendered page's text (the unanswerable kind from another page; `who` also
    where the speaker is named before the quote, as the training documents name them)."""
    chunks = F.training_pages(n_pages, seed)
    jobs = [(text, name, size, res) for _, name, text in chunks]
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as ex:
            rendered = list(ex.map(_first_page, jobs, chunksize=16))
    else:
        rendered = [_first_page(j) for j in jobs]
    kept = [(pid, name, p) for (pid, name, _), p in zip(chunks, rendered) if p is not None and p.text.strip()]
    index = {pid: i for i, (pid, _, _) in enumerate(kept)}
    qs = Q.questions([(pid, name, p.text) for pid, name, p in kept], seed=seed, per_page=per_page, speaker_first=True)
    return Triplets([p for _, _, p in kept], [(index[q.page], q.question, q.answer) for q in qs if q.kind in F.KINDS])


def save_pages(path: str | Path, tokens: dict[str, torch.Tensor], data: Triplets, seed: int) -> None:
    """Rendered training pages kept for a later run (e.g. the next device call's, rendered while this one trains):
    their tokens in each mode ({mode: (P, N, D)}), texts and questions (training needs no image), written to a
    temporary file and renamed."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save({"seed": seed, "tokens": {m: t.cpu() for m, t in tokens.items()}, "texts": [p.text for p in data.pages],
                "items": data.items}, tmp)
    os.replace(tmp, path)


def load_pages(path: str | Path, device) -> tuple[dict[str, torch.Tensor], Triplets, int]:
    """save_pages' file -> ({mode: tokens on `device`}, the triplets (pages: their text alone), the pages' seed).
    A file of one tensor (written before modes were kept) holds small-mode tokens."""
    from types import SimpleNamespace

    d = torch.load(path, map_location="cpu", weights_only=True)
    t = d["tokens"] if isinstance(d["tokens"], dict) else {"small": d["tokens"]}
    return ({m: v.to(device) for m, v in t.items()}, Triplets([SimpleNamespace(text=x) for x in d["texts"]],
            [tuple(i) for i in d["items"]]), d["seed"])


@torch.no_grad()
def encode_pages(model, pages: list, mode: str, batch: int = 32) -> torch.Tensor:
    """Every page's vision tokens in `mode` (P, N, D), kept on the model's device in bf16 there (fp32 on the CPU)."""
    from lab.optical.train_lm import encode

    dev = next(model.parameters()).device
    out = [encode(model, [p.grey() for p in pages[i:i + batch]], mode, batch) for i in range(0, len(pages), batch)]
    t = torch.cat(out)
    return t.to(torch.bfloat16) if dev.type == "cuda" else t


def encode_modes(model, pages: list, modes, batch: int = 32) -> dict[str, torch.Tensor]:
    """{mode: encode_pages(model, pages, mode)} for each of `modes`."""
    return {m: encode_pages(model, pages, m, batch) for m in modes}


def train(reader, tokens: dict[str, torch.Tensor] | torch.Tensor, data: Triplets,
          cfg: VisionQAConfig = VisionQAConfig(), seconds: float | None = None, progress=None) -> dict:
    """Fine-tune the reader's projector and LoRA on the triplets (tokens[mode][i]: page i's vision tokens in that
    mode; a tensor alone: cfg.modes[0]'s); step k takes cfg.modes[k % len(modes)]. -> the record (config, curve,
    examples, steps, seconds)."""
    tokens = tokens if isinstance(tokens, dict) else {cfg.modes[0]: tokens}
    missing = [m for m in cfg.modes if m not in tokens]
    if missing:
        raise ValueError(f"no tokens in mode(s) {', '.join(missing)} (have {', '.join(tokens)})")
    dev = tokens[cfg.modes[0]].device
    rng = np.random.default_rng(cfg.seed)
    lora = [p for p in reader.lm.parameters() if p.requires_grad]
    proj = [p for p in reader.projector.parameters() if p.requires_grad]
    n_tr = int(round(cfg.batch * cfg.transcribe))

    def step_loss(step):
        qa = [data.items[j] for j in rng.integers(0, len(data.items), cfg.batch - n_tr)]
        tr = [int(j) for j in rng.integers(0, len(data.pages), n_tr)]
        idx = [i for i, _, _ in qa] + tr
        prompts = [q for _, q, _ in qa] + [None] * n_tr
        answers = [a for _, _, a in qa] + [data.pages[i].text[:cfg.transcribe_chars] for i in tr]
        t = tokens[cfg.modes[step % len(cfg.modes)]]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            ctx = reader.contexts(t[idx] if dev.type == "cuda" else t[idx].float(), prompt=prompts)
            loss, _ = reader.loss_on(ctx, reader.answer_ids(answers))
        return loss, len(idx)

    reader.train()
    rec = {"config": asdict(cfg), "items": len(data.items), "pages": len(data.pages)}
    F.fit([(lora, cfg.lr), (proj, cfg.proj_lr)], step_loss, rec, cfg.warmup, cfg.steps, seconds, progress)
    reader.eval()
    return rec


def save(reader, folder: str | Path, base_meta: dict, record: dict) -> str:
    """The fine-tuned reader in the campaign's folder format: adapter shards + reader.json (the campaign's
    meta without its runs and curve, `qa` = this fine-tuning's record, `from` = the campaign state's sha256);
    atomic. -> sha256 of the weights."""
    from lab.optical.train_lm import save_weights

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sha, names = save_weights(reader, folder)
    meta = {k: v for k, v in base_meta.items() if k not in ("runs", "curve", "sha256", "shards")}
    meta.update(sha256=sha, shards=names, qa=record, **{"from": base_meta.get("sha256")})
    tmp = folder / "reader.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1, default=str))
    os.replace(tmp, folder / "reader.json")
    return sha
