"""Answering from vision-token memories (the seed's Phase 5): retrieve what fits the budget from a memory bank,
give it to the language model, generate, and count the access. Two ways to give it:

- `vision`: the memories' tokens read by a stage-2 LM reader (`lab.optical.train_lm`: slot projector + LoRA
  on SmolLM2; by default the committed optical-qa-vision, the campaign's reader fine-tuned to answer), the
  seed's design; the context is the vision tokens' slots, the question after them;
- `ocr`: the stage-1 reader of the same checkpoint reads each memory's tokens back into text, and SmolLM2
  (with the committed answering adapter, optical-qa-answerer) answers from that text; storage stays at the
  vision tokens, the context is the text read. The lab's default (`auto`): it answers more held-out questions
  than the vision path (reports/optical.md section 5d);
- `text`: the same retrieval, but SmolLM2 answers from the pages' own text as the bank stores it beside the
  tokens: the competitor that keeps the text (and the upper bound of the two paths above).

    qa = OpticalQA.load(bank, "optical-reader")     # via="auto": ocr (until the stage-2 reader answers)
    ans = qa.ask("Who poured the tea?", budget=400) # -> Answer(text, memories, tokens, seconds, via, ...)

`load` refuses a checkpoint whose encoder is not the one that made the bank's tokens (sha256), and an LM
reader trained on another encoder. The bank's search is the hybrid ranking; the retrieved memories are joined in
rank order into one context.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from lab import FormatError, UsageError

MAX_QUESTION_TOKENS = 256


@dataclass
class Answer:
    text: str
    memories: list = field(default_factory=list)     # memory.Hit, in the order given to the model
    tokens: int = 0                                  # vision tokens retrieved
    seconds: float = 0.0
    via: str = "vision"
    context_tokens: int = 0                          # LM positions of context (vision: = tokens; ocr: text read)
    read: list = field(default_factory=list)         # ocr: each memory's text as the stage-1 reader read it

    def to_dict(self) -> dict:
        return {"answer": self.text, "tokens": self.tokens, "seconds": round(self.seconds, 3), "via": self.via,
                "context_tokens": self.context_tokens,
                "memories": [{k: v for k, v in h.to_dict().items() if k != "text"} for h in self.memories]}


VIAS = ("auto", "vision", "ocr", "text")
ANSWERER = "optical-qa-answerer"      # the committed answering adapter on SmolLM2 (lab.models; --via ocr and text)
ANSWERER_LM = "smollm2-135m-instruct"
VISION_READER = "optical-qa-vision"  # the committed stage-2 reader fine-tuned to answer (lab.models; --via vision)


class OpticalQA:
    def __init__(self, bank, reader=None, ocr=None, answerer=None, text: bool = False):
        """reader: an LMReader (the vision path); or ocr (a stage-1 OpticalModel) + answerer (answer.TextAnswerer);
        or text=True + answerer (the stored page text)."""
        if text:
            if answerer is None or reader is not None:
                raise ValueError("OpticalQA via text needs a text answerer and no LM reader")
        elif (reader is None) == (ocr is None or answerer is None):
            raise ValueError("OpticalQA needs either an LM reader (vision) or a stage-1 reader and a text answerer (ocr)")
        self.bank, self.reader, self.ocr, self.answerer = bank, reader, ocr, answerer
        self.via = "text" if text else "vision" if reader is not None else "ocr"

    @classmethod
    def load(cls, bank, model: str | Path, device: str = "cpu", lm_name: str = "smollm2-135m-instruct",
             via: str = "auto", lm_reader: str | Path | None = None,
             qa_adapter: str | Path | None = "default") -> "OpticalQA":
        """model: the stage-1 checkpoint (name or folder); lm_reader: the stage-2 reader folder (name or path;
        default the committed optical-qa-vision, the campaign's reader fine-tuned to answer) for --via vision; qa_adapter: the answering model's LoRA
        (scripts/optical_qa_finetune.py's folder, or a lab.models name) on SmolLM2 for --via ocr and text;
        "default": the committed `optical-qa-answerer` where the answering LM is SmolLM2 and the path is ocr or
        text (none for the vision path or another LM); None or "none": the unadapted model."""
        from lab import models
        from lab.optical.model import load

        if via not in VIAS:
            raise UsageError(f"via must be one of {', '.join(VIAS)}")
        if str(qa_adapter) == "default":
            qa_adapter = ANSWERER if via != "vision" and lm_name == ANSWERER_LM else None
        elif str(qa_adapter) == "none":
            qa_adapter = None
        path = models.trained_or_path(model)
        if not (Path(path) / "config.json").is_file():
            raise FormatError(f"{model}: no checkpoint there (config.json missing)")
        enc, meta = load(path, device)
        if meta["sha256"] != bank.meta["encoder_sha"]:
            raise FormatError(f"{model}: its readers read encoder {meta['sha256'][:12]}..., but the bank's tokens come "
                              f"from {bank.meta['encoder_sha'][:12]}... (refused)")
        if via == "vision":
            if qa_adapter is not None:
                raise UsageError("an answering adapter is for --via ocr or text (the vision path has its own reader)")
            from lab.optical.train_lm import load_reader

            name = str(lm_reader or VISION_READER)
            reader, _ = load_reader(models.trained_or_path(name), enc, device)
            return cls(bank, reader)
        from lab.optical.qa.answer import TextAnswerer

        lm, tok = models.load_any_lm(lm_name, device)
        if qa_adapter is not None:
            from lab.optical.qa.finetune import load_adapter

            lm = load_adapter(lm, models.trained_or_path(qa_adapter))
        if via == "text":
            return cls(bank, answerer=TextAnswerer(lm.eval(), tok), text=True)
        return cls(bank, ocr=enc, answerer=TextAnswerer(lm.eval(), tok))

    @property
    def tok(self):
        return self.reader.tok if self.reader is not None else self.answerer.tok

    def ask(self, question: str, budget: int = 400, k: int = 8, max_new_tokens: int = 64, temperature: float = 0.0,
            top_p: float = 1.0, seed: int = 0) -> Answer:
        """Retrieve within `budget` vision tokens (at most k memories; their access counts go up), generate
        (greedy, or sampled with `temperature`/`top_p` from `seed`)."""
        import torch

        torch.manual_seed(seed)
        q = " ".join(question.split())
        if not q:
            raise UsageError("the question is empty")
        n = len(self.tok(q, add_special_tokens=False)["input_ids"])
        if n > MAX_QUESTION_TOKENS:
            raise UsageError(f"the question is {n} tokens; at most {MAX_QUESTION_TOKENS}")
        if budget < 1:
            raise UsageError("the budget must be at least 1 vision token")
        t0 = time.perf_counter()
        hits = self.bank.search(q, budget=budget, k=k)
        if not hits:
            raise FormatError(f"{self.bank.path}: no memory fits {budget} tokens for this question "
                              f"({self.bank.total_tokens()} tokens in the bank)")
        tokens = int(sum(h.tokens for h in hits))
        if self.via == "text":
            pages = [h.text for h in hits]
            context = "\n\n".join(pages)
            text = self.answerer.answer([(context, q)], max_new_tokens=max_new_tokens)[0]
            return Answer(text, hits, tokens, time.perf_counter() - t0, "text", self.answerer.context_tokens(context), pages)
        if self.reader is None:
            dev = next(self.ocr.parameters()).device
            pages = [self.ocr.reader.read(torch.from_numpy(self.bank.tokens(h.id)[0]).float()[None].to(dev))[0]
                     for h in hits]
            context = "\n\n".join(pages)
            text = self.answerer.answer([(context, q)], max_new_tokens=max_new_tokens)[0]
            return Answer(text, hits, tokens, time.perf_counter() - t0, "ocr", self.answerer.context_tokens(context), pages)
        dev = next(self.reader.parameters()).device
        vt = [torch.from_numpy(self.bank.tokens(h.id)[0]).float()[None].to(dev) for h in hits]
        text = self.reader.generate(vt, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, prompt=q)[0]
        return Answer(text.strip(), hits, tokens, time.perf_counter() - t0, "vision", sum(self.reader.positions(vt)))
