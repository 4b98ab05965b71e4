"""Every lossless codec the lab has, behind one interface (CompressAI's bench codecs, minbpe's one test):

    c = codecs.get("llmz")              # built on first use (tiny models for the learned ones)
    blob = c.compress(data); data == c.decompress(blob)

Each entry: a name, its file format in `lab.formats` (what `make fuzz` mutates), and a factory that returns a
`Codec`. The learned codecs use their tiny seeded models here (the CLI and the reports use the real ones), so
one parametrised round-trip test (tests/test_properties.py) covers every codec and mode on empty, 1-byte,
random, run and non-UTF-8 inputs. A new codec joins with one line here.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable


@dataclass(frozen=True)
class Codec:
    name: str
    format: str                           # its lab.formats entry
    compress: Callable[[bytes], bytes]
    decompress: Callable[[bytes], bytes]
    longest: int | None = None            # the longest input worth a test (slow codecs)
    description: str = ""


def _proc(ops: str | None = None) -> Codec:
    from lab.procedural import machine as M

    if ops is None:
        return Codec("proc", "proc", M.compress, M.decompress, None, "the procedural machine (operators + CM literals)")
    return Codec("proc-literal-only", "proc", lambda b: M.compress(b, M.MachineParams(ops=ops)), M.decompress, None,
                 "the procedural machine's literal model alone")


def _vtx() -> Codec:
    from lab.vortex import codec as V

    model, sha = V.tiny_model()
    return Codec("vtx", "vtx", lambda b: V.compress(b, model, sha, streams=3), lambda b: V.decompress(b, model, sha),
                 None, "vortex with a tiny seeded model, 3 streams")


def _vtx_online() -> Codec:
    from lab.vortex import codec as V

    conf = {"config": V.TINY, "seed": 1, "lr": 3e-3}
    return Codec("vtx-online", "vtx", lambda b: V.compress(b, None, None, streams=2, online=conf), V.decompress, 120,
                 "vortex learning while coding (one training step a segment)")


def _llmz() -> Codec:
    from lab.llmzip import codec as Z

    lm, tok, sha = Z.tiny_model()
    return Codec("llmz", "llmz", lambda b: Z.compress(b, lm, tok, sha, streams=2, context=64, keep=16),
                 lambda b: Z.decompress(b, lm, tok, sha), 300, "llmzip with lab.models' tiny random LM, 2 streams")


REGISTRY: dict[str, Callable[[], Codec]] = {
    "proc": _proc,
    "proc-literal-only": lambda: _proc(""),
    "vtx": _vtx,
    "vtx-online": _vtx_online,
    "llmz": _llmz,
}


def names() -> list[str]:
    return list(REGISTRY)


# The files `lab compress` / `lab decompress` route to each family's own verbs: suffix -> (family, magic).
# (Constants, so that routing imports no codec; tests/test_codecs_cli.py checks them against the modules' MAGIC.)
FILES = {".proc": ("proc", b"PROC"), ".vtx": ("vortex", b"VRTX"), ".llmz": ("llmzip", b"LLMZ")}
OTHER_FILES = {b"HOLO": "a .holo image: `lab holo view` decodes it", b"VTOK": "a .vtok page: `lab optical ocr` reads it"}


def family_for(verb: str, input: str, output: str | None, codec: str | None) -> str:
    """The family whose `verb` codes this file: for compress, --codec (a suffix or family name) or the
    output's suffix; for decompress, the input's magic. A UsageError or FormatError otherwise, one line."""
    from pathlib import Path

    from lab import FormatError, UsageError

    known = ", ".join(f"{s} ({f})" for s, (f, _) in FILES.items())
    if verb == "compress":
        if codec is not None:
            for suffix, (family, _) in FILES.items():
                if codec in (suffix, suffix[1:], family):
                    return family
            raise UsageError(f"--codec {codec}: not a lossless codec of the lab (known: {known})")
        suffix = Path(output or "").suffix.lower()
        if suffix not in FILES:
            raise UsageError(f"{output}: name the codec with --codec or by the output's suffix ({known})")
        return FILES[suffix][0]
    with open(input, "rb") as f:
        head = f.read(4)
    for family, magic in FILES.values():
        if head == magic:
            return family
    if not head:
        raise FormatError(f"{input}: empty file, not a compressed file")
    if head in OTHER_FILES:
        raise UsageError(f"{input}: {OTHER_FILES[head]}, not a lossless codec's file")
    raise FormatError(f"{input}: not a file of the lab's lossless codecs (it starts {head!r}; "
                      + ", ".join(f"{s} starts {m.decode()}" for s, (_, m) in FILES.items()) + ")")


@lru_cache(maxsize=None)
def get(name: str) -> Codec:
    if name not in REGISTRY:
        raise ValueError(f"unknown codec {name!r} (known: {', '.join(REGISTRY)})")
    return REGISTRY[name]()
