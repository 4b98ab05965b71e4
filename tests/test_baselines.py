import numpy as np
import pytest

from lab import baselines as Bl


@pytest.mark.parametrize("name", sorted(Bl.LOSSLESS))
def test_lossless_roundtrip(name):
    data = b"abracadabra " * 500 + bytes(range(256))
    blob, ok = Bl.roundtrip_lossless(name, data)
    assert ok and len(blob) < len(data)


@pytest.mark.parametrize("name", sorted(Bl.IMAGE))
def test_image_codecs_decode_to_same_shape(name, img):
    c = Bl.IMAGE[name]
    blob = c.encode(img, 50)
    rec = c.decode(blob)
    assert rec.shape == img.shape and rec.dtype == np.uint8


def test_match_psnr_reaches_target(img):
    pt = Bl.match_psnr(Bl.IMAGE["jpeg"], img, 30.0)
    assert pt is not None and pt["psnr"] >= 30.0
    lower = Bl.image_point(Bl.IMAGE["jpeg"], img, pt["quality"] - 1) if pt["quality"] > 1 else None
    if lower is not None:
        assert lower["psnr"] < 30.0 or lower["bytes"] >= pt["bytes"]


@pytest.mark.parametrize("name", sorted(Bl.STRONG))
def test_strong_baselines_roundtrip(name):
    data = b"abracadabra " * 500 + bytes(range(256))
    blob, ok = Bl.roundtrip_lossless(name, data)
    assert ok and len(blob) < len(data) // 4


@pytest.mark.parametrize("name", sorted(Bl.IMAGE_LOSSLESS))
def test_lossless_image_codecs_are_exact(name, img):
    c = Bl.IMAGE_LOSSLESS[name]
    blob = c.encode(img)
    assert np.array_equal(c.decode(blob), img) and len(blob) < img.size


def test_missing_tool_is_one_clear_error(monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda _: None)
    with pytest.raises(Bl.ToolMissing, match="not installed"):
        Bl.STRONG["bzip3"].encode(b"x")
