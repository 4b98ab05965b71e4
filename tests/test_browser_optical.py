"""The optical explorer (ask a memory bank) as a user meets it: JupyterLab in headless Chromium (its own module:
one Playwright session at a time, and the holo explorer's stays open for its whole module)."""
import pytest

from browser import FIGURES, run_explorer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def optical_explore():
    yield from run_explorer("optical_explore")


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
    # follows the kernel (busy, then idle) and the widget (a new answer), not a clock
    nb.settle(lambda: box.press("Enter"), "([e, t]) => e.innerText !== t", [answer.element_handle(), first])
    assert nb.images().count() >= 1 and ("via ocr" in answer.inner_text() or "retrieval only" in answer.inner_text())
    nb.screenshot(FIGURES / "optical_explore.png", nb.panel.locator(".widget-vbox").first)
    box.fill("   ")
    nb.settle(lambda: box.press("Enter"))
    box.fill("")
    nb.settle(lambda: nb.panel.locator(".widget-button", has_text="Ask").first.click(),
              "() => [...document.querySelectorAll('.widget-html')].some(e => /empty/.test(e.innerText))")
