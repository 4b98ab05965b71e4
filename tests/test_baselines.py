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


@pytest.mark.parametrize("name", sorted(Bl.IMAGE))
def test_image_codecs_are_deterministic(name, img):
    """A report's baseline curve must not change between runs or machines: the same image and quality give the
    same bytes (AVIF is pinned to one encoder thread: libaom's bytes depend on its thread count)."""
    c = Bl.IMAGE[name]
    assert len({c.encode(img, 40) for _ in range(3)}) == 1
    if name == "avif":
        assert dict(c.options).get("max_threads") == 1


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


def test_jxl_quality_orders_size_and_psnr(img):
    lo, hi = (Bl.image_point(Bl.IMAGE["jxl"], img, q) for q in (20, 80))
    assert lo["bytes"] < hi["bytes"] and lo["psnr"] < hi["psnr"]


def test_published_reference_curves_and_bd_against_them():
    from lab.holo import study as S

    refs = S.references()
    assert "128f00397509b9882aaaeea49f43f1714da083b4" in refs["source"]
    assert set(refs["curves"]) == {"bmshj2018-hyperprior", "mbt2018", "cheng2020-anchor"}
    hp = refs["curves"]["bmshj2018-hyperprior"]
    # the published curve against itself is 0%; a curve needing 10% more bits everywhere is ~+10%
    same = {"bpp": np.array(hp["bpp"]), "psnr": np.array(hp["psnr"])}
    worse = {"bpp": np.array(hp["bpp"]) * 1.1, "psnr": np.array(hp["psnr"])}
    rows = {r["codec (this run, mean curve)"]: r for r in S.reference_rows({"same": same, "worse": worse}, refs)}
    assert abs(rows["same"]["vs bmshj2018-hyperprior %"]) < 1e-6
    assert abs(rows["worse"]["vs bmshj2018-hyperprior %"] - 10) < 0.5
