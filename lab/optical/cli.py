"""`lab optical render | encode | ocr | train`, and the memory bank's verbs (bank/cli.py)."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from lab import UsageError
from lab.cliargs import in_range
from lab.files import about, atomic_write, check_output, image_bytes

DEFAULT_MODEL = "optical-reader"       # lab.models.TRAINED: models/optical-reader/


def _layout(args):
    from lab.optical.render import Layout

    try:
        return Layout(width=args.width, height=args.height, margin=args.margin, font=args.font, size=args.size).check()
    except ValueError as e:
        raise UsageError(str(e)) from None


def cmd_render(args) -> int:
    from lab.optical import render as R

    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder (pages are written into a folder)")
    pages = R.render_file(args.input, _layout(args), dpi=args.dpi)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.input).stem
    rows = []
    for p in pages:
        name = out / f"{stem}-p{p.number + 1:03d}.png"
        atomic_write(name, image_bytes(p.image))
        atomic_write(name.with_suffix(".txt"), p.text.encode())
        rows.append({"page": p.number + 1, "png": str(name), "chars": len(p.text), "kind": p.kind})
    if args.json:
        print(json.dumps(rows))
    elif not args.quiet:
        print(f"{args.input}: {len(pages)} page(s) -> {out}/ ({pages[0].kind}; text beside each page as .txt)")
    return 0


def _model(args):
    from lab import models
    from lab.optical import model as M

    return M.load(models.trained_or_path(args.model or DEFAULT_MODEL))


def _page_image(args):
    from lab.optical import render as R

    pages = R.render_file(args.input, _layout(args))
    if not 1 <= args.page <= len(pages):
        raise UsageError(f"--page {args.page}: {args.input} has {len(pages)} page(s)")
    return pages[args.page - 1].grey(), len(pages)


def cmd_encode(args) -> int:
    from lab.optical import vtok

    check_output(args.output, inputs=[args.input], suffixes=(".vtok",))
    model, meta = _model(args)
    img, n = _page_image(args)
    tokens = model.encode([img], args.mode)[0].numpy()
    blob = vtok.encode(tokens, args.mode, meta["sha256"], args.dtype, {"source": Path(args.input).name, "page": args.page})
    atomic_write(args.output, blob)
    if not args.quiet:
        print(f"{args.output}: page {args.page} of {n}, {tokens.shape[0]} tokens x {tokens.shape[1]} ({args.dtype}, "
              f"mode {args.mode}), {len(blob):,} bytes")
    return 0


def cmd_ocr(args) -> int:
    import sys

    import torch

    from lab.optical import vtok

    if args.reader == "lm" and not args.model:        # the stage-1 model whose tokens the LM reader was trained on
        from lab import models
        from lab.optical.train_lm import stage1_name

        args.model = stage1_name(models.trained_or_path(args.lm_reader or "optical-lm-reader")) or DEFAULT_MODEL
    model, meta = _model(args)
    ref = None
    if args.reference:
        try:
            ref = Path(args.reference).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"--reference {args.reference}: not a readable UTF-8 text file ({e.__class__.__name__})") from None
    if args.input.lower().endswith(".vtok"):
        with about(args.input):
            tokens, head = vtok.decode(Path(args.input).read_bytes())
        if head["encoder_sha"] != meta["sha256"]:
            raise UsageError(f"{args.input} was encoded by encoder {head['encoder_sha'][:12]}..., not this model's "
                             f"{meta['sha256'][:12]}...")
        vt = torch.from_numpy(tokens)[None].float()
    else:
        img, _ = _page_image(args)
        if min(img.shape[:2]) < 64:
            raise UsageError(f"{args.input}: a {img.shape[1]}x{img.shape[0]}-pixel page is too small to read "
                             "(at least 64 pixels a side)")
        vt = model.encode([img], args.mode)
    if args.reader == "lm":
        from lab import models
        from lab.optical.train_lm import load_reader

        name = args.lm_reader or "optical-lm-reader"
        reader, _ = load_reader(models.trained_or_path(name), model)
        text = reader.generate(vt, max_new_tokens=args.max_new_tokens, guidance=args.guidance)[0]
    else:
        text = model.reader.read(vt)[0]
    print(text)
    if not text.strip():
        print(f"{args.input}: no text found on the page ({args.reader} reader, mode {args.mode})", file=sys.stderr)
    if ref is not None:
        from lab.optical.metrics import precision

        print(f"precision {precision(text, ref):.4f} against {args.reference} ({args.reader} reader, mode {args.mode})",
              file=sys.stderr)
    return 0


def cmd_train(args) -> int:
    from lab.optical import model as M, train_ctc as T

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder (a checkpoint is a folder)")
    enc, rd, tc = T.load_yaml(args.config)
    if args.steps:
        tc = replace(tc, steps=args.steps)
    if args.time_limit:
        tc = replace(tc, time_limit=args.time_limit)
    import torch

    dev = "cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device)
    if dev == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device here")
    model = M.load(args.init, dev)[0] if args.init else M.OpticalModel(enc, rd)
    log = T.train(model, tc, dev, progress=not args.quiet, resume=args.resume, save_state=args.save_state)
    evals = [T.evaluate(model, m, 8, split="test") for m in tc.modes]
    sha = M.save(model, out, {"train_log": log, "config": args.config, "device": dev, "test_sampled": evals})
    res = {"out": str(out), "sha256": sha, "params": model.n_params(), "steps": log[-1]["step"] if log else 0,
           "precision": {e["mode"]: e["precision"] for e in evals}}
    print(json.dumps(res) if args.json else f"{out}: {res['params']:,} parameters, {res['steps']} steps, precision on "
          f"sampled test pages {res['precision']}, sha256 {sha[:12]}")
    return 0


def add_parser(sub) -> None:
    from lab.optical.modes import MODES
    from lab.optical.fonts import FONTS

    o = sub.add_parser("optical", help="optical context compression: pages -> vision tokens -> text")
    os_ = o.add_subparsers(dest="verb", required=True)

    def layout(p):      # the defaults: a small-mode page at a size the reader reads (92% on unseen text)
        p.add_argument("--width", type=in_range(int, 64, 8192), default=640, help="page width in pixels (documents "
                       "that are not images)")
        p.add_argument("--height", type=in_range(int, 64, 8192), default=640, help="page height in pixels")
        p.add_argument("--margin", type=in_range(int, 0, 2048), default=48, help="page margin in pixels")
        p.add_argument("--font", choices=sorted(FONTS), default="DejaVuSans", help="font family")
        p.add_argument("--size", type=in_range(int, 4, 200), default=14, help="font size in pixels")

    p = os_.add_parser("render", help="render a document (text, markdown, code, PDF, Word, image) to page images")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True, help="folder for the pages (PNG + the text as .txt)")
    layout(p)
    p.add_argument("--dpi", type=in_range(int, 36, 600), default=200, help="PDF rendering resolution")
    p.add_argument("--json", action="store_true", help="print the pages written as JSON")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(func=cmd_render)

    for verb, fn, what in (("encode", cmd_encode, "encode one page into a .vtok file of vision tokens"),
                           ("ocr", cmd_ocr, "read a page (image, document or .vtok) back into text")):
        p = os_.add_parser(verb, help=what)
        p.add_argument("input")
        if verb == "encode":
            p.add_argument("-o", "--output", required=True)
            p.add_argument("--dtype", choices=["fp16", "int8"], default="fp16", help="how the tokens are stored")
            p.add_argument("--quiet", action="store_true", help="print nothing on success")
        p.add_argument("--model", help="a lab-trained model's name (optical-reader, optical-reader-pdf: `lab models "
                       "list`) or a checkpoint folder from `lab optical train` (default: the committed "
                       f"{DEFAULT_MODEL}, models/{DEFAULT_MODEL}/; with --reader lm, the one whose tokens the LM "
                       "reader reads)")
        p.add_argument("--mode", choices=list(MODES), default="small", help="resolution mode (token budget)")
        p.add_argument("--page", type=in_range(int, 1), default=1, help="which page of a multi-page document")
        if verb == "ocr":
            p.add_argument("--reader", choices=("ctc", "lm"), default="ctc",
                           help="ctc: the stage-1 reader; lm: the stage-2 language-model reader (SmolLM2 + LoRA; slower)")
            p.add_argument("--lm-reader", help="--reader lm: the stage-2 reader folder (default: the committed "
                           "optical-lm-reader)")
            p.add_argument("--max-new-tokens", type=in_range(int, 1, 8192), default=1600,
                           help="--reader lm: the most text tokens written")
            p.add_argument("--guidance", type=in_range(float, 0, 10), default=1.0,
                           help="--reader lm: weigh each token against what the LM writes with no page (classifier-free "
                           "guidance; 0: plain greedy; 1 read whole held-out pages best, reports/optical.md)")
            p.add_argument("--reference", help="a text file with the page's true text: print the precision (stderr)")
        layout(p)
        p.set_defaults(func=fn)

    from lab.optical.bank import cli as bank_cli

    bank_cli.add_parsers(os_)

    p = os_.add_parser("train", help="train the encoder and its cell reader on rendered pages (stage 1)")
    p.add_argument("--config", default="configs/optical/cpu.yaml")
    p.add_argument("--out", required=True, help="checkpoint folder")
    p.add_argument("--steps", type=in_range(int, 1))
    p.add_argument("--time-limit", type=in_range(float, 1))
    p.add_argument("--init", help="start from this checkpoint's weights")
    p.add_argument("--resume", help="training-state file to continue from (if it exists)")
    p.add_argument("--save-state", help="write the training state here at the end")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)
