"""Page encoders behind one interface, for everything that stores vision tokens (the memory bank):

    enc = vision.load("random:0")              # an untrained tiny encoder (tests, demos of the store)
    enc = vision.load("model:optical-reader")  # the committed default (lab.models), sha256-checked
    enc = vision.load("outputs/ck")            # any checkpoint folder (lab optical train)
    tokens = enc.encode([grey_page, ...], "small")   # (pages, tokens, dim) float32
    enc.sha, enc.dim, enc.spec                 # identity: a bank refuses tokens of another encoder
    enc.read(tokens)                           # page texts (None where the encoder has no reader)
"""
from __future__ import annotations

import numpy as np

from lab.optical.encoder import EncoderConfig

TINY = EncoderConfig(local_dim=32, local_layers=1, local_heads=2, dim=32, global_layers=1, global_heads=2)


class CheckpointEncoder:
    def __init__(self, path: str, device: str = "cpu"):
        from lab.optical.model import load

        self.model, meta = load(path, device)
        self.sha, self.dim, self.spec = meta["sha256"], self.model.enc_cfg.dim, str(path)

    def encode(self, images, mode: str, batch: int = 8) -> np.ndarray:
        out = [self.model.encode(images[i:i + batch], mode).cpu().numpy() for i in range(0, len(images), batch)]
        return np.concatenate(out).astype(np.float32)

    def read(self, tokens: np.ndarray) -> list[str]:
        import torch

        return self.model.reader.read(torch.from_numpy(np.asarray(tokens, np.float32)))


class RandomEncoder(CheckpointEncoder):
    """An untrained tiny encoder from a seed: real tokens of the right shape that carry no readable text."""

    def __init__(self, seed: int = 0):
        import torch

        from lab.models import state_sha
        from lab.optical.model import OpticalModel, ReaderConfig

        torch.manual_seed(seed)
        self.model = OpticalModel(TINY, ReaderConfig(kind="grid", emb=4, frame_hidden=8)).eval()
        state = {k: v.to(torch.float16) for k, v in self.model.state_dict().items()}
        self.sha, self.dim, self.spec = state_sha(state), TINY.dim, f"random:{seed}"

    def read(self, tokens: np.ndarray) -> list[str]:
        return [None] * len(tokens)


def load(spec: str, device: str = "cpu"):
    """An encoder from its spec: "model:NAME", "random:SEED" or a checkpoint folder (FormatError or DataError
    if unreadable)."""
    if spec.startswith("model:"):           # a lab-trained model by name (lab.models.TRAINED)
        from lab import models

        enc = CheckpointEncoder(str(models.trained_path(spec[6:])), device)
        enc.spec = spec
        return enc
    if spec.startswith("random:"):
        try:
            return RandomEncoder(int(spec[7:]))
        except ValueError:
            raise ValueError(f"bad encoder spec {spec!r} (random:SEED)") from None
    return CheckpointEncoder(spec, device)
