"""The whole-page and window reads of the stage-2 reader as `train_lm evaluate` writes them (one JSON a read, keys
lm_win{rows}_{mode}[_g{scale}] and lm_win{rows}_control[_g{scale}]), parsed without torch for the report and the
dashboard."""
from __future__ import annotations

from lab.optical.modes import CELL, MODES


def is_pdf(w: dict) -> bool:
    """A read of the held-out real PDFs' pages (else the Fox-like pages): `train_lm evaluate --pdf` writes the
    pages' sources as a list, the report's rows a "real PDF ..." label."""
    p = w.get("pages", "")
    return isinstance(p, list) or str(p).startswith("real PDF")     # evaluate --pdf lists the pages it read


def source(w: dict) -> str:
    """Which pages a read read: the held-out real PDFs', the Fox-like evaluation set (the first pages of
    corpus.FOX_DOCS, every campaign evaluation's), or Fox-like pages cut from the documents `--fox-docs` named."""
    if is_pdf(w):
        return "real PDFs"
    return "Fox-like: " + ", ".join(d.rsplit("/", 1)[-1] for d in w["fox_docs"]) if w.get("fox_docs") else "Fox-like"


def guided(windows: list[dict]) -> dict:
    """Guided whole-page reads (`train_lm evaluate --guidance`) by (mode, examples, real PDF or not) -> (scale,
    own, other), in the order given (a later read of the same key replaces an earlier one)."""
    out = {}
    for w in windows:
        m = w["mode"]
        pre = f"lm_win{MODES[m] // CELL}_{m}_g"
        for k in w:
            if k.startswith(pre) and "_ctc" not in k:            # joint reads (`joint`) apart
                sc = k[len(pre):]
                out[(m, w["examples"], is_pdf(w))] = (sc, w[k], w[f"lm_win{MODES[m] // CELL}_control_g{sc}"])
    return out


def joint(windows: list[dict], plain: list[dict] = ()) -> list[dict]:
    """Joint reads (`train_lm evaluate --guidance g --ctc-weight w`: each token chosen with the stage-1 reader's
    CTC prefix scores added, `lab.optical.ctc_prefix`), one row each in the order given: mode, state (examples),
    pages, guidance, weight, the joint read's precision (own tokens; another page's), the stage-1 CTC reader's on
    the same windows, the paired joint - CTC [mean, standard error], the LM alone (the guided read of the same
    state, mode and pages (`source`) among `plain`, where there is one), and `merge`: the most adjacent ink bands one line was
    scored against (`ctc_prefix.LinePrefixScorer`; reads before 2026-12-07 were one line, one band). A read made
    with `--fallback f` gives a second row after it, `fallback` f: the same reads with those that agree with the
    stage-1 reader's text of their window less than f replaced by that text (`replaced` of them); other rows
    have fallback None."""
    out = []
    for w in windows:
        m, g = w["mode"], MODES[w["mode"]] // CELL
        pre = f"lm_win{g}_{m}_g"
        for k in w:
            if not (k.startswith(pre) and "_ctc" in k):
                continue
            sc, wt = k[len(pre):].split("_ctc")
            alone = next((p[f"{pre}{sc}"] for p in reversed(list(plain)) if p["mode"] == m and p["examples"] == w["examples"]
                          and source(p) == source(w) and p.get("pages") == w.get("pages") and f"{pre}{sc}" in p), None)
            out.append({"mode": m, "examples": w["examples"], "pdf": is_pdf(w), "source": source(w),
                        "pages": len(w["pages"]) if isinstance(w.get("pages"), list) else w.get("pages", 7),
                        "guidance": float(sc), "ctc_weight": float(wt), "joint": w[k],
                        "control": w[f"lm_win{g}_control_g{sc}_ctc{wt}"], "ctc": w.get(f"ctc_win{g}_{m}"),
                        "joint_minus_ctc": w.get(f"lm_minus_ctc_win{g}_g{sc}_ctc{wt}"), "lm_alone": alone,
                        "looped": len(w.get(f"win{g}_g{sc}_ctc{wt}_looped", [])), "merge": w.get("ctc_merge", 1),
                        "fallback": None})
            if "fallback" in w:       # the same reads, the derailed ones (far from the head's text) replaced by it
                f, tail = f"fallback{w['fallback']:g}", f"g{sc}_ctc{wt}"
                out.append({**out[-1], "fallback": w["fallback"], "joint": w[f"{f}_win{g}_{m}_{tail}"],
                            "control": w[f"{f}_win{g}_control_{tail}"],
                            "joint_minus_ctc": w[f"{f}_minus_ctc_win{g}_{tail}"],
                            "replaced": len(w[f"{f}_win{g}_{tail}_replaced"])})
    return out
