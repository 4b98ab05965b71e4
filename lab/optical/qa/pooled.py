"""The text-side competitor of vision tokens (issue "Optical context compression V"): a page's text compressed
into N LM positions by pooling, read by the same LM, asked as the answering model is asked:

    the answering model's prompt (qa.answer.prompt) with [N pooled vectors of each page] where the text goes

A page's text tokens are embedded by the LM's own (frozen) input embeddings, cut into N runs of consecutive
tokens of (nearly) equal length, each run mean-pooled (arXiv 2512.03643's mean-pooling baseline, which it found
matches DeepSeek-OCR's vision encoder at every compression ratio) and sent through a projector of the vision
reader's kind (MLP to the LM's width, LayerNorm at the scale of the LM's input embeddings, plus an embedding
of the run's place in the page); a page of N or fewer tokens keeps one position a token. The projector and
LoRA on every linear layer of the LM are trained on the same (page, question, answer) triplets as the answering
model (`qa.finetune.training_items`), so the pooled text and the pixels get the same chance.

    reader = PooledReader(lm, tok, n=100)
    loss, k = reader.loss(pages, questions, answers)          # pages: one text (or a list of texts) per question
    answers = reader.answer(pages, questions)                 # greedy
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lab import FormatError
from lab.optical.decoder import ALL_LINEAR, answer_loss, generate_after, with_lora
from lab.optical.qa.answer import prompt
from lab.optical.qa.finetune import fit, read_weights, write_weights

MAX_RUNS = 4096               # places a page's runs can take (the position embedding's size)
_HOLE = "\x00PAGES\x00"        # where the pooled positions go in the prompt


@dataclass(frozen=True)
class PooledSpec:
    n: int = 100                        # LM positions a page
    r: int = 16                         # LoRA rank, every linear layer
    alpha: int = 32
    max_page_tokens: int = 2048         # a page's text tokens pooled at most (the rest cut)


def runs(t: int, n: int) -> torch.Tensor:
    """The run (0..min(t, n)-1) of each of t tokens: n runs of consecutive tokens, lengths differing by <= 1."""
    k = min(t, n)
    return (torch.arange(t) * k) // max(t, 1)


class TextPooler(nn.Module):
    """Token embeddings (T, H) -> (min(T, n), H): mean over each run, then the projector."""

    def __init__(self, dim: int, embed_rms: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.net = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim), nn.LayerNorm(dim))
        self.place = nn.Embedding(MAX_RUNS, dim)
        with torch.no_grad():           # pooled vectors start at the scale of the LM's own input embeddings
            self.net[3].weight.fill_(embed_rms)
            self.place.weight.normal_(0.0, embed_rms / 4)

    def forward(self, emb: torch.Tensor, n: int) -> torch.Tensor:
        T, H = emb.shape
        if T == 0:
            return emb.new_zeros(0, H)
        r = runs(T, n).to(emb.device)
        k = int(r[-1]) + 1
        pooled = emb.new_zeros(k, H, dtype=torch.float32).index_add_(0, r, emb.float())
        pooled = pooled / torch.bincount(r, minlength=k)[:, None].float()
        w = self.net[0].weight.dtype
        return self.net(self.norm(pooled.to(w))) + self.place(torch.arange(k, device=emb.device))


class PooledReader(nn.Module):
    def __init__(self, lm, tok, spec: PooledSpec = PooledSpec()):
        super().__init__()
        self.tok, self.spec = tok, spec
        rms = float(lm.get_input_embeddings().weight.detach().float().pow(2).mean().sqrt())
        self.pooler = TextPooler(lm.config.hidden_size, rms)
        for p in lm.parameters():
            p.requires_grad_(False)
        self.lm = with_lora(lm, spec.r, spec.alpha, ALL_LINEAR)
        self.eos = tok.convert_tokens_to_ids("<|im_end|>")
        self._page_cache: dict[str, list[int]] = {}

    def _ids(self, s: str) -> list[int]:
        return self.tok(s, add_special_tokens=False)["input_ids"]

    @property
    def device(self):
        return self.pooler.place.weight.device

    def page_ids(self, text: str) -> list[int]:
        """A page's token ids (at most max_page_tokens), kept for the pages asked about again (a study asks the
        same pages at every budget: tokenised once; the cache is emptied past 4,096 pages)."""
        cache = self._page_cache
        if text not in cache:
            if len(cache) >= 4096:
                cache.clear()
            cache[text] = self._ids(text)[: self.spec.max_page_tokens]
        return cache[text]

    def pooled(self, text: str, n: int | None = None) -> torch.Tensor:
        """One page's N (or fewer) positions."""
        ids = self.page_ids(text)
        emb = self.lm.get_input_embeddings()(torch.tensor(ids, dtype=torch.long, device=self.device))
        return self.pooler(emb.detach(), n or self.spec.n)

    def contexts(self, pages, questions: list[str], n: int | None = None) -> list[torch.Tensor]:
        """The answering model's prompt (qa.answer.prompt) with each page's pooled positions where its text
        would be, per question; pages: one text or a list of texts per question."""
        emb = self.lm.get_input_embeddings()
        out = []
        for pg, q in zip(pages, questions):
            pg = [pg] if isinstance(pg, str) else list(pg)
            head, tail = prompt(_HOLE, q).split(_HOLE)
            a, b = self._ids(head), self._ids(tail)
            e = emb(torch.tensor(a + b, dtype=torch.long, device=self.device))
            mid = [self.pooled(t, n).to(e.dtype) for t in pg]
            out.append(torch.cat([e[:len(a)], *mid, e[len(a):]]))
        return out

    def positions(self, pages, n: int | None = None) -> int:
        """LM positions the pooled pages take."""
        pg = [pages] if isinstance(pages, str) else list(pages)
        return sum(min(n or self.spec.n, len(self.page_ids(t))) for t in pg)

    def answer_ids(self, answers: list[str], max_tokens: int = 64) -> list[list[int]]:
        return [ids[:max_tokens] + [self.eos] for ids in self.tok([" " + a for a in answers], add_special_tokens=False)["input_ids"]]

    def loss(self, pages, questions: list[str], answers: list[str], n: int | None = None) -> tuple[torch.Tensor, int]:
        return answer_loss(self.lm, self.contexts(pages, questions, n), self.answer_ids(answers))

    @torch.no_grad()
    def answer(self, pages, questions: list[str], n: int | None = None, max_new_tokens: int = 24,
               batch: int = 16) -> list[str]:
        out = []
        for i in range(0, len(questions), batch):
            ctx = self.contexts(pages[i:i + batch], questions[i:i + batch], n)
            out += [s.strip().split("\n")[0].strip().strip('"').strip()
                    for s in generate_after(self.lm, self.tok, self.eos, ctx, max_new_tokens)]
        return out

    @torch.no_grad()
    def answer_nll(self, pages, questions: list[str], answers: list[str], n: int | None = None) -> list[float]:
        """Each gold answer's mean NLL (nats per token) after its pooled context and question."""
        return [float(self.loss([p], [q], [a], n)[0]) for p, q, a in zip(pages, questions, answers)]

    # -- weights ------------------------------------------------------------------------------------------
    def trainable_state(self) -> dict:
        from peft import get_peft_model_state_dict

        return {**{f"pooler.{k}": v for k, v in self.pooler.state_dict().items()},
                **{f"lora.{k}": v for k, v in get_peft_model_state_dict(self.lm).items()}}

    def load_trainable(self, state: dict) -> None:
        from peft import set_peft_model_state_dict

        self.pooler.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("pooler.")})
        set_peft_model_state_dict(self.lm, {k[5:]: v for k, v in state.items() if k.startswith("lora.")})


@dataclass
class PooledTrainConfig:
    lr: float = 5e-4              # LoRA's peak; the pooler's is 4x (it starts from nothing)
    warmup: int = 20
    steps: int = 2000             # the cosine's length (to 10%); a time limit may end it earlier
    batch: int = 16               # questions a step
    seed: int = 0
    budgets: tuple = (64, 100, 256, 400)   # each step's N drawn from these (one reader for every budget)


def train(reader: PooledReader, items: list[tuple[str, str, str]], cfg: PooledTrainConfig = PooledTrainConfig(),
          seconds: float | None = None, progress=None) -> dict:
    """Train the pooler and LoRA on (page text, question, answer) items; -> the record (config, curve)."""
    rng = np.random.default_rng(cfg.seed)
    lora = [p for n, p in reader.lm.named_parameters() if p.requires_grad]

    def step_loss(step):
        b = rng.integers(0, len(items), cfg.batch)
        n = int(rng.choice(cfg.budgets))
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=reader.device.type == "cuda"):
            loss, _ = reader.loss([items[j][0] for j in b], [items[j][1] for j in b], [items[j][2] for j in b], n)
        return loss, len(b)

    reader.train()
    rec = {"config": asdict(cfg), "spec": asdict(reader.spec), "items": len(items)}
    fit([(lora, cfg.lr), (list(reader.pooler.parameters()), 4 * cfg.lr)], step_loss, rec, cfg.warmup, cfg.steps,
        seconds, progress)
    reader.eval()
    return rec


def save(reader: PooledReader, folder: str | Path, record: dict) -> str:
    """The pooler + LoRA as fp16 safetensors and pooled.json (spec, record, sha256); atomic. -> sha256."""
    return write_weights(folder, reader.trainable_state(), "weights.safetensors", "pooled.json",
                         {"format": "lab-pooled-reader", "version": 1, "spec": asdict(reader.spec), "record": record})


def load(folder: str | Path, lm, tok) -> PooledReader:
    """A saved reader on `lm` (checked: format, version, sha256)."""
    meta, state = read_weights(folder, "weights.safetensors", "pooled.json", "a pooled reader", "lab-pooled-reader")
    if meta.get("version") != 1:
        raise FormatError(f"{folder}: a pooled reader of version {meta.get('version')!r} (this lab reads 1)")
    reader = PooledReader(lm, tok, PooledSpec(**meta["spec"]))
    reader.load_trainable(state)
    return reader.eval()
