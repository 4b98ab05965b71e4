"""Stage 2: a language model reads the vision tokens. SmolLM2-135M-Instruct, unmodified, adapted with LoRA
(peft), reads `[projected vision tokens; prompt]` in its chat format and writes the page's text.

    reader = LMReader(lm, tok, vision_dim=384, lora=LoraSpec(r=16, alpha=32, targets=("q_proj", "v_proj")))
    loss = reader.loss(vision_tokens, texts)          # training (labels only on the answer)
    texts = reader.generate(vision_tokens)            # greedy
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from lab.optical.projector import Projector

PROMPT = "Read the page."


@dataclass(frozen=True)
class LoraSpec:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    targets: tuple = ("q_proj", "v_proj")
    projector: str = "linear"

    def to_dict(self) -> dict:
        return {**asdict(self), "targets": list(self.targets)}


class LMReader(nn.Module):
    def __init__(self, lm, tok, vision_dim: int, lora: LoraSpec = LoraSpec(), stage1=None):
        """stage1: the checkpoint's stage-1 reader, which a "bands" projector reads through (frozen)."""
        super().__init__()
        from peft import LoraConfig, get_peft_model

        self.tok, self.spec = tok, lora
        self.projector = Projector(vision_dim, lm.config.hidden_size, lora.projector, stage1)
        if lora.projector in ("linear", "bands"):      # vision tokens start at the scale of the LM's own input embeddings
            with torch.no_grad():           # (SmolLM2: RMS 0.14 per dimension; LayerNorm's default is 1.0)
                self.projector.net[1].weight.fill_(float(lm.get_input_embeddings().weight.detach().float().pow(2).mean().sqrt()))
        for p in lm.parameters():
            p.requires_grad_(False)
        self.lm = get_peft_model(lm, LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                                target_modules=list(lora.targets), task_type="CAUSAL_LM"))
        pre = tok("<|im_start|>user\n", add_special_tokens=False)["input_ids"]
        post = tok(f"\n{PROMPT}<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
        self.register_buffer("pre", torch.tensor(pre), persistent=False)
        self.register_buffer("post", torch.tensor(post), persistent=False)
        self.eos = tok.convert_tokens_to_ids("<|im_end|>")

    def trainable_state(self) -> dict:
        from peft import get_peft_model_state_dict

        return {**{f"projector.{k}": v for k, v in self.projector.state_dict().items()},
                **{f"lora.{k}": v for k, v in get_peft_model_state_dict(self.lm).items()}}

    def load_trainable(self, state: dict) -> None:
        from peft import set_peft_model_state_dict

        self.projector.load_state_dict({k[10:]: v for k, v in state.items() if k.startswith("projector.")})
        set_peft_model_state_dict(self.lm, {k[5:]: v for k, v in state.items() if k.startswith("lora.")})

    def post_ids(self, prompt: str | None = None) -> torch.Tensor:
        """The chat template's tokens after the vision tokens: the prompt (default PROMPT), then the answer's start."""
        if prompt is None:
            return self.post
        ids = self.tok(f"\n{prompt}<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
        return torch.tensor(ids, device=self.post.device)

    def _prefix(self, vision, prompt: str | None = None) -> torch.Tensor:
        """[chat start; projected vision tokens; prompt]; vision (B, N, D), or a list of them (pages of their
        own grids, projected one by one and joined)."""
        emb = self.lm.get_input_embeddings()
        pages = vision if isinstance(vision, (list, tuple)) else [vision]
        B = pages[0].shape[0]
        v = torch.cat([self.projector(p.to(self.projector.dtype)) for p in pages], 1)
        return torch.cat([emb(self.pre)[None].expand(B, -1, -1), v.to(emb.weight.dtype),
                          emb(self.post_ids(prompt))[None].expand(B, -1, -1)], 1)

    def loss(self, vision: torch.Tensor, texts: list[str], max_tokens: int = 2048) -> torch.Tensor:
        emb = self.lm.get_input_embeddings()
        ids = [self.tok(t, add_special_tokens=False)["input_ids"][:max_tokens] + [self.eos] for t in texts]
        L = max(map(len, ids))
        tgt = torch.full((len(ids), L), -100, dtype=torch.long)
        inp = torch.full((len(ids), L), self.eos, dtype=torch.long)
        for i, t in enumerate(ids):
            tgt[i, :len(t)] = torch.tensor(t)
            inp[i, :len(t)] = torch.tensor(t)
        pre = self._prefix(vision)
        dev = pre.device
        x = torch.cat([pre, emb(inp.to(dev))], 1)
        tgt = tgt.to(dev)
        labels = torch.cat([torch.full(pre.shape[:2], -100, dtype=torch.long, device=dev), tgt], 1)
        mask = torch.cat([torch.ones(pre.shape[:2], dtype=torch.long, device=dev), (tgt != -100).long()], 1)
        return self.lm(inputs_embeds=x, attention_mask=mask, labels=labels).loss

    @torch.no_grad()
    def generate(self, vision: torch.Tensor, max_new_tokens: int = 1600, temperature: float = 0.0,
                 top_p: float = 1.0, prompt: str | None = None) -> list[str]:
        """Greedy (temperature 0) or sampled text after [vision tokens; prompt], one per batch row."""
        pre = self._prefix(vision, prompt)
        kw = dict(do_sample=temperature > 0, max_new_tokens=max_new_tokens, eos_token_id=self.eos,
                  pad_token_id=self.eos)
        if temperature > 0:
            kw.update(temperature=temperature, top_p=top_p)
        out = self.lm.generate(inputs_embeds=pre, attention_mask=torch.ones(pre.shape[:2], dtype=torch.long,
                                                                             device=pre.device), **kw)
        return [self.tok.decode(o, skip_special_tokens=True) for o in out]
