"""Every file format the lab writes, in one registry (`make fuzz` and the property tests walk it).

Each entry names the module that owns the format; that module's `fuzz_target()` returns a `Target`: the
container constants (magic, version, fixed-header struct), a few small valid files, and the decoder that
must turn any input into either a result or one `lab.FormatError`. A new format joins by adding a line here
and a `fuzz_target()` beside its parser.
"""
from __future__ import annotations

import importlib
import struct
from dataclasses import dataclass
from typing import Callable

REGISTRY = {
    "holo": "lab.holo.codec",          # .holo images
    "proc": "lab.procedural.machine",  # .proc procedural programs
    "vtx": "lab.vortex.codec",         # .vtx neural-coded bytes
    "llmz": "lab.llmzip.codec",        # .llmz pretrained-LM-coded bytes
    "vtok": "lab.optical.vtok",        # .vtok encoded pages (vision tokens)
    "bank": "lab.optical.bank.store",      # memory banks (bank.sqlite; its blobs are .vtok and PNG)
    "qa": "lab.optical.qa.questions",            # question-answer JSONL (lab optical qa-data)
}


@dataclass(frozen=True)
class Target:
    name: str                      # ".holo"
    magic: bytes
    version: int
    head: struct.Struct            # the fixed header after magic and version (lab.container layout)
    samples: list[bytes]           # small valid files, varied in mode and content
    decode: Callable[[bytes], object]


def names() -> list[str]:
    return list(REGISTRY)


def target(name: str) -> Target:
    """The Target of a registered format, or of "module:function" (a target outside the registry, e.g. a
    test's deliberately broken decoder)."""
    if ":" in name:
        mod, fn = name.split(":", 1)
        return getattr(importlib.import_module(mod), fn)()
    if name not in REGISTRY:
        raise ValueError(f"unknown format {name!r} (known: {', '.join(REGISTRY)})")
    return importlib.import_module(REGISTRY[name]).fuzz_target()

