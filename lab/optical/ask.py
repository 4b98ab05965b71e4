"""Answering from vision-token memories (the seed's Phase 5): retrieve what fits the budget from a memory bank,
project it into the language model, generate, and count the access.

    qa = OpticalQA.load(bank, "outputs/ck")        # a checkpoint with an lm/ reader (scripts/optical_gpu.py stage2)
    ans = qa.ask("Who poured the tea?", budget=400) # -> Answer(text, memories, tokens, seconds)

`load` refuses a checkpoint whose encoder is not the one that made the bank's tokens (sha256), and one without a
language-model reader. The bank's search is the hybrid ranking; the retrieved memories' tokens are joined in
rank order into one context.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lab import FormatError, UsageError

MAX_QUESTION_TOKENS = 256


@dataclass
class Answer:
    text: str
    memories: list = field(default_factory=list)     # memory.Hit, in the order given to the model
    tokens: int = 0                                  # vision tokens of context
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"answer": self.text, "tokens": self.tokens, "seconds": round(self.seconds, 3),
                "memories": [{k: v for k, v in h.to_dict().items() if k != "text"} for h in self.memories]}


class OpticalQA:
    def __init__(self, bank, reader):
        self.bank, self.reader = bank, reader

    @classmethod
    def load(cls, bank, model: str | Path, device: str = "cpu", lm_name: str = "smollm2-135m-instruct") -> "OpticalQA":
        from lab import models
        from lab.optical import train as T

        path = models.trained_path(str(model)) if str(model) in models.TRAINED else Path(model)
        if not (Path(path) / "config.json").is_file():
            raise FormatError(f"{model}: no checkpoint there (config.json missing)")
        if not (Path(path) / "lm" / "config.json").is_file():
            raise FormatError(f"{model}: this checkpoint has no language-model reader (lm/); train one with "
                              "`scripts/optical_gpu.py stage2`")
        enc, meta = T.load(path, device)
        if meta["sha256"] != bank.meta["encoder_sha"]:
            raise FormatError(f"{model}: its projector reads encoder {meta['sha256'][:12]}..., but the bank's tokens come "
                              f"from {bank.meta['encoder_sha'][:12]}... (refused)")
        reader, _ = T.load_lm(path, enc.enc_cfg.dim, device, lm_name)
        return cls(bank, reader)

    def ask(self, question: str, budget: int = 400, k: int = 8, max_new_tokens: int = 64, temperature: float = 0.0,
            top_p: float = 1.0, seed: int = 0) -> Answer:
        """Retrieve within `budget` vision tokens (at most k memories; their access counts go up), generate
        (greedy, or sampled with `temperature`/`top_p` from `seed`)."""
        import torch

        torch.manual_seed(seed)
        q = " ".join(question.split())
        if not q:
            raise UsageError("the question is empty")
        n = len(self.reader.tok(q, add_special_tokens=False)["input_ids"])
        if n > MAX_QUESTION_TOKENS:
            raise UsageError(f"the question is {n} tokens; at most {MAX_QUESTION_TOKENS}")
        if budget < 1:
            raise UsageError("the budget must be at least 1 vision token")
        t0 = time.perf_counter()
        hits = self.bank.search(q, budget=budget, k=k)
        if not hits:
            raise FormatError(f"{self.bank.path}: no memory fits {budget} tokens for this question "
                              f"({self.bank.total_tokens()} tokens in the bank)")
        vt = np.concatenate([self.bank.tokens(h.id)[0] for h in hits])
        dev = next(self.reader.parameters()).device
        text = self.reader.generate(torch.from_numpy(vt).float()[None].to(dev), max_new_tokens=max_new_tokens,
                                    temperature=temperature, top_p=top_p, prompt=q)[0]
        return Answer(text.strip(), hits, int(sum(h.tokens for h in hits)), time.perf_counter() - t0)
