"""A page cut into square tiles of its inked column, each scaled up to the page's canvas (the idea of
DeepSeek-OCR's tiled "Gundam" mode): a real PDF page's body text sits at ~1/80 of the page height, below the
font sizes the lab's encoder trained on (1/72 .. 1/40 of a mode's resolution); tiles as wide as the text
column make it larger by the ratio of the page to the column, at the price of one mode's tokens a tile.

    parts = tiles(page_image)               # [(H, H) uint8], top to bottom
    text = "\\n".join(read(t, "small") for t in parts)
"""
from __future__ import annotations

import numpy as np

INK = 200          # grey levels below this are ink


def ink_box(image: np.ndarray, ink: int = INK, pad: int = 8) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the inked pixels, `pad` pixels around them (within the image); None for a
    page with no ink."""
    if image.ndim != 2:
        raise ValueError(f"a grey page is 2-D, got shape {image.shape}")
    ys, xs = np.nonzero(image < ink)
    if ys.size == 0:
        return None
    h, w = image.shape
    return (max(0, int(ys.min()) - pad), min(h, int(ys.max()) + 1 + pad),
            max(0, int(xs.min()) - pad), min(w, int(xs.max()) + 1 + pad))


def tiles(image: np.ndarray, height: float = 1.0, ink: int = INK, pad: int = 8) -> list[np.ndarray]:
    """The inked column of a square grey page cut top to bottom into tiles `height` x its width tall, each on a
    white square (the tile at its top left) resized back to the page's size. A page with no ink is one tile:
    itself."""
    from PIL import Image

    box = ink_box(image, ink, pad)
    if box is None:
        return [image]
    if height <= 0:
        raise ValueError("a tile's height must be positive")
    top, bottom, left, right = box
    width = right - left
    step = max(1, int(round(width * height)))
    side = max(step, width)
    size = image.shape[0]
    out = []
    for y in range(top, bottom, step):
        square = np.full((side, side), 255, np.uint8)
        part = image[y:min(y + step, bottom), left:right]
        square[:part.shape[0], :part.shape[1]] = part
        out.append(np.asarray(Image.fromarray(square).resize((size, size), Image.LANCZOS)))
    return out
