"""Real documents: pages of the PDFs that Debian documentation packages ship, their text layer as the label.

Each document is known by name with its package, version, file and sha256 (`DOCS`); whole documents are held
out for testing (`split`). `make documents` installs the packages (apt); a folder a .deb was unpacked into
with `dpkg -x` also serves, named in $LAB_PKG_ROOT (as for lab.corpora). pypdfium2 gives every character and
its box, so a page becomes what the lab's own renderer gives: a grey image on a square canvas and its text
lines with their geometry (`render.Line`: the text, the line's top and bottom, each character's centre), from
which the stage-1 targets and the stage-2 band texts follow as for a rendered page.

    pages = eval_pages("test", count_tokens, per_doc=4)     # held-out corpus.EvalPage, 1280-pixel canvas
    sample = page_sample(rng, "small", docs)               # a training page at a mode's resolution
"""
from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from lab import DataError
from lab.optical import render as R

CANVAS = 1280            # the evaluation pages' canvas (as corpus.fox_pages)


@dataclass(frozen=True)
class Doc:
    package: str
    version: str             # Debian bookworm's, when registered
    file: str                # inside the package (a .gz is unpacked on reading)
    sha256: str              # of the file as the package ships it
    split: str               # "train" or "test": whole documents are held out


DOCS = {
    # held out: never a training page
    "debian-history": Doc("debian-history", "2.28", "usr/share/doc/debian-history/docs/project-history.en.pdf",
                          "d3d263affc69ec9c994fe1d06b3cf7dddb78f84e24849d87a4aefe3a4ed15e77", "test"),
    "debian-faq": Doc("debian-faq", "11.1", "usr/share/doc/debian/FAQ/debian-faq.en.pdf.gz",
                      "697e2520f6d738b5e83bd8d839bee077951691c65d5477259bb9b97618c17cfb", "test"),
    "debian-blends": Doc("blends-doc", "0.7.5", "usr/share/doc/blends-doc/debian-blends.en.pdf",
                         "809d16f5b294c51f97d8f557b5dfea61da1f5c8d27296981194fde267cd37008", "test"),
    # training documents
    "maint-guide": Doc("maint-guide", "1.2.53", "usr/share/doc/maint-guide/maint-guide.en.pdf",
                       "0b94abf28167fb3fe59db3d03f99b5faa50d9f6f696a7864825c5d0378ba27ef", "train"),
    "developers-reference": Doc("developers-reference", "12.18",
                                "usr/share/developers-reference/developers-reference.pdf",
                                "88e5ac4d15444fd3adb821dc863bd91b820e99a27e65728e74975ab1752652f5", "train"),
    "debian-reference": Doc("debian-reference-en", "2.100", "usr/share/debian-reference/debian-reference.en.pdf",
                            "32775deeca0770ac25282b0c894cbaae83f4dd4ab00e891b94e8f009c0366728", "train"),
    "installation-guide": Doc("installation-guide-amd64", "20230508+deb12u1",
                              "usr/share/doc/installation-guide-amd64/en/install.en.pdf.gz",
                              "96925dd9487d569d881fca257e760fb812383af2fdde793e8291087d61b9a0bc", "train"),
    "debmake-doc": Doc("debmake-doc", "1.17-7", "usr/share/doc/debmake-doc/debmake-doc.en.pdf",
                       "b49a29f9f39ccf599a93de7789338eb001dda98063bfbb9960f7d45e95d027d6", "train"),
    "live-manual": Doc("live-manual-pdf", "2:20151217.2", "usr/share/doc/live-manual/pdf/live-manual.portrait.en.a4.pdf.gz",
                       "31bdf620bcb75773fa5172413a5c23542dca695aca90e833d69a0bc779db9bed", "train"),
}
PACKAGES = sorted({d.package for d in DOCS.values()})
MIN_CHARS = 300          # pages with less text (title pages, figures) are skipped


def names(split: str) -> list[str]:
    if split not in ("train", "test"):
        raise DataError(f"no split {split!r} of the PDF documents (train, test)")
    return [n for n, d in DOCS.items() if d.split == split]


def locate(name: str) -> Path:
    """The document's file, sha256-checked; DataError naming the package to install when it is missing."""
    import os

    if name not in DOCS:
        raise DataError(f"unknown PDF document {name!r} (known: {', '.join(DOCS)})")
    d = DOCS[name]
    roots = [Path(r) for r in os.environ.get("LAB_PKG_ROOT", "").split(":") if r] + [Path("/")]
    for root in roots:
        p = root / d.file
        if p.is_file():
            if hashlib.sha256(p.read_bytes()).hexdigest() != d.sha256:
                raise DataError(f"{p}: not the registered file of {d.package} {d.version} (sha256 differs)")
            return p
    raise DataError(f"PDF document {name!r} needs the Debian package {d.package} (`make documents` installs it; "
                    "or unpack its .deb with dpkg -x into a folder named in LAB_PKG_ROOT)")


def available(split: str) -> bool:
    try:
        for n in names(split):
            locate(n)
        return True
    except DataError:
        return False


@lru_cache(maxsize=16)
def pdf_bytes(name: str) -> bytes:
    """The document's PDF (unpacked when the package ships it gzipped)."""
    raw = locate(name).read_bytes()
    return gzip.decompress(raw) if DOCS[name].file.endswith(".gz") else raw


def _document(name: str):
    import pypdfium2 as pdfium

    return pdfium.PdfDocument(pdf_bytes(name))


@lru_cache(maxsize=16)
def _body_pages(name: str) -> tuple[int, ...]:
    """Pages with at least MIN_CHARS characters that are not a table of contents (dot leaders)."""
    doc = _document(name)
    out = []
    for i in range(len(doc)):
        t = doc[i].get_textpage().get_text_range()
        if len(t) >= MIN_CHARS and t.count(" . . .") < 3:
            out.append(i)
    doc.close()
    return tuple(out)


def page_lines(page, scale: float, x0: float = 0.0, y0: float = 0.0) -> list[R.Line]:
    """The text lines of a pypdfium2 page at `scale` pixels per point, offset by (x0, y0) on the canvas: each
    line's text (render.normalise'd), top and bottom (pixels, from the top) and every character's centre x.
    Lines follow the PDF's text order; characters with no box (generated spaces) sit between their neighbours."""
    tp = page.get_textpage()
    h = page.get_size()[1]
    lines, cur = [], []

    def flush():
        text, xs, boxed = [], [], []
        for c, b in cur:
            t = R.normalise(c)
            text.append(t)
            xs += [x0 + scale * (b[0] + b[2]) / 2] * len(t)
            boxed += [b[2] > b[0]] * len(t)
        inked = [b for _, b in cur if b[2] > b[0] and b[3] > b[1]]
        text, xs, boxed = "".join(text), np.array(xs, float), np.array(boxed, bool)
        lead, keep = len(text) - len(text.lstrip()), len(text.rstrip())
        if inked and keep > lead:
            if not boxed.all() and boxed.any():        # boxless characters: between their neighbours
                idx = np.arange(len(xs))
                xs[~boxed] = np.interp(idx[~boxed], idx[boxed], xs[boxed])
            top, bottom = min(h - b[3] for b in inked), max(h - b[1] for b in inked)
            lines.append(R.Line(text[lead:keep], int(round(y0 + scale * top)), int(round(y0 + scale * bottom)),
                                xs[lead:keep]))
        cur.clear()

    for i in range(tp.count_chars()):
        c = tp.get_text_range(i, 1)
        if c in ("\r", "\n"):
            if c == "\n" or cur:
                flush()
            continue
        cur.append((c, tp.get_charbox(i)))
    flush()
    return lines


def render_page(page, size: int) -> tuple[np.ndarray, list[R.Line]]:
    """A PDF page on a white square canvas of `size` pixels (its longer side fits, centred) and its lines."""
    w, h = page.get_size()
    scale = size / max(w, h)
    im = np.asarray(page.render(scale=scale, grayscale=True).to_pil().convert("L"))
    canvas = np.full((size, size), 255, np.uint8)
    ph, pw = min(im.shape[0], size), min(im.shape[1], size)
    ox, oy = (size - pw) // 2, (size - ph) // 2
    canvas[oy:oy + ph, ox:ox + pw] = im[:ph, :pw]
    return canvas, page_lines(page, scale, ox, oy)


def pages(name: str, k: int, seed: int = 0, size: int = CANVAS) -> list[R.Page]:
    """`k` body pages of the document (seeded choice, in page order) as render.Page on a `size` canvas, for
    the memory bank (each keeps its page number and its text lines)."""
    rng = np.random.default_rng([seed, sum(map(ord, name))])
    body, doc = _body_pages(name), _document(name)
    out = []
    for i in sorted(rng.choice(body, size=min(k, len(body)), replace=False).tolist()):
        image, lines = render_page(doc[i], size)
        out.append(R.Page(image, lines, name, i, "pdf"))
    doc.close()
    return out


def _text_of(lines: list[R.Line]) -> str:
    return "\n".join(ln.text for ln in lines)


def eval_pages(split: str, count_tokens, per_doc: int = 4, seed: int = 0, size: int = CANVAS) -> list:
    """`per_doc` body pages of each document of the split (seeded choice) as corpus.EvalPage on a `size`
    canvas; `bucket` is the page's text tokens rounded down to 100 (real pages are not cut to a bucket)."""
    from lab.optical.corpus import EvalPage

    rng = np.random.default_rng(seed)
    out = []
    for name in names(split):
        body, doc = _body_pages(name), _document(name)
        for i in sorted(rng.choice(body, size=min(per_doc, len(body)), replace=False).tolist()):
            image, lines = render_page(doc[i], size)
            text = _text_of(lines)
            n = count_tokens(text)
            out.append(EvalPage(image, text, n, n // 100 * 100, "pdf", 0, f"{name} p{i + 1}", lines))
        doc.close()
    return out


def page_sample(rng: np.random.Generator, mode: str, split: str = "train"):
    """A page of a split's documents at a mode's resolution with its stage-1 targets and band texts
    (corpus.Sample), as PageSampler gives for rendered pages."""
    from lab.optical.corpus import Sample
    from lab.optical.encoder import CELL, MODES
    from lab.optical.reader import band_lines, targets

    docs = names(split)
    name = docs[int(rng.integers(len(docs)))]
    body = _body_pages(name)
    res = MODES[mode]
    doc = _document(name)
    image, lines = render_page(doc[int(body[rng.integers(len(body))])], res)
    doc.close()
    grid = res // CELL
    return Sample(image, targets(lines, res, grid), _text_of(lines), band_lines(lines, res, grid))
