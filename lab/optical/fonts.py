"""The fonts pages are rendered in: matplotlib's bundled TrueType files (no system fonts needed), by family."""
from __future__ import annotations

from pathlib import Path

FONTS = {  # family -> (regular, bold) files in matplotlib's font folder
    "DejaVuSans": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    "DejaVuSerif": ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"),
    "DejaVuSansMono": ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf"),
    "STIXGeneral": ("STIXGeneral.ttf", "STIXGeneralBol.ttf"),
    "DejaVuSans-Oblique": ("DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf"),
    "DejaVuSerif-Italic": ("DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf"),
    "cmr10": ("cmr10.ttf", "cmb10.ttf"),      # Computer Modern: held out of training (robustness)
    "cmss10": ("cmss10.ttf", "cmss10.ttf"),
}
TRAIN_FONTS = ("DejaVuSans", "DejaVuSerif", "DejaVuSansMono", "STIXGeneral", "DejaVuSans-Oblique",
               "DejaVuSerif-Italic")
UNSEEN_FONTS = ("cmr10", "cmss10")


def font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"
