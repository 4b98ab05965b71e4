"""Jupyter widgets: a focus slider over k and zoom controls that re-render from the .holo bytes."""
from __future__ import annotations

import numpy as np

from lab.files import image_bytes
from lab.holo import codec as C
from lab.holo import render as R

REGION_COLOUR = (255, 214, 0)


def mark_region(img: np.ndarray, region: tuple[int, int, int, int], colour=REGION_COLOUR) -> np.ndarray:
    """A copy of `img` with a 1-pixel rectangle around region (x, y, w, h)."""
    x, y, w, h = region
    out = img.copy()
    out[y, x:x + w] = out[y + h - 1, x:x + w] = colour
    out[y:y + h, x] = out[y:y + h, x + w - 1] = colour
    return out


def _native(img_widget, w: int, h: int) -> None:
    """Show an image widget at its pixel size (never stretched to the notebook's width)."""
    img_widget.width, img_widget.height = str(w), str(h)
    img_widget.layout.width, img_widget.layout.height = f"{w}px", f"{h}px"
    img_widget.layout.max_width = "none"
    img_widget.layout.object_fit = "none"


class HoloExplorer:
    """Focus (k) and zoom (region + size + scale) over one .holo file; `.widget` is the ipywidgets box.

    Every change of a control re-renders from the compressed bytes: `focus.value = 3` shows the image
    built from the first 3 components of every patch; the zoom controls render the region (marked on the
    main image) at `scale` x by resampling the basis functions. Both images are shown at their native
    pixel size.
    """

    def __init__(self, blob: bytes, zoom_size: int = 64, scale: float = 4.0):
        import ipywidgets as W

        self.blob = blob
        self.meta = C.info(blob)
        kmax = R.components(blob)
        w, h = self.meta["width"], self.meta["height"]
        zs = max(8, min(zoom_size, w, h))
        self.focus = W.IntSlider(value=kmax, min=1, max=kmax, description="k")
        self.zsize = W.IntSlider(value=zs, min=min(8, w, h), max=min(w, h), description="size")
        self.zx = W.IntSlider(value=(w - zs) // 2, min=0, max=w - zs, description="x")
        self.zy = W.IntSlider(value=(h - zs) // 2, min=0, max=h - zs, description="y")
        self.zscale = W.FloatSlider(value=scale, min=1.0, max=8.0, step=0.5, description="scale")
        self.image = W.Image(format="png")
        self.zoomed = W.Image(format="png")
        _native(self.image, w, h)
        self.label = W.Label()
        self._hold = False
        for c in (self.focus, self.zx, self.zy, self.zscale):
            c.observe(self._update, names="value")
        self.zsize.observe(self._resize, names="value")
        self.widget = W.VBox([W.HBox([self.focus, self.label]), W.HBox([self.image, self.zoomed]),
                              W.HBox([self.zx, self.zy]), W.HBox([self.zsize, self.zscale])])
        self._update()

    @property
    def region(self) -> tuple[int, int, int, int]:
        return self.zx.value, self.zy.value, self.zsize.value, self.zsize.value

    def _resize(self, *_):
        w, h, s = self.meta["width"], self.meta["height"], self.zsize.value
        self._hold = True
        try:
            self.zx.max, self.zy.max = w - s, h - s   # clamps x and y into the image
        finally:
            self._hold = False
        self._update()

    def _update(self, *_):
        if self._hold:
            return
        k = self.focus.value
        img = C.decode_image(self.blob, k=k)
        self.image.value = image_bytes(mark_region(img, self.region))
        z = R.zoom(self.blob, self.region, self.zscale.value, k=k)
        _native(self.zoomed, z.shape[1], z.shape[0])
        self.zoomed.value = image_bytes(z)
        x, y, s, _ = self.region
        self.label.value = (f"{self.meta['mode']} | k={k} | {self.meta['bytes']:,} bytes | "
                            f"{self.meta['bpp']:.3f} bpp | zoom {s}x{s} at ({x}, {y}) x{self.zscale.value:g}")

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
