import numpy as np
import pytest


def smooth_image(h=64, w=80, seed=0):
    """A deterministic natural-ish test image: smooth gradients, an edge and mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    r = 128 + 80 * np.sin(x / 9.0) * np.cos(y / 13.0)
    g = 100 + 0.8 * x + 0.5 * y
    b = np.where(x + y > (h + w) / 2, 200, 60).astype(float)
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, 4, (h, w, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


@pytest.fixture
def img():
    return smooth_image()


@pytest.fixture(scope="session")
def kodak23():
    from PIL import Image

    from lab import data

    p = data.path("kodak", "kodim23.png")
    with Image.open(p) as im:
        a = np.asarray(im.convert("RGB"))
    return a[128:384, 256:512]


@pytest.fixture
def tiny_lm():
    """lab.models' tiny random chat model: a 2-layer LLaMA on bytes with SmolLM2's chat markers (stage-2 and
    answering plumbing without the 98 MB model)."""
    from lab import models

    return models.tiny_lm(models.TINY_CHAT)


# The longest test files first (measured: ~150 s, ~90 s, ~60 s, ~50 s, ~50 s on 2 cores): `make test` hands whole
# files to two workers (--dist loadfile) in collection order, so a long file collected last would run alone at the end.
LONGEST_FIRST = ["test_optical.py", "test_cli.py", "test_optical_memory.py", "test_vortex.py", "test_llmzip.py"]


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))     # stable: each file keeps its own order
