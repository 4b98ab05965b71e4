"""Jupyter widgets: a focus slider over k and a zoom control that re-render from the .holo bytes."""
from __future__ import annotations

import io

import numpy as np

from lab.holo import codec as C
from lab.holo import render as R


def png_bytes(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


class HoloExplorer:
    """Focus (k) and zoom (region + scale) over one .holo file; `.widget` is the ipywidgets box.

    Every change of a control re-renders from the compressed bytes: `focus.value = 3` shows the image
    built from the first 3 components of every patch; the zoom controls render the region at `scale` x
    by resampling the basis functions.
    """

    def __init__(self, blob: bytes, zoom_size: int = 96):
        import ipywidgets as W

        self.blob = blob
        self.meta = C.info(blob)
        kmax = self.meta["k"]
        w, h = self.meta["width"], self.meta["height"]
        zs = min(zoom_size, w, h)
        self.focus = W.IntSlider(value=kmax, min=1, max=kmax, description="k")
        self.zx = W.IntSlider(value=(w - zs) // 2, min=0, max=w - zs, description="x")
        self.zy = W.IntSlider(value=(h - zs) // 2, min=0, max=h - zs, description="y")
        self.zscale = W.FloatSlider(value=4.0, min=1.0, max=8.0, step=0.5, description="scale")
        self.zsize = zs
        self.image = W.Image(format="png")
        self.zoomed = W.Image(format="png")
        self.label = W.Label()
        for c in (self.focus, self.zx, self.zy, self.zscale):
            c.observe(self._update, names="value")
        self.widget = W.VBox([W.HBox([self.focus, self.label]), self.image,
                              W.HBox([self.zx, self.zy, self.zscale]), self.zoomed])
        self._update()

    def _update(self, *_):
        k = self.focus.value
        img = C.decode_image(self.blob, k=k)
        self.image.value = png_bytes(img)
        region = (self.zx.value, self.zy.value, self.zsize, self.zsize)
        self.zoomed.value = png_bytes(R.zoom(self.blob, region, self.zscale.value, k=k))
        self.label.value = f"{self.meta['mode']} | k={k} | {self.meta['bytes']:,} bytes | {self.meta['bpp']:.3f} bpp"

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
