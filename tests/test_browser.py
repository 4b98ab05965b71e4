"""The holo explorer as a user meets it: JupyterLab in headless Chromium, run the notebook, move the controls.

`make test-browser` (also part of `make test`). Screenshots go to reports/figures/.
"""
import pytest

from browser import FIGURES, run_explorer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def holo_explore():
    yield from run_explorer("holo_explore")


def test_opens_clean_and_runs(holo_explore):
    nb, dirty_on_open = holo_explore
    assert not dirty_on_open, "the notebook opens already marked modified"
    assert nb.errors() == []
    assert nb.images().count() == 2
    # the focus sweep and the zoom comparison figures are displayed (not swallowed by a non-GUI backend)
    assert nb.panel.locator(".jp-RenderedImage img").count() >= 2


def test_images_at_native_size(holo_explore):
    nb, _ = holo_explore
    w, h, nw, nh = nb.image_size(0)
    assert (w, h) == (nw, nh) == (256, 256)
    w, h, nw, nh = nb.image_size(1)
    assert (w, h) == (nw, nh) == (256, 256)            # a 64-pixel region at 4x


def test_focus_slider_rerenders(holo_explore):
    nb, _ = holo_explore
    nb.screenshot(FIGURES / "holo_explore_k64.png", nb.panel.locator(".widget-vbox").first)
    src, pixels = nb.image_src(0), nb.image_bytes(0)
    zsrc = nb.image_src(1)
    nb.set_slider("k", 3)
    nb.wait_image_change(0, src, timeout=20)
    nb.wait_image_change(1, zsrc, timeout=20)
    assert nb.image_bytes(0) != pixels
    assert "k=3" in nb.label("bpp")
    src = nb.image_src(0)
    nb.set_slider("k", 64)
    nb.wait_image_change(0, src, timeout=20)
    assert nb.image_bytes(0) == pixels                  # back to the full image


def test_zoom_controls_rerender(holo_explore):
    nb, _ = holo_explore
    nb.set_slider("size", 32)
    nb.wait_image_size(1, (128, 128))                   # 32 pixels at 4x
    src, zsrc, zpixels = nb.image_src(0), nb.image_src(1), nb.image_bytes(1)
    nb.set_slider("x", 216)                             # towards the parrot's eye
    nb.wait_image_change(1, zsrc, timeout=20)
    nb.wait_image_change(0, src, timeout=20)            # the marked region moved on the main image
    zsrc = nb.image_src(1)
    nb.set_slider("y", 58)
    nb.wait_image_change(1, zsrc, timeout=20)
    assert nb.image_bytes(1) != zpixels
    nb.press_slider("scale", "ArrowLeft", 2)            # 4.0 -> 3.0 with the keyboard on the handle
    nb.wait_image_size(1, (96, 96))
    assert nb.slider_value("scale") == "3.00"
    assert "zoom 32x32 at (216, 58) x3" in nb.label("bpp")
    zsrc = nb.image_src(1)
    nb.set_slider("k", 6)
    nb.wait_image_change(1, zsrc, timeout=20)
    nb.screenshot(FIGURES / "holo_explore.png", nb.panel.locator(".widget-vbox").first)
