"""The whole-page and window reads of the stage-2 reader as `train_lm evaluate` writes them (one JSON a read, keys
lm_win{rows}_{mode}[_g{scale}] and lm_win{rows}_control[_g{scale}]), parsed without torch for the report and the
dashboard."""
from __future__ import annotations

from lab.optical.modes import CELL, MODES


def is_pdf(w: dict) -> bool:
    """A read of the held-out real PDFs' pages (else the Fox-like pages)."""
    return str(w.get("pages", "")).startswith("real PDF")


def guided(windows: list[dict]) -> dict:
    """Guided whole-page reads (`train_lm evaluate --guidance`) by (mode, examples, real PDF or not) -> (scale,
    own, other), in the order given (a later read of the same key replaces an earlier one)."""
    out = {}
    for w in windows:
        m = w["mode"]
        pre = f"lm_win{MODES[m] // CELL}_{m}_g"
        for k in w:
            if k.startswith(pre):
                sc = k[len(pre):]
                out[(m, w["examples"], is_pdf(w))] = (sc, w[k], w[f"lm_win{MODES[m] // CELL}_control_g{sc}"])
    return out
