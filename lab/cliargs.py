"""Argument parsing shared by every `lab` command: one-line errors and range-checked numbers.

Family CLIs import this module and `lab` (for UsageError); only `lab.cli` imports the family CLIs.
"""
from __future__ import annotations

import argparse


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default (argparse's defaults formatter), except where it has none."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "%(default)" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2): `lab holo compress: error: ... (see --help)`; every --help shows
    the defaults."""

    def __init__(self, *a, **kw):
        kw.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*a, **kw)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def in_range(kind, lo=None, hi=None):
    """argparse type: a number of `kind` (int or float) within [lo, hi]; either bound may be None."""
    def check(s):
        try:
            v = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{s!r} is not {'an integer' if kind is int else 'a number'}") from None
        if v != v or (lo is not None and v < lo) or (hi is not None and v > hi):
            bounds = (f"{lo}..{hi}" if lo is not None and hi is not None else
                      f">= {lo}" if lo is not None else f"<= {hi}")
            raise argparse.ArgumentTypeError(f"{s} is out of range ({bounds})")
        return v

    check.__name__ = kind.__name__
    return check


def device(name: str) -> str:
    """--device auto|cpu|cuda: auto is cuda where there is one; cuda without one is a UsageError."""
    import torch

    from lab import UsageError

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device here")
    return name
