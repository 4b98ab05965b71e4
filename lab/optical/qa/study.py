"""Answering from vision tokens, measured: the same held-out questions answered by SmolLM2 from contexts of
equal budget (notebooks/optical.ipynb, "Answering from vision tokens"; scripts/optical_qa_study.py on the GPU).

Pages: the optical corpus's *test* documents (never seen by the encoder), prose only, rendered 1024x1024 at
20 px (about 600-800 SmolLM2 tokens a page). Questions: `qa.questions` on those pages (cloze, follows, who,
number, unanswerable; the whole-page `summary` prompts are left out: their answers are pages long).

Contexts for a question, with the gold page and n_pages - 1 other pages of the same document (seeded order),
N tokens per page:
- `none` (the LM's prior) and `full` (every page's whole text: the upper bound);
- `first`: the first N tokens of each page's text;  `bm25`: the N tokens of its sentences BM25 ranks highest;
- `ocr`: the page's N vision tokens (the mode with N tokens), read back into text by the stage-1 reader and
  given to the LM as text (N vision tokens stored; the LM reads however many text tokens come out);
- `vision`: the N vision tokens projected into the LM (only with a stage-2 reader: an lm/ checkpoint).

    pages = study_pages(per_doc=3)
    rows = run(pages, qas, conditions, budgets=(100,), page_counts=(1,), answerer=..., ocr=model, lm_reader=None)
    table(rows)   # mean exact match, token F1, answer contained, context tokens, seconds per question
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from lab.optical.qa import questions as Q

CONDITIONS = ("none", "full", "first", "bm25", "pooled", "ocr", "vision")
BUDGETED = ("first", "bm25", "pooled", "ocr", "vision")
STUDY_KINDS = ("cloze", "follows", "who", "number", "unanswerable")


@dataclass
class StudyPage:
    id: str
    document: str
    page: object            # render.Page (image, lines, text)

    @property
    def text(self) -> str:
        return self.page.text


def page_layout(size: int = 20, res: int = 1024):
    """The study's page: res x res pixels, DejaVu Sans at `size` px, 48 px margins (held-out pages, the bank's
    and the vision answering model's training pages alike)."""
    from lab.optical import render as R

    return R.Layout(width=res, height=res, margin=48, font="DejaVuSans", size=size, spacing=1.25)


def study_pages(per_doc: int = 3, seed: int = 0, size: int = 20, res: int = 1024) -> list[StudyPage]:
    """per_doc consecutive full pages of every prose test document, from a seeded paragraph."""
    from lab import data
    from lab.optical import render as R
    from lab.optical.corpus import paragraphs

    lay = page_layout(size, res)
    out = []
    for name, text, kind in data.page_documents("test"):
        if kind != "text":
            continue
        paras = paragraphs(text)
        rng = np.random.default_rng([seed, Q._h(name) % (1 << 32)])
        i = int(rng.integers(max(1, len(paras) - 200)))
        chunk, j = [], i
        while sum(map(len, chunk)) < 3500 * (per_doc + 1) and j < len(paras):
            chunk.append(paras[j])
            j += 1
        pages = R.render_text("\n".join(chunk), lay, source=name)[:-1][:per_doc]     # full pages only
        out += [StudyPage(f"{name}#{p.number}", name, p) for p in pages]
    return out


def bank_corpus(documents: int = 50, seed: int = 0, pdf_pages: int = 2, size: int = 20, res: int = 1024) -> list[StudyPage]:
    """Held-out documents for the memory-bank study: the test PDFs (`pdf_pages` body pages each, when `make
    documents` installed them) and one-page sections of the prose test documents, each section its own
    document ("canterbury/alice29.txt §3"), taken in turn from each source at seeded, non-overlapping places
    until there are `documents`. Never a page of the training documents."""
    from lab import DataError, data
    from lab.optical import pdfdocs
    from lab.optical import render as R
    from lab.optical.corpus import paragraphs

    lay = page_layout(size, res)
    out, docs = [], 0
    if pdf_pages:
        for name in pdfdocs.names("test"):
            if docs >= documents:
                break
            try:
                got = pdfdocs.pages(name, pdf_pages, seed, size=res)
            except DataError:
                continue                                 # not installed here: prose only
            out += [StudyPage(f"{name}#{p.number}", name, p) for p in got]
            docs += 1
    sources = [(n, paragraphs(t)) for n, t, k in data.page_documents("test") if k == "text"]
    starts = {}
    for n, paras in sources:                             # one section every ~1/40 of the text, in seeded order
        step = max(1, len(paras) // 40)
        rng = np.random.default_rng([seed, Q._h(n) % (1 << 32)])
        starts[n] = [int(i) for i in rng.permutation(np.arange(0, max(1, len(paras) - step), step))]
    k = 0
    while docs < documents and any(starts.values()):
        n, paras = sources[k % len(sources)]
        k += 1
        if not starts[n]:
            continue
        i = starts[n].pop(0)
        chunk = []
        while sum(map(len, chunk)) < 4000 and i < len(paras):
            chunk.append(paras[i])
            i += 1
        pages = R.render_text("\n".join(chunk), lay, source=n)
        if len(pages) < 2:                               # a full first page only
            continue
        doc = f"{n} §{len([p for p in out if p.document.startswith(n + ' §')]) + 1}"
        out.append(StudyPage(f"{doc}#0", doc, pages[0]))
        docs += 1
    return out


def study_questions(pages: list[StudyPage], seed: int = 0, per_page: int = 3) -> list[Q.QA]:
    qas = Q.questions([(p.id, p.document, p.text) for p in pages], seed=seed, per_page=per_page)
    return [q for q in qas if q.kind in STUDY_KINDS]


def pick(qas: list[Q.QA], n: int, seed: int = 0) -> list[Q.QA]:
    """`n` of the questions (0: all), a seeded choice that alternates answerable and unanswerable ones while
    both last, in the questions' own order: a short profile's study keeps both kinds."""
    if n <= 0 or n >= len(qas):
        return list(qas)
    rng = np.random.default_rng([seed, 29])
    order = [qas[i] for i in rng.permutation(len(qas))]
    yes = [q for q in order if q.kind != "unanswerable"]
    no = [q for q in order if q.kind == "unanswerable"]
    chosen = []
    while len(chosen) < n:
        for group in (yes, no):
            if group and len(chosen) < n:
                chosen.append(group.pop(0))
    keep = {q.id for q in chosen}
    return [q for q in qas if q.id in keep]


def bank_questions(pages: list[StudyPage], n: int, seed: int = 0, per_page: int = 2) -> list[Q.QA]:
    """`n` answerable questions about the bank's pages (seeded choice, at most one a page while pages last)."""
    qas = [q for q in study_questions(pages, seed=seed, per_page=per_page) if q.kind != "unanswerable"]
    rng = np.random.default_rng([seed, 23])
    order = [qas[i] for i in rng.permutation(len(qas))]
    first, seen = [], set()
    for q in order:
        if q.page not in seen:
            seen.add(q.page)
            first.append(q)
    rest = [q for q in order if q not in first]
    return (first + rest)[:n]


def refuses(pred: str) -> bool:
    p = pred.lower()
    return "not in" in p and ("page" in p or "text" in p)


def score(pred: str, qa: Q.QA) -> dict:
    """exact match, token F1 and 'answer contained' (normalised gold span inside the answer); for unanswerable
    questions all three are whether the model said so."""
    if qa.kind == "unanswerable":
        ok = float(refuses(pred))
        return {"em": ok, "f1": ok, "contains": ok}
    gold = " ".join(Q.normalise(qa.answer))
    return {"em": Q.exact_match(pred, qa.answer), "f1": Q.token_f1(pred, qa.answer),
            "contains": float(bool(gold) and f" {gold} " in f" {' '.join(Q.normalise(pred))} ")}


def context_pages(pages: list[StudyPage], qa: Q.QA, n: int, seed: int = 0) -> list[StudyPage]:
    """The gold page and n - 1 other pages of its document, in a seeded order."""
    by_id = {p.id: p for p in pages}
    gold = by_id[qa.page]
    others = [p for p in pages if p.document == gold.document and p.id != gold.id]
    rng = np.random.default_rng([seed, Q._h(qa.id) % (1 << 32)])
    pick = [others[i] for i in rng.permutation(len(others))[: n - 1]]
    ctx = [gold] + pick
    return [ctx[i] for i in rng.permutation(len(ctx))]


def read_pages(pages: list[StudyPage], ocr, modes: list[str], batch: int = 8) -> tuple[dict, dict]:
    """Every page's vision tokens in each mode and the stage-1 reader's text of them: ({(id, mode): tokens},
    {(id, mode): text})."""
    import torch

    toks, texts = {}, {}
    with torch.no_grad():
        return _read(pages, ocr, modes, batch, toks, texts)


def _read(pages, ocr, modes, batch, toks, texts):
    for mode in modes:
        for i in range(0, len(pages), batch):
            chunk = pages[i:i + batch]
            vt = ocr.encode([p.page.grey() for p in chunk], mode)
            read = ocr.reader.read(vt)
            for p, t, r in zip(chunk, vt, read):
                toks[p.id, mode], texts[p.id, mode] = t.cpu(), r
    return toks, texts


def vision_answers(lm_reader, tokens: list[list], qas: list[Q.QA], max_new_tokens: int = 24) -> tuple[list, list, list]:
    """The stage-2 reader asked each question after its pages' vision tokens (tokens[i]: one (N, D) tensor a
    page): (first lines of the greedy answers, LM positions the pages' slots took, gold answers' NLL in nats a
    token), one question at a time."""
    import torch

    dev = next(lm_reader.parameters()).device
    preds, positions, nll = [], [], []
    with torch.no_grad():
        for toks, q in zip(tokens, qas):
            vt = [t[None].to(dev) for t in toks]
            ctx = lm_reader.contexts(vt, prompt=q.question)      # once: the answer and the gold NLL share it
            preds.append(lm_reader.generate_from(ctx, max_new_tokens=max_new_tokens)[0].strip().split("\n")[0])
            positions.append(sum(lm_reader.positions(v)[0] for v in vt))
            loss, _ = lm_reader.loss_on(ctx, lm_reader.answer_ids([q.answer]))
            nll.append(float(loss))
    return preds, positions, nll


def run(pages: list[StudyPage], qas: list[Q.QA], conditions=CONDITIONS, budgets=(100,), page_counts=(1,),
        answerer=None, ocr=None, lm_reader=None, max_new_tokens: int = 24, seed: int = 0, progress=None,
        vision_budgets=None, on_rows=None, pooled=None) -> list[dict]:
    """One row per (question, condition, budget, pages): the answer, its scores, the context's LM positions
    and vision tokens, seconds per question (batched). `vision` runs one question at a time, on one page of
    context, at `vision_budgets` (default: all budgets). `pooled` (qa.pooled.PooledReader) answers the
    `pooled` condition: each page's text pooled into `budget` positions. `on_rows(rows)` after each condition
    (partial saves)."""
    from lab.optical.encoder import MODES, tokens_for

    mode_of = {tokens_for(m): m for m in MODES}
    for b in budgets:
        if b not in mode_of and any(c in ("ocr", "vision") for c in conditions):
            raise ValueError(f"no encoder mode has {b} tokens ({sorted(mode_of)})")
    need = [mode_of[b] for b in budgets if b in mode_of] if {"ocr", "vision"} & set(conditions) else []
    toks, ocr_text = read_pages(pages, ocr, need) if need else ({}, {})
    tok = answerer.tok
    rows = []
    for n in page_counts:
        ctx = {q.id: context_pages(pages, q, n, seed) for q in qas}
        plans = [(c, None) for c in conditions if c in ("none", "full")]
        plans += [(c, b) for b in budgets for c in conditions if c in BUDGETED]
        for cond, b in plans:
            if cond == "vision" and (lm_reader is None or n != 1 or (vision_budgets and b not in vision_budgets)):
                continue
            if cond == "pooled" and pooled is None:
                continue
            t0 = time.perf_counter()
            if cond == "pooled":
                texts = [[p.text for p in ctx[q.id]] for q in qas]
                questions = [q.question for q in qas]
                preds = pooled.answer(texts, questions, n=b, max_new_tokens=max_new_tokens)
                nll = pooled.answer_nll(texts, questions, [q.answer for q in qas], n=b)
                positions = [pooled.positions(t, n=b) for t in texts]
            elif cond == "vision":
                preds, positions, nll = vision_answers(lm_reader, [[toks[p.id, mode_of[b]] for p in ctx[q.id]]
                                                                   for q in qas], qas, max_new_tokens)
            else:
                contexts = []
                for q in qas:
                    ps = ctx[q.id]
                    if cond == "none":
                        contexts.append(None)
                    elif cond == "full":
                        contexts.append("\n\n".join(p.text for p in ps))
                    elif cond == "first":
                        contexts.append("\n\n".join(Q.first_tokens(p.text, b, tok) for p in ps))
                    elif cond == "bm25":
                        contexts.append("\n\n".join(Q.bm25_tokens(p.text, q.question, b, tok) for p in ps))
                    else:
                        contexts.append("\n\n".join(ocr_text[p.id, mode_of[b]] for p in ps))
                preds = answerer.answer(list(zip(contexts, [q.question for q in qas])), max_new_tokens)
                nll = answerer.answer_nll([(c, q.question, q.answer) for c, q in zip(contexts, qas)])
                positions = [0 if c is None else answerer.context_tokens(c) for c in contexts]
            secs = (time.perf_counter() - t0) / max(1, len(qas))
            for q, pred, pos, ll in zip(qas, preds, positions, nll):
                rows.append({"question": q.id, "kind": q.kind, "condition": cond, "budget": b, "pages": n,
                             "vision_tokens": n * b if cond in ("ocr", "vision") else 0, "context_tokens": pos,
                             "answer": pred, "gold": q.answer, "seconds": secs, "answer_nll": ll, **score(pred, q)})
            if on_rows:
                on_rows(rows)
            if progress:
                progress(f"{cond} budget {b} pages {n}: {np.mean([r['em'] for r in rows[-len(qas):]]):.3f} EM, "
                         f"{secs:.2f} s a question")
    return rows


def merge_runs(runs: list[dict]) -> dict | None:
    """Several study JSONs (scripts/optical_qa_study.py, one call each) as one: rows of the same (question,
    condition, budget, pages) kept once (the first), the bank rows of the run that has them, every command."""
    if not runs:
        return None
    rows, seen = [], set()
    for r in (r for run in runs for r in run.get("rows", [])):
        k = (r["question"], r["condition"], r["budget"], r["pages"])
        if k not in seen:
            seen.add(k)
            rows.append(r)
    bank = next((run["bank"] for run in runs if run.get("bank")), [])
    return {**runs[0], "rows": rows, "bank": bank, "commands": [run["command"] for run in runs]}


def merge_bank_runs(runs: list[dict]) -> dict | None:
    """Bank studies of the same bank (scripts/optical_qa_study.py --bank-only, a path or a reader each) as one:
    a later run's rows replace an earlier one's of the same (path, policy, share, question), the rows ordered
    path by path (vision, ocr, text); every command kept; the last run that answered `vision` names the reader.
    None when no run has a bank."""
    runs = [r for r in runs if r.get("bank")]
    if not runs:
        return None
    rows = {}
    for run in runs:
        for r in run["bank"]:
            rows[(r.get("via", "ocr"), r["policy"], r.get("keep", 1.0), r["question"])] = r
    vision = next((run for run in reversed(runs) if any(r.get("via") == "vision" for r in run["bank"])), runs[-1])
    order = {"vision": 0, "ocr": 1, "text": 2}                       # path by path, in each run's order
    bank = sorted(rows.values(), key=lambda r: order.get(r.get("via", "ocr"), 3))
    return {**runs[0], "lm_reader": vision.get("lm_reader"), "bank": bank,
            "model": next((run["model"] for run in runs if run.get("model")), None),
            "commands": [run["command"] for run in runs]}


def table(rows: list[dict]):
    """Means per (pages, condition, budget): exact match, F1, answer contained, the gold answer's NLL (nats per
    token, answerable questions), LM context positions, seconds per question."""
    import pandas as pd

    df = pd.DataFrame(rows)
    df["budget"] = df["budget"].fillna(0).astype(int)
    g = df.groupby(["pages", "condition", "budget"], sort=False)
    df["nll_answerable"] = df["answer_nll"].where(df["kind"] != "unanswerable")
    out = g.agg(questions=("em", "size"), em=("em", "mean"), f1=("f1", "mean"), contains=("contains", "mean"),
                answer_nll=("nll_answerable", "mean"),
                context_tokens=("context_tokens", "mean"), seconds=("seconds", "mean")).reset_index()
    return out


def report_rows(rows: list[dict]) -> list[dict]:
    """`table` as the report prints it: one row per (pages, condition, budget), rounded, named for readers."""
    return [{"pages": int(r.pages), "context": r.condition, "budget / page": int(r.budget) or "-",
             "questions": int(r.questions), "exact match": round(r.em, 3), "token F1": round(r.f1, 3),
             "answer contained": round(r.contains, 3), "gold answer NLL (nats/token)": round(r.answer_nll, 2),
             "LM context tokens": round(r.context_tokens),
             "s / question": round(r.seconds, 2)} for r in table(rows).itertuples()]


def ci95(scores) -> tuple[float, float]:
    """(mean, half-width of its 95% confidence interval): Wilson's score interval's half-width for 0/1 scores,
    the normal one (1.96 standard errors) for others."""
    x = np.asarray(list(scores), float)
    n = len(x)
    if n == 0:
        return float("nan"), float("nan")
    m = float(x.mean())
    if np.isin(x, (0.0, 1.0)).all():
        z = 1.96
        return m, float(z * np.sqrt(m * (1 - m) / n + z * z / (4 * n * n)) / (1 + z * z / n))
    return m, float(1.96 * x.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")


def finetune_rows(rows: list[dict], by_kind: bool = False) -> list[dict]:
    """The answering model's study and its text-side competitor (scripts/optical_qa_finetune.py): one row per
    (model, pages, context, budget[, kind]) with exact match, F1 and answer contained as mean ± the 95%
    interval's half-width, the gold answer's NLL and the LM context it cost."""
    import pandas as pd

    df = pd.DataFrame(rows)
    df["pages"] = df["pages"].fillna(1).astype(int) if "pages" in df else 1
    df["budget"] = df["budget"].fillna(0).astype(int) if "budget" in df else 0
    keys = ["model", "pages", "condition", "budget"] + (["kind"] if by_kind else [])
    out = []
    for k, g in df.groupby(keys, sort=False):
        k = dict(zip(keys, k))
        row = {"model": k["model"], "pages": int(k["pages"]), "context": k["condition"],
               "budget / page": int(k["budget"]) or "-"}
        if by_kind:
            row["kind"] = k["kind"]
        row["questions"] = len(g)
        for col, name in (("em", "exact match"), ("f1", "token F1"), ("contains", "answer contained")):
            m, h = ci95(g[col])
            row[name] = f"{m:.3f} ± {h:.3f}"
        nll = g["answer_nll"].where(g["kind"] != "unanswerable").dropna()
        row["gold answer NLL (nats/token)"] = round(float(nll.mean()), 2) if len(nll) else "–"
        if "context_tokens" in g:
            row["LM context tokens"] = round(float(g["context_tokens"].mean()))
        out.append(row)
    return out


def finetune_bars(rows: list[dict]) -> dict:
    """Issue optical V's first bar on the adapted model's full-text rows: answer contained >= 70% and exact
    match >= 50%, each with its 95% interval; the unadapted model's scores beside them, and the adapted model's
    on the answerable questions alone."""
    def part(model, answerable=False):
        sel = [r for r in rows if r.get("model") == model and r["condition"] == "full" and r.get("pages", 1) == 1
               and not (answerable and r.get("kind") == "unanswerable")]
        return {k: ci95(r[k] for r in sel) for k in ("contains", "em")}, len(sel)

    (ad, n), (un, _), (ans, n_ans) = part("adapted"), part("unadapted"), part("adapted", answerable=True)
    return {"questions": n, "contains": ad["contains"], "em": ad["em"], "unadapted_contains": un["contains"],
            "unadapted_em": un["em"], "met": bool(n) and ad["contains"][0] >= 0.70 and ad["em"][0] >= 0.50,
            # the same without the unanswerable questions ("no answer in the text" is the easiest kind to learn)
            "answerable": n_ans, "answerable_contains": ans["contains"], "answerable_em": ans["em"]}


def budget_verdict(rows: list[dict], budget: int = 100, pages: int = 1) -> str | None:
    """Issue optical V's second bar at `budget` tokens a page: each budgeted context (pooled, BM25, first N,
    ocr (the vision tokens read back into text) and vision where measured) against the full text, answer contained by the adapted answering model (pooled: its
    own reader); None when the rows lack the full text or the budget."""
    def mean(model, cond, b):
        sel = [r["contains"] for r in rows if r.get("model") == model and r["condition"] == cond
               and int(r.get("pages", 1)) == pages and (b is None or int(r.get("budget") or 0) == b)]
        return ci95(sel) if sel else None

    full = mean("adapted", "full", None)
    if not full:
        return None
    got = {c: mean(m, c, budget) for m, c in (("adapted", "bm25"), ("adapted", "first"), ("pooled", "pooled"),
                                              ("adapted", "ocr"), ("vision", "vision"))}
    parts = [f"{c}-{budget} {v[0]:.0%} ± {v[1]:.0%} ({v[0] / max(full[0], 1e-9):.0%} of full text)"
             for c, v in got.items() if v]
    missing = [f"{c}-{budget}" for c, v in got.items() if not v]
    if not parts:
        return None
    return (f"- {pages} page(s), {budget} tokens a page, answer contained: full text {full[0]:.0%} ± {full[1]:.0%}; "
            + "; ".join(parts) + (f"; not measured: {', '.join(missing)}" if missing else "")
            + " (the bar: vision-N >= BM25-N and >= pooled-N, and >= 90% of full text).")


def vision_answer_line(rows: list[dict], budget: int = 100) -> str:
    """The verdict's line on answering from vision tokens: the vision reader's answer-contained rate from one
    page's `budget` tokens against BM25's `budget` text tokens (the same questions), or that none was measured."""
    def mean(model, cond):
        sel = [r["contains"] for r in rows if r.get("model") == model and r["condition"] == cond
               and int(r.get("pages", 1)) == 1 and int(r.get("budget") or 0) == budget]
        return sum(sel) / len(sel) if sel else None

    vision, bm25 = mean("vision", "vision"), mean("adapted", "bm25")
    if vision is None:
        return ("Answering from vision tokens (section 5): the seed's vision path **is not measured**: no reader "
                "fine-tuned to answer from its tokens has been run (`lab/optical/qa/vision_qa.py`, a GPU run).")
    verdict = ("**the seed's vision path does not answer yet**" if bm25 is None or vision < bm25
               else "the vision path answers as well as BM25's text at that budget")
    return (f"Answering from vision tokens (section 5): the stage-2 reader fine-tuned to answer from a page's {budget} "
            f"vision tokens (`lab/optical/qa/vision_qa.py`, a GPU run) has the answer in {vision:.0%} of its answers"
            + (f", BM25's {budget} text tokens {bm25:.0%}" if bm25 is not None else "") + f": {verdict}.")


def vision_qa_curve(runs: list[tuple[str, dict]]) -> list[dict]:
    """The vision path's learning curve: one row per fine-tuning of a stage-2 reader to answer
    (scripts/optical_qa_finetune.py --train vision JSONs, (label, JSON) in order), with the question-answering
    seconds and examples summed along a chain (a run whose record's from_reader is an earlier run's
    adapter_sha256 goes on from it) and its 1-page vision-100 scores, mean ± the 95% interval's half-width ("not
    scored" for a run with no rows: its call ended first), then answer contained by question kind (the kind's count
    in its column's name)."""
    done, out = {}, []
    for label, j in runs:
        rec = j["record"]
        prev = done.get((rec.get("from_reader") or {}).get("sha256"))
        secs = rec["seconds"] + (prev["seconds"] if prev else 0.0)
        ex = rec["examples"] + (prev["examples"] if prev else 0)
        if j.get("adapter_sha256"):
            done[j["adapter_sha256"]] = {"seconds": secs, "examples": ex, "label": label}
        sel = [r for r in j["rows"] if r["condition"] == "vision" and int(r.get("pages", 1)) == 1]
        row = {"run": label, "goes on from": prev["label"] if prev else "the campaign's state",
               "QA seconds (this run)": round(rec["seconds"]), "QA seconds (total)": round(secs),
               "QA examples (total)": ex, "questions": len(sel)}
        if prev is None and "from_reader" in rec:
            row["goes on from"] = f"the campaign's state ({rec['from_reader']['examples']:,} examples)"
        for col, name in (("contains", "answer contained"), ("em", "exact match")):
            if not sel:       # a run whose call ended before its scoring (the next one goes on from it)
                row[name] = "not scored"
                continue
            m, h = ci95([r[col] for r in sel])
            row[name] = f"{m:.3f} ± {h:.3f}"
        for kind in sorted({r["kind"] for r in sel}, key=lambda k: -sum(r["kind"] == k for r in sel)):
            ks = [r["contains"] for r in sel if r["kind"] == kind]
            row[f"{kind} ({len(ks)})"] = f"{sum(ks) / len(ks):.2f}"
        out.append(row)
    return out


def context_curve(rows: list[dict]) -> dict:
    """{(model, condition): [(mean LM context tokens, answer contained)] sorted by context}: one point per (pages,
    budget) of each condition (the score against LM context length figure)."""
    import pandas as pd

    df = pd.DataFrame(rows)
    df["budget"] = df["budget"].fillna(0).astype(int) if "budget" in df else 0
    df["pages"] = df["pages"].fillna(1).astype(int) if "pages" in df else 1
    out = {}
    for (m, c), g in df.groupby(["model", "condition"], sort=False):
        pts = [(float(h.context_tokens.mean()), float(h.contains.mean())) for _, h in g.groupby(["pages", "budget"])]
        out[m, c] = sorted(pts)
    return out


def bank_rows(rows: list[dict]) -> list[dict]:
    """`bank_study`'s rows as the report prints them: one row per (policy, kept share, path), the full bank first;
    'answered / 1k stored' = answers containing the gold span per 1,000 vision tokens the bank keeps."""
    import pandas as pd

    df = pd.DataFrame(rows)
    if "keep" not in df:
        df["keep"] = np.where(df["policy"] == "none", 1.0, 0.5)     # studies before the keep column: one half
    if "via" not in df:
        df["via"] = "ocr"                                           # studies before the via column: ocr alone
    return [{"via": v, "bank": p, "kept": f"{k:.0%}", "questions": len(g), "bank tokens": int(g.bank_tokens.iloc[0]),
             "gold page retrieved": round(g.retrieved_gold.mean(), 3), "exact match": round(g.em.mean(), 3),
             "token F1": round(g.f1.mean(), 3), "answer contained": round(g.contains.mean(), 3),
             "answered / 1k stored": round(1000 * g.contains.sum() / max(1, int(g.bank_tokens.iloc[0])), 2),
             "LM context tokens": round(g.context_tokens.mean()), "s / question": round(g.seconds.mean(), 2)}
            for (p, k, v), g in df.groupby(["policy", "keep", "via"], sort=False)]


def bank_verdict(rows: list[dict]) -> list[str]:
    """Which forgetting policy keeps most answers per stored token at each kept share (the seed's rule among
    them), against the full bank, for each answering path."""
    t = bank_rows(rows)
    out = []
    for via in dict.fromkeys(r["via"] for r in t):
        tv = [r for r in t if r["via"] == via]
        full = next((r for r in tv if r["bank"] == "none"), None)
        for kept in sorted({r["kept"] for r in tv if r["bank"] != "none"}, key=lambda s: -float(s[:-1])):
            sel = sorted((r for r in tv if r["kept"] == kept and r["bank"] != "none"),
                         key=lambda r: -r["answered / 1k stored"])
            out.append(f"- bank cut to {kept} of its tokens (via {via}): " + ", ".join(
                f"{r['bank']} {r['answered / 1k stored']:.2f} ({r['answer contained']:.0%} answered, gold page retrieved "
                f"{r['gold page retrieved']:.0%})" for r in sel) + " answers per 1,000 stored vision tokens"
                + (f"; the full bank: {full['answered / 1k stored']:.2f} ({full['answer contained']:.0%})." if full else "."))
    return out


def note(pages: list[StudyPage], qas: list[Q.QA], answerer, lm_name: str) -> str:
    """What a CPU run of the study measured, in a sentence: pages, documents, text tokens, questions by kind."""
    return (f"{len(pages)} pages of the test documents ({', '.join(sorted({p.document for p in pages}))}; 1024² at "
            f"20 px, {np.mean([answerer.context_tokens(p.text) for p in pages]):.0f} text tokens a page on average), "
            f"{len(qas)} questions ({', '.join(f'{k} {sum(q.kind == k for q in qas)}' for k in STUDY_KINDS)}), "
            f"answered greedily by {lm_name} (no adaptation) in this run on the CPU.")


def verdict(rows: list[dict], where: str) -> list[str]:
    """The verdict's lines for one study (`where`: "this run", "the GPU study"): for every page count and budget,
    the tokens read back (`ocr`) against the first and BM25's text tokens of the same length and the full text;
    the seed's vision path where it was measured; and one standard error at this many questions."""
    t = {(r["pages"], r["context"], r["budget / page"]): r for r in report_rows(rows)}
    out = []
    for (n, c, b), r in t.items():
        if c != "ocr":
            continue
        full, first, bm = t.get((n, "full", "-")), t.get((n, "first", b)), t.get((n, "bm25", b))
        if not (full and first and bm):
            continue
        ratio = full["LM context tokens"] / max(1, n * b)
        out.append(f"- {where}, {n} page(s), {b} vision tokens stored a page (~{ratio:.1f}x fewer than the text; the LM "
                   f"reads the {r['LM context tokens']:,} text tokens read back from them): answer "
                   f"contained {r['answer contained']:.0%} (EM {r['exact match']:.0%}) from the tokens read back, against "
                   f"{first['answer contained']:.0%} from the first {b} text tokens, {bm['answer contained']:.0%} from BM25's "
                   f"{b} and {full['answer contained']:.0%} from the full text: "
                   f"{r['answer contained'] / max(full['answer contained'], 1e-9):.0%} of full text "
                   "(the bar: vision beats text of the same length; >= 90% of full text at 10x).")
    for (n, c, b), r in t.items():
        if c == "vision":
            out.append(f"- {where}, the seed's path (run 22's projector + LoRA, {b} vision tokens in the LM's context): "
                       f"answer contained {r['answer contained']:.0%}, EM {r['exact match']:.0%}.")
    full = [r for (n, c, b), r in t.items() if c == "full" and n == 1]
    if full:
        p, q = full[0]["answer contained"], full[0]["questions"]
        out.append(f"  - With {q} questions one standard error is ~{100 * (max(p, 0.05) * (1 - p) / q) ** 0.5:.0f} points: "
                   "these differences are mostly within noise. The answering model is the limit: SmolLM2-135M, "
                   "unadapted, finds the answer in the *full* page text only "
                   f"{p:.0%} of the time (and its gold-answer likelihood is no better with the page than without).")
    return out


def bank_study(pages: list[StudyPage], qas: list[Q.QA], encoder_spec: str, answerer, ocr, folder, budget: int = 200,
               mode: str = "small", policies=("lru", "fade"), keeps=(0.5,), max_new_tokens: int = 24,
               progress=None, reader=None, vias=("ocr",), embedder: str = "hashing-256") -> list[dict]:
    """The memory bank end to end (retrieval errors included): every page added to a bank (one source a
    document), each question asked through OpticalQA within `budget` vision tokens by each of `vias` (`ocr`:
    the stage-1 reader's text answered by `answerer`; `vision`: the stage-2 `reader` answering from the tokens
    themselves; `text`: the stored page text, the bound retrieval leaves); then, on copies of the bank, each
    forgetting policy cuts it to each of `keeps` of its tokens and the questions are asked again. One row per
    (via, policy, keep, question). `embedder`: the bank's (`lab optical add` makes all-minilm-l6-v2 banks)."""
    import shutil
    from pathlib import Path

    from lab.optical.qa.ask import OpticalQA
    from lab.optical.bank.store import MemoryBank

    from lab.optical.qa.ask import MAX_QUESTION_TOKENS

    qas = [q for q in qas if q.kind != "unanswerable"      # in a bank of every page, those have answers
           and answerer.context_tokens(q.question) <= MAX_QUESTION_TOKENS]   # `ask` refuses longer questions
    folder = Path(folder)
    base = folder / "bank"
    shutil.rmtree(base, ignore_errors=True)
    now = 1_700_000_000.0
    with MemoryBank.open(base, create=True, encoder=encoder_spec, embedder=embedder) as bank:
        for k, doc in enumerate(sorted({p.document for p in pages})):
            # a day apart, the study's questions' documents among them: recency differs between documents
            bank.add_pages([p.page for p in pages if p.document == doc], doc, mode=mode, now=now + 86400 * k)
    end = now + 86400 * (len({p.document for p in pages}) + 30)
    rows = []
    for policy, keep in [("none", 1.0)] + [(p, k) for k in keeps for p in policies]:
        path = base
        if policy != "none":
            path = folder / f"bank-{policy}-{keep}"
            shutil.rmtree(path, ignore_errors=True)
            shutil.copytree(base, path)
        with MemoryBank.open(path) as bank:
            if policy != "none":
                bank.forget(int(bank.total_tokens() * keep), policy=policy, now=end)
            for via in vias:
                qa_ = (OpticalQA(bank, reader) if via == "vision" else
                       OpticalQA(bank, answerer=answerer, text=True) if via == "text" else
                       OpticalQA(bank, ocr=ocr, answerer=answerer))
                t0 = time.perf_counter()
                for q in qas:
                    ans = qa_.ask(q.question, budget=budget, max_new_tokens=max_new_tokens)
                    first = ans.text.strip().split("\n")[0].strip()   # scored as the study scores: the first line
                    gold = next(p for p in pages if p.id == q.page)
                    hit = any(h.source == gold.document and h.page == gold.page.number for h in ans.memories)
                    rows.append({"via": via, "policy": policy, "keep": keep, "question": q.id, "kind": q.kind,
                                 "answer": ans.text, "retrieved_gold": float(hit), "memories": len(ans.memories),
                                 "vision_tokens": ans.tokens, "context_tokens": ans.context_tokens, "seconds": ans.seconds,
                                 "bank_tokens": bank.total_tokens(), **score(first, q)})
                if progress:
                    sel = rows[-len(qas):]
                    progress(f"bank {policy} {keep:.2f} via {via}: {np.mean([r['contains'] for r in sel]):.3f} contained, "
                             f"{np.mean([r['em'] for r in sel]):.3f} EM, gold retrieved "
                             f"{np.mean([r['retrieved_gold'] for r in sel]):.2f}, "
                             f"{(time.perf_counter() - t0) / len(qas):.1f} s a question")
    return rows
