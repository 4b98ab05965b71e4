"""The holo explorer as a user meets it: JupyterLab in headless Chromium, run the notebook, move the controls.

`make test-browser` (also part of `make test`). Screenshots go to reports/figures/.
"""
from pathlib import Path

import pytest

from browser import CHROMIUM, ROOT, JupyterLab

pytestmark = pytest.mark.browser
FIGURES = ROOT / "reports" / "figures"


def _run_explorer(name: str):
    """JupyterLab with notebooks/<name>.ipynb open and run: yields (notebook, was it dirty on opening)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    with JupyterLab([f"notebooks/{name}.ipynb"]) as lab, lab.browser() as page:
        with lab.evidence(page, name):
            nb = lab.open(page, f"{name}.ipynb")
            dirty_on_open = nb.is_dirty()
            nb.run_all()
            yield nb, dirty_on_open


@pytest.fixture(scope="module")
def holo_explore():
    yield from _run_explorer("holo_explore")


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


@pytest.fixture(scope="module")
def optical_explore():
    yield from _run_explorer("optical_explore")


def test_optical_explorer_asks_and_shows_the_pages_used(optical_explore):
    """The ask explorer as a user meets it: the first question's answer and page cards are there; typing a
    new question and pressing Enter replaces them; an empty one is a message."""
    nb, dirty_on_open = optical_explore
    assert not dirty_on_open, "the notebook opens already marked modified"
    assert nb.errors() == []
    answer = nb.panel.locator(".widget-html:has(.optical-answer)").first     # the widget; its content is replaced
    first = answer.inner_text()
    assert "via ocr" in first or "retrieval only" in first
    assert nb.images().count() >= 1
    box = nb.panel.locator(".widget-text:has(.widget-label:text-is('question')) input").first
    box.fill("Who was sitting on a mushroom, smoking a hookah?")
    box.press("Enter")
    nb._wait("([e, t]) => e.innerText !== t", [answer.element_handle(), first], 120, "the answer did not change")
    nb.wait_kernel_idle()
    assert nb.images().count() >= 1 and ("via ocr" in answer.inner_text() or "retrieval only" in answer.inner_text())
    nb.screenshot(FIGURES / "optical_explore.png", nb.panel.locator(".widget-vbox").first)
    box.fill("   ")
    box.press("Enter")
    nb.page.wait_for_timeout(500)
    box.fill("")
    nb.panel.locator(".widget-button", has_text="Ask").first.click()
    nb._wait("() => [...document.querySelectorAll('.widget-html')].some(e => /empty/.test(e.innerText))", None, 60,
             "no message for an empty question")
