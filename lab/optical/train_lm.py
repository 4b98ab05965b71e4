"""Stage 2 of the optical reader: SmolLM2 + LoRA learns to read the vision tokens, trained as a campaign
that spans many device runs (DESIGN.md, "Training that spans many device runs").

    python -m lab.optical.train_lm render --spool S --pages 100000 --seed 3 &     # pages, on the CPUs
    python -m lab.optical.train_lm train --state D --spool S --seconds 500 --config configs/optical/campaign.yaml

- **One global schedule.** The learning rate follows the campaign's examples seen (warm-up, then a cosine
  over `examples`), never a schedule inside a run. The state folder holds the trainable weights (fp16
  shards, <= 15 MB), the step and example counters, GPU-seconds, every run and every evaluation; a run
  resumes it and appends to it. Within one machine the exact fp32 weights and Adam moments are kept beside
  it (`exact.pt`) and a run resumes those when their step matches; across machines the moments are
  re-estimated (fresh moments, the learning rate ramped back over `rewarm` steps) and the run says so.
- **Pages rendered once** by a separate process into a spool folder (each file a batch of one mode's pages
  with their band texts); the trainer ingests them, encodes them once with the frozen encoder and keeps the
  tokens on the device (a bank per mode), drawing examples from it.
- **A curriculum of windows**: an example is a window of cell rows of a page and the text of its lines,
  from one row at first to whole pages once `rows_full` of the schedule is done; every step's examples share
  a window height, so padding is small.
- **An efficient step**: token-budget batches (`tokens` LM positions a step), cross-entropy only over the
  answer positions (decoder.LMReader.loss_on), bf16 autocast on CUDA, one host sync a step (the lengths).
- **Scheduled sampling** (`sampled`, from run c25 on): a share of the answer tokens fed as input is the LM's
  own teacher-forced guess, so a read learns to recover after its own mistakes instead of losing its place.
- **Every evaluation has its control**: the held-out Fox-like pages read through the LM in each mode, the
  same pages read with *another page's* tokens (the gap is the "it reads" number), fresh train pages beside
  them (memorisation), and the stage-1 CTC reader on the same pages.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from peft.helpers import disable_input_dtype_casting

from lab.models import state_sha
from lab.report import machine
from lab.optical.distributed import current as current_dist, finish_distributed, init_distributed, sum_gradients
from lab.optical.ctc_prefix import MERGE, LinePrefixScorer, ink_bands
from lab.optical.decoder import LOOP_TOKENS, LMReader, ReaderSpec
from lab.optical.encoder import MODES, to_tensor
from lab.optical.model import OpticalModel, autocast, write_shards
from lab.optical.reader import FRAMES, LINES

STATE_VERSION = 1


@dataclass(frozen=True)
class CampaignConfig:
    examples: int = 6_000_000           # the schedule's length in examples (windows or pages), over every run
    warmup: int = 30_000                # examples of linear warm-up at the campaign's start
    lr: float = 1e-3                    # LoRA
    proj_lr: float = 1e-3               # the slot projector
    head_lr: float = 1e-4               # the stage-1 head inside the projector (when spec.train_head)
    min_lr: float = 0.05                # the cosine's floor, as a fraction of each peak
    weight_decay: float = 0.0
    clip: float = 1.0
    tokens: int = 49_152                # LM positions a step (contexts + answers, padding included)
    max_answer: int = 1536              # answer tokens kept of one example
    rows_start: int = 1                 # window height (cell rows) at the start of the curriculum
    rows_full: float = 0.2              # fraction of the schedule by which windows may span whole pages
    page_share: float = 0.25            # then: the share of steps whose examples are whole pages
    modes: dict = field(default_factory=lambda: {"tiny": 1.0, "small": 1.0, "base": 1.0})
    size_scale: tuple = (1 / 72, 1 / 40)  # font sizes of the rendered pages, as fractions of the resolution
    shuffled: float = 0.0               # share of prose pages with their words shuffled (unpredictable: must be read)
    pdf: float = 0.0                    # share of pages taken from the training PDFs (lab.optical.pdfdocs, real documents)
    texts: tuple = ()                   # more training prose: lab.corpora package corpora (python-docs, wordnet, gcide)
    sampled: float = 0.0                # scheduled sampling: share of the answers' input tokens replaced by the LM's
                                        # own teacher-forced argmax (decoder.answer_loss; one more forward pass a step)
    bank_pages: int = 30_000            # pages kept per mode on the device (the oldest are dropped)
    min_bank: int = 256                 # pages a mode needs before its examples are drawn
    ingest_files: int = 8               # spool files (16 pages each) encoded and banked a step at most (host time
                                        # the device waits for; fewer: each page is drawn more often)
    ctc_weight: float = 0.1             # the head's stage-1 CTC loss beside the LM's (when spec.train_head)
    rewarm: int = 100                   # steps of learning-rate ramp after re-estimated moments
    eval_pages: int = 7                 # held-out Fox-like pages per evaluation (one per 100-token bucket)
    eval_modes: tuple = ("tiny", "small", "base")
    eval_every: float = 300.0           # seconds of training between evaluations (and one at each run's end)
    eval_max_new: int = 0               # tokens generated per page in an evaluation (0: 1.25 x the longest reference)
    seed: int = 0


def load_config(path: str | None, overrides: list[str] | None = None) -> tuple[ReaderSpec, CampaignConfig]:
    from lab.optical.config import build_config, read_yaml

    raw = read_yaml(path, overrides) if path else {}
    spec = build_config(ReaderSpec, raw.get("lm"), str(path))
    cfg = build_config(CampaignConfig, raw.get("campaign"), str(path))
    cfg = replace(cfg, eval_modes=tuple(cfg.eval_modes), texts=tuple(cfg.texts))
    return replace(spec, targets=tuple(spec.targets)), cfg


def lr_factor(cfg: CampaignConfig, examples: int) -> float:
    """The campaign's learning-rate curve as a fraction of the peak, by examples seen."""
    if examples < cfg.warmup:
        return (examples + 1) / cfg.warmup
    frac = min(1.0, (examples - cfg.warmup) / max(1, cfg.examples - cfg.warmup))
    return cfg.min_lr + (1 - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * frac))


def window_cap(cfg: CampaignConfig, examples: int, grid: int) -> int:
    """The tallest window (cell rows) the curriculum allows after `examples`."""
    frac = examples / max(1, cfg.rows_full * cfg.examples)
    return int(min(grid, cfg.rows_start + (grid - cfg.rows_start) * frac))


def window_text(bands: list[str], r0: int, r1: int) -> str:
    """The text of the lines whose bands lie in cell rows r0..r1-1, top to bottom."""
    return "\n".join(b for b in bands[r0 * LINES:r1 * LINES] if b.strip())


# -- pages: rendered by a separate process into a spool, banked on the device ----------------------------
def render_job(args) -> dict:
    """`n` pages of one mode from the train documents, seeded by (seed, job): images, band texts, targets."""
    mode, n, seed, job, scale, shuffled, pdf, texts = args
    from lab.optical import pdfdocs
    from lab.optical.corpus import PageSampler

    global _SAMPLER
    if "_SAMPLER" not in globals():
        _SAMPLER = PageSampler(training_documents(texts), shuffled=shuffled)
    res = MODES[mode]
    _SAMPLER.size_range = (max(6, int(res * scale[0])), max(7, int(res * scale[1])))
    rng = np.random.default_rng([seed, job])
    pages = [pdfdocs.page_sample(rng, mode) if pdf and rng.random() < pdf else _SAMPLER.page(rng, mode) for _ in range(n)]
    return {"mode": mode, "images": np.stack([p.image for p in pages]), "targets": np.stack([p.targets for p in pages]),
            "bands": [p.bands for p in pages]}


def training_documents(texts=()) -> list[tuple[str, str, str]]:
    """The page corpus's train documents (lab.data) and the named lab.corpora package corpora, as prose."""
    from lab import corpora, data

    return data.page_documents("train") + [(f"corpora/{t}", corpora.part(t).decode("utf-8", "replace"), "text")
                                           for t in texts]


def write_job(spool: Path, job: int, out: dict) -> None:
    import pickle

    tmp = spool / f".{job:08d}.tmp"
    with open(tmp, "wb") as f:
        pickle.dump(out, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, spool / f"{job:08d}-{out['mode']}.pkl")


def render(spool: str | Path, pages: int, modes: dict, seed: int, workers: int = 1, per_job: int = 16,
           scale: tuple = (1 / 72, 1 / 40), max_pending: int = 400, progress: bool = False, shuffled: float = 0.0,
           pdf: float = 0.0, texts=()) -> int:
    """Render `pages` pages into the spool (jobs of `per_job` pages, the modes in turn by weight; a share `pdf`
    of them pages of the training PDFs), pausing while more than `max_pending` files wait there. -> pages written."""
    if pdf:
        from lab.optical import pdfdocs

        for name in pdfdocs.names("train"):           # a missing document: one clear error before any worker starts
            pdfdocs.locate(name)
    if texts:
        from lab import corpora

        for t in texts:                               # likewise a missing package corpus
            corpora.package_files(t)
    spool = Path(spool)
    spool.mkdir(parents=True, exist_ok=True)
    names = list(modes)
    w = np.array([modes[m] for m in names], float)
    rng = np.random.default_rng([seed, 99])
    jobs = [(names[rng.choice(len(names), p=w / w.sum())], per_job, seed, j, tuple(scale), shuffled, pdf, tuple(texts))
            for j in range(-(-pages // per_job))]
    if workers <= 1:
        for j, a in enumerate(jobs):
            write_job(spool, j, render_job(a))
        return len(jobs) * per_job
    import multiprocessing as mp

    done = 0
    with mp.get_context("spawn").Pool(workers) as pool:
        pending = []
        for j, a in enumerate(jobs):
            while len(list(spool.glob("*.pkl"))) > max_pending:
                time.sleep(0.5)
            pending.append((j, pool.apply_async(render_job, (a,))))
            while len(pending) >= 2 * workers or (j == len(jobs) - 1 and pending):
                k, r = pending.pop(0)
                write_job(spool, k, r.get())
                done += per_job
                if progress and done % (per_job * 50) == 0:
                    print(f"rendered {done} pages", flush=True)
    return done


class PageBank:
    """Per mode: the frozen encoder's tokens of ingested pages on the device (bf16), their band texts and
    stage-1 targets, newest kept."""

    def __init__(self, model: OpticalModel, capacity: int, device, keep_targets: bool = False, shard=(0, 1)):
        """shard: (rank, processes): this process banks the spool's jobs whose number is rank modulo processes
        (each rank of a distributed run reads its own share of one renderer's spool)."""
        self.model, self.capacity, self.device, self.keep_targets = model, capacity, torch.device(device), keep_targets
        self.shard = shard
        self.tokens, self.bands, self.targets = {}, {}, {}
        self.ingested = 0

    def ingest(self, spool: Path, limit: int | None = None, batch: int = 64) -> int:
        """Encode and bank the spool's files (deleting them). -> pages ingested."""
        import pickle

        n = 0
        rank, world = self.shard
        files = sorted(Path(spool).glob("*.pkl"))
        if world > 1:
            files = [f for f in files if int(f.name.split("-")[0]) % world == rank]
        for f in files[:limit]:
            try:
                with open(f, "rb") as fh:
                    job = pickle.load(fh)
            except (OSError, EOFError, pickle.UnpicklingError):
                continue
            f.unlink(missing_ok=True)
            mode = job["mode"]
            ims = job["images"]
            host = torch.from_numpy(ims)
            if self.device.type == "cuda":  # pinned: the copy is queued behind the last step instead of waiting for it
                host = host.pin_memory()
            with torch.no_grad():        # fp32 (TF32 on CUDA), as the encoder was trained and as a CPU user runs it
                pix = host.to(self.device, non_blocking=True)
                toks = torch.cat([self.model.encoder(1.0 - pix[i:i + batch, None].float() / 255.0)
                                  for i in range(0, len(ims), batch)])
            self._add(mode, toks.to(torch.bfloat16), job["bands"], job["targets"] if self.keep_targets else None)
            n += len(ims)
        self.ingested += n
        return n

    def _add(self, mode, toks, bands, targets):
        if mode in self.tokens:
            toks = torch.cat([self.tokens[mode], toks])[-self.capacity:]
            bands = (self.bands[mode] + list(bands))[-self.capacity:]
            if targets is not None:
                targets = torch.cat([self.targets[mode], torch.from_numpy(targets).to(self.device)])[-self.capacity:]
        elif targets is not None:
            targets = torch.from_numpy(targets).to(self.device)
        self.tokens[mode], self.bands[mode] = toks, list(bands)
        if targets is not None:
            self.targets[mode] = targets

    def size(self, mode: str) -> int:
        return len(self.bands.get(mode, ()))


# -- the campaign's state ------------------------------------------------------------------------------------
def save_weights(reader: LMReader, d: Path) -> tuple[str, list[str]]:
    """The reader's trainable weights as fp16 safetensors shards in d; -> (sha256, shard names)."""
    return write_shards(reader.trainable_state(), d, "adapter")


def read_meta(d: str | Path) -> dict:
    from lab import FormatError

    try:
        meta = json.loads((Path(d) / "reader.json").read_text())
    except (OSError, ValueError) as e:
        raise FormatError(f"{d}: not a language-model reader ({e.__class__.__name__}: reader.json)") from None
    if meta.get("version") != STATE_VERSION:
        raise FormatError(f"{d}: reader version {meta.get('version')!r}, this lab reads {STATE_VERSION}")
    return meta


def stage1_name(d: str | Path) -> str | None:
    """The lab.models name of the stage-1 model whose tokens the reader folder `d` reads (its reader.json's
    stage1_sha256), or None if no registered model has that identity (a reader over a checkpoint of one's own)."""
    from lab import models

    sha = read_meta(d)["stage1_sha256"]
    return next((t.name for t in models.TRAINED.values() if t.sha256 == sha), None)


def load_weights(d: str | Path) -> tuple[dict, dict]:
    """(reader.json, fp16 state) of a reader folder, sha256-checked."""
    from safetensors.torch import load_file

    from lab import FormatError

    meta = read_meta(d)
    try:
        state = {}
        for name in meta["shards"]:
            state.update(load_file(str(Path(d) / name)))
    except (OSError, ValueError, KeyError) as e:
        raise FormatError(f"{d}: unreadable reader weights ({e.__class__.__name__}: {e})") from None
    if state_sha(state) != meta["sha256"]:
        raise FormatError(f"{d}: reader weights do not match their sha256 (corrupt)")
    return meta, state


def build_reader(model: OpticalModel, lm_name: str, spec: ReaderSpec, device, dtype=None) -> LMReader:
    """A fresh LM reader over a stage-1 model (its head copied into the projector)."""
    from lab import models

    lm, tok = models.load_any_lm(lm_name, str(device), dtype)
    return LMReader(lm, tok, copy.deepcopy(model.reader), model.enc_cfg.dim, spec).to(device)


def load_reader(d: str | Path, model: OpticalModel, device="cpu", dtype=None,
                other_encoder: bool = False) -> tuple[LMReader, dict]:
    """The LM reader of a folder (reader.json + adapter shards) over its stage-1 model; FormatError if the
    folder is unreadable or was trained on another stage-1 model (other_encoder=True: a probe of how the reader
    takes another encoder's tokens, e.g. a fine-tune of its own; the stage-1 head it reads through is `model`'s)."""
    from lab import FormatError

    meta, state = load_weights(d)
    if meta["stage1_sha256"] != model_sha(model) and not other_encoder:
        name = stage1_name(d)
        raise FormatError(f"{d}: this reader reads encoder {meta['stage1_sha256'][:12]}..."
                          + (f" ({name}: a bank made with --encoder model:{name})" if name else "")
                          + f", not {model_sha(model)[:12]}... (refused)")
    reader = build_reader(model, meta["lm"], ReaderSpec.from_dict(meta["spec"]), device, dtype)
    reader.load_trainable({k: v.float() for k, v in state.items()})
    return reader.eval(), meta


def model_sha(model: OpticalModel) -> str:
    return state_sha({k: v.detach().to(torch.float16) for k, v in model.state_dict().items()})


# -- evaluation ----------------------------------------------------------------------------------------------
def eval_set(tok, pages: int, seed: int = 0, docs=None):
    """The held-out Fox-like pages of an evaluation (corpus.fox_pages, one per 100-token bucket from 600; beyond
    seven, round by round over the buckets: 14 pages are two a bucket). docs: other held-out documents to cut them
    from (default corpus.FOX_DOCS, whose first pages every campaign evaluation reads)."""
    from lab.optical import corpus

    per = max(1, -(-pages // len(corpus.FOX_BUCKETS)))
    fox = corpus.fox_pages(lambda s: len(tok(s, add_special_tokens=False)["input_ids"]), per_bucket=per, seed=seed,
                           docs=tuple(docs or corpus.FOX_DOCS))
    by_bucket = [[p for p in fox if p.bucket == b] for b in corpus.FOX_BUCKETS]
    return [b[r] for r in range(per) for b in by_bucket if r < len(b)][:pages]


@torch.no_grad()
def encode(model: OpticalModel, images, mode: str, batch: int = 32) -> torch.Tensor:
    """Vision tokens of grey pages in a mode, in fp32 (TF32 on CUDA) as in training and on the CPU."""
    dev = next(model.parameters()).device
    return torch.cat([model.encoder(to_tensor(images[i:i + batch], mode).to(dev)) for i in range(0, len(images), batch)])


def _nll(reader: LMReader, ctx: list, answers: list, chunk: int = 32) -> float:
    """Teacher-forced nats per answer token: the sensitive form of the "it reads" control."""
    tot = n = 0
    for i in range(0, len(ctx), chunk):
        loss, k = reader.loss_on(ctx[i:i + chunk], answers[i:i + chunk])
        tot, n = tot + float(loss) * k, n + k
    return tot / max(n, 1)


@torch.no_grad()
def text_windows(bands, grid: int, rows: int, per_page: int = 3) -> list[int]:
    """The first rows of a page's first `per_page` windows of `rows` cell rows with reference text (`bands`: the
    page's band texts in a mode with `grid` cell rows): the windows `evaluate_windows` reads."""
    return [r for r in range(0, grid - rows + 1, rows) if window_text(bands, r, r + rows)][:per_page]


def evaluate_windows(reader: LMReader, model: OpticalModel, fox, mode: str, rows: int, per_page: int = 3,
                     guidance: float = 0.0, by_rows: bool = False, resync: int = 0, ctc_weight: float = 0.0,
                     ctc_merge: int | None = None, fallback: float = 0.0) -> dict:
    """Precision on windows of `rows` cell rows of the held-out pages (the curriculum's examples, before whole
    pages are learnt), with the same windows read from another page's tokens as the control, and by the stage-1
    CTC reader from the same tokens (its bands of those rows). guidance > 0: read with the LM's prior weighed
    out (`decoder.generate_guided`), the keys then lm_win{rows}_{mode}_g{guidance} and the control's likewise.
    by_rows: every window of each page is read (from its own tokens) and the reads are joined top to bottom into
    the page's text, scored against the whole page (keys lm_page_by{rows}_{mode}[_g...], control likewise): a
    whole page read window by window, where a mistake cannot carry over into the next window; the windows read
    are those the stage-1 reader finds ink in (before 2026-12-06: those whose reference text was not empty).
    resync > 0 (guided reads): a window whose read ended in a loop (`decoder.looping`; the loop cut off) is read
    again as windows of `resync` cell rows, those the stage-1 reader finds ink in, joined (own and control
    alike); the keys then hold the reads after it, and win{rows}_g{scale}_looped which windows looped, with the
    precisions before it. Each window's CTC precision is kept beside the LM's (ctc_win{rows}_precisions), and a
    guided read gives the paired difference, LM - CTC window by window: [mean, standard error].
    ctc_weight > 0 (guided reads): joint decoding, each token chosen with the stage-1 reader's CTC prefix score
    of the window's ink bands added (`ctc_prefix`; the control's from the other page's tokens it reads); the keys
    then carry _ctc{weight} after the guidance; ctc_merge: the most adjacent ink bands one line of the read may be
    scored against (`ctc_prefix.LinePrefixScorer`'s merge; 1: line j is ink band j, as before 2026-12-07; None:
    the mode's, `ctc_prefix.MERGE`). fallback > 0 (guided reads): a read that agrees with the stage-1 reader's
    text of the same window (metrics.precision between the two, no reference looked at) less than `fallback` is
    taken as derailed and replaced by that text (after resync); the keys fallback{f}_... hold the reads after it
    beside those before (own and control alike). A guided read keeps every window's read (win{rows}{g}_reads)
    and the stage-1 reader's (ctc_win{rows}_reads), for rules like this one to be checked later without reading
    again."""
    from lab.optical.metrics import precision

    was = reader.training
    reader.eval()
    dev = next(reader.parameters()).device
    vt = encode(model, [p.image for p in fox], mode)
    ctc_bands = model.reader.read_bands(vt)   # the stage-1 reader on the same tokens (its bands of each row)
    g = MODES[mode] // 64
    if (ctc_weight or fallback) and not guidance:
        raise ValueError("joint CTC decoding (ctc_weight) and the fallback are for guided reads")
    with torch.no_grad():
        band_logits = model.reader(vt).view(len(fox), g * LINES, g * FRAMES, -1) if ctc_weight else None

    def scorers(pages, windows):
        """A CTC prefix scorer per read (page, window of cell rows), or None without ctc_weight."""
        if not ctc_weight:
            return None
        merge = ctc_merge or MERGE[mode]
        return [LinePrefixScorer(ink_bands(band_logits[pg, r0 * LINES:r1 * LINES], ctc_bands[pg][r0 * LINES:r1 * LINES]),
                                 merge=merge)
                for pg, (r0, r1) in zip(pages, windows)]

    idx, wins, refs = [], [], []
    for i, p in enumerate(fox):
        bands = p.bands(mode)
        if by_rows:           # every window the stage-1 reader finds ink in (the reference is not looked at)
            starts = [r for r in range(0, g - rows + 1, rows) if window_text(ctc_bands[i], r, r + rows).strip()]
        else:                 # the first windows with text
            starts = text_windows(bands, g, rows, per_page)
        for r in starts:
            idx.append(i)
            wins.append((r, r + rows))
            refs.append(window_text(bands, r, r + rows))
    own = torch.as_tensor(idx, device=dev)
    other = torch.as_tensor([(i + 1) % len(fox) for i in idx], device=dev)
    budget = int(1.25 * max(len(reader.tok(r, add_special_tokens=False)["input_ids"]) for r in refs)) + 8
    with autocast(dev):
        ctx = reader.contexts(vt[own], wins) + reader.contexts(vt[other], wins)
        srcs = idx + [(i + 1) % len(fox) for i in idx]
        sc = scorers(srcs, wins + wins)
        outs, looped = [], []
        for i in range(0, len(ctx), 64):
            o = reader.generate_from(ctx[i:i + 64], max_new_tokens=budget, guidance=guidance,
                                     ctc=sc[i:i + 64] if sc else None, ctc_weight=ctc_weight)
            outs, looped = outs + list(o), looped + getattr(o, "looped", [False] * len(o))
        before = list(outs)
        if resync and guidance and not by_rows:
            src = idx + [(i + 1) % len(fox) for i in idx]
            for j in (j for j, lp in enumerate(looped) if lp):
                (r0, r1), pg = wins[j % len(wins)], src[j]
                subs = [(r, min(r + resync, r1)) for r in range(r0, r1, resync)
                        if window_text(ctc_bands[pg], r, min(r + resync, r1)).strip()]
                if subs:
                    sub = reader.generate_from(reader.contexts(vt[[pg] * len(subs)], subs),
                                               max_new_tokens=max(64, 2 * budget * resync // (r1 - r0)), guidance=guidance,
                                               ctc=scorers([pg] * len(subs), subs), ctc_weight=ctc_weight)
                    outs[j] = "\n".join(o.strip() for o in sub)
        answers = reader.answer_ids(refs)
        nll = [] if guidance else [_nll(reader, ctx[:len(refs)], answers), _nll(reader, ctx[len(refs):], answers)]
    reader.train(was)
    n = len(refs)
    cw = f"_ctc{ctc_weight:g}" if ctc_weight else ""
    if by_rows:               # each page's window reads joined in order, against the page's text (own, then control)
        g_ = (f"_g{guidance:g}" if guidance else "") + cw
        pages = list(range(len(fox)))   # a page the stage-1 reader finds no ink in reads as nothing
        joined = ["\n".join(o.strip() for o, i in zip(outs[k * n:(k + 1) * n], idx) if i == pg) for k in (0, 1) for pg in pages]
        full = [window_text(fox[pg].bands(mode), 0, g) for pg in pages]
        pp = [precision(o, r) for o, r in zip(joined, full + full)]
        m = len(pages)
        return {f"lm_page_by{rows}_{mode}{g_}": float(np.mean(pp[:m])), f"lm_page_by{rows}_control{g_}": float(np.mean(pp[m:])),
                f"page_by{rows}{g_}_precisions": [round(float(x), 4) for x in pp[:m]],
                f"page_by{rows}{g_}_windows": n, "windows_chosen_by": "stage-1 ink",
                f"page_by{rows}{g_}_samples": [{"ref": r[:160], "out": o[:160]} for r, o in list(zip(full, joined))[:2]]}
    prec = [precision(o, r) for o, r in zip(outs, refs + refs)]
    ctc_reads = [window_text(ctc_bands[i], *w) for i, w in zip(idx, wins)]
    ctc = [precision(c, r) for c, r in zip(ctc_reads, refs)]
    if guidance:              # a guided read: its precisions, samples and the CTC figure (teacher-forced: a plain run's)
        g = f"_g{guidance:g}{cw}"
        def paired(x):        # x - CTC, window by window on the same tokens: [mean, standard error]
            d = np.asarray(x[:n]) - np.asarray(ctc)
            return [float(d.mean()), float(d.std(ddof=1) / np.sqrt(n)) if n > 1 else None]

        res = {f"lm_win{rows}_{mode}{g}": float(np.mean(prec[:n])), f"lm_win{rows}_control{g}": float(np.mean(prec[n:])),
               f"ctc_win{rows}_{mode}": float(np.mean(ctc)),
               f"lm_minus_ctc_win{rows}{g}": paired(prec),
               f"win{rows}{g}_precisions": [round(float(x), 4) for x in prec[:n]],
               f"ctc_win{rows}_precisions": [round(float(x), 4) for x in ctc],
               f"win{rows}{g}_samples": [{"ref": r[:120], "out": o[:120]} for r, o in list(zip(refs, outs))[:3]],
               f"win{rows}{g}_reads": list(outs[:n]), f"ctc_win{rows}_reads": ctc_reads}
        if fallback:          # a read far from the stage-1 reader's text of its window is taken as derailed
            other_ctc = [window_text(ctc_bands[(i + 1) % len(fox)], *w) for i, w in zip(idx, wins)]
            rep = [precision(o, c) < fallback for o, c in zip(outs, ctc_reads + other_ctc)]
            fb = [c if r_ else o for o, c, r_ in zip(outs, ctc_reads + other_ctc, rep)]
            pf = [precision(o, r) for o, r in zip(fb, refs + refs)]
            f = f"fallback{fallback:g}"
            res.update({f"{f}_win{rows}_{mode}{g}": float(np.mean(pf[:n])), f"{f}_win{rows}_control{g}": float(np.mean(pf[n:])),
                        f"{f}_minus_ctc_win{rows}{g}": paired(pf),
                        f"{f}_win{rows}{g}_precisions": [round(float(x), 4) for x in pf[:n]],
                        f"{f}_win{rows}{g}_replaced": [j for j in range(n) if rep[j]],
                        f"{f}_win{rows}{g}_control_replaced": sum(rep[n:])})
        if any(looped):
            res[f"win{rows}{g}_looped"] = [j for j in range(n) if looped[j]]
            res[f"win{rows}{g}_control_looped"] = sum(looped[n:])
        if resync:
            pb = [precision(o, r) for o, r in zip(before, refs + refs)]
            res.update({"resync_rows": resync, f"before_resync_win{rows}_{mode}{g}": float(np.mean(pb[:n])),
                        f"before_resync_win{rows}_control{g}": float(np.mean(pb[n:])),
                        f"win{rows}{g}_precisions_before_resync": [round(float(x), 4) for x in pb[:n]]})
        return res
    return {f"lm_win{rows}_{mode}": float(np.mean(prec[:n])), f"lm_win{rows}_control": float(np.mean(prec[n:])),
            f"ctc_win{rows}_{mode}": float(np.mean(ctc)),
            f"nll_win{rows}_{mode}": nll[0], f"nll_win{rows}_control": nll[1],
            f"win{rows}_precisions": [round(float(x), 4) for x in prec[:n]],   # each window's, own tokens
            f"ctc_win{rows}_precisions": [round(float(x), 4) for x in ctc],
            f"win{rows}_samples": [{"ref": r[:120], "out": o[:120]} for r, o in list(zip(refs, outs))[:3]]}


@torch.no_grad()
def evaluate(reader: LMReader, model: OpticalModel, fox, modes, train_pages: int = 0, seed: int = 4321,
             max_new_tokens: int | None = None, window_rows: int = 2) -> dict:
    """Precision of the LM reader on held-out pages per mode, with the other-page control (first mode), fresh
    train pages (memorisation) and the stage-1 reader on the same pages; one greedy generation for all."""
    from lab.optical import corpus
    from lab.optical.metrics import precision

    was = reader.training
    reader.eval()
    dev = next(reader.parameters()).device
    groups, refs, ctxs, ctc = [], [], [], {}
    for m in modes:
        vt = encode(model, [p.image for p in fox], m)
        with autocast(dev):
            ctx = reader.contexts(vt)
        ctxs += ctx
        groups += [m] * len(fox)
        refs += [p.text for p in fox]
        ctc[m] = float(np.mean([precision(o, p.text) for o, p in zip(model.reader.read(vt), fox)]))
        if m == modes[0] and len(fox) > 1:
            ctxs += [ctx[(i + 1) % len(ctx)] for i in range(len(ctx))]        # another page's tokens
            groups += ["control"] * len(fox)
            refs += [p.text for p in fox]
            positions = [int(c.shape[0]) - len(reader.pre) - len(reader.post) for c in ctx]
    if train_pages:
        smp, _ = corpus.fresh_pages(modes[0], train_pages, seed, "train", (1 / 60, 1 / 40))
        vt = encode(model, [p.image for p in smp], modes[0])
        with autocast(dev):
            ctxs += reader.contexts(vt)
        groups += ["train"] * len(smp)
        refs += [p.text for p in smp]
    budget = max_new_tokens or int(1.25 * max(len(reader.tok(r, add_special_tokens=False)["input_ids"]) for r in refs)) + 16
    t0 = time.time()
    with autocast(dev):
        outs = []
        for i in range(0, len(ctxs), 48):
            outs += reader.generate_from(ctxs[i:i + 48], max_new_tokens=budget)
    secs = time.time() - t0
    reader.train(was)
    prec = [precision(o, r) for o, r in zip(outs, refs)]
    row = {"generate_seconds": round(secs, 1), "pages": len(fox)}
    for g in dict.fromkeys(groups):
        row[f"lm_{g}"] = float(np.mean([p for p, gg in zip(prec, groups) if gg == g]))
    for m, v in ctc.items():
        row[f"ctc_{m}"] = v
    if len(fox) > 1:
        row["reads_gap"] = row[f"lm_{modes[0]}"] - row["lm_control"]
        row["lm_positions_" + modes[0]] = float(np.mean(positions))
    row["samples"] = [{"group": g, "ref": r[:160], "out": o[:160], "precision": round(p, 3)}
                      for g, r, o, p in list(zip(groups, refs, outs, prec))[::max(1, len(fox))][:6]]
    if window_rows and len(fox) > 1 and all(p.lines for p in fox):
        row.update(evaluate_windows(reader, model, fox, modes[0], window_rows))
    return row


# -- training ------------------------------------------------------------------------------------------------
class Campaign:
    """The state folder of a campaign and the training loop that extends it."""

    def __init__(self, state_dir: str | Path, model: OpticalModel, spec: ReaderSpec, cfg: CampaignConfig,
                 lm_name: str, device="cpu", move_encoder: bool = False):
        """move_encoder: a state trained on another stage-1 model goes on over `model`'s tokens (refused without
        it): the state's encoder becomes `model`'s, the move kept in its "encoders" list (from, to, step,
        examples), as when the encoder was fine-tuned with its old tokens anchored (optical-reader-pdf)."""
        self.dir, self.model, self.cfg, self.device = Path(state_dir), model, cfg, torch.device(device)
        dist = current_dist()
        self.rank, self.world = (dist.get_rank(), dist.get_world_size()) if dist else (0, 1)
        self.budget = cfg.tokens // self.world          # LM positions a step on this rank (the global step: cfg.tokens)
        self.model.to(self.device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        dtype = torch.bfloat16 if self.device.type == "cuda" else None
        self.resumed = "fresh"
        if (self.dir / "reader.json").is_file():
            self.reader, self.meta = load_reader(self.dir, model, self.device, dtype, other_encoder=move_encoder)
            sha = model_sha(model)
            if self.meta["stage1_sha256"] != sha:
                self.meta.setdefault("encoders", []).append({"from": self.meta["stage1_sha256"], "to": sha,
                                                             "step": self.meta["step"], "examples": self.meta["examples"]})
                self.meta["stage1_sha256"] = sha
                print(f"note: the campaign moves to encoder {sha[:12]}... at step {self.meta['step']}", flush=True)
            if ReaderSpec.from_dict(self.meta["spec"]) != spec:
                print(f"note: the campaign's reader spec {self.meta['spec']} is kept (the config's differs)", flush=True)
            self.resumed = "weights"
        else:
            self.reader = build_reader(model, lm_name, spec, self.device, dtype)
            self.meta = {"version": STATE_VERSION, "lm": lm_name, "spec": spec.to_dict(), "stage1_sha256": model_sha(model),
                         "config": _jsonable(asdict(cfg)), "step": 0, "examples": 0, "gpu_seconds": 0.0,
                         "answer_tokens": 0, "runs": [], "curve": []}
        self.reader.train()
        self.opt = self._optimiser()
        exact = self.dir / "exact.pt"
        if self.resumed == "weights" and exact.is_file():
            st = torch.load(exact, map_location=self.device, weights_only=False)
            if st.get("step") == self.meta["step"]:
                self.reader.load_state_dict(st["reader"], strict=False)
                self.opt.load_state_dict(st["opt"])
                self.resumed = "exact"
        if dist:                                         # every rank starts from rank 0's weights
            for q in self.reader.parameters():
                if q.requires_grad:
                    dist.broadcast(q.data, 0)

    def _optimiser(self):
        cfg, r = self.cfg, self.reader
        head = {id(p) for p in r.projector.head.parameters()}
        proj = {id(p) for p in r.projector.parameters()} - head
        groups = {"lora": [], "projector": [], "head": []}
        for p in r.parameters():
            if p.requires_grad:
                groups["head" if id(p) in head else "projector" if id(p) in proj else "lora"].append(p)
        peak = {"lora": cfg.lr, "projector": cfg.proj_lr, "head": cfg.head_lr}
        self.peaks = [peak[k] for k in groups if groups[k]]
        return torch.optim.AdamW([{"params": v, "lr": peak[k]} for k, v in groups.items() if v],
                                 weight_decay=cfg.weight_decay, betas=(0.9, 0.98), fused=self.device.type == "cuda")

    # examples --------------------------------------------------------------------------------------------
    def draw(self, bank: PageBank, mode: str, rng, per_row: dict) -> tuple[list, list, np.ndarray, torch.Tensor]:
        """One step's examples within the token budget: contexts, answers, their pages' bank indices and tokens.
        Every example of a step is a window of the same height (cell rows) at a random place on a random page."""
        cfg, r = self.cfg, self.reader
        g = MODES[mode] // 64
        cap = window_cap(cfg, self.meta["examples"], g)
        h = g if cap == g and rng.random() < cfg.page_share else int(rng.integers(1, cap + 1))
        est = per_row.get(mode, 60.0) * h + 48
        k = max(1, min(bank.size(mode), 1024, int(1.3 * self.budget / est) + 1))
        idx = rng.integers(0, bank.size(mode), k)
        r0s = rng.integers(0, g - h + 1, k)
        vt = bank.tokens[mode][torch.as_tensor(idx, device=bank.device)].float()
        windows = [(int(a), int(a) + h) for a in r0s]
        # the answers (host work) before the step's one host sync, while the device still runs the last step
        texts = [window_text(bank.bands[mode][i], int(a), int(a) + h) for i, a in zip(idx, r0s)]
        answers = r.answer_ids(texts, cfg.max_answer)
        # the frozen head's posteriors once: they size the step and then form the chosen windows' slots
        with autocast(self.device):
            post = None if r.spec.train_head else r.projector.posteriors(vt, windows)
            nslots = r.projector.kept(vt, windows, post).tolist()          # the step's one host sync
        pre = len(r.pre) + len(r.post)
        lens = [s + pre + len(a) for s, a in zip(nslots, answers)]
        per_row[mode] = 0.9 * per_row.get(mode, 60.0) + 0.1 * float(np.mean(lens)) / h
        keep_j, longest = [], 0
        for j in np.argsort(lens)[::-1]:
            if keep_j and max(longest, lens[j]) * (len(keep_j) + 1) > self.budget:
                continue
            keep_j.append(int(j))
            longest = max(longest, lens[j])
        sel = torch.as_tensor(keep_j, device=vt.device)
        with autocast(self.device):
            ctx = r.contexts(vt[sel], [windows[j] for j in keep_j], posteriors=None if post is None else post.select(sel))
        return ctx, [answers[j] for j in keep_j], idx[keep_j], vt[sel]

    def train(self, bank: PageBank, spool: Path, seconds: float, run: str, command: str = "", fox=None,
              train_pages: int = 7, progress: bool = True, stop=None, profile: int = 0) -> dict:
        """Train for `seconds` (ingesting the spool as it fills), evaluating every `eval_every` seconds and at
        the end; save the state before that last evaluation and again after it; -> this run's record.
        profile: profile that many steps after the first 30 (torch.profiler) and print where the time went."""
        cfg, r, meta = self.cfg, self.reader, self.meta
        rng = np.random.default_rng([cfg.seed, len(meta["runs"]), 17] + ([self.rank] if self.world > 1 else []))
        dist = current_dist()
        names = list(cfg.modes)
        w = np.array([cfg.modes[m] for m in names], float)
        per_row, t0, last_eval, step0, ex0 = {}, time.time(), time.time(), meta["step"], meta["examples"]
        rewarm = 0 if self.resumed in ("exact", "fresh") else cfg.rewarm
        run_rec = {"run": run, "command": command, "resumed": self.resumed, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                   "machine": machine(), "sampled": cfg.sampled, "step_from": step0, "examples_from": ex0, "log": []}
        loss_acc, tok_acc, n_acc, steps_here, ingested0 = torch.zeros((), device=self.device), 0, 0, 0, bank.ingested
        timed, prof = {}, None
        bank.ingest(spool, limit=300)
        while True:
            done = time.time() - t0 >= seconds or bool(stop and stop())
            clock = _PhaseClock(self.device, steps_here % 25 == 24)    # one timed step (synchronised) a log row
            if not done:
                bank.ingest(spool, limit=cfg.ingest_files)
            clock("ingest")
            ready = [m for m in names if bank.size(m) >= min(cfg.min_bank, bank.capacity)]
            if dist:                                     # every rank stops, waits or steps together
                agree = torch.tensor([float(done), float(not ready)], device=self.device)
                dist.all_reduce(agree, op=dist.ReduceOp.MAX)
                done, ready = bool(agree[0]), ready if not agree[1] else []
            if done:
                break
            if not ready:
                if not list(Path(spool).glob("*.pkl")):
                    time.sleep(0.2)
                bank.ingest(spool, limit=4)
                continue
            p = np.array([w[names.index(m)] for m in ready])
            mode = ready[int(rng.choice(len(ready), p=p / p.sum()))]
            ctx, answers, idx, vt = self.draw(bank, mode, rng, per_row)
            clock("draw")
            f = lr_factor(cfg, meta["examples"]) * min(1.0, (steps_here + 1) / rewarm if rewarm else 1.0)
            targets = bank.targets[mode][torch.as_tensor(idx, device=bank.device)] \
                if r.spec.train_head and cfg.ctc_weight and mode in bank.targets else None
            loss_sum, n, ex = self.step(ctx, answers, f, vt if targets is not None else None, targets, clock)
            if clock.on:
                timed = {**clock.ms, "positions": int(sum(c.shape[0] for c in ctx)) + n // self.world,
                         "examples": ex // self.world}
            loss_acc += loss_sum
            tok_acc += n
            n_acc += ex
            steps_here += 1
            if profile and self.rank == 0:
                prof = _profile_steps(prof if steps_here > 30 else None, steps_here - 30, profile, self.device)
            meta["step"] += 1
            meta["examples"] += ex
            meta["answer_tokens"] += n
            if steps_here % 25 == 0:
                el = time.time() - t0
                row = {"step": meta["step"], "examples": meta["examples"], "seconds": round(el, 1),
                       "loss": float(loss_acc) / max(1, tok_acc), "lr_factor": round(f, 4), "window_cap": window_cap(cfg, meta["examples"], 10),
                       "examples_per_s": round((meta["examples"] - ex0) / el, 1), "pages_banked": {m: bank.size(m) for m in names},
                       "pages_ingested": bank.ingested - ingested0, "step_ms": timed}
                run_rec["log"].append(row)
                loss_acc.zero_()
                tok_acc = n_acc = 0
                if progress and self.rank == 0:
                    print(json.dumps(row), flush=True)
            if self.rank == 0 and fox is not None and time.time() - last_eval > cfg.eval_every \
                    and time.time() - t0 < seconds - 60:
                self._evaluate(fox, run, t0, train_pages)
                last_eval = time.time()
        el = time.time() - t0
        meta["gpu_seconds"] += el * self.world
        run_rec.update(seconds=round(el, 1), steps=meta["step"] - step0, examples_to=meta["examples"], processes=self.world,
                       examples_per_s=round((meta["examples"] - ex0) / max(el, 1e-9), 1),
                       examples_per_gpu_minute=round(60 * (meta["examples"] - ex0) / max(el * self.world, 1e-9)),
                       pages_ingested=bank.ingested - ingested0)
        meta["runs"].append(run_rec)
        if self.rank:                                   # rank 0 keeps the state (every rank holds the same)
            return run_rec
        self.save()  # the training is kept even if the device call ends during the evaluation (run c6's loss)
        if fox is not None:
            self._evaluate(fox, run, None, train_pages)
            self.save()
        return run_rec

    def step(self, ctx: list, answers: list, lr_f: float, vt=None, targets=None, clock=None) -> tuple:
        """One optimiser step on this process's examples at `lr_f` of the peak learning rates. Under
        torch.distributed every rank brings its own examples and the gradient is the whole batch's, as one
        process holding every rank's examples computes it: each rank's cross-entropy summed over its answer
        tokens is divided by the global count, the gradients summed across ranks (one all-reduce), then
        clipped and applied identically everywhere. -> (summed loss over the global batch (a tensor), global
        answer tokens, global examples)."""
        cfg, r, dist = self.cfg, self.reader, current_dist()
        clock = clock or _PhaseClock(self.device, False)
        for gr, peak in zip(self.opt.param_groups, self.peaks):
            gr["lr"] = peak * lr_f
        # LoRA's input is left in the step's dtype (peft would cast each layer's bf16 input to the adapter's fp32
        # and autocast straight back: two copies of the activations a layer and a third of the ops, same numbers)
        with disable_input_dtype_casting(r.lm), autocast(self.device):
            loss, n = r.loss_on(ctx, answers, cfg.sampled)
            loss_sum = loss * n
        counts = torch.tensor([float(n), float(len(answers))], dtype=torch.float64, device=self.device)
        if dist:
            dist.all_reduce(counts)
        n_g, ex_g = int(counts[0]), int(counts[1])
        total = loss_sum / n_g
        if targets is not None:                # the stage-1 CTC auxiliary, a mean over the global batch's pages
            with autocast(self.device):
                total = total + cfg.ctc_weight * r.projector.head.loss(vt.float(), targets) * len(answers) / ex_g
        clock("forward")
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        clock("backward")
        params = [q for gr in self.opt.param_groups for q in gr["params"]]
        if dist:
            sum_gradients(params)
            loss_sum = loss_sum.detach().clone()
            dist.all_reduce(loss_sum)
        torch.nn.utils.clip_grad_norm_(params, cfg.clip)
        self.opt.step()
        clock("optimiser")
        return loss_sum.detach(), n_g, ex_g

    def _evaluate(self, fox, run, t0, train_pages):
        row = evaluate(self.reader, self.model, fox, self.cfg.eval_modes, train_pages,
                       max_new_tokens=self.cfg.eval_max_new or None)
        row.update(run=run, step=self.meta["step"], examples=self.meta["examples"],
                   gpu_minutes=round((self.meta["gpu_seconds"] + (time.time() - t0 if t0 else 0)) / 60, 2))
        self.meta["curve"].append(row)
        print("eval " + json.dumps({k: v for k, v in row.items() if k != "samples"}), flush=True)
        for s in row["samples"][:3]:
            print("  " + json.dumps(s), flush=True)

    def save(self) -> None:
        """The state folder: fp16 adapter shards + reader.json (atomic), and the exact fp32 state beside it."""
        sha, names = save_weights(self.reader, self.dir)
        self.meta.update(sha256=sha, shards=names)
        tmp = self.dir / "reader.json.tmp"
        tmp.write_text(json.dumps(self.meta, indent=1, default=str))
        os.replace(tmp, self.dir / "reader.json")
        st = {"step": self.meta["step"], "reader": {k: v for k, v in self.reader.state_dict().items()
                                                    if k in _trainable_names(self.reader)}, "opt": self.opt.state_dict()}
        torch.save(st, self.dir / "exact.pt.tmp")
        os.replace(self.dir / "exact.pt.tmp", self.dir / "exact.pt")


def _profile_steps(prof, k: int, steps: int, device):
    """Steps 1..steps after the warm-up under torch.profiler; after the last, print the device's busy time per
    step against the wall clock's and the kernels and host ops that took most. -> the profiler (or None)."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    if k == 0:
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.device(device).type == "cuda" else [])
        prof = profile(activities=acts)
        prof.__enter__()
        prof.t0 = time.perf_counter()
    elif prof is not None and k == steps:
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)
        wall = (time.perf_counter() - prof.t0) / steps
        prof.__exit__(None, None, None)
        ev = prof.key_averages()
        # kernels only: an op's self device time is its kernels' again (c11's profile counted both: 929 ms a step)
        dev_us = sum(e.self_device_time_total for e in ev if e.device_type != DeviceType.CPU) / steps
        print(json.dumps({"profile_steps": steps, "wall_ms_per_step": round(1000 * wall, 1),
                          "device_busy_ms_per_step": round(dev_us / 1000, 1)}), flush=True)
        for key in ("self_device_time_total", "self_cpu_time_total"):
            print(ev.table(sort_by=key, row_limit=18, max_name_column_width=60), flush=True)
        return None
    return prof


class _PhaseClock:
    """Milliseconds of each phase of one training step, synchronising the device at every mark (only when `on`:
    one step in 25, so the others keep their single host sync)."""

    def __init__(self, device, on: bool):
        self.device, self.on, self.ms = torch.device(device), on, {}
        self.t = self._now() if on else 0.0

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def __call__(self, phase: str) -> None:
        if self.on:
            t = self._now()
            self.ms[phase] = round(1000 * (t - self.t), 1)
            self.t = t


def _trainable_names(reader) -> set[str]:
    return {n for n, p in reader.named_parameters() if p.requires_grad}


def _jsonable(d):
    return json.loads(json.dumps(d, default=lambda o: list(o) if isinstance(o, tuple) else str(o)))


# -- command line (the device runs) ------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.optical.train_lm", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("render", help="render training pages into a spool folder (run beside `train`)")
    p.add_argument("--spool", required=True, help="folder the pages are written to")
    p.add_argument("--pages", type=int, default=100_000, help="pages to render")
    p.add_argument("--seed", type=int, required=True, help="page seed: a new one for every run of the campaign")
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2), help="rendering processes")
    p.add_argument("--max-pending", type=int, default=400, help="files waiting in the spool before rendering pauses")
    p.add_argument("--config", help="campaign YAML (its modes and font sizes)")
    p.add_argument("--set", action="append", default=[],
                   help="override section.key=value (e.g. campaign.pdf=0.25: the share of real PDF pages)")
    p = sub.add_parser("train", help="resume the campaign in --state and train for --seconds")
    p.add_argument("--state", required=True, help="the campaign's state folder (created on the first run)")
    p.add_argument("--spool", required=True, help="the folder `render` writes pages to")
    p.add_argument("--seconds", type=float, required=True, help="training seconds of this run (evaluation extra)")
    p.add_argument("--run", required=True, help="this run's name in the campaign's log")
    p.add_argument("--config", help="campaign YAML (sections lm, campaign)")
    p.add_argument("--set", action="append", default=[], help="override section.key=value")
    p.add_argument("--stage1", default="model:optical-reader", help="the encoder + stage-1 reader (vision.load spec)")
    p.add_argument("--move-encoder", action="store_true",
                   help="go on from a state trained on another encoder, over --stage1's tokens (kept in the state)")
    p.add_argument("--lm", default="smollm2-135m-instruct", help="the language model (lab.models name)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--no-eval", action="store_true", help="skip the evaluations (benchmarks)")
    p.add_argument("--profile", type=int, default=0, help="profile this many steps after the first 30 and print them")
    p = sub.add_parser("evaluate", help="windows of held-out pages read by a reader folder, with the control -> JSON")
    p.add_argument("--state", required=True, help="the reader folder (a campaign's state, or models/optical-lm-reader)")
    p.add_argument("--rows", default="1,2", help="window heights (cell rows), comma-separated")
    p.add_argument("--mode", default="small", help="resolution mode")
    p.add_argument("--pages", type=int, default=7, help="held-out Fox-like pages (with --pdf: pages a document)")
    p.add_argument("--pdf", action="store_true",
                   help="body pages of the held-out real PDFs (lab.optical.pdfdocs, `make documents`) instead")
    p.add_argument("--fox-docs", nargs="+",
                   help="cut the Fox-like pages from these held-out documents (dataset/file; default "
                        "lab.optical.corpus.FOX_DOCS: its first pages are the ones every evaluation reads), e.g. "
                        "canterbury/lcet10.txt alone for pages no evaluation has looked at")
    p.add_argument("--guidance", type=float, default=0.0,
                   help="read with the LM's prior weighed out at this scale (classifier-free guidance; the keys "
                        "then end in _g<scale>, and no teacher-forced figures are written)")
    p.add_argument("--ctc-weight", type=float, default=0.0,
                   help="with --guidance: joint decoding, the stage-1 reader's CTC prefix scores of the same tokens "
                        "added at this weight (lab.optical.ctc_prefix; keys then end in _ctc<weight>)")
    p.add_argument("--ctc-merge", type=int,
                   help="with --ctc-weight: the most adjacent ink bands one line may be scored against (a line "
                        "whose ink sits across a band boundary; 1: line j is ink band j; default: the mode's, "
                        "lab.optical.ctc_prefix.MERGE: 2 in base and large, 1 in tiny and small)")
    p.add_argument("--fallback", type=float, default=0.0,
                   help="with --guidance: a window's read that agrees with the stage-1 reader's text of the same "
                        "window less than this (precision between the two; e.g. 0.5) is replaced by that text "
                        "(keys fallback<f>_...)")
    p.add_argument("--by-rows", action="store_true",
                   help="read each whole page as all its windows of --rows cell rows, joined, scored against the page")
    p.add_argument("--resync", type=int, default=0,
                   help="with --guidance: a window whose read ends in a loop is read again this many cell rows at a "
                        "time (the rows the stage-1 reader finds ink in), joined")
    p.add_argument("--out", required=True, help="JSON written here")
    p.add_argument("--stage1", help="the encoder + stage-1 reader (default: the registered model whose tokens "
                   "the state reads, else model:optical-reader)")
    p.add_argument("--other-encoder", action="store_true",
                   help="a probe: read --stage1's tokens though the reader was trained on another encoder's "
                        "(refused without this flag; the JSON then names both)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args(argv)
    if a.verb == "evaluate":
        from lab.optical import vision

        torch.manual_seed(0)
        model = vision.load(a.stage1 or f"model:{stage1_name(a.state) or 'optical-reader'}", a.device).model
        reader, meta = load_reader(a.state, model, a.device, other_encoder=a.other_encoder)
        if a.pdf:
            from lab.optical import pdfdocs

            fox = pdfdocs.eval_pages("test", lambda s: len(reader.tok(s, add_special_tokens=False)["input_ids"]),
                                     per_doc=a.pages)
        else:
            fox = eval_set(reader.tok, a.pages, docs=a.fox_docs)
        res = {"command": " ".join(sys.argv), "machine": machine(), "state_sha256": meta["sha256"], "step": meta["step"],
               "examples": meta["examples"], "gpu_minutes": round(meta["gpu_seconds"] / 60, 2), "mode": a.mode,
               "pages": [p.source for p in fox] if a.pdf else len(fox),
               **({"fox_docs": a.fox_docs} if a.fox_docs else {}),
               **({"loop_tokens": LOOP_TOKENS} if a.guidance else {}),
               **({"ctc_merge": a.ctc_merge or MERGE[a.mode]} if a.ctc_weight else {}),
               **({"fallback": a.fallback} if a.fallback else {}),
               **({"stage1_sha256": model_sha(model), "trained_on_stage1_sha256": meta["stage1_sha256"]}
                  if model_sha(model) != meta["stage1_sha256"] else {})}
        for h in map(int, a.rows.split(",")):
            res.update(evaluate_windows(reader, model, fox, a.mode, h, guidance=a.guidance, by_rows=a.by_rows,
                                        resync=a.resync, ctc_weight=a.ctc_weight,
                                        ctc_merge=a.ctc_merge, fallback=a.fallback))
        Path(a.out).write_text(json.dumps(res, indent=1))
        print(json.dumps({k: v for k, v in res.items() if "samples" not in k}), flush=True)
        return 0
    spec, cfg = load_config(a.config, getattr(a, "set", None))
    if a.verb == "render":
        n = render(a.spool, a.pages, cfg.modes, a.seed, a.workers, scale=cfg.size_scale, max_pending=a.max_pending,
                   progress=True, shuffled=cfg.shuffled, pdf=cfg.pdf, texts=cfg.texts)
        print(f"rendered {n} pages into {a.spool}", flush=True)
        return 0
    from lab.optical import vision

    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    if torch.cuda.is_available():     # cuDNN's attention failed on long left-padded batches (H100, torch 2.11)
        torch.backends.cuda.enable_cudnn_sdp(False)
    device = init_distributed(a.device)
    model = vision.load(a.stage1, device).model
    camp = Campaign(a.state, model, spec, cfg, a.lm, device, move_encoder=a.move_encoder)
    if camp.rank == 0:
        print(f"campaign {a.state}: step {camp.meta['step']}, {camp.meta['examples']:,} examples, "
              f"{camp.meta['gpu_seconds'] / 60:.1f} GPU-minutes so far; resumed: {camp.resumed}; "
              f"{camp.world} process(es)", flush=True)
    bank = PageBank(model, cfg.bank_pages, device, keep_targets=spec.train_head, shard=(camp.rank, camp.world))
    fox = None if a.no_eval or camp.rank else eval_set(camp.reader.tok, cfg.eval_pages)
    rec = camp.train(bank, Path(a.spool), a.seconds, a.run, " ".join(sys.argv), fox, profile=a.profile)
    finish_distributed()
    if camp.rank == 0:
        print(json.dumps({k: v for k, v in rec.items() if k != "log"}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
