"""`lab vortex train | compress | decompress | eval`."""
from __future__ import annotations

import json

from lab import UsageError
from lab.cliargs import device as _device, in_range
from lab.files import check_output, code_file, coded_summary, decoded_summary


def cmd_train(args) -> int:
    import torch

    from lab import data
    from lab.vortex import train as T
    from lab.vortex.model import VortexModel

    from pathlib import Path

    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(f"--out {args.out}: exists and is not a folder (a checkpoint is a folder)")
    mc, tc = T.load_yaml(args.config)
    from dataclasses import replace

    if args.steps:
        tc = replace(tc, steps=args.steps)
    if args.time_limit is not None:
        tc = replace(tc, time_limit=args.time_limit)
    tc = replace(tc, seed=args.seed)
    dev = _device(args.device)
    torch.manual_seed(args.seed)
    if args.mix:
        from lab import corpora

        tr, va = corpora.mix(args.mix)[0], data.read_split("canterbury-large", "test")
    else:
        tr, va = data.read_split(args.data, "train"), data.read_split(args.data, "test")
    va = va[: args.val_bytes]
    model = VortexModel(mc)
    log, vb = T.train(model, tr, tc, dev, va, progress=not args.quiet, resume=args.resume,
                      save_state=args.save_state, stop_after=args.stop_after)
    rank, world, _ = T._dist()
    if world > 1:
        import torch.distributed as dist

        import gc

        gc.collect()                    # the DDP wrapper and its reducer freed while the group and interpreter live:
        dist.barrier()                  # gloo work freed at interpreter exit aborts a rank ("terminate called
        dist.destroy_process_group()    # without an active exception", seen twice on fresh clones); no rank tears
                                        # gloo down while another is still in a collective
    if rank != 0:
        return 0
    sha = T.save(model, args.out, {"train_log": log, "val_bpb": vb, "data": args.mix or args.data, "device": dev})
    out = {"out": args.out, "sha256": sha, "params": model.n_params(), "val_bpb": vb, "steps": log[-1]["step"] + 1,
           "seconds": log[-1]["seconds"]}
    print(json.dumps(out) if args.json else f"{args.out}: {out['params']:,} parameters, held-out {vb:.3f} bits/byte "
          f"after {out['steps']} steps ({out['seconds']:.0f} s), sha256 {sha[:12]}")
    return 0


def _model(args, dev):
    from lab.vortex import train as T

    if not args.model:
        raise UsageError("--model CKPT is needed (or --online to compress without a trained model)")
    return T.load(args.model, dev)


def cmd_compress(args) -> int:
    from lab.vortex import codec

    check_output(args.output, inputs=[args.input], suffixes=(".vtx",))   # before the model loads
    dev = _device(args.device)
    if args.online:
        if args.model:
            raise UsageError("--online trains its own model: leave out --model")
        if dev != "cpu":
            raise UsageError("--online runs on CPU only (CUDA training steps are not bit-reproducible)")
        conf = dict(codec.ONLINE_DEFAULT)
        if args.online_lr:
            conf["lr"] = args.online_lr
        model, sha = None, None
    else:
        model, sha = _model(args, dev)
        conf = None
    n_in, n_out, dt = code_file(args.input, args.output, lambda data: codec.compress(
        data, model, sha, streams=args.streams, device=dev, online=conf), (".vtx",))
    if not args.quiet:
        print(coded_summary(args.output, n_in, n_out, dt, " (online)" if args.online else ""))
    return 0


def cmd_decompress(args) -> int:
    from lab.vortex import codec

    def decode(blob):
        model, sha = (None, None) if codec.is_online(blob) else _model(args, dev)
        return codec.decompress(blob, model, sha, device=dev)

    check_output(args.output, inputs=[args.input])
    dev = _device(args.device)
    _, n_out, dt = code_file(args.input, args.output, decode, name_errors=True)
    if not args.quiet:
        print(decoded_summary(args.output, n_out, dt))
    return 0


def add_parser(sub) -> None:
    from lab.corpora import MIXES

    v = sub.add_parser("vortex", help="the compressive-transformer lossless codec (.vtx)")
    vs = v.add_subparsers(dest="verb", required=True)
    p = vs.add_parser("train", help="train a model on a registered dataset's train split (torchrun for DDP)")
    p.add_argument("--config", default="configs/vortex/default.yaml")
    p.add_argument("--data", default="canterbury-large", help="dataset whose train split trains (test: held out)")
    p.add_argument("--mix", choices=sorted(MIXES),
                   help="train on a lab.corpora mix instead (english: `make corpora` first); held out: bible's test split")
    p.add_argument("--out", required=True, help="checkpoint folder")
    p.add_argument("--steps", type=in_range(int, 1))
    p.add_argument("--time-limit", type=in_range(float, 1), help="seconds for the whole schedule")
    p.add_argument("--stop-after", type=in_range(float, 1),
                   help="stop this call after so many seconds (continue with --resume)")
    p.add_argument("--resume", help="training-state file to continue from (if it exists)")
    p.add_argument("--save-state", help="write the training state (weights + optimiser) here at the end")
    p.add_argument("--val-bytes", type=in_range(int, 1), default=65536)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)
    for verb, fn in (("compress", cmd_compress), ("decompress", cmd_decompress)):
        p = vs.add_parser(verb, help=f"{verb} with a trained model (or online, without one)")
        p.add_argument("input")
        p.add_argument("-o", "--output", required=True)
        p.add_argument("--model", help="checkpoint folder from `lab vortex train`")
        p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
        p.add_argument("--quiet", action="store_true")
        if verb == "compress":
            p.add_argument("--streams", type=in_range(int, 1, 65535), default=16,
                           help="independent streams decoded as one batch")
            p.add_argument("--online", action="store_true",
                           help="no trained model: learn while coding (CPU, deterministic replay in the decoder)")
            p.add_argument("--online-lr", type=in_range(float, 1e-8, 1.0))
        p.set_defaults(func=fn)
