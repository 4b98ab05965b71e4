# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Explore a .holo file: focus and zoom
#
# The focus slider renders the image from the first k components of every patch; the zoom controls render a region at S x by resampling the basis functions (continuous DCT functions), not by upscaling pixels.

# %% tags=["parameters"]
image = "kodak/kodim23.png"   # dataset/file from lab.data
crop = 256                    # centre crop in pixels (0: the whole image)
step = 12.0                   # quantiser step of the .holo file
mode = "pca"                  # pca | vq | residual
zoom_size = 64                # side of the zoom window in pixels (also a slider below)
zoom_scale = 4.0              # zoom factor (also a slider below)

# %% [markdown]
# Move **k** to see the image built from the first k components of every patch; move **x**, **y** and
# **size** to choose the region (the yellow square), **scale** to zoom it. Both images are shown at their
# native pixel size.

# %%
import numpy as np
import matplotlib.pyplot as plt
from PIL import Image
from lab import data
from lab.holo import codec as C, render as R, study as S
from lab.holo.widgets import HoloExplorer

ds, fname = image.split("/")
img = S.crop(np.asarray(Image.open(data.path(ds, fname)).convert("RGB")), crop)
blob = C.encode(img, C.HoloParams(mode=mode, step=step))
meta = C.info(blob)
print(f"{image}: {meta['width']}x{meta['height']}, {meta['bytes']:,} bytes, {meta['bpp']:.3f} bpp, "
      f"mode {meta['mode']}, k {meta['k']}")
explorer = HoloExplorer(blob, zoom_size=zoom_size, scale=zoom_scale)
explorer

# %% [markdown]
# The focus sweep (the same file at growing k) and the zoom beside plain pixel upscaling of the same region.

# %%
sweep = R.focus_sweep(blob)
fig, ax = plt.subplots(1, len(sweep), figsize=(2 * len(sweep), 2.2))
for a, (k, im) in zip(ax, sweep):
    a.imshow(im)
    a.set_title(f"k={k}")
    a.axis("off")
plt.show()
region = explorer.region
z = R.zoom(blob, region, zoom_scale)
p = R.pixel_zoom(C.decode_image(blob), region, zoom_scale)
assert z.shape == p.shape
fig, ax = plt.subplots(1, 2, figsize=(8, 4))
for a, im, title in zip(ax, (z, p), ("basis resampling", "pixel upscaling")):
    a.imshow(im, interpolation="nearest")
    a.set_title(title)
    a.axis("off")
plt.show()
