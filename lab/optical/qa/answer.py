"""SmolLM2 answering a question from a text context (or from none): the text side of every comparison in
"Answering from vision tokens", and the `ocr` path of `OpticalQA` (vision-token memories read back into text by
the stage-1 reader, then given to the LM as text).

    ans = TextAnswerer(lm, tok).answer([("the page's text ...", "Who poured the tea?")])   # greedy, batched

The prompt is fixed (PROMPT, NONE_PROMPT) in SmolLM2's chat format; an answer is the first line of what the
model writes, without the chat markers.
"""
from __future__ import annotations

from lab.optical.qa.questions import NO_ANSWER

PROMPT = ("Read the text and answer the question with words from the text. If the text does not say, reply: "
          f"{NO_ANSWER}\n\nText: {{context}}\n\nQuestion: {{question}}")
NONE_PROMPT = f"Answer the question in a few words. If you cannot know, reply: {NO_ANSWER}\n\nQuestion: {{question}}"
ANSWER_PREFIX = "The answer is:"    # the assistant's turn starts with it (SmolLM2-135M opens with it anyway), so
                                    # an answer, and a gold answer's likelihood, start at the answer's first word


def chat(user: str) -> str:
    return f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n{ANSWER_PREFIX}"


def prompt(context: str | None, question: str) -> str:
    if context is None:
        return chat(NONE_PROMPT.format(question=question))
    return chat(PROMPT.format(context=context, question=question))


class TextAnswerer:
    def __init__(self, lm, tok, batch: int = 8):
        self.lm, self.tok, self.batch = lm, tok, batch
        self.eos = tok.convert_tokens_to_ids("<|im_end|>")

    def context_tokens(self, text: str) -> int:
        return len(self.tok(text, add_special_tokens=False)["input_ids"])

    def _left_pad(self, seqs: list[list[int]]):
        """Token id lists as one left-padded batch (padding: <|im_end|>) and its attention mask."""
        import torch

        L = max(map(len, seqs))
        x = torch.full((len(seqs), L), self.eos, dtype=torch.long)
        mask = torch.zeros((len(seqs), L), dtype=torch.long)
        for j, t in enumerate(seqs):
            x[j, L - len(t):] = torch.tensor(t)
            mask[j, L - len(t):] = 1
        return x, mask

    def answer_nll(self, items: list[tuple[str | None, str, str]]) -> list[float]:
        """Mean negative log-likelihood (nats per token) of each gold answer after (context, question): how much
        the context helps the model towards the answer, even when a small model's greedy answer misses it."""
        import torch

        dev = next(self.lm.parameters()).device
        out = []
        for i in range(0, len(items), self.batch):
            seqs = []
            for c, q, a in items[i:i + self.batch]:
                p = self.tok(prompt(c, q), add_special_tokens=False)["input_ids"]
                t = self.tok(" " + a, add_special_tokens=False)["input_ids"] + [self.eos]
                seqs.append((p, t))
            x, mask = self._left_pad([p + t for p, t in seqs])
            y = torch.full(x.shape, -100, dtype=torch.long)
            for j, (_, t) in enumerate(seqs):
                y[j, x.shape[1] - len(t):] = torch.tensor(t)
            with torch.no_grad():
                logits = self.lm(input_ids=x.to(dev), attention_mask=mask.to(dev)).logits.float()
            lp = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), y[:, 1:].to(dev), reduction="none")
            n = (y[:, 1:] != -100).sum(1).clamp(min=1).to(dev)
            out += (lp.sum(1) / n).tolist()
        return out

    def answer(self, items: list[tuple[str | None, str]], max_new_tokens: int = 24) -> list[str]:
        """Greedy answers for (context or None, question) pairs, `batch` at a time (left-padded)."""
        import torch

        dev = next(self.lm.parameters()).device
        out = []
        for i in range(0, len(items), self.batch):
            ids = [self.tok(prompt(c, q), add_special_tokens=False)["input_ids"] for c, q in items[i:i + self.batch]]
            x, mask = self._left_pad(ids)
            L = x.shape[1]
            with torch.no_grad():
                gen = self.lm.generate(input_ids=x.to(dev), attention_mask=mask.to(dev), do_sample=False,
                                       max_new_tokens=max_new_tokens, eos_token_id=self.eos, pad_token_id=self.eos)
            for g in gen[:, L:]:
                text = self.tok.decode(g, skip_special_tokens=True).strip()
                out.append(text.split("\n")[0].strip().strip('"').strip())
        return out
