"""Real PDF pages (lab.optical.pdfdocs): a page's text layer becomes lines with geometry, as the renderer's pages
have, so the stage-1 targets and the stage-2 band texts follow; the registry refuses a file that is not the
registered one and names the package to install."""
import io

import numpy as np
import pytest

from lab import DataError
from lab.optical import pdfdocs as P
from lab.optical.reader import band_lines

LINES = ["The first line of a real page.", "A second line, lower down.", "Third: with digits 12345 and a tab"]


def _pdf() -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"pdf.fonttype": 42}):     # TrueType: a text layer pdfium can read
        fig = plt.figure(figsize=(6, 8))                   # 432 x 576 points, portrait
        for i, t in enumerate(LINES):
            fig.text(0.1, 0.9 - 0.1 * i, t, fontsize=12)
        buf = io.BytesIO()
        fig.savefig(buf, format="pdf")
        plt.close(fig)
    return buf.getvalue()


def test_a_pdf_page_becomes_lines_with_geometry():
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(_pdf())
    image, lines = P.render_page(doc[0], 640)
    assert image.shape == (640, 640) and image.dtype == np.uint8
    assert [ln.text for ln in lines] == LINES
    tops = [ln.y0 for ln in lines]
    assert tops == sorted(tops) and all(ln.y1 > ln.y0 for ln in lines)
    # 576 points -> 640 px: the first line's baseline sits 10% down the page, centred canvas offsets x by ~64 px
    assert abs(lines[0].y1 - 0.1 * 640) < 12
    assert all(len(ln.xs) == len(ln.text) and np.all(np.diff(ln.xs) >= 0) for ln in lines)  # a ligature (fi) shares one box
    assert 0.1 * 432 * 640 / 576 + (640 - 432 * 640 / 576) / 2 - 8 < lines[0].xs[0] < 140
    dark = image[lines[0].y0:lines[0].y1 + 1, int(lines[0].xs[0]) - 3:int(lines[0].xs[-1]) + 3]
    assert dark.min() < 100                               # the line's box holds its ink
    bands = [b for b in band_lines(lines, 640, 10) if b]
    assert bands == LINES
    doc.close()


def test_registry_refusals(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="unknown PDF document"):
        P.locate("no-such-doc")
    with pytest.raises(DataError, match="no split"):
        P.names("dev")
    d = P.DOCS["debian-history"]
    fake = tmp_path / d.file
    fake.parent.mkdir(parents=True)
    fake.write_bytes(b"%PDF-1.4 not the registered file")
    monkeypatch.setenv("LAB_PKG_ROOT", str(tmp_path))
    with pytest.raises(DataError, match="sha256 differs"):
        P.locate("debian-history")
    assert set(P.names("train")).isdisjoint(P.names("test")) and len(P.names("test")) >= 3


@pytest.mark.skipif(not P.available("test"), reason="the PDF documentation packages are not installed (make documents)")
def test_held_out_pages_from_the_registered_documents():
    pages = P.eval_pages("test", lambda s: len(s.split()), per_doc=1)
    assert len(pages) == len(P.names("test"))
    for p in pages:
        assert p.image.shape == (P.CANVAS, P.CANVAS) and len(p.text) >= 100 and p.text_tokens > 20
        assert sum(1 for b in p.bands("small") if b) >= 5


def test_make_documents_installs_every_registered_package():
    import re

    from lab.data import ROOT

    m = re.search(r"^DOCUMENT_PACKAGES=\(([^)]*)\)", (ROOT / "scripts" / "setup.sh").read_text(), re.M)
    assert m and sorted(m.group(1).split()) == P.PACKAGES


@pytest.mark.skipif(not P.available("train"), reason="the PDF documentation packages are not installed (make documents)")
def test_the_campaign_renders_training_pdf_pages_into_its_spool(tmp_path):
    import pickle

    from lab.optical import train_lm as L

    assert L.render(tmp_path, 4, {"tiny": 1.0}, seed=1, per_job=4, pdf=1.0) == 4
    (f,) = tmp_path.glob("*.pkl")
    job = pickle.loads(f.read_bytes())
    assert job["images"].shape == (4, 512, 512) and all(sum(1 for b in bands if b) >= 3 for bands in job["bands"])


def test_training_documents_add_the_named_package_corpora(monkeypatch):
    from lab import corpora
    from lab.optical import train_lm as L

    monkeypatch.setattr(corpora, "part", lambda name: f"text of {name}\n".encode() * 3)
    docs = L.training_documents(("python-docs",))
    assert docs[-1] == ("corpora/python-docs", "text of python-docs\n" * 3, "text")
    assert len(docs) == len(L.training_documents()) + 1


def test_tiles_cut_the_inked_column_into_enlarged_squares():
    from lab.optical import tiles as T

    page = np.full((200, 200), 255, np.uint8)
    page[40:160, 50:110] = 0                           # a 60-pixel-wide column of ink, 120 pixels tall
    assert T.ink_box(page, pad=0) == (40, 160, 50, 110)
    parts = T.tiles(page, height=1.0, pad=0)
    assert len(parts) == 2 and all(t.shape == (200, 200) for t in parts)
    assert (parts[0] < 128).mean() > 0.95            # a 60 x 60 square of ink fills the tile: enlarged 200/60
    assert len(T.tiles(page, height=0.5, pad=0)) == 4
    blank = np.full((64, 64), 255, np.uint8)
    assert T.ink_box(blank) is None and len(T.tiles(blank)) == 1 and T.tiles(blank)[0] is blank
    with pytest.raises(ValueError):
        T.tiles(page, height=0)
    with pytest.raises(ValueError):
        T.ink_box(np.zeros((4, 4, 3), np.uint8))


def test_stage1_training_takes_its_pdf_share_of_pages_from_the_training_pdfs():
    from lab.optical import train_ctc as T

    cfg = T.TrainConfig(batch=4, modes={"tiny": 1.0}, pdf=1.0)
    i, mode, images, targets, texts, from_pdf = next(iter(T.PageBatches(cfg, ["tiny"])))
    rng = np.random.default_rng([cfg.seed, 0])
    rng.random()
    first = P.page_sample(rng, "tiny")               # the batch's first page: a training PDF's, as drawn
    assert (i, mode, texts[0]) == (0, "tiny", first.text) and len(texts) == T.batch_pages(4, "tiny")
    assert from_pdf == [True] * len(texts)
    assert np.frombuffer(images, np.uint8)[:512 * 512].tobytes() == first.image.tobytes()
    *_, rendered, flags = next(iter(T.PageBatches(T.TrainConfig(batch=4, modes={"tiny": 1.0}), ["tiny"])))
    assert rendered[0] != texts[0] and not any(flags)           # pdf = 0: the lab's renders
