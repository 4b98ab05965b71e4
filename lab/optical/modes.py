"""The resolution modes of the optical encoder (DeepSeek-OCR's): page side in pixels -> a budget of vision tokens,
one token per 64x64-pixel cell: tiny 512^2 -> 64, small 640^2 -> 100, base 1024^2 -> 256, large 1280^2 -> 400."""
MODES = {"tiny": 512, "small": 640, "base": 1024, "large": 1280}
CELL = 64          # pixels per vision token, each way
PATCH = 16         # pixels per patch, each way


def tokens_for(mode: str) -> int:
    return (MODES[mode] // CELL) ** 2
