"""Documents -> page images, deterministically, with the position of every rendered character.

    pages = render_text(text, Layout(width=1024, height=1024, font="DejaVuSans", size=20))
    pages[0].image            # (H, W) uint8, black ink on white
    pages[0].text             # the text as rendered (lines joined by "\\n")
    pages[0].lines            # [Line(text, y0, y1, xs)]: xs = each character's centre, for training targets

Plain text and markdown are laid out with Pillow (word wrap; fonts that ship with matplotlib), source code is
highlighted with Pygments (a monospaced font, colours as grey levels), PDF pages are rendered by pdfium
(`pypdfium2`, 200 DPI by default), Word documents are read with python-docx and laid out like markdown, and
images are taken as they are. `render_file` picks by extension. Bad input raises lab.FormatError.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from lab import FormatError

TEXT_EXT = {".txt", ".text", ".log", ".csv", ".tsv", ".rst", ""}
MARKDOWN_EXT = {".md", ".markdown"}
CODE_EXT = {".py", ".c", ".h", ".cpp", ".js", ".ts", ".java", ".rs", ".go", ".sh", ".lsp", ".lisp", ".html",
            ".htm", ".css", ".json", ".yaml", ".yml", ".toml", ".sql", ".1", ".xml", ".tex", ".ipynb"}
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
PDF_EXT, DOCX_EXT = {".pdf"}, {".docx"}
MAX_PAGES = 2000
from lab.optical.fonts import FONTS, TRAIN_FONTS, UNSEEN_FONTS, font_dir  # noqa: E402,F401


@dataclass(frozen=True)
class Layout:
    width: int = 1024          # page size in pixels
    height: int = 1024
    margin: int = 48
    font: str = "DejaVuSans"
    size: int = 20             # font size in pixels
    spacing: float = 1.25      # line height / font size
    indent: int = 0            # first-line indent of paragraphs (pixels)
    ink: int = 0               # text grey level (0 black)
    paper: int = 255           # background grey level

    def check(self) -> "Layout":
        if self.font not in FONTS:
            raise ValueError(f"unknown font {self.font!r} (known: {', '.join(FONTS)})")
        if not (64 <= self.width <= 8192 and 64 <= self.height <= 8192):
            raise ValueError("page width and height must be 64..8192 pixels")
        if not (4 <= self.size <= 200) or self.spacing < 1 or 2 * self.margin + self.size * 2 > min(self.width, self.height):
            raise ValueError("font size, spacing or margins do not fit the page")
        return self


@dataclass
class Line:
    text: str
    y0: int                    # top and bottom of the line box (pixels)
    y1: int
    xs: np.ndarray             # centre x of each character (len(text))


@dataclass
class Page:
    image: np.ndarray          # (H, W) uint8 grey, or (H, W, 3) uint8 for colour sources
    lines: list[Line] = field(default_factory=list)
    source: str = ""
    number: int = 0
    kind: str = "text"         # text | markdown | code | pdf | docx | image
    text_override: str | None = None   # text of pages without line geometry (pdf)

    @property
    def text(self) -> str:
        if self.text_override is not None:
            return self.text_override
        return "\n".join(ln.text for ln in self.lines)

    def grey(self) -> np.ndarray:
        im = self.image
        if im.ndim == 3:
            im = (im[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).round().astype(np.uint8)
        return im


# -- text normalisation -----------------------------------------------------------------------------------
_PUNCT = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "--", "\u2026": "...",
          "\u00a0": " ", "\u2022": "-"}


def normalise(text: str) -> str:
    """Printable ASCII plus newlines: typographic punctuation mapped, accents dropped, tabs to 4 spaces."""
    text = "".join(_PUNCT.get(c, c) for c in text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    "))
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(c if (32 <= ord(c) < 127 or c == "\n") else " " for c in text)


# -- fonts ------------------------------------------------------------------------------------------------
@lru_cache(maxsize=256)
def font(name: str, size: int, bold: bool = False):
    from PIL import ImageFont

    return ImageFont.truetype(str(font_dir() / FONTS[name][int(bold)]), size, layout_engine=ImageFont.Layout.BASIC)


@lru_cache(maxsize=256)
def _widths(name: str, size: int, bold: bool) -> np.ndarray:
    """Advance width of each printable ASCII character (index ord(c) - 32)."""
    f = font(name, size, bold)
    return np.array([f.getlength(chr(c)) for c in range(32, 127)], np.float64)


def _char_widths(w: np.ndarray, s: str) -> np.ndarray:
    codes = np.frombuffer(s.encode("ascii", "replace"), np.uint8).astype(np.int64) - 32
    return w[np.clip(codes, 0, 94)]


# -- layout -----------------------------------------------------------------------------------------------
@dataclass
class _Run:
    """One paragraph to lay out: its text, font, size factor and indent; code keeps spaces and colours."""
    text: str
    bold: bool = False
    scale: float = 1.0
    mono: bool = False
    colours: list | None = None      # per character grey level (code)
    space_after: float = 0.0


def _wrap(text: str, cw: np.ndarray, width: float, keep_spaces: bool) -> list[tuple[int, int]]:
    """(start, end) character spans of the wrapped lines of one paragraph (cw: each character's advance).
    Prose breaks at spaces (the space is dropped); code (keep_spaces) breaks anywhere."""
    n = len(text)
    if n == 0:
        return [(0, 0)]
    edge = np.concatenate([[0.0], np.cumsum(cw)])
    spans, start = [], 0
    while start < n:
        end = int(np.searchsorted(edge, edge[start] + width, side="right")) - 1   # the longest prefix that fits
        end = max(end, start + 1)
        if end >= n:
            spans.append((start, n))
            break
        if not keep_spaces:
            cut = text.rfind(" ", start, end + 1)
            if cut > start:
                end = cut
        spans.append((start, end))
        start = end + 1 if (not keep_spaces and text[end] == " ") else end
    return spans


def _layout(runs: list[_Run], lay: Layout, kind: str, source: str) -> list[Page]:
    from PIL import Image, ImageDraw

    lay.check()
    pages, lines, img, draw = [], [], None, None
    y = lay.margin
    width = lay.width - 2 * lay.margin

    def new_page():
        nonlocal img, draw, lines, y
        img = Image.new("L", (lay.width, lay.height), lay.paper)
        draw = ImageDraw.Draw(img)
        lines, y = [], lay.margin

    def flush():
        pages.append(Page(np.asarray(img), lines, source, len(pages), kind))

    new_page()
    for run in runs:
        size = max(4, int(round(lay.size * run.scale)))
        fam = "DejaVuSansMono" if run.mono and not lay.font.startswith("DejaVuSansMono") else lay.font
        f = font(fam, size, run.bold)
        cw = _char_widths(_widths(fam, size, run.bold), run.text)
        lh = int(round(size * lay.spacing))
        indent = 0 if run.mono else lay.indent
        for k, (a, b) in enumerate(_wrap(run.text, cw, width - indent, run.mono)):
            if len(pages) >= MAX_PAGES:
                raise FormatError(f"{source}: more than {MAX_PAGES} pages")
            if y + lh > lay.height - lay.margin and lines:
                flush()
                new_page()
            s = run.text[a:b]
            x0 = lay.margin + (indent if k == 0 else 0)
            if s:
                if run.colours is None:
                    draw.text((x0, y), s, font=f, fill=lay.ink)
                else:   # code: one draw call per colour run
                    i = 0
                    while i < len(s):
                        j = i
                        while j < len(s) and run.colours[a + j] == run.colours[a + i]:
                            j += 1
                        draw.text((x0 + f.getlength(s[:i]), y), s[i:j], font=f, fill=int(run.colours[a + i]))
                        i = j
            w = cw[a:b]
            if s:   # centres from the advance widths, scaled to the laid-out length (kerning)
                w = w * (f.getlength(s) / max(w.sum(), 1e-9))
            edge = np.concatenate([[0.0], np.cumsum(w)])
            xs = x0 + (edge[:-1] + edge[1:]) / 2
            lines.append(Line(s, y, y + lh, xs))
            y += lh
        y += int(run.space_after * lh)
    if lines or not pages:
        flush()
    return pages


# -- sources ----------------------------------------------------------------------------------------------
def render_text(text: str, lay: Layout = Layout(), source: str = "") -> list[Page]:
    """Plain text: paragraphs are lines of the source (wrapped to the page); blank lines are kept."""
    runs = [_Run(p) for p in normalise(text).split("\n")]
    return _layout(runs, lay, "text", source)


_EMPH = re.compile(r"(\*\*|__|\*|`)")


def _markdown_runs(md: str) -> list[_Run]:
    runs, code = [], False
    for raw in normalise(md).split("\n"):
        if raw.strip().startswith("```"):
            code = not code
            continue
        if code:
            runs.append(_Run(raw, mono=True))
            continue
        m = re.match(r"^(#{1,6})\s+(.*)", raw)
        if m:
            runs.append(_Run(_EMPH.sub("", m.group(2)), bold=True, scale=1.6 - 0.1 * len(m.group(1)),
                             space_after=0.3))
            continue
        line = re.sub(r"^(\s*)[*+] ", r"\1- ", raw)
        line = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line)     # links: their text
        runs.append(_Run(_EMPH.sub("", line)))
    return runs


def render_markdown(md: str, lay: Layout = Layout(), source: str = "") -> list[Page]:
    return _layout(_markdown_runs(md), lay, "markdown", source)


def render_code(code: str, lay: Layout = Layout(), source: str = "", language: str | None = None) -> list[Page]:
    """Source code, highlighted by Pygments (token colours become grey levels), monospaced."""
    from pygments.lexers import TextLexer, get_lexer_by_name, get_lexer_for_filename
    from pygments.styles import get_style_by_name
    from pygments.util import ClassNotFound

    code = normalise(code)
    opts = dict(stripnl=False, stripall=False, ensurenl=False, tabsize=4)
    try:
        lexer = get_lexer_by_name(language, **opts) if language else get_lexer_for_filename(source or "x.txt", code, **opts)
    except ClassNotFound:
        lexer = TextLexer(**opts)
    style = get_style_by_name("default")
    grey = []
    for tok, val in lexer.get_tokens(code):
        colour = style.style_for_token(tok)["color"]
        g = lay.ink
        if colour:
            r, gg, b = int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)
            g = min(int(0.299 * r + 0.587 * gg + 0.114 * b), 140)   # dark enough to read on paper
        grey.extend([g] * len(val))
    grey += [lay.ink] * max(0, len(code) + 1 - len(grey))   # a lexer may drop characters: pad with ink
    runs, pos = [], 0
    for line in code.split("\n"):
        runs.append(_Run(line, mono=True, colours=grey[pos:pos + len(line) + 1]))
        pos += len(line) + 1
    return _layout(runs, replace(lay, font=lay.font if "Mono" in lay.font else "DejaVuSansMono"), "code", source)


def render_pdf(path: str | Path, dpi: int = 200, max_pages: int = MAX_PAGES) -> list[Page]:
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as e:
        raise FormatError(f"{path}: not a readable PDF ({e})") from None
    if len(doc) == 0:
        raise FormatError(f"{path}: the PDF has no pages")
    if len(doc) > max_pages:
        raise FormatError(f"{path}: {len(doc)} pages (more than {max_pages})")
    out = []
    for i in range(len(doc)):
        page = doc[i]
        w, h = page.get_size()
        if w * dpi / 72 * h * dpi / 72 > 1 << 26:
            raise FormatError(f"{path}: page {i + 1} is too large at {dpi} DPI")
        im = np.asarray(page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L"))
        text = normalise(page.get_textpage().get_text_range())
        out.append(Page(im, [], str(path), i, "pdf", text_override=text))
    return out


def docx_markdown(path: str | Path) -> str:
    """A Word document's paragraphs as markdown (headings from the paragraph styles)."""
    import docx

    try:
        d = docx.Document(str(path))
    except Exception as e:  # noqa: BLE001 - python-docx raises several kinds for a bad file
        raise FormatError(f"{path}: not a readable Word document ({e.__class__.__name__})") from None
    out = []
    for p in d.paragraphs:
        style = (p.style.name or "") if p.style is not None else ""
        m = re.match(r"Heading (\d)", style)
        out.append(("#" * int(m.group(1)) + " " if m else "") + p.text)
    return "\n".join(out)


def load_image(path: str | Path) -> Page:
    from PIL import Image, UnidentifiedImageError

    try:
        Image.MAX_IMAGE_PIXELS = 1 << 26
        with Image.open(path) as im:
            if im.width < 1 or im.height < 1:
                raise FormatError(f"{path}: empty image")
            arr = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as e:
        if isinstance(e, FormatError):
            raise
        raise FormatError(f"{path}: not a readable image ({e.__class__.__name__})") from None
    return Page(arr, [], str(path), 0, "image", text_override="")


def read_text_file(path: str | Path, limit: int = 64 << 20) -> str:
    p = Path(path)
    if p.stat().st_size > limit:
        raise FormatError(f"{path}: larger than {limit >> 20} MB")
    raw = p.read_bytes()
    if b"\0" in raw[:8192]:
        raise FormatError(f"{path}: binary file (not text)")
    return raw.decode("utf-8", errors="replace")


def render_file(path: str | Path, lay: Layout = Layout(), dpi: int = 200) -> list[Page]:
    """Any supported document -> pages (FormatError for an unreadable, empty or unsupported file)."""
    p = Path(path)
    if not p.is_file():
        raise FormatError(f"{path}: no such file")
    ext = p.suffix.lower()
    if p.stat().st_size == 0:
        raise FormatError(f"{path}: empty file")
    if ext in IMAGE_EXT:
        return [load_image(p)]
    if ext in PDF_EXT:
        return render_pdf(p, dpi)
    if ext in DOCX_EXT:
        return _layout(_markdown_runs(docx_markdown(p)), lay, "docx", str(p))
    if ext in MARKDOWN_EXT:
        return render_markdown(read_text_file(p), lay, str(p))
    if ext in CODE_EXT:
        return render_code(read_text_file(p), lay, str(p))
    if ext in TEXT_EXT or is_utf8_text(p):      # a file that decodes as UTF-8 text is text, whatever its suffix
        return render_text(read_text_file(p), lay, str(p))
    raise FormatError(f"{path}: unsupported file type {ext!r} (text, markdown, code, PDF, Word or image; "
                      "not UTF-8 text either)")


def is_utf8_text(path: Path, probe: int = 1 << 16) -> bool:
    """Do the file's first bytes decode as UTF-8 text (no NUL, few control characters)?"""
    with open(path, "rb") as f:
        head = f.read(probe)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:             # (a character cut by the probe's end is fine)
            return False
        text = head[:e.start].decode("utf-8")
    if "\0" in text:
        return False
    ctrl = sum(1 for c in text if ord(c) < 32 and c not in "\n\r\t\f")
    return ctrl <= len(text) // 100
