"""Stage 2 of the optical reader: the slot projector, the LM reader and the campaign that trains it
(lab/optical/projector.py, decoder.py, train_lm.py), on the tiny random chat model and a random encoder."""
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from lab import FormatError, models
from lab.optical import corpus, reader as Rd, train_lm as L, vision
from lab.optical.decoder import LMReader, ReaderSpec
from lab.optical.projector import SlotProjector


@pytest.fixture(scope="module")
def stage1():
    return vision.load("random:0").model


def _reader(stage1, **kw):
    import copy

    lm, tok = models.tiny_lm(models.TINY_CHAT)
    return LMReader(lm, tok, copy.deepcopy(stage1.reader), stage1.enc_cfg.dim, ReaderSpec(r=2, alpha=4, **kw))


def test_window_slots_are_the_whole_pages_slots_of_those_rows():
    """A window's slots (the head run on the window and one cell row either side) are exactly the whole page's
    slots of those rows, in reading order (line, then column); empty bands are left out; heights must agree."""
    torch.manual_seed(0)
    head = Rd.GridReader(16, 4, 8).eval()
    proj = SlotProjector(head, 16, 24, threshold=0.0).eval()
    tok = torch.randn(3, 64, 16)                                   # 8x8 cells
    with torch.no_grad():
        whole = proj(tok)
        assert [w.shape for w in whole] == [(8 * Rd.LINES * 8, 24)] * 3       # threshold 0: every slot kept
        for r0 in (0, 3, 6):
            win = proj(tok, [(r0, r0 + 2)] * 3)
            a, b = r0 * Rd.LINES * 8, (r0 + 2) * Rd.LINES * 8
            for w, full in zip(win, whole):
                assert torch.allclose(w, full[a:b], atol=1e-5)
        mixed = proj(tok, [(0, 2), (6, 8), (3, 5)])
        assert torch.allclose(mixed[1], whole[1][6 * Rd.LINES * 8:], atol=1e-5)
        assert proj.kept(tok, [(0, 2)] * 3).tolist() == [2 * Rd.LINES * 8] * 3
        proj.threshold = 0.5                                       # posteriors computed once (a training step's
        rows = [(0, 2), (6, 8), (3, 5)]                            # draw): the same counts and, for the rows
        post = proj.posteriors(tok, rows)                          # chosen, the same slots as running the head
        assert proj.kept(tok, rows, post).tolist() == proj.kept(tok, rows).tolist()
        sel = torch.tensor([2, 0])
        again = proj(tok[sel], [rows[2], rows[0]], post.select(sel))
        assert [torch.equal(a, b) for a, b in zip(again, proj(tok[sel], [rows[2], rows[0]]))] == [True, True]
        proj.threshold = 1.1                                       # nothing is ever that sure: every slot left out
        assert [w.shape[0] for w in proj(tok)] == [0, 0, 0] and proj.kept(tok).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="equal runs"):
        proj(tok, [(0, 2), (0, 3), (0, 2)])


def test_lora_input_left_in_the_step_dtype_gives_the_same_loss_and_gradients_with_fewer_copies(stage1):
    """The training step's bf16 autocast with the LM in bf16 and LoRA in fp32 (the GPU's setting, here on the
    CPU): leaving each LoRA input in bf16 (train_lm's step) instead of peft's cast to fp32 and back gives the
    same loss and the same gradients, bit for bit, with fewer tensor copies."""
    from peft.helpers import disable_input_dtype_casting
    from torch.profiler import ProfilerActivity, profile

    r = _reader(stage1)
    r.lm.to(torch.bfloat16)
    for p in r.parameters():
        if p.requires_grad:
            p.data = p.data.float()
    torch.manual_seed(0)
    v = torch.randn(2, 64, stage1.enc_cfg.dim)
    runs = []
    for left in (False, True):
        r.zero_grad()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            with torch.autocast("cpu", dtype=torch.bfloat16), disable_input_dtype_casting(r.lm, active=left):
                loss, _ = r.loss(v, ["the cat sat", "a dog"])
        loss.backward()
        copies = sum(e.count for e in prof.key_averages() if e.key == "aten::copy_")
        runs.append((loss.item(), {n: p.grad.clone() for n, p in r.named_parameters() if p.grad is not None}, copies))
    (l0, g0, c0), (l1, g1, c1) = runs
    assert l0 == l1 and g0.keys() == g1.keys() and len(g0) > 10
    assert all(torch.equal(g0[k], g1[k]) for k in g0)
    assert c1 < c0


def test_lm_reader_learns_a_page_and_keeps_only_its_own_weights(stage1):
    """The LM reader on the tiny chat model: the loss over the answer falls, generation returns text, only the
    LoRA and projector weights train (the stage-1 head is frozen by default) and they round-trip."""
    r = _reader(stage1)
    trainable = {n for n, p in r.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or (n.startswith("projector.") and ".head." not in n) for n in trainable)
    assert not any(".head." in k for k in r.trainable_state())
    torch.manual_seed(0)
    v = torch.randn(2, 64, stage1.enc_cfg.dim)
    opt = torch.optim.Adam([p for p in r.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(20):
        loss, n = r.loss(v, ["the cat sat", "a dog ran"], rows=(0, 2))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert n == len("the cat sat") + len("a dog ran") + 2 and losses[-1] < losses[0] - 0.5
    out = r.generate(v, max_new_tokens=4, rows=(0, 2))
    assert len(out) == 2 and all(isinstance(o, str) for o in out)
    assert r.positions(v, (0, 2)) == [c.shape[0] for c in r.slots(v, (0, 2))]
    r2 = _reader(stage1)
    r2.load_trainable(r.trainable_state())
    with torch.no_grad():
        assert torch.allclose(r2.loss(v, ["the cat sat", "a dog ran"], rows=(0, 2))[0],
                              r.loss(v, ["the cat sat", "a dog ran"], rows=(0, 2))[0], atol=1e-5)
    head = _reader(stage1, train_head=True)
    assert any(".head." in k for k in head.trainable_state())


def test_scheduled_sampling_feeds_the_lms_own_teacher_forced_argmax(stage1):
    """decoder.answer_loss(sampled=1): every answer token fed as input is the LM's own argmax at that place. On
    the LM's greedy continuation that is the gold input itself (the same loss, bit for bit); on other answers the
    inputs change (another loss); gradients flow either way, and sampled=0 is plain teacher forcing."""
    from lab.optical.decoder import answer_loss

    r = _reader(stage1).eval()
    torch.manual_seed(2)
    v = torch.randn(2, 64, stage1.enc_cfg.dim)
    ctx = [c.detach() for c in r.contexts(v, (0, 2))]
    emb, base = r.lm.get_input_embeddings(), r.lm.get_base_model()
    greedy = []
    with torch.no_grad():
        for c in ctx:
            ids = []
            for _ in range(6):
                x = torch.cat([c, emb(torch.tensor(ids, dtype=torch.long))]) if ids else c
                ids.append(int(base(inputs_embeds=x[None]).logits[0, -1].argmax()))
            greedy.append(ids + [r.eos])
    other = [[(t + 7) % 60 + 3 for t in a[:-1]] + [r.eos] for a in greedy]
    with torch.no_grad():
        assert answer_loss(r.lm, ctx, greedy, 1.0)[0] == answer_loss(r.lm, ctx, greedy)[0]
        assert answer_loss(r.lm, ctx, other, 1.0)[0] != answer_loss(r.lm, ctx, other)[0]
        assert answer_loss(r.lm, ctx, other, 0.0)[0] == answer_loss(r.lm, ctx, other)[0]
    r.train()
    loss, n = r.loss_on(r.contexts(v, (0, 2)), other, sampled=0.5)
    loss.backward()
    assert n == sum(map(len, other)) and any(p.grad is not None for n_, p in r.named_parameters() if "lora_" in n_)


def test_guided_reading_is_greedy_at_scale_zero_and_unmoved_by_padding(stage1):
    """decoder.generate_guided: at a vanishing scale it is plain greedy decoding; at a real scale each row reads
    the same batched (left-padded beside longer contexts and their blind rows) as alone."""
    from lab.optical.decoder import generate_guided

    r = _reader(stage1).eval()
    torch.manual_seed(1)
    v = torch.randn(3, 64, stage1.enc_cfg.dim)
    with torch.no_grad():
        ctx = r.contexts(v[:1], (0, 2)) + r.contexts(v[1:2], (0, 4)) + r.contexts(v[2:], (0, 1))
        assert len({c.shape[0] for c in ctx}) == 3
        assert r.generate_from(ctx, max_new_tokens=6, guidance=1e-9) == r.generate_from(ctx, max_new_tokens=6)
        both = r.generate_from(ctx, max_new_tokens=6, guidance=2.0)
        assert both == [r.generate_from([c], max_new_tokens=6, guidance=2.0)[0] for c in ctx]
        blind = r.blind(3)
        assert blind[0].shape[0] == len(r.pre) + len(r.post)
        assert generate_guided(r.lm, r.tok, r.eos, ctx, blind, 2.0, 6) == both


def test_a_read_caught_in_a_loop_ends_with_the_loop_cut_off(stage1):
    """decoder.looping: a cycle of <= 8 tokens filling the window is a loop (a page's shorter runs, and a cycle
    longer than 8 tokens, are not); cut_loop drops it and the tokens before it that go on with it. generate_guided
    ends a looping row there and marks it (a tiny random LM loops at once); without the check it runs on."""
    from lab.optical.decoder import cut_loop, generate_guided, looping

    t = torch.tensor
    rows = t([[5] * 12, [1, 2, 3] * 4, [9, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
              list(range(3)) + [7] * 9])
    assert looping(rows, 12).tolist() == [5, 1, -1, -1, -1]
    assert looping(rows[:, :11], 12).tolist() == [-1] * 5           # shorter than the window: never a loop
    assert looping(t([list(range(9)) * 6]), 48).tolist() == [-1]    # a 9-token cycle is longer than a loop's
    assert cut_loop([4, 4, 9, 1, 2] + [3, 1, 2] * 5, 12) == [4, 4, 9]
    assert cut_loop([8] + [5] * 20, 12) == [8]
    r = _reader(stage1).eval()
    torch.manual_seed(1)
    with torch.no_grad():
        ctx = r.contexts(torch.randn(2, 64, stage1.enc_cfg.dim), (0, 2))
        free = generate_guided(r.lm, r.tok, r.eos, ctx, r.blind(2), 1.0, 40, loop_tokens=0)
        cut = generate_guided(r.lm, r.tok, r.eos, ctx, r.blind(2), 1.0, 40, loop_tokens=12)
    ids = [r.tok(s, add_special_tokens=False)["input_ids"] for s in free]
    assert any(looping(t([i[-12:]]), 12).item() >= 0 for i in ids if len(i) >= 12)   # the free read loops
    assert any(cut.looped) and not any(free.looped)
    for f, c, lp in zip(free, cut, cut.looped):
        assert (len(c) < len(f) and f.startswith(c)) if lp else c == f


def test_schedule_curriculum_and_window_text_follow_the_campaign():
    cfg = L.CampaignConfig(examples=1000, warmup=100, rows_start=1, rows_full=0.5, min_lr=0.1)
    assert L.lr_factor(cfg, 0) == pytest.approx(0.01) and L.lr_factor(cfg, 100) == pytest.approx(1.0)
    assert L.lr_factor(cfg, 1000) == pytest.approx(0.1) and L.lr_factor(cfg, 5000) == pytest.approx(0.1)
    assert [L.window_cap(cfg, e, 10) for e in (0, 250, 500, 900)] == [1, 5, 10, 10]
    bands = [""] * 16
    bands[1], bands[9], bands[10] = "one", "two", "  "
    assert L.window_text(bands, 0, 1) == "one" and L.window_text(bands, 0, 2) == "one\ntwo" and L.window_text(bands, 1, 2) == "two"


def test_campaign_trains_resumes_on_one_schedule_and_checks_its_state(tmp_path, stage1):
    """Two runs of a campaign: pages rendered into a spool and banked; each run appends to the state (steps,
    examples, GPU-seconds, runs, the evaluated curve with its other-page control); the second run resumes the
    exact state; without it, the weights with re-estimated moments; a damaged state is refused."""
    cfg = L.CampaignConfig(examples=5000, warmup=5, tokens=1500, modes={"tiny": 1.0}, min_bank=4, eval_pages=2,
                           eval_modes=("tiny",), eval_every=1e9, eval_max_new=8)
    assert L.render(tmp_path / "spool", 8, cfg.modes, seed=1, per_job=4) == 8
    assert len(list((tmp_path / "spool").glob("*.pkl"))) == 2
    spec = ReaderSpec(r=2, alpha=4)
    camp = L.Campaign(tmp_path / "st", stage1, spec, cfg, models.TINY_CHAT)
    bank = L.PageBank(stage1, 100, "cpu")
    steps = iter(range(4))
    fox = L.eval_set(camp.reader.tok, 2)
    rec = camp.train(bank, tmp_path / "spool", 1e9, "r1", fox=fox, train_pages=2, progress=False,
                     stop=lambda: next(steps, None) is None)
    assert bank.size("tiny") == 8 and not list((tmp_path / "spool").glob("*.pkl"))
    assert rec["steps"] == 4 and rec["resumed"] == "fresh" and camp.meta["step"] == 4
    meta = json.loads((tmp_path / "st" / "reader.json").read_text())
    row = meta["curve"][-1]
    assert meta["examples"] == rec["examples_to"] > 0 and meta["gpu_seconds"] > 0 and len(meta["runs"]) == 1
    assert {"lm_tiny", "lm_control", "lm_train", "ctc_tiny", "reads_gap"} <= set(row) and row["run"] == "r1"
    ex1 = meta["examples"]
    _ocr_reads_through_the_lm_reader(tmp_path, stage1)
    _evaluate_cli_reads_windows_of_fox_and_real_pdf_pages(tmp_path)
    again = L.Campaign(tmp_path / "st", stage1, spec, replace(cfg, sampled=0.5), models.TINY_CHAT)  # as from c25
    assert again.resumed == "exact" and again.meta["examples"] == ex1
    steps = iter(range(2))
    again.train(bank, tmp_path / "spool", 1e9, "r2", progress=False, stop=lambda: next(steps, None) is None)
    meta = json.loads((tmp_path / "st" / "reader.json").read_text())
    assert [r["run"] for r in meta["runs"]] == ["r1", "r2"] and meta["step"] == 6 and meta["examples"] > ex1
    assert [r["sampled"] for r in meta["runs"]] == [0.0, 0.5]
    (tmp_path / "st" / "exact.pt").unlink()
    assert L.Campaign(tmp_path / "st", stage1, spec, cfg, models.TINY_CHAT).resumed == "weights"
    with pytest.raises(FormatError, match="reads encoder"):
        L.load_reader(tmp_path / "st", vision.load("random:1").model)
    other = vision.load("random:1").model             # a probe: the same reader over another encoder's tokens
    probe, probe_meta = L.load_reader(tmp_path / "st", other, other_encoder=True)
    assert probe_meta["stage1_sha256"] != L.model_sha(other) and probe.eval() is probe
    moved = L.Campaign(tmp_path / "st", other, spec, cfg, models.TINY_CHAT, move_encoder=True)   # the campaign moves
    assert moved.meta["stage1_sha256"] == L.model_sha(other) and moved.meta["examples"] == meta["examples"]
    assert moved.meta["encoders"] == [{"from": L.model_sha(stage1), "to": L.model_sha(other), "step": meta["step"],
                                       "examples": meta["examples"]}]
    shard = sorted((tmp_path / "st").glob("adapter-*.safetensors"))[0]
    shard.write_bytes(shard.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(FormatError, match="sha256|unreadable"):
        L.Campaign(tmp_path / "st", stage1, spec, cfg, models.TINY_CHAT)


def _evaluate_cli_reads_windows_of_fox_and_real_pdf_pages(tmp_path):
    """`train_lm evaluate`: held-out windows read from the page's own tokens and from another page's, into a JSON
    that names the state; with --pdf the held-out real PDFs' pages (where `make documents` installed them)."""
    from lab.optical import pdfdocs

    out = tmp_path / "win.json"
    base = ["evaluate", "--state", str(tmp_path / "st"), "--stage1", "random:0", "--rows", "1", "--device", "cpu"]
    assert L.main(base + ["--pages", "2", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["pages"] == 2 and res["examples"] > 0 and len(res["state_sha256"]) == 64
    assert 0 <= res["lm_win1_tiny" if res["mode"] == "tiny" else "lm_win1_small"] <= 1 and "nll_win1_control" in res
    assert 0 <= res[f"ctc_win1_{res['mode']}"] <= 1            # the stage-1 reader on the same windows and tokens
    assert L.main(base + ["--pages", "2", "--guidance", "1", "--out", str(out)]) == 0
    g = json.loads(out.read_text())                             # a guided read: its own keys, no teacher-forced ones
    assert 0 <= g[f"lm_win1_{res['mode']}_g1"] <= 1 and "lm_win1_control_g1" in g and not any(
        k.startswith("nll_") for k in g) and len(g["win1_g1_precisions"]) == len(res["win1_precisions"])
    assert g[f"ctc_win1_{res['mode']}"] == res[f"ctc_win1_{res['mode']}"]   # the CTC reader on the same windows
    ctc = g["ctc_win1_precisions"]                              # window by window, and the paired LM - CTC
    assert ctc == res["ctc_win1_precisions"] and len(ctc) == len(g["win1_g1_precisions"])
    mean, se = g["lm_minus_ctc_win1_g1"]
    assert mean == pytest.approx(np.mean(np.array(g["win1_g1_precisions"]) - ctc), abs=1e-3) and se >= 0
    assert L.main(base + ["--pages", "2", "--guidance", "1", "--ctc-weight", "0.5", "--out", str(out)]) == 0
    j = json.loads(out.read_text())                             # joint decoding with the CTC prefix scores: own keys
    assert 0 <= j[f"lm_win1_{res['mode']}_g1_ctc0.5"] <= 1 and "lm_win1_control_g1_ctc0.5" in j
    assert j["ctc_win1_precisions"] == ctc and len(j["win1_g1_ctc0.5_precisions"]) == len(ctc)
    with pytest.raises(ValueError, match="guided"):
        L.main(base + ["--pages", "2", "--ctc-weight", "0.5", "--out", str(out)])
    assert L.main(base + ["--pages", "2", "--guidance", "1", "--fallback", "1.01", "--out", str(out)]) == 0
    fb = json.loads(out.read_text())                            # every read agrees < 1.01 with the head's: all replaced
    assert fb["fallback"] == 1.01 and fb["fallback1.01_win1_g1_precisions"] == ctc and fb["ctc_win1_reads"]
    assert fb["fallback1.01_win1_g1_replaced"] == list(range(len(ctc))) and fb["fallback1.01_minus_ctc_win1_g1"][0] == 0
    assert len(fb["win1_g1_reads"]) == len(ctc) and fb["win1_g1_precisions"] == g["win1_g1_precisions"]
    assert L.main(base + ["--pages", "2", "--guidance", "1", "--fallback", "0.3", "--out", str(out)]) == 0
    f3 = json.loads(out.read_text())                            # replaced: exactly the reads far from the head's text
    from lab.optical.metrics import precision
    far = [j for j, (o, c) in enumerate(zip(f3["win1_g1_reads"], f3["ctc_win1_reads"])) if precision(o, c) < 0.3]
    assert f3["fallback0.3_win1_g1_replaced"] == far
    assert f3["fallback0.3_win1_g1_precisions"] == [ctc[j] if j in far else x for j, x in enumerate(g["win1_g1_precisions"])]
    with pytest.raises(ValueError, match="guided"):
        L.main(base + ["--pages", "2", "--fallback", "0.5", "--out", str(out)])
    assert L.main(base[:-4] + ["--rows", "2", "--device", "cpu", "--pages", "2", "--guidance", "1", "--resync", "1",
                               "--out", str(out)]) == 0
    rs = json.loads(out.read_text())                            # looping windows read again a row at a time
    pb, pa, looped = rs["win2_g1_precisions_before_resync"], rs["win2_g1_precisions"], rs.get("win2_g1_looped", [])
    assert rs["resync_rows"] == 1 and rs["loop_tokens"] == 48 and len(pb) == len(pa) and looped   # a random LM loops
    assert all(a == b for j, (a, b) in enumerate(zip(pa, pb)) if j not in looped)   # only looped windows change
    assert (rs[f"lm_win2_{res['mode']}_g1"] == rs[f"before_resync_win2_{res['mode']}_g1"]) == (pa == pb)
    assert L.main(base + ["--pages", "2", "--by-rows", "--out", str(out)]) == 0
    b = json.loads(out.read_text())                             # whole pages read row by row, joined: one score a page
    m = b["mode"]
    assert len(b["page_by1_precisions"]) == 2 and 0 <= b[f"lm_page_by1_{m}"] <= 1 and "lm_page_by1_control" in b
    assert b["page_by1_windows"] >= len(res["win1_precisions"])              # every row with text, not 3 a page
    assert b["page_by1_samples"][0]["ref"].count("\n") >= 1                # the page's text, many rows
    if pdfdocs.available("test"):
        assert L.main(base + ["--pdf", "--pages", "1", "--out", str(out)]) == 0
        res = json.loads(out.read_text())
        assert len(res["pages"]) == 3 and all(" p" in p for p in res["pages"]) and "lm_win1_control" in res


def _ocr_reads_through_the_lm_reader(tmp_path, stage1):
    """`lab optical ocr --reader lm` with a campaign's state folder (the CPU path a fresh clone uses), and
    --reference printing the precision; a reader trained on another encoder is refused in one line."""
    import subprocess
    import sys

    from PIL import Image

    from lab.optical import model as M, render as R

    M.save(stage1, tmp_path / "ck")
    page = R.render_text("the cat sat on the mat", R.Layout(width=512, height=512, size=16))[0]
    Image.fromarray(page.grey()).save(tmp_path / "p.png")
    (tmp_path / "ref.txt").write_text(page.text)
    cmd = [sys.executable, "-m", "lab", "optical", "ocr", str(tmp_path / "p.png"), "--model", str(tmp_path / "ck"),
           "--mode", "tiny", "--reader", "lm", "--lm-reader", str(tmp_path / "st"), "--max-new-tokens", "4",
           "--reference", str(tmp_path / "ref.txt")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "precision" in r.stderr and "lm reader" in r.stderr
    M.save(vision.load("random:1").model, tmp_path / "ck1")
    cmd[cmd.index(str(tmp_path / "ck"))] = str(tmp_path / "ck1")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "reads encoder" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_phase_clock_times_only_the_steps_it_is_asked_to():
    on, off = L._PhaseClock("cpu", True), L._PhaseClock("cpu", False)
    for c in (on, off):
        sum(range(10000))
        c("draw")
        c("forward")
    assert set(on.ms) == {"draw", "forward"} and on.ms["draw"] >= 0 and off.ms == {}


def test_step_profile_starts_after_warm_up_and_reports_where_the_time_went(capsys):
    """train(profile=N) profiles steps 31..30+N: nothing before, one summary line and two tables after the last."""
    prof, x = None, torch.randn(384, 384)      # ~1-10 ms a step: the summary's 0.1 ms rounding cannot reach zero
    for step in range(1, 36):
        x = torch.tanh(x @ x.T / 384)
        prof = L._profile_steps(prof if step > 30 else None, step - 30, 3, "cpu")
        assert (prof is not None) == (30 <= step < 33)
    out = capsys.readouterr().out
    head = json.loads(out.splitlines()[0])
    assert head["profile_steps"] == 3 and head["wall_ms_per_step"] > 0 and "aten::mm" in out
    assert head["device_busy_ms_per_step"] == 0          # kernels only: a CPU op is not counted as device time


def test_eval_set_beyond_seven_pages_goes_round_the_buckets():
    """An evaluation of 14 pages reads two a bucket (it once kept every other page: 7 of 14), 10 pages one a bucket
    then the three smallest buckets again; seven pages stay one a bucket."""
    def tok(s, add_special_tokens=False):
        return {"input_ids": range(len(s) // 4)}

    seven, fourteen, ten = (L.eval_set(tok, n) for n in (7, 14, 10))
    assert [p.bucket for p in seven] == list(corpus.FOX_BUCKETS)
    assert [p.bucket for p in fourteen] == list(corpus.FOX_BUCKETS) * 2
    assert len({p.text for p in fourteen}) == 14
    assert [p.bucket for p in ten] == list(corpus.FOX_BUCKETS) + list(corpus.FOX_BUCKETS[:3])
    fresh = L.eval_set(tok, 14, docs=["canterbury/lcet10.txt"])    # pages no default evaluation reads
    assert [p.bucket for p in fresh] == list(corpus.FOX_BUCKETS) * 2 and all(p.source == "canterbury/lcet10.txt" for p in fresh)
    assert not {p.text for p in fresh} & {p.text for p in fourteen}


def test_stage1_name_pairs_a_reader_with_the_registered_encoder_it_reads(tmp_path):
    """`lab optical ocr --reader lm` with no --model reads through the stage-1 model the LM reader was trained on:
    the registered name with that identity, None for a checkpoint of one's own; a folder that is no reader fails
    in a FormatError. The committed reader names a registered model."""
    for sha, want in ((models.TRAINED["optical-reader-pdf"].sha256, "optical-reader-pdf"), ("0" * 64, None)):
        (tmp_path / "r").mkdir(exist_ok=True)
        (tmp_path / "r" / "reader.json").write_text(json.dumps({"version": L.STATE_VERSION, "stage1_sha256": sha}))
        assert L.stage1_name(tmp_path / "r") == want
    with pytest.raises(FormatError):
        L.stage1_name(tmp_path / "none")
    assert L.stage1_name(models.trained_path("optical-lm-reader")) in models.TRAINED
    from lab.optical import vision                      # a refusal names the bank's encoder the reader needs
    with pytest.raises(FormatError, match="optical-reader-pdf: a bank made with --encoder model:optical-reader-pdf"):
        L.load_reader(models.trained_path("optical-qa-vision"), vision.load("random:1").model)
