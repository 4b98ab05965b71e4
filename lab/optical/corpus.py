"""Pages to learn from and pages to be measured on, from the page corpus of `lab.data` (fixed split).

- `PageSampler`: endless training pages rendered on the fly at a mode's resolution, varying font (six
  families), size, margins, line spacing, indent and ink/paper grey levels, from the train documents (prose
  and code), with every character's position for the cell targets.
- `fox_pages`: the Fox-like evaluation set: held-out English prose (alice29.txt, lcet10.txt) cut into pages
  of a given number of SmolLM2 text tokens (buckets of 100 from 600 to 1300), each laid out on a square
  1280-pixel page at the largest font size that fits, resampled to each mode's resolution when measured.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from lab import data
from lab.optical import render as R
from lab.optical.encoder import CELL, MODES
from lab.optical.reader import band_lines, targets

FOX_BUCKETS = tuple(range(600, 1300, 100))
FOX_DOCS = ("canterbury/alice29.txt", "canterbury/lcet10.txt")


def paragraphs(text: str) -> list[str]:
    """Prose as paragraphs: hard-wrapped text is reflowed (blank lines separate paragraphs); text whose
    lines are already long (one verse or paragraph a line), or many lines without a blank one (one entry a
    line: WordNet's glosses), keeps its lines."""
    text = R.normalise(text)
    lines = text.split("\n")
    nonblank = [ln for ln in lines if ln.strip()]
    if nonblank and (np.mean([len(ln) for ln in nonblank]) > 100 or len(nonblank) > 200 * (len(lines) - len(nonblank) + 1)):
        return [ln.strip() for ln in nonblank]
    out, cur = [], []
    for ln in lines:
        if ln.strip():
            cur.append(ln.strip())
        elif cur:
            out.append(" ".join(cur))
            cur = []
    if cur:
        out.append(" ".join(cur))
    return out


@dataclass
class Sample:
    image: np.ndarray       # (R, R) uint8
    targets: np.ndarray     # (grid * LINES, MAXLEN + grid * FRAMES) int8, one row per band (reader.targets)
    text: str
    bands: list | None = None   # the text line of each 8-pixel band, row-major (reader.band_lines): stage 2's targets


class PageSampler:
    """Training pages for a mode: `sampler.page(rng, mode)`."""

    def __init__(self, docs: list[tuple[str, str, str]], fonts=R.TRAIN_FONTS, size_range=(9, 24), shuffled: float = 0.0):
        """shuffled: the share of prose pages whose words are shuffled (text a language model cannot predict, so
        a reader must read it: stage 2's answer to memorising the training documents)."""
        self.fonts, self.size_range, self.shuffled = fonts, size_range, shuffled
        self.prose = [paragraphs(t) for _, t, k in docs if k == "text"]
        self.code = [R.normalise(t).split("\n") for _, t, k in docs if k == "code"]
        self.prose_w = np.array([len(p) for p in self.prose], float) ** 0.5
        self.prose_w /= self.prose_w.sum()

    def layout(self, rng: np.random.Generator, res: int, code: bool) -> R.Layout:
        lo, hi = self.size_range
        size = int(rng.integers(lo, hi + 1)) if rng.random() < 0.8 else int(rng.integers(lo, lo + 4))
        font = "DejaVuSansMono" if code else self.fonts[rng.integers(len(self.fonts))]
        margin = int(rng.integers(4, max(5, res // 10)))
        return R.Layout(width=res, height=res, margin=margin, font=font, size=size,
                        # lines >= 8.5 px apart: never two in one 8-pixel band of the reader
                        spacing=max(float(rng.uniform(1.05, 1.6)), 8.5 / size), indent=int(rng.choice([0, 0, 2 * size])),
                        ink=int(rng.integers(0, 90)), paper=int(rng.integers(215, 256)))

    def page(self, rng: np.random.Generator, mode: str) -> Sample:
        """A training page at a mode's resolution, with its stage-1 targets and band texts."""
        res = MODES[mode]
        code = bool(self.code) and rng.random() < 0.15
        lay = self.layout(rng, res, code)
        per_line = (res - 2 * lay.margin) / (0.5 * lay.size)
        n_lines = (res - 2 * lay.margin) / (lay.size * lay.spacing)
        need = int(per_line * n_lines * 1.3) + 50
        if code:
            lines = self.code[rng.integers(len(self.code))]
            i = int(rng.integers(max(1, len(lines) - 5)))
            text, j = [], i
            while j < len(lines) and sum(map(len, text)) < need:
                text.append(lines[j])
                j += 1
            page = R.render_code("\n".join(text), lay)[0]
        else:
            paras = self.prose[rng.choice(len(self.prose), p=self.prose_w)]
            i = int(rng.integers(len(paras)))
            text, j = [], i
            while sum(map(len, text)) < need:
                text.append(paras[j % len(paras)])
                j += 1
            if rng.random() < 0.3:          # a short page now and then
                text = text[: max(1, len(text) // 3)]
            if self.shuffled and rng.random() < self.shuffled:
                words = " ".join(text).split(" ")
                order = rng.permutation(len(words))
                words = [words[k] for k in order]
                text = [" ".join(words[k:k + 60]) for k in range(0, len(words), 60)]
            # the first page is all that is kept: lay out a few pages' worth, never a long paragraph whole
            page = R.render_text("\n".join(text)[:3 * need], lay)[0]
        grid = res // CELL
        return Sample(page.image, targets(page.lines, res, grid), page.text, band_lines(page.lines, res, grid))


def fresh_pages(mode: str, pages: int, seed: int, split: str, scale: tuple) -> tuple[list[Sample], np.random.Generator]:
    """Freshly rendered pages of a split for evaluation (fonts at `scale` of the mode's resolution) and the
    generator that drew them."""
    res = MODES[mode]
    s = PageSampler(data.page_documents(split), size_range=(int(res * scale[0]), int(res * scale[1])))
    rng = np.random.default_rng(seed)
    return [s.page(rng, mode) for _ in range(pages)], rng


@dataclass
class EvalPage:
    image: np.ndarray       # (1280, 1280) uint8
    text: str
    text_tokens: int
    bucket: int
    font: str
    size: int
    source: str
    lines: list = field(default_factory=list)   # render.Line geometry on the 1280-pixel page

    def bands(self, mode: str) -> list[str]:
        """Each 8-pixel band's text line at a mode's resolution (reader.band_lines): windows' references."""
        return band_lines(self.lines, self.image.shape[0], MODES[mode] // CELL)


def fit_page(text: str, lay: R.Layout, sizes=range(28, 9, -1)) -> tuple[R.Page, int] | None:
    """The text on one page at the largest font size that fits it, or None."""
    for s in sizes:
        pages = R.render_text(text, replace(lay, size=s))
        if len(pages) == 1:
            return pages[0], s
    return None


def fox_pages(count_tokens, per_bucket: int = 15, buckets=FOX_BUCKETS, font: str = "DejaVuSans",
              page: int = 1280, seed: int = 0, docs=FOX_DOCS) -> list[EvalPage]:
    """Held-out pages of 600-1300 text tokens (count_tokens: str -> int, SmolLM2's tokenizer)."""
    rng = np.random.default_rng(seed)
    words = []
    for d in docs:
        ds, f = d.split("/")
        for para in paragraphs(data.path(ds, f).read_text(errors="replace")):
            words += para.split(" ") + ["\n"]
    lay = R.Layout(width=page, height=page, margin=48, font=font, spacing=1.25)
    out, pos = [], 0
    for b in buckets:
        for _ in range(per_bucket):
            target = int(b + rng.integers(0, 100))
            lo, hi = 1, 1200
            while lo < hi:                                   # the most words within the target
                mid = (lo + hi + 1) // 2
                if count_tokens(_join(words[pos:pos + mid])) <= target:
                    lo = mid
                else:
                    hi = mid - 1
            text = _join(words[pos:pos + lo])
            fit = fit_page(text, lay)
            pos += lo
            if fit is None:
                continue
            pg, size = fit
            # text tokens of the document text on the page (its wrap points are the renderer's, not the text's)
            out.append(EvalPage(pg.image, pg.text, count_tokens(text), b, font, size, "/".join(docs), pg.lines))
    return out


def _join(ws: list[str]) -> str:
    return " ".join(ws).replace(" \n ", "\n").replace(" \n", "\n").replace("\n ", "\n").strip()
