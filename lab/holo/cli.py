"""`lab holo compress | view | focus | zoom | info`."""
from __future__ import annotations

import json
from pathlib import Path

from lab import UsageError
from lab.cliargs import in_range
from lab.files import IMAGE_FORMATS, about, atomic_write, check_output, image_bytes, image_format


def read_image(path: str):
    from PIL import Image, UnidentifiedImageError

    from lab.holo.format import MAX_PIXELS, check_dims

    try:
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        with Image.open(path) as im:
            w, h = im.size
            check_dims(w, h)
            import numpy as np

            return np.asarray(im.convert("RGB"))
    except UnidentifiedImageError:
        raise UsageError(f"{path}: not an image Pillow can read") from None
    except Image.DecompressionBombError as e:
        raise UsageError(f"{path}: {e}") from None


def image_output(args, default_suffix: str) -> str:
    """The output image path (given or derived from the input), checked before any work."""
    out = args.output or str(Path(args.input).with_suffix(default_suffix))
    check_output(out, inputs=[args.input], suffixes=tuple(IMAGE_FORMATS), what="output image")
    return out


def write_image(img, path: str) -> None:
    atomic_write(path, image_bytes(img, image_format(path)))


def _naming(cmd):
    """A verb that reads a .holo file: its format errors name the file."""
    def run(args):
        with about(args.input):
            return cmd(args)
    return run


def read_holo(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _parse_k(s: str) -> int:
    if s == "auto":
        return -1
    if s == "all":
        return 0
    try:
        return int(s)
    except ValueError:
        raise UsageError(f"--k must be an integer, 'auto' or 'all', not {s!r}") from None


def _params(args):
    from lab.holo.codec import HoloParams

    return HoloParams(mode=args.mode, k=_parse_k(args.k), clusters=args.clusters, vq_dims=args.vq_dims,
                      patch=args.patch, step=16.0 if args.step is None else args.step, chroma_step=args.chroma_step,
                      subsample=not args.no_subsample, basis=args.basis, deadzone=args.deadzone,
                      rd_lambda=args.rd_lambda, seed=args.seed).validate()


def cmd_compress(args) -> int:
    from lab.holo import codec as C
    from lab.holo import rd
    from lab.metrics import psnr

    check_output(args.output, inputs=[args.input], suffixes=(".holo",))
    img = read_image(args.input)
    params = _params(args)
    if args.quality is not None:
        from dataclasses import replace

        params = replace(params, step=rd.quality_to_step(args.quality))
    if args.bpp is not None or args.psnr is not None:
        params, blob = rd.search_step(img, params, target_bpp=args.bpp, target_psnr=args.psnr,
                                      progress=not args.quiet)
    else:
        blob = C.encode(img, params)
    atomic_write(args.output, blob)
    meta = C.info(blob)
    meta["psnr"] = psnr(img, C.decode_image(blob))
    meta["output"] = args.output
    if args.json:
        print(json.dumps(meta))
    elif not args.quiet:
        k = "" if meta["k"] is None else f", k={meta['k']}"
        print(f"{args.output}: {meta['bytes']:,} bytes, {meta['bpp']:.3f} bpp, PSNR {meta['psnr']:.2f} dB "
              f"(mode {meta['mode']}{k}, step {meta['step']:.3g})")
    return 0


def cmd_view(args) -> int:
    from lab.holo import codec as C

    check_output(args.output, inputs=[args.input], suffixes=tuple(IMAGE_FORMATS), what="output image")
    img = C.decode_image(read_holo(args.input), k=args.k)
    write_image(img, args.output)
    if not args.quiet:
        print(f"{args.output}: {img.shape[1]}x{img.shape[0]}" + (f" (first {args.k} components)" if args.k else ""))
    return 0


def cmd_focus(args) -> int:
    from lab.holo import render as R

    if args.sweep == (args.k is not None):
        raise UsageError("focus needs either --k K or --sweep")
    out = image_output(args, ".focus.png" if args.sweep else f".k{args.k}.png")
    blob = read_holo(args.input)
    if args.sweep:
        if image_format(out) not in ("PNG", "GIF"):
            raise UsageError(f"{out}: a focus sweep is written as a .png strip or a .gif animation")
        frames = R.focus_sweep(blob)
        ims = [im for _, im in frames]
        atomic_write(out, image_bytes(ims) if out.lower().endswith(".gif") else
                     image_bytes(__import__("numpy").concatenate(ims, axis=1)))
        if not args.quiet:
            print(f"{out}: k = {', '.join(str(k) for k, _ in frames)}")
        return 0
    write_image(R.focus(blob, args.k), out)
    if not args.quiet:
        print(f"{out}: first {args.k} components")
    return 0


def cmd_zoom(args) -> int:
    from lab.holo import render as R

    try:
        region = tuple(int(v) for v in args.region.split(","))
    except ValueError:
        region = ()
    if len(region) != 4:
        raise UsageError("--region must be x,y,w,h (integers)")
    out = image_output(args, ".zoom.png")
    img = R.zoom(read_holo(args.input), region, args.scale, k=args.k)
    write_image(img, out)
    if not args.quiet:
        print(f"{out}: region {args.region} at {args.scale}x -> {img.shape[1]}x{img.shape[0]}")
    return 0


def cmd_info(args) -> int:
    from lab.holo import codec as C
    from lab.metrics import ms_ssim, psnr

    blob = read_holo(args.input)
    meta = C.info(blob)
    if args.reference:
        ref = read_image(args.reference)
        rec = C.decode_image(blob)
        if ref.shape != rec.shape:
            raise UsageError(f"reference is {ref.shape[1]}x{ref.shape[0]}, file is {rec.shape[1]}x{rec.shape[0]}")
        meta["psnr"] = psnr(ref, rec)
        if min(ref.shape[:2]) >= 176:
            meta["ms_ssim"] = ms_ssim(ref, rec)
    if args.json:
        print(json.dumps(meta))
        return 0
    print(f"{args.input}: .holo v{meta['version']}, {meta['width']}x{meta['height']}, {meta['bytes']:,} bytes, "
          f"{meta['bpp']:.4f} bpp")
    if meta["mode"] == "intra":
        print(f"  mode intra (predicted 32/16/8 DCT blocks, deblocked), step {meta['step']:.4g}, "
              f"4:2:0 {meta['subsample']}")
    else:
        print(f"  mode {meta['mode']}, patch {meta['patch']}, k {meta['k']}, clusters {meta['clusters']}, "
              f"basis {meta['basis']}, step {meta['step']:.4g}, 4:2:0 {meta['subsample']}")
    print(f"  Df of the patch detail {meta['df']} (each patch's mean removed; `-k auto` keeps 1 + round(Df))")
    print("  sections: " + ", ".join(f"{k} {v:,} B" for k, v in meta["sections"].items()))
    if "psnr" in meta:
        print(f"  PSNR {meta['psnr']:.3f} dB" + (f", MS-SSIM {meta['ms_ssim']:.4f}" if "ms_ssim" in meta else ""))
    return 0


def add_parser(sub) -> None:
    h = sub.add_parser("holo", help="the holographic image codec (.holo)")
    hs = h.add_subparsers(dest="verb", required=True)

    def common(p):
        p.add_argument("--quiet", action="store_true", help="no progress or summary output")

    p = hs.add_parser("compress", help="encode an image into a .holo file")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--mode", choices=["vq", "pca", "residual", "intra"], default="pca",
                   help="intra: prediction from decoded neighbours, RD-chosen 32/16/8 blocks, RDOQ, deblocking "
                        "(the smallest files; no focus or zoom)")
    p.add_argument("-k", "--k", default="all",
                   help="components per patch: an integer, 'all', or 'auto' = 1 + round(Df of the patch detail, "
                        "each patch's mean removed)")
    p.add_argument("--clusters", "-C", type=in_range(int, 1, 65535), default=256, help="VQ codebook size")
    p.add_argument("--vq-dims", type=in_range(int, 1, 768), default=16, help="PCA dimensions of the VQ codebook")
    p.add_argument("--patch", type=int, default=8, choices=[4, 8, 16])
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--step", type=in_range(float, 1e-3, 1e4), help="quantiser step in pixel units (default 16)")
    rate.add_argument("--quality", type=in_range(float, 0, 100), help="0..100, mapped to a step")
    rate.add_argument("--bpp", type=in_range(float, 1e-3, 48), help="search the step for this rate (bits per pixel)")
    rate.add_argument("--psnr", type=in_range(float, 1, 100), help="search the step for this PSNR (dB)")
    p.add_argument("--chroma-step", type=in_range(float, 1e-2, 100), default=1.0,
                   help="chroma step as a multiple of the luma step")
    p.add_argument("--basis", choices=["dct", "klt", "auto"], default="dct")
    p.add_argument("--deadzone", type=in_range(float, 0, 0.5), default=0.30,
                   help="rounding offset (0.5 = plain rounding)")
    p.add_argument("--no-subsample", action="store_true", help="code chroma at full resolution")
    p.add_argument("--rd-lambda", type=in_range(float, 1e-3, 100), default=0.1,
                   help="intra: rate-distortion multiplier, in step^2 per bit")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    common(p)
    p.set_defaults(func=cmd_compress)

    p = hs.add_parser("view", help="decode a .holo file to an image")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("-k", "--k", type=in_range(int, 1), help="render with the first K components only")
    common(p)
    p.set_defaults(func=_naming(cmd_view))

    p = hs.add_parser("focus", help="render with the first K components (or a sweep over K)")
    p.add_argument("input")
    p.add_argument("-k", "--k", type=in_range(int, 1), help="components to keep (1..the file's k)")
    p.add_argument("--sweep", action="store_true", help="write a strip (.png) or animation (.gif) over k")
    p.add_argument("-o", "--output")
    common(p)
    p.set_defaults(func=_naming(cmd_focus))

    p = hs.add_parser("zoom", help="render a region at S x by resampling the basis functions")
    p.add_argument("input")
    p.add_argument("--region", required=True, help="x,y,w,h in pixels")
    p.add_argument("--scale", type=in_range(float, 0.01, 64), default=4.0)
    p.add_argument("-k", "--k", type=in_range(int, 1), help="components to keep (1..the file's k)")
    p.add_argument("-o", "--output")
    common(p)
    p.set_defaults(func=_naming(cmd_zoom))

    p = hs.add_parser("info", help="size, bpp, mode, k, C, Df, section sizes (PSNR with --reference)")
    p.add_argument("input")
    p.add_argument("--reference", help="original image, to report PSNR / MS-SSIM")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_naming(cmd_info))
