"""`lab llmzip compress | decompress`: lossless coding with a pretrained LM's probabilities (.llmz)."""
from __future__ import annotations

from lab.cliargs import device as _device, in_range
from lab.files import about, check_output, code_file, coded_summary, decoded_summary


def _model(name: str, dev: str):
    """(lm, tok, sha): a `lab.models` LM (sha = its file's registered sha256) or "tiny-random" (tests)."""
    from lab.llmzip import codec

    if name == "tiny-random":
        lm, tok, sha = codec.tiny_model()
        return lm.to(dev), tok, sha
    from lab import models

    lm, tok = models.load_lm(name, dev)
    return lm, tok, models.MODELS[name].sha256


def _sha_of(name: str) -> str:
    """A model's identity without loading it: the registered file sha256, or the tiny model's weights' sha."""
    if name == "tiny-random":
        from lab.llmzip import codec

        return codec.tiny_model()[2]
    from lab import models

    return models._spec(name).sha256


def _name_of(sha: str) -> str:
    from lab import models

    names = [m.name for m in models.MODELS.values() if m.sha256 == sha]
    if not names and sha == _sha_of("tiny-random"):
        names = ["tiny-random"]
    return f"{names[0]} ({sha[:12]}...)" if names else f"an unknown model ({sha[:12]}...)"


def cmd_compress(args) -> int:
    from lab import UsageError
    from lab.llmzip import codec, mixing

    try:
        codec.check_settings(args.streams, args.context, args.keep)
        mix = mixing.flags_of(x.strip() for x in args.mix.split(","))
        codec.check_dtype(args.dtype, mix)
        if args.adapt_lr is not None and not mix & mixing.ADAPT:
            raise ValueError("adapt-lr: the adapter's rate goes with --mix adapt")
        lr = codec.adapt_rate(mix, args.adapt_lr)
    except ValueError as e:
        raise UsageError(f"--{e}") from None
    check_output(args.output, inputs=[args.input], suffixes=(".llmz",))   # before the model loads
    dev = _device(args.device)
    lm, tok, sha = _model(args.model, dev)
    n_in, n_out, dt = code_file(args.input, args.output, lambda data: codec.compress(
        data, lm, tok, sha, streams=args.streams, device=dev, context=args.context, keep=args.keep, mix=mix,
        engine=args.engine, dtype=args.dtype, adapt_lr=lr or None), (".llmz",))
    if not args.quiet:
        print(coded_summary(args.output, n_in, n_out, dt))
    return 0


def cmd_decompress(args) -> int:
    from lab import UsageError
    from lab.llmzip import codec

    check_output(args.output, inputs=[args.input])
    dev = _device(args.device)
    with open(args.input, "rb") as f, about(args.input):
        written = codec.model_of(f.read())         # a malformed file or another model is refused before loading
    if args.model != "tiny-random" and written != _sha_of(args.model):   # (the tiny model is checked as it loads)
        raise UsageError(f"{args.input} was written with model {_name_of(written)}, not {args.model}: decompress "
                         "with the same --model")
    lm, tok, sha = _model(args.model, dev)
    _, n_out, dt = code_file(args.input, args.output, lambda blob: codec.decompress(blob, lm, tok, sha, device=dev),
                             name_errors=True)
    if not args.quiet:
        print(decoded_summary(args.output, n_out, dt))
    return 0


def add_parser(sub) -> None:
    v = sub.add_parser("llmzip", help="lossless coding driven by a pretrained LM (.llmz)")
    vs = v.add_subparsers(dest="verb", required=True)
    for verb, fn in (("compress", cmd_compress), ("decompress", cmd_decompress)):
        p = vs.add_parser(verb, help=f"{verb} with a pretrained LM (the same model both ways)")
        p.add_argument("input")
        p.add_argument("-o", "--output", required=True)
        p.add_argument("--model", default="smollm2-135m-instruct", help="a `lab models` LM (or tiny-random, for tests)")
        p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
        p.add_argument("--quiet", action="store_true")
        if verb == "compress":
            p.add_argument("--streams", type=in_range(int, 1, 4096), default=16, help="token streams coded as one batch")
            p.add_argument("--context", type=in_range(int, 2, 8192), default=2048, help="tokens before the cache restarts")
            p.add_argument("--keep", type=in_range(int, 0, 8191), default=512, help="tokens a restart keeps")
            p.add_argument("--mix", default="none", help="online models mixed with the LM while coding, comma-"
                           "separated: bias (adaptive log-space bias), ngram (token 2-gram), match (8-token match "
                           "model), ctx (the document's token 1-6-gram counts and an 8-token match as a log-linear boost "
                           "conditioned on the LM's own probability), shared (one bias and table for every stream, not "
                           "one per stream); all (the five); adapt (the LM's own weights take an Adam step on the "
                           "tokens coded every 256 steps: slower, the decoder takes the same steps); none (the LM alone)")
            p.add_argument("--adapt-lr", type=float, help="with --mix adapt: the adapter's Adam rate (default "
                           "1e-4, chosen on the lab's tuning text; the file records it, decompress follows)")
            p.add_argument("--engine", default="eager", choices=["eager", "static", "banded"],
                           help="how the model runs: eager (a growing cache), static (one fixed cache; on CUDA the "
                           "step as a captured CUDA graph) or banded (static, each step attending only the cache's "
                           "filled part rounded up to one of 8 bands: less memory traffic on a GPU); the file records "
                           "it, decompress follows")
            p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                           help="the model's arithmetic: bfloat16 runs a bfloat16 copy (faster on a GPU, at a small rate "
                           "cost; not with --mix adapt); the file records it, decompress follows")
        p.set_defaults(func=fn)
