"""Reference OCR engines that no one here wrote, on the same page pixels as the lab's encoder.

- Tesseract 5 (the Debian packages `tesseract-ocr tesseract-ocr-eng`, installed by `make setup`), through
  `pytesseract`, page segmentation mode 6 (one uniform block of text: the lab's pages are one column);
- RapidOCR (PyPI `rapidocr`: PP-OCRv6 detection + recognition ONNX models inside the wheel, run by
  onnxruntime), its text lines in its own reading order.

    text = read("tesseract", page)            # grey (H, W) uint8 -> text, one line per line
    text = read("rapidocr", resample(page, "small"))   # at the pixel budget of a resolution mode
"""
from __future__ import annotations

import functools
import logging
import os

import numpy as np

ENGINES = ("tesseract", "rapidocr")


def read(engine: str, image: np.ndarray) -> str:
    if engine == "tesseract":
        return _tesseract(image)
    if engine == "rapidocr":
        return _rapidocr(image)
    raise ValueError(f"unknown OCR engine {engine!r} (known: {', '.join(ENGINES)})")


def _tesseract(image: np.ndarray) -> str:
    import pytesseract
    from PIL import Image

    # one OpenMP thread: Tesseract's own threads made a page ~6x slower on the 2-core machine
    old = os.environ.get("OMP_THREAD_LIMIT")
    os.environ["OMP_THREAD_LIMIT"] = "1"            # pytesseract hands os.environ to the subprocess
    try:
        text = pytesseract.image_to_string(Image.fromarray(np.asarray(image)), lang="eng", config="--psm 6")
    except pytesseract.TesseractNotFoundError:
        raise RuntimeError("tesseract is not installed: run `make setup` (Debian packages tesseract-ocr "
                           "tesseract-ocr-eng)") from None
    finally:
        if old is None:
            os.environ.pop("OMP_THREAD_LIMIT", None)
        else:
            os.environ["OMP_THREAD_LIMIT"] = old
    return "\n".join(ln for ln in text.splitlines() if ln.strip())


@functools.lru_cache(maxsize=1)
def _rapid_engine():
    from rapidocr import RapidOCR

    eng = RapidOCR()
    for name in ("RapidOCR", "rapidocr"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return eng


def _rapidocr(image: np.ndarray) -> str:
    im = np.asarray(image)
    if im.ndim == 2:
        im = np.repeat(im[..., None], 3, axis=2)
    out = _rapid_engine()(im)
    return "\n".join(out.txts) if out.txts else ""
