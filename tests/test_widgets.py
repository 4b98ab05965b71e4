from lab.holo import codec as C
from lab.holo.widgets import HoloExplorer


def test_focus_and_zoom_controls_rerender(img):
    ex = HoloExplorer(C.encode(img, C.HoloParams(step=6)), zoom_size=32)
    full, zoomed = ex.image.value, ex.zoomed.value
    assert full and zoomed
    ex.focus.value = 2
    assert ex.image.value != full and "k=2" in ex.label.value
    z2 = ex.zoomed.value
    ex.zscale.value = 2.0
    assert ex.zoomed.value != z2
    ex.zx.value = 0
    assert ex.zoomed.value
