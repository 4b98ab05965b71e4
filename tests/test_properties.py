"""Properties every codec of the lab must have, over arbitrary inputs (hypothesis).

- Every lossless codec in `lab.codecs` (.proc and its literal model, .vtx with a model and online, .llmz with
  the tiny LM) round-trips any bytes bit-exactly: empty, one byte, runs, random, UTF-8 text and invalid UTF-8.
- The lossy codec (.holo) decodes what it encodes, at the size it reports, deterministically, and at the
  quality its step promises.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lab import codecs
from lab.holo import codec as C
from lab.metrics import psnr

any_bytes = st.one_of(
    st.binary(max_size=400),
    st.just(b""),
    st.binary(min_size=1, max_size=1),
    st.builds(lambda c, n: bytes([c]) * n, st.integers(0, 255), st.integers(1, 600)),           # runs
    st.text(max_size=200).map(lambda s: s.encode("utf-8")),                                     # UTF-8
    st.lists(st.sampled_from([b"\xff\xfe", b"\xc3", b"the ", b"\x80abc", b"\n"]), max_size=60).map(b"".join),
)


@pytest.mark.parametrize("name", codecs.names())
@given(data=any_bytes)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_lossless_roundtrip(name, data):
    """One test over every lossless codec in lab.codecs (each also in lab.formats, so in `make fuzz`)."""
    c = codecs.get(name)
    data = data[:c.longest]
    assert c.decompress(c.compress(data)) == data


def test_every_codec_has_a_fuzzed_format():
    from lab import formats

    assert {codecs.get(n).format for n in codecs.names()} <= set(formats.names())


images = st.tuples(st.integers(1, 40), st.integers(1, 40), st.integers(0, 2 ** 32 - 1)).map(
    lambda t: np.random.default_rng(t[2]).integers(0, 256, (t[0], t[1], 3)).astype(np.uint8)
    if t[2] % 2 else smooth(t[0], t[1], t[2]))


def smooth(h, w, seed):
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([128 + 90 * np.sin(x / 5 + seed % 7), 60 + 3 * y, 200 - 2 * x], -1)
    return np.clip(img, 0, 255).astype(np.uint8)


MODES = [C.HoloParams(step=8), C.HoloParams(mode="vq", clusters=8), C.HoloParams(mode="residual", clusters=4),
         C.HoloParams(basis="klt", k=5, patch=4)]


@given(img=images, mode=st.sampled_from(range(len(MODES))))
@settings(max_examples=40, deadline=None)
def test_lossy_decodes_what_it_encodes_at_the_reported_size(img, mode):
    blob = C.encode(img, MODES[mode])
    info = C.info(blob)
    h, w = img.shape[:2]
    assert info["bytes"] == len(blob) and (info["width"], info["height"]) == (w, h)
    assert info["bpp"] == pytest.approx(8 * len(blob) / (w * h))
    out = C.decode_image(blob)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.array_equal(out, C.decode_image(blob)) and C.encode(img, MODES[mode]) == blob


@given(img=arrays(np.uint8, st.tuples(st.integers(1, 33), st.integers(1, 33), st.just(3))))
@settings(max_examples=30, deadline=None)
def test_lossy_quality_follows_the_step(img):
    """All components, full-resolution chroma and a unit step: the error is the quantiser's, >= 45 dB."""
    blob = C.encode(img, C.HoloParams(step=1.0, subsample=False, deadzone=0.5))
    assert psnr(img, C.decode_image(blob)) >= 45
