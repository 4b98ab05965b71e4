"""llmzip: bit-exact round trips of any bytes, the escape, stream splits and cache restarts; refusals; the CLI."""
import os
from unittest import mock

import numpy as np
import pytest
import torch

from lab import FormatError, models
from lab.llmzip import codec

TEXT = b"In the beginning God created the heaven and the earth. And the earth was without form, and void.\n"


@pytest.fixture(scope="module")
def tiny():
    return codec.tiny_model()


@pytest.mark.parametrize("data", [b"", b"a", TEXT * 3, bytes(range(256)), b"\xff\xfe\xc0<|im_start|>caf\xc3\xa9 \xe2\x82",
                                  os.urandom(300)])
@pytest.mark.parametrize("streams", [1, 4])
def test_round_trip_any_bytes(tiny, data, streams):
    lm, tok, sha = tiny
    blob = codec.compress(data, lm, tok, sha, streams=streams, context=32, keep=8)    # restarts included
    assert codec.decompress(blob, lm, tok, sha) == data


def test_round_trip_canterbury(tiny):
    """A slice of every Canterbury file (texts and binaries) in one input, several streams and restarts."""
    from lab import data

    lm, tok, sha = tiny
    raw = b"".join(p.read_bytes()[:160] for p in data.files("canterbury"))
    blob = codec.compress(raw, lm, tok, sha, streams=3, context=64, keep=16)
    assert len(raw) > 1500 and codec.decompress(blob, lm, tok, sha) == raw


def test_static_steps_attend_grouped_heads_in_place_with_transformers_numbers(tiny):
    """The static engine's attention: a one-token step's query heads packed onto their K/V heads gives
    transformers' non-compiled SDPA numbers bit for bit, and the expanded-heads path's (what transformers runs
    inside torch.compile) to rounding; a longer query (a restart's prefix) is transformers' own path."""
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    attn = tiny[0].model.layers[0].self_attn
    g = attn.num_key_value_groups
    torch.manual_seed(0)
    k, v = torch.randn(3, 2, 40, 16), torch.randn(3, 2, 40, 16)
    mask = torch.zeros(3, 1, 1, 40)
    mask[:, :, :, 30:] = float("-inf")                              # the static cache's unwritten places
    for q in (torch.randn(3, 2 * g, 1, 16), torch.randn(3, 2 * g, 5, 16)):
        m = mask.expand(3, 1, q.shape[2], 40)
        ours, _ = codec._grouped_step_attention(attn, q, k, v, m, scaling=0.25)
        theirs, _ = sdpa_attention_forward(attn, q, k, v, m, scaling=0.25)
        assert ours.shape == (3, q.shape[2], 2 * g, 16) and torch.equal(ours, theirs)
        full = torch.nn.functional.scaled_dot_product_attention(q, repeat_kv(k, g), repeat_kv(v, g), attn_mask=m,
                                                                scale=0.25).transpose(1, 2)
        assert torch.allclose(ours, full, atol=1e-5)


def test_few_streams_attend_by_matmuls_with_the_fused_kernels_numbers():
    """codec._step_attention_matmul (a GPU step with few streams x K/V heads): the fused attention's numbers to
    rounding, with a boolean mask (transformers' SDPA masks) and an additive one, in float32 and bfloat16."""
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 3, 64), torch.randn(2, 3, 100, 64), torch.randn(2, 3, 100, 64)
    keep = torch.ones(2, 1, 1, 100, dtype=torch.bool)
    keep[..., 60:] = False                                          # the static cache's unwritten places
    add = torch.zeros(2, 1, 1, 100).masked_fill(~keep, float("-inf"))
    for m in (keep, add, None):
        ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m, scale=0.125)
        assert torch.allclose(codec._step_attention_matmul(q, k, v, m, 0.125), ref, atol=1e-5)
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=keep)
    half = codec._step_attention_matmul(q.bfloat16(), k.bfloat16(), v.bfloat16(), keep, None)
    assert half.dtype == torch.bfloat16 and torch.allclose(half.float(), ref, atol=0.05)
    assert codec.FEW_BLOCKS > 1 * 3 and codec.FEW_BLOCKS < 4096 * 3   # one stream by matmuls, 4,096 fused


def test_static_engine_steps_give_the_lms_own_logits(tiny):
    """A prefix then one-token steps through the static engine's cache (its own attention and mask) give the
    logits of the LM run once over the whole sequence: no step sees the cache's unwritten places."""
    lm = tiny[0]
    torch.manual_seed(1)
    ids = torch.randint(0, lm.config.vocab_size, (2, 12))
    with torch.no_grad():
        whole = lm(input_ids=ids).logits[:, -1]
        step = codec._StaticStep(lm, 32, "cpu")
        try:
            step.restart(ids[:, :4])
            for t in range(4, 12):
                last = step.next(ids[:, t:t + 1])[:, -1]
        finally:
            step.close()
    assert lm.config._attn_implementation == "sdpa"
    assert torch.allclose(last, whole, atol=1e-4), (last - whole).abs().max()


def test_banded_steps_attend_only_the_filled_bands_with_the_static_engines_logits(tiny):
    """The banded engine: each one-token step's attention gets the cache's first band_length(p + 1) places (a band
    of the context, multiple of 16), and its logits are the static engine's (the cut places are masked there)."""
    lm = tiny[0]
    torch.manual_seed(2)
    ids = torch.randint(0, lm.config.vocab_size, (2, 40))
    seen, orig = [], codec._grouped_step_attention

    def spy(module, query, key, value, attention_mask, **kw):
        out = orig(module, query, key, value, attention_mask, **kw)
        if query.shape[2] == 1 and module.layer_idx == 0:
            seen.append(min(key.shape[2], kw.get("band") or key.shape[2]))
        return out

    logits = {}
    with torch.no_grad(), mock.patch.object(codec, "_grouped_step_attention", spy):
        for banded in (False, True):
            step = codec._StaticStep(lm, 64, "cpu", banded=banded)
            try:
                step.restart(ids[:, :3])
                logits[banded] = torch.cat([step.next(ids[:, t:t + 1])[:, -1] for t in range(3, 40)])
            finally:
                step.close()
    assert seen[:37] == [64] * 37 and seen[37:] == [16] * 13 + [32] * 16 + [48] * 8
    assert torch.allclose(logits[True], logits[False], atol=1e-5)


def test_static_engine_round_trips_through_restarts_and_is_recorded(tiny):
    """The static engine (a StaticCache reset at each restart; on CUDA a captured graph): any bytes round-trip,
    the header records the engine, the decoder runs it without being told, and an unknown class is refused."""
    from lab import data

    lm, tok, sha = tiny
    raw = b"".join(p.read_bytes()[:150] for p in data.files("canterbury")) + b"\xff\xfe tail"
    blob = codec.compress(raw, lm, tok, sha, streams=3, context=48, keep=12, engine="static")
    (n, _, streams, dev, context, keep, *_), _ = codec.read_header(blob)
    assert (n, streams, dev, context, keep) == (len(raw), 3, 2, 48, 12)
    assert codec.decompress(blob, lm, tok, sha) == raw
    assert lm.config._attn_implementation == "sdpa"                 # the engine gives the LM its attention back
    eager = codec.compress(raw, lm, tok, sha, streams=3, context=48, keep=12)
    assert codec.read_header(eager)[0][3] == 0 and abs(len(eager) - len(blob)) <= 0.02 * len(eager)
    i = next(k for k in range(len(blob)) if blob[k] != eager[k])    # the first difference: the device-class byte
    assert (blob[i], eager[i]) == (2, 0)
    with pytest.raises(FormatError, match="corrupt"):
        codec.decompress(blob[:i] + bytes([8]) + blob[i + 1:], lm, tok, sha)
    with pytest.raises(FormatError, match="cpu with the static engine"):
        codec.decompress(blob, lm, tok, sha, device="cuda")
    with pytest.raises(ValueError, match="engine"):
        codec.compress(raw, lm, tok, sha, engine="graph")
    banded = codec.compress(raw, lm, tok, sha, streams=3, context=48, keep=12, engine="banded")
    assert banded[i] == 10 and codec.decompress(banded, lm, tok, sha) == raw
    assert abs(len(banded) - len(blob)) <= 0.01 * len(blob)
    with pytest.raises(FormatError, match="cpu with the banded engine"):
        codec.decompress(banded, lm, tok, sha, device="cuda")
    with pytest.raises(FormatError, match="corrupt"):                # banded without the static bit
        codec.decompress(banded[:i] + bytes([8]) + banded[i + 1:], lm, tok, sha)


@pytest.mark.parametrize("engine", ["eager", "static"])
def test_bfloat16_round_trips_is_recorded_and_leaves_the_model_in_float32(tiny, engine):
    """dtype bfloat16 codes with a bfloat16 copy of the model: any bytes round-trip, the header's device class
    carries +4 and the decoder follows it, the caller's model keeps its float32 weights bit for bit, the rate stays
    near float32's, and the adapting LM (float32 only) is refused."""
    from lab import data

    lm, tok, sha = tiny
    before = {k: v.clone() for k, v in lm.state_dict().items()}
    raw = b"".join(p.read_bytes()[:150] for p in data.files("canterbury")) + b"\xff\xfe tail"
    blob = codec.compress(raw, lm, tok, sha, streams=3, context=48, keep=12, engine=engine, dtype="bfloat16")
    assert codec.read_header(blob)[0][3] == 4 + codec.ENGINES[engine]
    assert all(torch.equal(v, before[k]) and v.dtype == torch.float32 for k, v in lm.state_dict().items())
    assert codec.decompress(blob, lm, tok, sha) == raw
    fp32 = codec.compress(raw, lm, tok, sha, streams=3, context=48, keep=12, engine=engine)
    assert abs(len(blob) - len(fp32)) <= 0.03 * len(fp32)
    with pytest.raises(FormatError, match="in bfloat16"):
        codec.decompress(blob, lm, tok, sha, device="cuda")
    with pytest.raises(ValueError, match="dtype"):
        codec.compress(raw, lm, tok, sha, dtype="float16")
    with pytest.raises(ValueError, match="float32 only"):
        codec.compress(raw, lm, tok, sha, dtype="bfloat16", mix=codec.ADAPT)


def test_refusals(tiny):
    lm, tok, sha = tiny
    blob = codec.compress(TEXT, lm, tok, sha, streams=2)
    with pytest.raises(FormatError, match="written with model"):
        codec.decompress(blob, lm, tok, "0" * 64)
    for bad, msg in ((b"", "empty file"), (b"XXXX" + blob[4:], "bad magic"), (blob[:20], "truncated"),
                     (blob[:4] + bytes([9]) + blob[5:], "unsupported .llmz version")):
        with pytest.raises(FormatError, match=msg):
            codec.decompress(bad, lm, tok, sha)
    with pytest.raises(ValueError):
        codec.compress(TEXT, lm, tok, sha, context=8, keep=8)


def test_escape_for_bytes_without_a_token(tiny):
    """A vocabulary without some single-byte tokens codes those bytes as escape + flat byte."""
    lm, tok, sha = tiny

    class Holes(type(tok)):
        def byte_table(self):
            t = super().byte_table()
            t[0xFF] = None                 # no token for 0xFF: id 255 becomes a spare (the escape)
            return t

    v = codec.Vocab(Holes(), start=0)
    assert v.esc == 255 and v.encode(b"a\xffb") == [97, 255, 256 + 0xFF, 98]
    assert v.decode([97, 255, 256 + 0xFF, 98]) == b"a\xffb"
    with pytest.raises(FormatError, match="escape"):
        v.decode([97, 255])


@pytest.mark.skipif(models.locate("smollm2-135m-instruct") is None, reason="SmolLM2 not cached")
def test_smollm2_round_trip_and_rate(tmp_path, monkeypatch):
    """The default model: invalid UTF-8, special-token text and bytes SmolLM2 has no token for round-trip; English
    costs under 2 bits per byte beyond the container. Encoded by the model de-quantised from its GGUF, decoded by
    load_lm's converted copy (the same weights and tokens bit for bit)."""
    import torch

    monkeypatch.setattr(models, "converted_dir", lambda name: tmp_path / "converted" / name)
    lm, tok = models.load_lm()                       # from the GGUF, the copy kept
    assert (tmp_path / "converted" / "smollm2-135m-instruct" / "done").is_file()
    lm2, tok2 = models.load_lm()                     # from the copy
    assert all(torch.equal(v, lm2.state_dict()[k]) for k, v in lm.state_dict().items())
    assert tok2.get_vocab() == tok.get_vocab() and tok2.chat_template == tok.chat_template
    sha = models.MODELS["smollm2-135m-instruct"].sha256
    data = TEXT * 2 + b"\xff\xc0\x00<|im_end|>"
    blob = codec.compress(data, lm, tok, sha, streams=2)
    assert codec.decompress(blob, lm2, tok2, sha) == data
    head = len(codec.compress(b"", lm, tok, sha))                    # the container alone (94 bytes)
    assert 8 * (len(codec.compress(TEXT * 2, lm, tok, sha, streams=1)) - head) / len(TEXT * 2) < 2.0


def _lab(capsys, *args):
    """The CLI in this process (no interpreter start per call): (exit code, stderr)."""
    from lab.cli import main

    capsys.readouterr()
    rc = main(["llmzip", *args])
    return rc, capsys.readouterr().err


def test_cli_round_trip_and_errors(tmp_path, capsys):
    src = tmp_path / "in.bin"
    src.write_bytes(TEXT + b"\xff\x00")
    rc, err = _lab(capsys, "compress", str(src), "-o", str(tmp_path / "x.llmz"), "--model", "tiny-random", "--streams", "2")
    assert rc == 0, err
    rc, err = _lab(capsys, "decompress", str(tmp_path / "x.llmz"), "-o", str(tmp_path / "out.bin"), "--model", "tiny-random")
    assert rc == 0, err
    assert (tmp_path / "out.bin").read_bytes() == src.read_bytes()
    rc, err = _lab(capsys, "compress", str(src), "-o", str(tmp_path / "b.llmz"), "--model", "tiny-random",
                   "--dtype", "bfloat16", "--engine", "static")
    assert rc == 0 and codec.read_header((tmp_path / "b.llmz").read_bytes())[0][3] == 6, err
    rc, err = _lab(capsys, "decompress", str(tmp_path / "b.llmz"), "-o", str(tmp_path / "b.bin"), "--model", "tiny-random")
    assert rc == 0 and (tmp_path / "b.bin").read_bytes() == src.read_bytes(), err
    rc, err = _lab(capsys, "compress", str(src), "-o", str(tmp_path / "a.llmz"), "--model", "tiny-random", "--mix",
                   "adapt", "--adapt-lr", "2e-3")
    assert rc == 0 and codec.read_header((tmp_path / "a.llmz").read_bytes())[0][8] == float(np.float32(2e-3)), err
    rc, err = _lab(capsys, "decompress", str(tmp_path / "a.llmz"), "-o", str(tmp_path / "a.bin"), "--model", "tiny-random")
    assert rc == 0 and (tmp_path / "a.bin").read_bytes() == src.read_bytes(), err
    (tmp_path / "junk.llmz").write_bytes(b"not an llmz file")
    for args, msg in ((["decompress", str(tmp_path / "junk.llmz"), "-o", str(tmp_path / "j.bin")], "bad magic"),
                      (["compress", str(tmp_path / "none"), "-o", str(tmp_path / "n.llmz"), "--model", "tiny-random"], "No such file"),
                      (["compress", str(src), "-o", str(tmp_path / "k.llmz"), "--model", "tiny-random", "--keep", "4096",
                        "--context", "64"], "below the context"),
                      (["compress", str(src), "-o", str(tmp_path / "k.llmz"), "--model", "tiny-random", "--dtype",
                        "bfloat16", "--mix", "adapt"], "float32 only"),
                      (["compress", str(src), "-o", str(tmp_path / "k.llmz"), "--model", "tiny-random", "--adapt-lr",
                        "1e-3"], "goes with --mix adapt"),
                      (["compress", str(src), "-o", str(tmp_path / "k.llmz"), "--model", "tiny-random", "--mix",
                        "adapt", "--adapt-lr", "3"], "must be in (0, 1]")):
        rc, err = _lab(capsys, *args)
        assert rc == 2 and msg in err and "Traceback" not in err, (args, err)
    assert not (tmp_path / "j.bin").exists() and not (tmp_path / "k.llmz").exists()


@pytest.mark.parametrize("mix", ["bias", "ngram", "match", "ctx", "all", "bias,shared", "match,shared"])
@pytest.mark.parametrize("streams", [1, 3])
def test_online_models_round_trip(tiny, mix, streams):
    """Each online model (and all of them, shared by the streams or not) mixed with the LM: bit-exact, escapes and
    restarts included, and a repetitive text codes smaller with the match or context models than with the LM alone."""
    from lab.llmzip import mixing

    lm, tok, sha = tiny
    data = TEXT * 6 + b"\xff\xc0" + TEXT[:40]
    flags = mixing.flags_of(mix.split(","))
    blob = codec.compress(data, lm, tok, sha, streams=streams, context=48, keep=8, mix=flags)
    assert codec.read_header(blob)[0][7] == flags and codec.decompress(blob, lm, tok, sha) == data
    if mix in ("match", "match,shared", "ctx", "all"):
        assert len(blob) < 0.7 * len(codec.compress(data, lm, tok, sha, streams=streams, context=48, keep=8))


def test_version_2_files_still_decode(tiny):
    from lab import container

    lm, tok, sha = tiny
    fields, sec = codec.read_header(codec.compress(TEXT, lm, tok, sha, streams=2))
    old = container.pack(codec.MAGIC, 2, codec._HEADS[2], fields[:7], sec)
    assert old[4] == 2 and codec.decompress(old, lm, tok, sha) == TEXT
    with pytest.raises(ValueError, match="unknown online model"):
        __import__("lab.llmzip.mixing", fromlist=["x"]).flags_of(["ppm"])


def test_adapter_rate_is_recorded_and_version_3_files_still_decode(tiny, monkeypatch):
    """.llmz v4 records the adapter's rate (as float32) and the decoder steps at it whatever adapt.LR says then;
    a rate that is not in (0, 1] is refused; a v3 file (no rate field) with the ADAPT flag decodes at LR_V3."""
    from lab import container
    from lab.llmzip import adapt, mixing

    monkeypatch.setattr(adapt, "EVERY", 64)
    lm, tok, sha = tiny
    data = (TEXT * 40)[:700]
    fast = codec.compress(data, lm, tok, sha, streams=1, mix=mixing.ADAPT, adapt_lr=3e-3)
    slow = codec.compress(data, lm, tok, sha, streams=1, mix=mixing.ADAPT, adapt_lr=1e-6)
    assert codec.read_header(fast)[0][8] == float(np.float32(3e-3)) and len(fast) < len(slow)
    monkeypatch.setattr(adapt, "LR", 0.5)                    # the file's rate, not the module's, decodes it
    assert codec.decompress(fast, lm, tok, sha) == data and codec.decompress(slow, lm, tok, sha) == data
    assert codec.read_header(codec.compress(data[:50], lm, tok, sha, streams=1))[0][8] == 0.0
    for bad in (0.0, 2.0, float("nan")):
        with pytest.raises(ValueError, match="adapt-lr"):
            codec.compress(data[:50], lm, tok, sha, mix=mixing.ADAPT, adapt_lr=bad)
    monkeypatch.setattr(codec, "adapt_rate", lambda mix, lr=None: adapt.LR_V3)   # as v3 coded: 3e-5 exactly
    v3 = codec.compress(data, lm, tok, sha, streams=1, mix=mixing.ADAPT)
    fields, sec = codec.read_header(v3)
    old = container.pack(codec.MAGIC, 3, codec._HEADS[3], fields[:8], sec)
    assert old[4] == 3 and codec.read_header(old)[0][8] == adapt.LR_V3 and codec.decompress(old, lm, tok, sha) == data
    fields, sec = codec.read_header(fast)
    for lr in (0.0, -1.0, float("inf")):                     # a corrupt rate field: a clean error
        with pytest.raises(FormatError):
            codec.decompress(container.pack(codec.MAGIC, 4, codec._HEAD, fields[:8] + (lr,), sec), lm, tok, sha)


def test_quantisation_estimate_matches_the_coder(tiny):
    """lab.llmzip.estimate: the coder's own scheme (two 16-bit CDFs a token) predicts the DATA section of a real
    file to within the range coder's few flush bytes; every quantised scheme costs at least the ideal, and 24 bits
    cost less than 16 (one table over the whole vocabulary is the dearest)."""
    from lab.llmzip import estimate

    lm, tok, sha = tiny
    data = TEXT * 2 + b"\xff" + TEXT[:30]
    ids, z = estimate.logits_of(lm, tok, data, window=4096, stride=4096)
    (row,) = estimate.breakdown(ids, z.float().to(torch.bfloat16), len(data), ["lm"])
    blob = codec.compress(data, lm, tok, sha, streams=1, context=4096, keep=8)
    coded = 8 * len(codec.read_header(blob)[1]["DATA"]) / len(data)
    assert abs(row["q16x2 bpb"] - coded) < 8 * 6 / len(data) + 0.02, (row, coded)
    assert all(row[f"{s} bpb"] >= row["ideal bpb"] - 0.01 for s in estimate.SCHEMES)


def test_floors_cost_most_in_one_table_over_the_vocabulary():
    """A confident LM over a 49k vocabulary: one 16-bit table gives the likely token only 65,536 - 49,151 of
    65,536 (the floors of every other id): ~0.4 bits a token; two steps or 24 bits cost almost nothing."""
    V = 49152
    p = torch.full((1, V), 0.001 / (V - 1))
    p[0, 7] = 0.999
    y = torch.tensor([7])
    ideal = -float(torch.log2(p[0, 7]))
    cost = {(b, k): float(codec.coded_bits(p, y, b, k)[0]) - ideal for b in (16, 24) for k in (1, 2)}
    assert cost[16, 1] > 0.35 and max(cost[16, 2], cost[24, 1], cost[24, 2]) < 0.02, cost


def test_shared_models_learn_across_streams(tiny):
    """A text repeated four times, coded in 3 streams out of phase with its copies: a per-stream match model finds
    only its own stream's repeats, the shared one also the copies other streams coded earlier."""
    from lab.llmzip import mixing

    lm, tok, sha = tiny
    data = TEXT * 4
    per = codec.compress(data, lm, tok, sha, streams=3, mix=mixing.MATCH)
    shared = codec.compress(data, lm, tok, sha, streams=3, mix=mixing.MATCH | mixing.SHARED)
    assert codec.decompress(shared, lm, tok, sha) == data and len(shared) < 0.7 * len(per)


def test_context_models_boost_what_the_document_repeats():
    """CTX alone over a flat LM: the boosted rows stay distributions, and once a phrase has been coded its next
    token (seen after the same 1-6 tokens and the same 8) gets far more than the LM's 1/V: in the third copy
    > 0.8 (the fourth dips while the weights of the contexts' next count bucket learn)."""
    import numpy as np

    from lab.llmzip import mixing

    V, phrase = 50, [3, 9, 27, 4, 12, 36, 8, 24, 11, 33]
    toks = np.array([phrase * 4], np.int64)
    m = mixing.OnlineMix(mixing.CTX | mixing.SHARED, 1, V, "cpu")
    live, q = np.ones(1, bool), []
    for t in range(toks.shape[1]):
        p = m.probs(torch.zeros(1, V), toks, t, live)
        assert torch.allclose(p.sum(-1), torch.ones(1), atol=1e-5) and (p > 0).all()
        q.append(float(p[0, toks[0, t]]))
        m.update(toks, t, live)
    assert max(q[:10]) < 2.0 / V and min(q[20:30]) > 0.8 and q[-1] > 0.8, q


@pytest.mark.parametrize("streams,mix,engine", [(1, "adapt", "eager"), (3, "all,adapt", "eager"), (18, "adapt", "eager"),
                                                (2, "all,adapt", "static")])
def test_adapted_lm_round_trips_and_restores_its_weights(tiny, streams, mix, engine):
    """ADAPT: the LM takes Adam steps on the tokens it has coded (every 256 steps); the decoder takes the same
    steps, the file decodes bit-exactly (an escaped byte included; 18 streams: two micro-batches a step; the static
    engine: its cache restarted between steps that changed the weights in place), and the model's weights are as
    before after both."""
    from lab.llmzip import mixing

    lm, tok, sha = tiny
    before = {k: v.clone() for k, v in lm.state_dict().items()}
    data = (TEXT * 200)[:300 * streams + 600] + b"\xff" + TEXT[:20]
    kw = dict(context=96, keep=24, engine="static") if engine == "static" else {}
    blob = codec.compress(data, lm, tok, sha, streams=streams, mix=mixing.flags_of(mix.split(",")), **kw)
    assert codec.read_header(blob)[0][7] & mixing.ADAPT
    assert codec.decompress(blob, lm, tok, sha) == data
    assert all(torch.equal(before[k], v) for k, v in lm.state_dict().items())


def test_adapted_lm_learns_the_document(tiny, monkeypatch):
    """A random 2-layer LM knows nothing of English: adapted on what it has coded (at a rate and cadence for a
    tiny model: 3e-3 every 64 tokens), it codes the rest of a repetitive text in fewer bytes than the same LM
    frozen, and the file decodes."""
    from lab.llmzip import adapt, mixing

    monkeypatch.setattr(adapt, "LR", 3e-3)
    monkeypatch.setattr(adapt, "EVERY", 64)
    lm, tok, sha = tiny
    data = (TEXT * 40)[:1000]        # adapted / frozen: 0.72 at 1,000 bytes
    frozen = codec.compress(data, lm, tok, sha, streams=1)
    adapted = codec.compress(data, lm, tok, sha, streams=1, mix=mixing.ADAPT)
    assert len(adapted) < 0.9 * len(frozen), (len(adapted), len(frozen))
    assert codec.decompress(adapted, lm, tok, sha) == data
    with adapt.adapting(lm) as ad:
        toks = np.arange(600, dtype=np.int64)[None] % 200
        stepped = [ad.step(toks, t, np.array([600]), lambda a: a, 0) for t in (0, 63, 64, 65, 128)]
    assert stepped == [False, False, True, False, True] and ad.steps == 2


def test_coded_logits_estimate_matches_an_adapted_file(tiny, monkeypatch):
    """estimate.logits_coded: the coder's view (a cache grown a chunk at a time, the adapter's steps between
    chunks) predicts a real adapted file's DATA section to within the coder's flush bytes, and the adapted
    estimate is below the frozen one."""
    from lab.llmzip import adapt, estimate, mixing

    monkeypatch.setattr(adapt, "LR", 3e-3)
    monkeypatch.setattr(adapt, "EVERY", 64)
    lm, tok, sha = tiny
    data = (TEXT * 20)[:1200]
    rows = {}
    for on in (False, True):
        ids, z = estimate.logits_coded(lm, tok, data, context=4096, keep=8, adapt=on)
        (rows[on],) = estimate.breakdown(ids, z, len(data), ["lm"], ["q16x2"])
    blob = codec.compress(data, lm, tok, sha, streams=1, context=4096, keep=8, mix=mixing.ADAPT)
    coded = 8 * len(codec.read_header(blob)[1]["DATA"]) / len(data)
    assert abs(rows[True]["q16x2 bpb"] - coded) < 8 * 6 / len(data) + 0.02, (rows, coded)
    assert rows[True]["q16x2 bpb"] < 0.9 * rows[False]["q16x2 bpb"], rows
    ids, z = estimate.logits_coded(lm, tok, data, context=4096, keep=8, adapt=True, lr=1e-9)   # a probe's rate
    (crawl,) = estimate.breakdown(ids, z, len(data), ["lm"], ["q16x2"])
    assert abs(crawl["q16x2 bpb"] - rows[False]["q16x2 bpb"]) < 0.01 < rows[False]["q16x2 bpb"] - rows[True]["q16x2 bpb"]


def test_step_timer_splits_each_step_and_changes_no_byte(tiny):
    """A profiled run (lab.llmzip.steptime) writes the same bytes and decodes; every step is counted and its time
    lands in the loop's parts (adapt only with the ADAPT flag)."""
    from lab.llmzip import mixing
    from lab.llmzip.steptime import StepTimer

    lm, tok, sha = tiny
    data = (TEXT * 20)[:700]
    mix = mixing.flags_of(["all", "adapt"])
    plain = codec.compress(data, lm, tok, sha, streams=2, context=96, keep=24, mix=mix)
    enc, dec = StepTimer("cpu"), StepTimer("cpu")
    blob = codec.compress(data, lm, tok, sha, streams=2, context=96, keep=24, mix=mix, timer=enc)
    assert blob == plain and codec.decompress(blob, lm, tok, sha, timer=dec) == data
    steps = max(np.frombuffer(codec.read_header(blob)[1]["LENS"], np.uint64))
    for t in (enc, dec):
        s = t.per_step()
        assert s["steps"] == steps and {"adapt", "forward", "mix", "code"} <= set(s)
        assert s["forward"] > 0 and all(v >= 0 for k, v in s.items() if k != "median")
        assert set(s["median"]) == set(s) - {"steps", "median"} and 0 < s["median"]["forward"] <= s["forward"] * steps
    frozen = StepTimer("cpu")
    codec.compress(data, lm, tok, sha, streams=2, timer=frozen)
    assert "adapt" not in frozen.per_step()


def test_kernel_summary_reads_the_compiled_step_and_its_attention():
    """scripts/llmzip_gpu.py --kernels rows: the graph's replay time a call, attention kernels (not their aten::
    operators, which repeat the same time) a step, the first step uncompiled."""
    from lab.llmzip.steptime import kernel_summary

    rows = [{"name": "## Call CompiledFxGraph abc ##", "calls": 9, "ms": 90.0},
            {"name": "cudnn_generated_fort_native_sdpa_sm90_flash_fprop", "calls": 300, "ms": 60.0},
            {"name": "aten::_cudnn_attention_forward", "calls": 10, "ms": 60.0},
            {"name": "nvjet_sm90_tst_192x128", "calls": 300, "ms": 20.0}]
    assert kernel_summary(rows) == {"step_device_ms": 10.0, "attention_ms": 6.0, "attention_share": 0.6,
                                    "attention_by": "fused kernel"}
    assert kernel_summary(rows[1:]) == {}
    matmul = [rows[0], {"name": "void gemmSN_NN_kernel<float, 128, cublasGemvTensorStridedBatched<float const>>",
                        "calls": 300, "ms": 70.0},
              {"name": "aten::bmm", "calls": 20, "ms": 70.0},
              {"name": "std::enable_if<!(false), void>::type internal::gemvx::kernel<int, int, float>", "calls": 2000,
               "ms": 10.0}]
    assert kernel_summary(matmul) == {"step_device_ms": 10.0, "attention_ms": 7.0, "attention_share": 0.7,
                                      "attention_by": "matmuls"}
