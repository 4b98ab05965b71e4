"""A Jupyter widget for asking a memory bank: question box, budget, the answer, and the page images it used.

    AskExplorer(bank, qa=OpticalQA.load(bank, "optical-reader"))     # qa=None: retrieval only (no LM fetched)

Asking (the button or Enter in the question box) retrieves within the budget (access counts go up, as with
`lab optical ask`), answers, and shows each memory used: its kept page image, source and page, mode and
tokens, and, on the ocr path, what the stage-1 reader read from its tokens. A bad question or a budget that
nothing fits is shown as a one-line message, never a traceback.
"""
from __future__ import annotations

import html

import numpy as np

from lab.files import image_bytes


def _thumb(grey: np.ndarray, width: int) -> bytes:
    from PIL import Image

    im = Image.fromarray(grey)
    h = max(1, round(im.height * width / im.width))
    return image_bytes(np.asarray(im.resize((width, h), Image.Resampling.LANCZOS)), "PNG")


class AskExplorer:
    def __init__(self, bank, qa=None, budget: int = 200, thumb: int = 256, max_new_tokens: int = 32):
        import ipywidgets as W

        self.bank, self.qa, self.thumb, self.max_new_tokens = bank, qa, thumb, max_new_tokens
        self.question = W.Text(placeholder="Ask the memories a question, then Enter", description="question",
                               continuous_update=False, layout=W.Layout(width="640px"))
        self.budget = W.IntSlider(value=budget, min=16, max=1600, step=1, description="budget",
                                  continuous_update=False)
        self.button = W.Button(description="Ask", button_style="primary")
        self.answer = W.HTML("<i>no question yet</i>")
        self.pages = W.HBox([])
        self.asked = 0
        self.button.on_click(lambda _: self.ask())
        self.question.observe(lambda ch: self.ask() if ch["new"].strip() else None, names="value")
        self.widget = W.VBox([W.HBox([self.question, self.button]), self.budget, self.answer, self.pages])

    def ask(self, question: str | None = None) -> None:
        import ipywidgets as W

        from lab import FormatError, UsageError

        q = self.question.value if question is None else question
        self.asked += 1
        try:
            if self.qa is not None:
                ans = self.qa.ask(q, budget=self.budget.value, max_new_tokens=self.max_new_tokens)
                hits, text, reads = ans.memories, ans.text, ans.read
                head = (f"<b>{html.escape(text) or '(empty answer)'}</b><br><small>via {ans.via}: {len(hits)} memories, "
                        f"{ans.tokens} vision tokens, {ans.context_tokens} context positions, {ans.seconds:.1f} s</small>")
            else:
                if not q.strip():
                    raise UsageError("the question is empty")
                hits, reads = self.bank.search(q, budget=self.budget.value), []
                if not hits:
                    raise FormatError(f"no memory fits {self.budget.value} tokens for this question")
                head = (f"<i>no language model here (`lab models fetch smollm2-135m-instruct`): retrieval only</i><br>"
                        f"<small>{len(hits)} memories, {sum(h.tokens for h in hits)} vision tokens</small>")
        except (FormatError, UsageError) as e:
            self.answer.value = f"<span style='color:#b00'>{html.escape(str(e))}</span>"
            self.pages.children = []
            return
        self.answer.value = f"<div class='optical-answer'>{head}</div>"
        cards = []
        for i, h in enumerate(hits):
            read = reads[i] if i < len(reads) else ""
            img = W.Image(value=_thumb(self.bank.image(h.id), self.thumb), format="png")
            label = W.HTML(f"<small>#{h.id} {html.escape(h.source)} p{h.page + 1} [{h.mode}, {h.tokens} tokens]"
                           + (f"<br><code>{html.escape(read[:160])}</code>" if read else "") + "</small>",
                           layout=W.Layout(width=f"{self.thumb}px"))
            cards.append(W.VBox([img, label]))
        self.pages.children = cards

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
