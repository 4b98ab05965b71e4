import numpy as np
import pytest

from lab import FormatError
from lab.holo import codec as C
from lab.holo import render as R
from lab.metrics import psnr

from conftest import smooth_image

MODES = [
    C.HoloParams(mode="pca", step=8),
    C.HoloParams(mode="pca", step=8, basis="klt"),
    C.HoloParams(mode="pca", step=8, subsample=False, patch=4),
    C.HoloParams(mode="pca", step=4, patch=16, k=-1),
    C.HoloParams(mode="vq", clusters=32),
    C.HoloParams(mode="residual", clusters=16, step=12),
    C.HoloParams(mode="intra", step=8),
    C.HoloParams(mode="intra", step=20, subsample=False, chroma_step=0.7),
]


@pytest.mark.parametrize("params", MODES, ids=lambda p: f"{p.mode}-{p.basis}-p{p.patch}-k{p.k}")
def test_roundtrip_is_deterministic_and_sized(params, img):
    blob = C.encode(img, params)
    assert blob == C.encode(img, params)  # same bytes twice
    a, b = C.decode_image(blob), C.decode_image(blob)
    assert a.shape == img.shape and a.dtype == np.uint8 and np.array_equal(a, b)
    assert psnr(img, a) > 22
    assert C.info(blob)["bytes"] == len(blob)


def test_rate_and_quality_fall_with_the_step(img):
    pts = [C.encode(img, C.HoloParams(step=s)) for s in (4, 16, 64)]
    sizes = [len(b) for b in pts]
    quals = [psnr(img, C.decode_image(b)) for b in pts]
    assert sizes[0] > sizes[1] > sizes[2]
    assert quals[0] > quals[1] > quals[2]


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (37, 53), (9, 8)])
def test_odd_sizes(shape):
    im = smooth_image(*shape, seed=1)
    for p in (C.HoloParams(step=2), C.HoloParams(mode="vq", clusters=4), C.HoloParams(mode="intra", step=3)):
        rec = C.decode_image(C.encode(im, p))
        assert rec.shape == im.shape


def test_grayscale_and_rgba_inputs(img):
    g = img[..., 0]
    assert C.decode_image(C.encode(g)).shape == (*g.shape, 3)
    rgba = np.concatenate([img, np.full(img.shape[:2] + (1,), 255, np.uint8)], axis=2)
    assert C.decode_image(C.encode(rgba)).shape == img.shape


def test_focus_with_fewer_components_is_coarser(img):
    blob = C.encode(img, C.HoloParams(step=2))
    q = [psnr(img, C.decode_image(blob, k=k)) for k in (1, 6, 64)]
    assert q[0] < q[1] < q[2]
    blob = C.encode(img, C.HoloParams(mode="vq", clusters=64))
    assert psnr(img, C.decode_image(blob, k=1)) < psnr(img, C.decode_image(blob))


def test_auto_basis_picks_the_smaller(img):
    a = C.encode(img, C.HoloParams(basis="dct"))
    b = C.encode(img, C.HoloParams(basis="klt"))
    assert len(C.encode(img, C.HoloParams(basis="auto"))) == min(len(a), len(b))


def test_golden_size_on_kodak_crop(kodak23):
    """Guards the bitstream against silent regressions: size and PSNR within tolerance of the recorded run."""
    blob = C.encode(kodak23, C.HoloParams(step=16))
    q = psnr(kodak23, C.decode_image(blob))
    assert abs(len(blob) - GOLDEN_BYTES) <= 0.03 * GOLDEN_BYTES, len(blob)
    assert abs(q - GOLDEN_PSNR) < 0.1, q


GOLDEN_BYTES = 5055
GOLDEN_PSNR = 35.45


def test_intra_golden_size_and_rate_distortion_on_kodak_crop(kodak23):
    """intra beats the transform-only codec: fewer bytes than pca at a higher PSNR (same step); golden size."""
    intra = C.encode(kodak23, C.HoloParams(mode="intra", step=16))
    pca = C.encode(kodak23, C.HoloParams(mode="pca", step=16))
    qi, qp = psnr(kodak23, C.decode_image(intra)), psnr(kodak23, C.decode_image(pca))
    assert len(intra) < 0.85 * len(pca) and qi > qp, (len(intra), len(pca), qi, qp)
    assert abs(len(intra) - INTRA_BYTES) <= 0.03 * INTRA_BYTES, len(intra)
    assert abs(qi - INTRA_PSNR) < 0.1, qi


INTRA_BYTES = 4013
INTRA_PSNR = 36.84


def test_intra_prediction_codes_a_ramp_in_few_bytes():
    """A diagonal ramp is what angular / planar prediction exists for: a fraction of the DCT codec's bytes."""
    y, x = np.mgrid[0:96, 0:128]
    im = np.clip(np.stack([x + y, 2 * x, 255 - y], -1), 0, 255).astype(np.uint8)
    a = C.encode(im, C.HoloParams(mode="intra", step=4))
    b = C.encode(im, C.HoloParams(mode="pca", step=4))
    assert len(a) < 0.5 * len(b) and psnr(im, C.decode_image(a)) > 44, (len(a), len(b))


def test_intra_decoder_rebuilds_the_encoders_planes_and_the_deblocking_pays(kodak23):
    from lab.holo import intra
    from lab.holo import patches as P

    ycc = P.rgb_to_ycbcr(kodak23)
    planes = [ycc[..., 0], P.downsample2(ycc[..., 1]), P.downsample2(ycc[..., 2])]
    steps = [40.0, 40.0, 40.0]
    data, filt, outs = intra.encode_planes(planes, steps, 0.1, True)
    dec = intra.decode_planes(data, filt, [p.shape for p in planes], steps, True)
    assert all(np.array_equal(a, b) for a, b in zip(outs, dec))
    assert filt[0] > 0                                   # the encoder switched the luma filter on
    off = intra.decode_planes(data, bytes(6), [p.shape for p in planes], steps, True)
    err = lambda a: float(np.mean((a - planes[0]) ** 2))  # noqa: E731
    assert err(dec[0]) < err(off[0])
    with pytest.raises(FormatError):
        intra.decode_planes(data, bytes([9, 0, 0, 0, 0, 0]), [p.shape for p in planes], steps, True)


def test_intra_files_have_no_focus_or_zoom(img):
    blob = C.encode(img, C.HoloParams(mode="intra"))
    assert C.info(blob)["k"] is None and C.info(blob)["mode"] == "intra"
    with pytest.raises(ValueError, match="intra"):
        C.decode_image(blob, k=3)
    with pytest.raises(ValueError, match="intra"):
        R.zoom(blob, (0, 0, 8, 8), 2.0)
    with pytest.raises(ValueError, match="intra"):
        R.focus_sweep(blob)


def test_zoom_at_scale_one_matches_decode(img):
    blob = C.encode(img, C.HoloParams(step=4, subsample=False))
    full = C.decode_image(blob)
    z = R.zoom(blob, (0, 0, img.shape[1], img.shape[0]), 1.0)
    assert np.abs(z.astype(int) - full.astype(int)).max() <= 1


def test_zoom_resamples_basis_not_pixels(img):
    blob = C.encode(img, C.HoloParams(step=4))
    region = (8, 8, 32, 24)
    z = R.zoom(blob, region, 4.0)
    p = R.pixel_zoom(C.decode_image(blob), region, 4.0)
    assert z.shape == p.shape == (96, 128, 3)
    # smooth resampling: far fewer large jumps between neighbouring output pixels than nearest-neighbour
    jumps = lambda a: (np.abs(np.diff(a.astype(int), axis=1)) > 6).sum()  # noqa: E731
    assert jumps(z) < jumps(p)


def test_zoom_rejects_bad_regions(img):
    blob = C.encode(img)
    with pytest.raises(ValueError):
        R.zoom(blob, (70, 0, 20, 20), 2.0)
    with pytest.raises(ValueError):
        R.zoom(blob, (0, 0, 10, 10), 1e5)


def test_invalid_params():
    with pytest.raises(ValueError):
        C.HoloParams(mode="nope").validate()
    with pytest.raises(ValueError):
        C.HoloParams(k=65).validate()
    with pytest.raises(ValueError):
        C.HoloParams(mode="intra", rd_lambda=0).validate()
    with pytest.raises(ValueError):
        C.encode(np.zeros((4, 4, 3), np.float32))
