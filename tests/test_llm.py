"""lab.llm: KV-cache methods are caches generation uses, with honest bytes; the streaming score; Df; the CLI."""
import numpy as np
import pytest
import torch

from lab.llm import activations as A
from lab.llm import kv, score, study

TEXT = "the cat sat on the mat, and the dog sat on the log. " * 12


@pytest.fixture(scope="module")
def lm_tok():
    return study.load("tiny-random")


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8])
def test_pack_round_trip(bits):
    g = torch.Generator().manual_seed(bits)
    codes = torch.randint(0, 2 ** bits, (3, 5, 13), generator=g)
    p = kv.pack(codes, bits)
    assert p.dtype == torch.uint8 and p.numel() == bits * 3 * 5 * 2          # 13 codes -> 2 bytes per plane
    assert torch.equal(kv.unpack(p, bits, 13 + 3)[..., :13], codes)


def test_streaming_full_cache_equals_one_pass(lm_tok):
    lm, tok = lm_tok
    one = score.bits_per_byte(lm, tok, TEXT, None, window=256)
    for chunk in (1, 7, 64):
        r = score.bits_per_byte(lm, tok, TEXT, kv.make("full"), window=256, chunk=chunk)
        assert r["bpb"] == pytest.approx(one["bpb"], rel=1e-3)
        assert r["kv_bytes_per_token"] == kv.full_bytes_per_token(lm.config) == 2 * 2 * 2 * 16 * 2


def test_methods_hold_what_they_claim(lm_tok):
    lm, tok = lm_tok
    full = kv.full_bytes_per_token(lm.config)
    ref = score.bits_per_byte(lm, tok, TEXT, kv.make("full"), window=256, chunk=16)["bpb"]
    # eviction with room for everything changes nothing; with 64 tokens it holds 64 tokens' worth
    for name in ("sinks", "h2o"):
        assert score.bits_per_byte(lm, tok, TEXT, kv.make(name, budget=1000), window=256, chunk=16)["bpb"] == pytest.approx(ref, rel=1e-4)
        r = score.bits_per_byte(lm, tok, TEXT, kv.make(name, budget=64, **({"recent": 16} if name == "h2o" else {})), window=256, chunk=16)
        assert r["kv_bytes_per_token"] == pytest.approx(full * 64 / 256)
    with pytest.raises(ValueError, match="recent"):          # a setting sinks does not have is named
        kv.make("sinks", budget=64, recent=16)
    assert [kv.make(*a, **k).label for a, k in [(("kivi",), {"bits": 2}), (("sinks",), {"budget": 512}),
            (("h2o",), {"budget": 512, "store": "eigen", "keep": 0.25, "bits": 4})]] == \
        ["kivi 2b", "sinks 512 tok", "h2o keep 0.25 512 tok 4b"]
    # KIVI: 8 bits is near-lossless, 2 bits costs more; bytes shrink with bits
    b8 = score.bits_per_byte(lm, tok, TEXT, kv.make("kivi", bits=8), window=256, chunk=16)
    b2 = score.bits_per_byte(lm, tok, TEXT, kv.make("kivi", bits=2), window=256, chunk=16)
    assert abs(b8["bpb"] - ref) < abs(b2["bpb"] - ref) + 1e-9 and b2["kv_bytes_per_token"] < b8["kv_bytes_per_token"] < full
    # eigen at full rank reproduces the full cache; at half the dimensions it holds about half the bytes
    acts = A.capture(lm, tok, TEXT, 256, 128)
    K, V = [torch.from_numpy(k) for k in acts["k"]], [torch.from_numpy(v) for v in acts["v"]]
    r = score.bits_per_byte(lm, tok, TEXT, kv.make("eigen", keep=1.0, bases=kv.fit_bases(K, V, 1.0)), window=256, chunk=16)
    assert r["bpb"] == pytest.approx(ref, rel=1e-3)
    half = kv.fit_bases(K, V, 0.5)
    assert sum(sum(x["k"]) + sum(x["v"]) for x in kv.ranks(half)) == 2 * 2 * 2 * 16 // 2
    r = score.bits_per_byte(lm, tok, TEXT, kv.make("eigen", keep=0.5, bases=half), window=256, chunk=16)
    assert r["kv_bytes_per_token"] == pytest.approx(full / 2)


def test_eviction_never_lets_a_token_see_the_future(lm_tok):
    """With eviction active, changing a chunk's last token leaves every earlier prediction unchanged (the mask's
    offset maps kept tokens to their true positions)."""
    lm, tok = lm_tok
    ids = torch.tensor([list(TEXT.encode()[:96])])
    alt = ids.clone()
    alt[0, 95] = (alt[0, 95] + 1) % 256
    outs = []
    for x in (ids, alt):
        cache = kv.make("h2o", budget=24, recent=8).cache(lm.config)
        hs = kv.attach(lm, cache)
        with torch.no_grad():
            lo = [lm(input_ids=x[:, s:s + 32], past_key_values=cache, use_cache=True).logits for s in range(0, 96, 32)]
        for h in hs:
            h.remove()
        outs.append(torch.cat(lo, 1))
    assert torch.allclose(outs[0][:, :95], outs[1][:, :95], atol=1e-5)


def test_generation_uses_the_compressed_cache(lm_tok):
    """lm.generate runs with each cache; with room for every token the output equals the full cache's, and the
    cache holds the bytes it reports."""
    lm, _ = lm_tok
    prompt = torch.tensor([list(b"the cat sat on")])
    outs = {}
    for m in (kv.make("full"), kv.make("sinks", budget=1000), kv.make("kivi", bits=8, window=64), kv.make("sinks", budget=8)):
        cache = m.cache(lm.config)
        with torch.no_grad():
            outs[m.label] = lm.generate(prompt, past_key_values=cache, max_new_tokens=12, do_sample=False, pad_token_id=0)
        n = outs[m.label].shape[1] - 1                       # the last token is never fed back
        held = min(n, m.budget) if m.name == "sinks" else n
        if m.name != "kivi":
            assert cache.nbytes() == held * kv.full_bytes_per_token(lm.config)
    assert torch.equal(outs["full"], outs["sinks 1000 tok"]) and torch.equal(outs["full"], outs["kivi 8b"])
    assert outs["sinks 8 tok"].shape == outs["full"].shape


def test_df_outliers_and_weights(lm_tok):
    x = np.random.default_rng(0).standard_normal((500, 16))
    x[:, 3] *= 100
    assert A.outlier_dims(x).tolist() == [3]
    assert A.df(x) < 1.1 and A.df(np.delete(x, 3, 1)) > 10
    lm, tok = lm_tok
    rows = A.df_rows(A.capture(lm, tok, TEXT, 128, 64))
    assert len(rows) == 3 and all(0 < r["k_df"] <= 16 for r in rows[1:])
    w = A.weight_rows(lm)
    assert len(w) == 2 * 7 and all(1 <= r["df"] <= r["max_df"] + 1e-6 for r in w)
    before = {n: p.clone() for n, p in lm.named_parameters()}
    st = A.compress_weights(lm, "lowrank", 4)
    assert st["bytes"] > 0 and any(not torch.equal(p, before[n]) for n, p in lm.named_parameters())
    A.restore_weights(lm, st["saved"])
    assert all(torch.equal(p, before[n]) for n, p in lm.named_parameters())
    assert A.rank_for_bytes((64, 64), A.int_bytes((64, 64), 4)) == 10  # 2,048 code + 512 scale bytes -> rank 10


def test_cli_refuses_bad_input(tmp_path, capsys):
    """One line and exit 2, before any model loads (the CLI run in this process)."""
    from lab.cli import main

    empty = tmp_path / "e.txt"
    empty.write_text("")
    for args, msg in ((["kv", str(empty)], "empty input"), (["kv", str(tmp_path / "none.txt")], "No such file"),
                      (["kv", __file__, "--method", "sinks"], "needs --budget"),
                      (["kv", __file__, "--method", "full", "--bits", "4"], "no --bits"),
                      (["generate", " "], "prompt is empty"), (["kv", __file__, "--window", "1"], "out of range")):
        capsys.readouterr()
        try:
            rc = main(["llm", *args])
        except SystemExit as e:           # argparse's own errors exit 2 through SystemExit
            rc = e.code
        err = capsys.readouterr().err
        assert rc == 2 and msg in err and "Traceback" not in err, (args, err)


def test_latent_adapters_cache_the_latents(lm_tok):
    """Full-rank latents reproduce the full cache; rank r stores 2 x r numbers per layer (fp16, or b bits + one
    fp16 scale and zero per token); eviction composes; distillation lowers the KL; remove() restores the model."""
    from lab.llm import adapters

    lm, tok = lm_tok
    ref = score.bits_per_byte(lm, tok, TEXT, kv.make("full"), window=256, chunk=16)["bpb"]
    acts = A.capture(lm, tok, TEXT, 256, 128)
    layers = lm.config.num_hidden_layers
    try:
        adapters.apply(lm, adapters.fit(lm, acts["k_pre"], acts["v"], 32, 32))       # 32 = 2 heads x 16
        r = score.bits_per_byte(lm, tok, TEXT, kv.make("latent", model=lm), window=256, chunk=16)
        assert r["bpb"] == pytest.approx(ref, rel=1e-3)
        adapters.remove(lm)
        adapters.apply(lm, adapters.fit(lm, acts["k_pre"], acts["v"], 8, 8))
        m = kv.make("latent", model=lm)
        assert m.label == "latent r8/8"
        assert score.bits_per_byte(lm, tok, TEXT, m, window=256, chunk=16)["kv_bytes_per_token"] == 2 * 8 * 2 * layers
        q = score.bits_per_byte(lm, tok, TEXT, kv.make("latent", model=lm, bits=4), window=256, chunk=16)
        assert q["kv_bytes_per_token"] == 2 * (8 * 4 / 8 + 4) * layers
        e = score.bits_per_byte(lm, tok, TEXT, kv.make("latent", model=lm, budget=64), window=256, chunk=16)
        assert e["kv_bytes_per_token"] == pytest.approx(2 * 8 * 2 * layers * 64 / 256)
        log = adapters.distil(lm, tok, TEXT * 4, steps=30, batch=2, length=64, lr=3e-3)
        assert log[-1]["kl"] < log[0]["kl"]
        assert set(adapters.state(lm)) == {f"{i}.{n}.{w}" for i in range(layers) for n in "kv" for w in "AB"}
    finally:
        adapters.remove(lm)
    assert score.bits_per_byte(lm, tok, TEXT, kv.make("full"), window=256, chunk=16)["bpb"] == ref
    with pytest.raises(ValueError, match="no latent"):
        adapters.latents(lm)


def test_committed_adapters_load_and_refuse_bad_files(tmp_path):
    """models/llm-latent-r48 loads onto a model of SmolLM2's shape (random weights here, no 98 MB download);
    a file of another shape, or not safetensors, is a one-line FormatError."""
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaForCausalLM

    from lab import FormatError
    from lab.llm import adapters

    cfg = LlamaConfig(vocab_size=64, hidden_size=576, intermediate_size=64, num_hidden_layers=30, num_attention_heads=9,
                      num_key_value_heads=3, head_dim=64)
    lm = LlamaForCausalLM(cfg).eval()
    adapters.load(lm, "llm-latent-r48")
    assert kv.make("latent", model=lm).label == "latent r48/48"
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(FormatError, match="not a safetensors file"):
        adapters.load(lm, bad)
    save_file({"0.k.A": torch.zeros(2, 2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(FormatError, match="not adapters for this model"):
        adapters.load(lm, tmp_path / "other.safetensors")


def test_encoder_capture_and_cross_model_similarity():
    """capture_encoder: a BERT-style model's hidden states on windows of the text, [CLS]/[SEP] dropped; the
    seed's spectrum correlation is 1 for a spectrum with itself and symmetric."""
    from transformers import BertConfig, BertModel

    class Tok:                                   # a character-level stand-in with BERT's special ids
        cls_token_id, sep_token_id = 1, 2

        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [3 + (ord(c) % 60) for c in text]}

    torch.manual_seed(0)
    enc = BertModel(BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=64, max_position_embeddings=64)).eval()
    h = A.capture_encoder(enc, Tok(), "in the beginning was the word " * 8, tokens=100, window=40)
    assert h.shape == (3, 100, 32)                # embeddings + 2 layers, every token once
    with pytest.raises(ValueError):
        A.capture_encoder(enc, Tok(), "a")
    from lab.df import spectrum
    a, b = spectrum(h[1]), spectrum(h[2])
    assert A.spectrum_similarity(a, a) == pytest.approx(1.0)
    assert A.spectrum_similarity(a, b) == pytest.approx(A.spectrum_similarity(b, a))
