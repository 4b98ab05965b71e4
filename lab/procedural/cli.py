"""`lab proc compress | decompress | explain`."""
from __future__ import annotations

import json

from lab.cliargs import in_range
from lab.files import code_file


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _params(args):
    from lab.procedural.machine import MachineParams

    p = MachineParams(ops=args.ops, fallback=not getattr(args, "no_fallback", False))
    p.mask()
    return p


def _summary(n_in: int, n_out: int, what: str) -> str:
    if n_in == 0:
        return f"empty input: {n_out} bytes ({what} only)"
    return f"{n_in:,} -> {n_out:,} bytes, {8 * n_out / n_in:.3f} bpc"


def cmd_compress(args) -> int:
    from lab.procedural.ops import KIND_NAMES

    plans = []

    def code(data):
        import os

        from lab.entropy import cm_native

        # the C model prices the bytes on a second thread while numpy and the machine are imported; the machine
        # calls no BLAS, whose idle threads would otherwise spin beside the pricing on a small machine
        pricing = cm_native.price_later(data) if cm_native.load() is not None else None
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        from lab.procedural import machine as M

        blob, plan = M.compress(data, _params(args), return_plan=True, pricing=pricing)
        plans.append(plan)
        return blob

    n_in, n_out, dt = code_file(args.input, args.output, code, (".proc",))
    plan = plans[0]
    kinds = {}
    for k in plan["okind"].tolist():
        kinds[k] = kinds.get(k, 0) + 1
    stats = {"input": args.input, "output": args.output, "bytes_in": n_in, "bytes_out": n_out,
             "bpc": 8 * n_out / max(1, n_in), "seconds": dt,
             "ops": {KIND_NAMES[k]: v for k, v in sorted(kinds.items())},
             "templates": len(plan["templates"]), "rules": len(plan["rules"])}
    if args.json:
        print(json.dumps(stats))
    elif not args.quiet:
        print(f"{args.output}: {_summary(n_in, n_out, 'the container')}, "
              f"{n_in / max(dt, 1e-9) / 1e6:.2f} MB/s, ops {stats['ops'] or 'literal only'}")
    return 0


def cmd_decompress(args) -> int:
    from lab.procedural import procfile   # not the machine: a literal-only file decodes without numba

    _, n_out, dt = code_file(args.input, args.output, procfile.decompress, name_errors=True)
    if args.json:
        print(json.dumps({"output": args.output, "bytes": n_out, "seconds": dt}))
    elif not args.quiet:
        print(f"{args.output}: {n_out:,} bytes ({n_out / max(dt, 1e-9) / 1e6:.2f} MB/s)")
    return 0


def cmd_explain(args) -> int:
    from lab.procedural import machine as M

    data = _read(args.input)
    if args.bytes:
        data = data[: args.bytes]
    prog, stats = M.explain(data, _params(args))
    if args.json:
        print(json.dumps({"stats": stats, "program": [
            {"op": str(e["op"]), "start": e["start"], "end": e["end"], "bits": e["bits"],
             "literal_bits": e["literal_bits"], "estimate": e["estimate"]} for e in prog[: args.limit]]},
            default=float))
        return 0
    t = stats["total"]
    if t["bytes_in"] == 0:
        print(f"empty input: the file is the {t['file_bytes']}-byte container only")
        return 0
    print(M.format_program(prog, args.limit))
    print()
    print(f"{'operator':10s} {'uses':>7s} {'bytes':>9s} {'bits':>11s} {'saved vs literal':>17s} {'per use':>8s}")
    for k, v in stats.items():
        if k == "total":
            continue
        saved = ("–", "–") if k == "LITERAL" else (f"{v['saved_bits']:.0f}", f"{v['saved_per_use']:.2f}")
        print(f"{k:10s} {v['uses']:7d} {v['bytes']:9d} {v['bits']:11.0f} {saved[0]:>17s} {saved[1]:>8s}")
    if "LITERAL" in stats:
        lit = stats["LITERAL"]
        print(f"(LITERAL is the reference: its {lit['bits']:.0f} bits include {-lit['saved_bits']:.0f} bits of "
              "operation codes over the literal model's price of the same bytes)")
    print()
    if t["literal_only"]:
        print("the operators did not pay on this input: the literal-only program is coded "
              "(--no-fallback shows the operator program)")
    layout = ("the input stored as is" if t["stored"] else
              f"stream {t['stream_bytes']:,} + tables {t['tables_bytes']:,}")
    print(f"file {t['file_bytes']:,} bytes = {t['bpc_file']:.3f} bpc, as `lab proc compress` writes it "
          f"({layout} + container {t['container_bytes']} bytes); stream alone {t['bpc_stream']:.3f} bpc")
    print(f"templates used {t['templates_used']}/{t['templates_learned']}, "
          f"rules used {t['rules_used']}/{t['rules_learned']}")
    return 0


def add_parser(sub) -> None:
    h = sub.add_parser("proc", help="the procedural compression machine (.proc)")
    hs = h.add_subparsers(dest="verb", required=True)

    def common(p, ops=True):
        p.add_argument("input")
        if ops:
            p.add_argument("--ops", default="CRTX",
                           help="operators besides LITERAL: C copy, R repeat, T template, X transform")
        p.add_argument("--json", action="store_true")
        p.add_argument("--quiet", action="store_true")

    p = hs.add_parser("compress", help="compress a file into .proc")
    common(p)
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_compress)
    p = hs.add_parser("decompress", help="rebuild the original file (CRC32-checked)")
    common(p, ops=False)
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_decompress)
    p = hs.add_parser("explain", help="print the program with real and estimated bits per operation")
    common(p)
    p.add_argument("--limit", type=in_range(int, 0), default=40, help="operations to print")
    p.add_argument("--bytes", type=in_range(int, 1), help="explain only the first N bytes")
    p.add_argument("--no-fallback", action="store_true",
                   help="show the operator program even where the literal-only program is smaller")
    p.set_defaults(func=cmd_explain)
