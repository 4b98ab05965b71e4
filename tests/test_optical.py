"""Optical family at toy size: rendering, targets, encoder, reader, checkpoints, .vtok, CLI, model registry."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from lab import FormatError
from lab.optical import corpus, model as M, render as R, reader as Rd, train_ctc as T, vtok
from lab.optical.encoder import MODES, EncoderConfig, VisionEncoder, to_tensor, tokens_for
from lab.optical.metrics import clean, precision, word_accuracy

TINY_ENC = EncoderConfig(local_dim=32, local_layers=1, local_heads=2, dim=32, global_layers=1, global_heads=2)
TINY_RD = M.ReaderConfig(hidden=64, emb=32, frame_hidden=64)
TEXT = ("Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to "
        "do: once or twice she had peeped into the book her sister was reading. ") * 6


def test_render_is_deterministic_and_knows_every_character():
    a = R.render_text(TEXT, R.Layout(width=512, height=512, size=14))
    b = R.render_text(TEXT, R.Layout(width=512, height=512, size=14))
    assert len(a) == len(b) >= 1 and all(np.array_equal(x.image, y.image) for x, y in zip(a, b))
    p = a[0]
    assert p.image.shape == (512, 512) and p.image.dtype == np.uint8 and p.image.min() < 100
    assert clean(" ".join(pg.text for pg in a)) == clean(TEXT)
    for ln in p.lines:
        assert len(ln.xs) == len(ln.text) and np.all(np.diff(ln.xs) > 0) and 0 <= ln.y0 < ln.y1 <= 512


def test_markdown_code_docx_pdf_image(tmp_path):
    md = R.render_markdown("# Title\n\nSome **bold** text and a [link](http://x).\n\n* item\n", R.Layout(width=256, height=256, size=12))
    assert "Title" in md[0].text and "**" not in md[0].text and "link" in md[0].text and "http" not in md[0].text
    code = R.render_code("def f(x):\n    return x + 1\n", R.Layout(width=256, height=256, size=12), source="f.py")
    assert code[0].lines[1].text == "    return x + 1"
    import docx

    d = docx.Document()
    d.add_heading("Report", 1)
    d.add_paragraph("The quick brown fox.")
    d.save(tmp_path / "a.docx")
    assert "The quick brown fox." in R.render_file(tmp_path / "a.docx", R.Layout(width=256, height=256, size=12))[0].text
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(3, 3))
    fig.text(0.1, 0.5, "Hello PDF world")
    fig.savefig(tmp_path / "a.pdf")
    plt.close(fig)
    pdf = R.render_file(tmp_path / "a.pdf", dpi=72)
    assert len(pdf) == 1 and "Hello PDF world" in pdf[0].text and pdf[0].image.ndim == 2
    from PIL import Image

    Image.new("RGB", (40, 30), "white").save(tmp_path / "a.png")
    assert R.render_file(tmp_path / "a.png")[0].image.shape == (30, 40, 3)


@pytest.mark.parametrize("bad", ["empty.txt", "binary.txt", "x.xyz", "bad.pdf", "bad.png", "bad.docx", "missing.txt"])
def test_bad_documents_raise_format_error(tmp_path, bad):
    content = {"empty.txt": b"", "binary.txt": b"\0\1\2" * 100, "x.xyz": b"\xff\xfe\x00\x01" * 40, "bad.pdf": b"%PDF-1.4 junk",
               "bad.png": b"\x89PNG\r\n junk", "bad.docx": b"PK\3\4 junk"}.get(bad)
    if content is not None:
        (tmp_path / bad).write_bytes(content)
    with pytest.raises(FormatError) as e:
        R.render_file(tmp_path / bad)
    assert "\n" not in str(e.value)


def test_band_targets_rebuild_the_page_exactly():
    for mode, R_ in MODES.items():
        pg = R.render_text(TEXT, R.Layout(width=R_, height=R_, size=R_ // 30, margin=R_ // 20))[0]
        bands = Rd.band_lines(pg.lines, R_, R_ // 64)
        assert len(bands) == R_ // 64 * Rd.LINES
        assert Rd.page_from_bands(bands) == pg.text          # every line in its own band, in order
        t = Rd.line_targets(bands)
        assert t.shape == (len(bands), Rd.MAXLEN) and t.max() < Rd.VOCAB
        assert (t != 0).sum() == sum(len(b) for b in bands)
    # a 1024-pixel page read on an 8x8 grid (cells of 128 px): band k holds the line centred in [16k, 16k+16)
    big = R.render_text(TEXT, R.Layout(width=1024, height=1024, size=34, margin=50))[0]
    bands = Rd.band_lines(big.lines, 1024, 8)
    assert sum(1 for b in bands if b) == len(big.lines)
    held = [k for k, b in enumerate(bands) if b]                 # in page order, one line each
    for k, ln in zip(held, big.lines):
        assert bands[k] == ln.text and 16 * k <= (ln.y0 + ln.y1) / 2 < 16 * (k + 1)


def test_sampler_pages_and_fox_pages():
    from lab import data

    s = corpus.PageSampler(data.page_documents("train")[:3])
    smp = s.page(np.random.default_rng(0), "tiny")
    assert smp.image.shape == (512, 512) and smp.targets.shape == (8 * Rd.LINES, Rd.MAXLEN + 8 * Rd.FRAMES)
    again = s.page(np.random.default_rng(0), "tiny")
    assert np.array_equal(smp.image, again.image)
    fox = corpus.fox_pages(lambda t: len(t) // 4, per_bucket=1, buckets=(600, 1200))
    assert [p.bucket for p in fox] == [600, 1200]
    assert all(600 <= fox[0].text_tokens < 800 and p.image.shape == (1280, 1280) for p in fox)
    train_names = {n for n, _, _ in data.page_documents("train")}
    assert not train_names & {n for n, _, _ in data.page_documents("test")}
    assert "canterbury/alice29.txt" not in train_names


def test_one_entry_a_line_text_keeps_its_lines_and_a_huge_paragraph_renders_one_page_fast():
    import time

    glosses = "\n".join(f"entry {i}: a short gloss of the word number {i}" for i in range(1000)) + "\n"
    paras = corpus.paragraphs(glosses)
    assert len(paras) == 1000 and paras[3] == "entry 3: a short gloss of the word number 3"
    assert corpus.paragraphs("one line\nand its wrap\n\nnext one\n") == ["one line and its wrap", "next one"]
    # one paragraph of 2 MB (a document without blank lines that is not one entry a line): a training page
    # lays out a few pages' worth of it, not the whole paragraph (c10's renderer stalled on such a page)
    huge = " ".join(["word"] * 400_000)
    s = corpus.PageSampler([("huge", huge, "text")], size_range=(8, 9))
    t = time.process_time()
    smp = s.page(np.random.default_rng(0), "tiny")
    assert time.process_time() - t < 20 and smp.text.startswith("word word")


def test_encoder_token_budget_per_mode():
    enc = VisionEncoder(TINY_ENC).eval()
    for mode, R_ in MODES.items():
        with torch.no_grad():
            y = enc(to_tensor([np.full((300, 200), 255, np.uint8)], mode))
        assert y.shape == (1, tokens_for(mode), TINY_ENC.dim)
    assert [tokens_for(m) for m in MODES] == [64, 100, 256, 400]


def test_reader_learns_a_page_and_checkpoint_roundtrip(tmp_path):
    torch.manual_seed(0)
    m = M.OpticalModel(TINY_ENC, TINY_RD)
    pg = R.render_text("THE CAT SAT ON THE MAT", R.Layout(width=512, height=512, size=40))[0]
    tg = torch.from_numpy(Rd.targets(pg.lines, 512, 8))[None]
    x = to_tensor([pg.image], "tiny")
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):     # the loss at 0.35x its start after 20 steps, 0.08x after 30
        loss = m.reader.loss(m.encoder(x), tg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]
    sha = M.save(m, tmp_path / "ck", {"note": "test"})
    m2, meta = M.load(tmp_path / "ck")
    assert meta["sha256"] == sha and meta["note"] == "test"
    assert m.ocr([pg.image], "tiny") == m2.ocr([pg.image], "tiny")    # fp16 weights read the same
    shard = next((tmp_path / "ck").glob("weights-*.safetensors"))
    shard.write_bytes(shard.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(FormatError):
        M.load(tmp_path / "ck")


def test_metrics():
    assert precision("hello  world\n", "hello world") == 1.0
    assert precision("", "") == 1.0 and precision("abc", "") == 0.0
    assert precision("helo world", "hello world") == pytest.approx(1 - 1 / 11)
    assert word_accuracy("the cat", "the cat sat") == pytest.approx(2 / 3)


@pytest.mark.parametrize("dtype", ["fp16", "int8"])
def test_vtok_roundtrip(dtype):
    t = np.random.default_rng(0).normal(size=(100, 16)).astype(np.float32)
    blob = vtok.encode(t, "small", "cd" * 32, dtype, {"source": "a.txt", "page": 2})
    back, head = vtok.decode(blob)
    assert head["mode"] == "small" and head["encoder_sha"] == "cd" * 32 and head["meta"]["page"] == 2
    assert np.abs(back - t).max() < (1e-2 if dtype == "fp16" else 0.03 * np.abs(t).max())
    with pytest.raises(ValueError):
        vtok.encode(t[:50], "small", "cd" * 32)
    for bad in (b"", blob[:20], b"XXXX" + blob[4:], blob[:-1] + bytes([blob[-1] ^ 1])):
        with pytest.raises(FormatError):
            vtok.decode(bad)


def _lab(*args):
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True, timeout=300)


def _here(capsys, *args):
    """The CLI in this process (no interpreter start a call), with returncode, stdout and stderr."""
    from types import SimpleNamespace

    from lab.cli import main

    capsys.readouterr()
    rc = main(list(args))
    out = capsys.readouterr()
    return SimpleNamespace(returncode=rc, stdout=out.out, stderr=out.err)


def test_cli_render_encode_ocr_and_errors(tmp_path, capsys):
    (tmp_path / "a.md").write_text("# A page\n\n" + TEXT)
    r = _here(capsys, "optical", "render", str(tmp_path / "a.md"), "-o", str(tmp_path / "pages"), "--size", "16", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert rows and (tmp_path / "pages" / "a-p001.png").exists() and (tmp_path / "pages" / "a-p001.txt").exists()
    M.save(M.OpticalModel(TINY_ENC, TINY_RD), tmp_path / "ck")
    r = _here(capsys, "optical", "encode", str(tmp_path / "a.md"), "-o", str(tmp_path / "a.vtok"), "--model", str(tmp_path / "ck"),
             "--mode", "tiny", "--dtype", "int8")
    assert r.returncode == 0, r.stderr
    assert vtok.decode((tmp_path / "a.vtok").read_bytes())[1]["tokens"] == 64
    r = _here(capsys, "optical", "ocr", str(tmp_path / "a.vtok"), "--model", str(tmp_path / "ck"))
    assert r.returncode == 0, r.stderr
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "bad.vtok").write_bytes((tmp_path / "a.vtok").read_bytes()[:-3])
    for args in (["render", str(tmp_path / "empty.txt"), "-o", str(tmp_path / "p2")],
                 ["ocr", str(tmp_path / "bad.vtok"), "--model", str(tmp_path / "ck")],
                 ["encode", str(tmp_path / "a.md"), "-o", str(tmp_path), "--model", str(tmp_path / "ck")],   # a folder
                 ["encode", str(tmp_path / "a.md"), "-o", str(tmp_path / "x.png"), "--model", str(tmp_path / "ck")],
                 ["ocr", str(tmp_path / "a.md"), "--model", str(tmp_path / "nope")],
                 ["render", str(tmp_path / "a.md"), "-o", str(tmp_path / "a.md")]):
        real = args[1].endswith("bad.vtok")       # one real process: no traceback escapes the interpreter
        r = _lab("optical", *args) if real else _here(capsys, "optical", *args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, (args, r.stderr)
    assert not (tmp_path / "x.vtok").exists() and not (tmp_path / "p2").exists()


def test_models_registry_lists_without_fetching():
    from lab import models

    names = {r["name"] for r in models.describe()}
    assert names == {"smollm2-135m-instruct", "all-minilm-l6-v2", "optical-reader", "optical-reader-pdf", "optical-lm-reader",
                     "llm-latent-r48", "optical-qa-answerer", "optical-qa-vision"}
    r = _lab("models", "list", "--json")
    assert r.returncode == 0 and {x["name"] for x in json.loads(r.stdout)} == names
    r = _lab("models", "fetch", "no-such-model")
    assert r.returncode == 2 and "unknown model" in r.stderr


def test_committed_optical_reader_reads_an_unseen_page(tmp_path, monkeypatch):
    """The default model (models/optical-reader) through the CLI: render a page of a text no training page
    came from, read it back in small mode at the issue's bar, 90% (GPU run 21's weights: 92.1%)."""
    from lab import data, models

    src = tmp_path / "unseen.txt"
    src.write_text(data.path("canterbury", "alice29.txt").read_text(errors="replace")[800:1500])
    r = _lab("optical", "render", str(src), "-o", str(tmp_path / "pages"), "--width", "640", "--height", "640", "--size", "14")
    assert r.returncode == 0, r.stderr
    r = _lab("optical", "ocr", str(tmp_path / "pages" / "unseen-p001.png"), "--mode", "small")
    assert r.returncode == 0, r.stderr
    assert precision(r.stdout, (tmp_path / "pages" / "unseen-p001.txt").read_text()) >= 0.9
    r = _lab("optical", "ocr", str(tmp_path / "pages" / "unseen-p001.png"), "--mode", "small", "--model", "optical-reader-pdf")
    assert r.returncode == 0, r.stderr       # a registered model by name: the PDF fine-tune reads the render as well
    assert precision(r.stdout, (tmp_path / "pages" / "unseen-p001.txt").read_text()) >= 0.9
    bad = tmp_path / "models" / "optical-reader"
    bad.mkdir(parents=True)
    (bad / "config.json").write_text(json.dumps({"sha256": "0" * 64}))
    monkeypatch.setenv("LAB_MODELS", str(tmp_path / "models"))
    with pytest.raises(Exception, match="not the registered optical-reader"):
        models.trained_path("optical-reader")
    with pytest.raises(Exception, match="not the registered optical-reader"):     # a name is checked as one
        models.trained_or_path("optical-reader")
    assert models.trained_or_path(bad) == bad and models.trained_or_path(str(bad)) == bad    # a folder is a folder


def test_line_reader_greedy_ctc_decoding():
    """Frames 'HH-E-LL-L-O' (BLANK = '-') read as 'HELLO': repeats collapse, a blank separates the two Ls."""
    r = Rd.LineReader(8, 16, 8, 16)
    path = "HH-E-LL-L-O"
    codes = [Rd.BLANK if c == "-" else Rd.CHARSET.index(c) + 1 for c in path]
    logits = torch.full((Rd.LINES, Rd.FRAMES, Rd.VOCAB), -10.0)
    logits[:, :, Rd.BLANK] = 10.0                    # every band blank ...
    for t, c in enumerate(codes):                    # ... but band 0 spells the path
        logits[0, t] = -10.0
        logits[0, t, c] = 10.0
    r.forward = lambda tokens: logits                # one page, one cell: (bands, frames, V)
    assert r.read_bands(torch.zeros(1, 1, 8)) == [["HELLO"] + [""] * (Rd.LINES - 1)]
    assert r.read(torch.zeros(1, 1, 8)) == ["HELLO"]


def test_training_stops_when_every_step_is_non_finite(capsys):
    """A run whose gradients are all non-finite ends after max_nonfinite skipped steps (GPU runs 7-9 idled to
    the limit)."""
    m = M.OpticalModel(TINY_ENC, TINY_RD)
    real = m.reader.loss
    m.reader.loss = lambda *a, **k: real(*a, **k) * float("nan")
    before = {k: v.clone() for k, v in m.state_dict().items()}
    cfg = T.TrainConfig(steps=500, batch=2, modes={"tiny": 1.0}, workers=0, reuse=1, eval_pages=0, log_every=10,
                        max_nonfinite=6)
    log = T.train(m, cfg, "cpu", progress=False)
    assert log == [] and "6 consecutive non-finite steps" in capsys.readouterr().out
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())     # the weights untouched


def test_reference_ocr_engines_read_a_rendered_page():
    from lab.optical import baselines

    pg = R.render_text(TEXT, R.Layout(width=640, height=640, size=16, margin=24))[0]
    for engine in baselines.ENGINES:
        assert precision(baselines.read(engine, pg.image), pg.text) > 0.9, engine
    with pytest.raises(ValueError, match="unknown OCR engine"):
        baselines.read("nope", pg.image)


def test_scanned_look_is_deterministic_and_changes_the_page():
    from lab.optical import study

    pg = R.render_text(TEXT, R.Layout(width=512, height=512, size=14))[0]
    a, b = study.scanned(pg.image, 3), study.scanned(pg.image, 3)
    assert np.array_equal(a, b) and a.shape == pg.image.shape
    assert np.abs(a.astype(int) - pg.image).mean() > 2           # rotated, blurred, noisy: not the same pixels
    assert not np.array_equal(study.scanned(pg.image, 4), a)


def test_fox_table_beside_the_quoted_anchor():
    from lab.optical import study

    fox = corpus.fox_pages(lambda t: len(t) // 4, per_bucket=1, buckets=(600,))
    rows = study.fox_rows(fox, {"echo": lambda page, mode: fox[0].text}, modes=("tiny",))
    t = study.fox_table(rows)
    assert len(t) == 1 and t[0]["precision"] == 1.0 and t[0]["DeepSeek-OCR precision (quoted)"] == 0.965
    assert t[0]["ratio"] == pytest.approx(fox[0].text_tokens / 64)


def test_first_per_bucket_keeps_each_buckets_first_pages():
    from lab.optical import study

    fox = corpus.fox_pages(lambda t: len(t) // 4, per_bucket=2, buckets=(600, 700))
    one = study.first_per_bucket(fox, 1)
    assert [p.bucket for p in fox] == [600, 600, 700, 700]
    assert one == [fox[0], fox[2]] and study.first_per_bucket(fox, 0) == fox and study.first_per_bucket(fox, 5) == fox


def test_curriculum_starts_with_large_fonts():
    cfg = T.TrainConfig(batch=4, modes={"tiny": 1.0}, easy_batches=1, easy_scale=(1 / 16, 1 / 12), size_scale=(1 / 60, 1 / 45))
    batches = list(zip(range(2), T.PageBatches(cfg, ["tiny", "tiny"])))
    chars = [sum(len(t) for t in b[4]) for _, b in batches]
    assert chars[0] * 3 < chars[1]          # fonts 3-4x larger: a fraction of the characters on the page


def test_grid_reader_lines_up_with_the_page_and_learns_one():
    """The grid reader's sequences are the same (page, cell row, band) rows as the line reader's: a token's
    features land in its own cell's bands and frames; and it memorises a page."""
    r = Rd.GridReader(8, ch=4, hidden=8)
    tokens = torch.zeros(1, 4, 8, requires_grad=True)          # a 2x2 grid of cells
    out = r(tokens)
    assert out.shape == (2 * Rd.LINES, 2 * Rd.FRAMES, Rd.VOCAB)
    out[Rd.LINES + 3, Rd.FRAMES + 5].sum().backward()           # cell row 1, band 3, frame 5 of column 1
    touched = tokens.grad.abs().sum(-1)[0]
    assert touched[3] > 0 and touched[0] == 0                   # token 3 = (row 1, col 1); row 0 untouched
    torch.manual_seed(0)
    m = M.OpticalModel(TINY_ENC, M.ReaderConfig(kind="grid", emb=8, frame_hidden=32))
    pg = R.render_text("the cat sat on the mat", R.Layout(width=256, height=256, size=24, margin=16))[0]
    tg = torch.from_numpy(Rd.targets(pg.lines, 256, 4))[None]                # a 256-px page: 4x4 cells
    x = 1 - torch.from_numpy(pg.image).float()[None, None] / 255
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    for _ in range(200):    # 91% at 200 steps, 100% at 280 (before the empty bands' CTC was weighted down: all blank)
        loss = m.reader.loss(m.encoder(x), tg, 0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        assert precision(m.reader.read(m.encoder(x))[0], pg.text) > 0.8


def test_config_overrides_and_the_res_stem():
    from lab.optical.encoder import EncoderConfig, VisionEncoder

    enc, rd, tc = T.load_yaml("configs/optical/cpu.yaml", ["encoder.stem=conv", "reader.kind=line", "train.lr=0.01"])
    assert enc.stem == "conv" and rd.kind == "line" and tc.lr == 0.01
    assert T.load_yaml("configs/optical/cpu.yaml")[1].kind == "grid"
    with pytest.raises(ValueError, match="section.key=value"):
        T.load_yaml("configs/optical/cpu.yaml", ["lr=0.1"])
    with pytest.raises(ValueError, match="unknown reader kind"):
        M.OpticalModel(enc, M.ReaderConfig(kind="nope"))
    e = VisionEncoder(EncoderConfig(local_dim=32, local_layers=1, local_heads=2, dim=32, global_layers=1,
                                    global_heads=2, stem="res"))
    assert e(torch.zeros(2, 1, 640, 640)).shape == (2, 100, 32)




def test_fine_tuning_with_an_anchor_keeps_the_rendered_pages_tokens_near_the_start():
    """`anchor`: the rendered pages' tokens are pulled back to the starting encoder's (a stage-2 reader trained on
    them still reads them); without it the same steps move them further."""
    torch.manual_seed(0)
    start = M.OpticalModel(TINY_ENC, TINY_RD)
    x = torch.rand(2, 1, 512, 512)
    with torch.no_grad():
        ref = start.encoder(x)
    assert T.anchor_loss(ref, start.encoder, (255 * (1 - x)).round().to(torch.uint8)) < 1e-3   # ink(pixels) = x

    def drift(anchor):
        m = M.OpticalModel(TINY_ENC, TINY_RD)
        m.load_state_dict(start.state_dict())
        cfg = T.TrainConfig(steps=6, batch=2, modes={"tiny": 1.0}, workers=0, eval_pages=0, log_every=100, lr=3e-3,
                            warmup=1, anchor=anchor)
        T.train(m, cfg, "cpu", progress=False)
        with torch.no_grad():
            return float((m.encoder(x) - ref).pow(2).mean() / ref.pow(2).mean())

    assert drift(100.0) < 0.5 * drift(0.0)
