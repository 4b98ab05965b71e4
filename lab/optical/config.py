"""Training configs from YAML: sections of dataclass fields, with "section.key=value" overrides."""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path

SECTIONS = ("encoder", "reader", "train", "lm", "campaign")


def read_yaml(path: str, overrides: list[str] | None = None) -> dict:
    """A config file's sections; overrides "section.key=value" (value in YAML) replace entries."""
    import yaml

    raw = yaml.safe_load(Path(path).read_text()) or {}
    for o in overrides or []:
        key, sep, value = o.partition("=")
        section, dot, name = key.partition(".")
        if not (sep and dot and section in SECTIONS):
            raise ValueError(f"override {o!r}: expected section.key=value, section one of {', '.join(SECTIONS)}")
        raw.setdefault(section, {})[name] = yaml.safe_load(value)
    return raw



def build_config(cls, d: dict | None, path: str = "config"):
    """A config dataclass from a YAML section: unknown keys are a ValueError, lists become tuples."""
    known = {f.name for f in fields(cls)}
    bad = set(d or {}) - known
    if bad:
        raise ValueError(f"{path}: unknown {cls.__name__} keys {sorted(bad)}")
    d = dict(d or {})
    for k in ("size_scale", "easy_scale"):
        if k in d:
            d[k] = tuple(d[k])
    return cls(**d)
