"""The optical model and its checkpoints: the vision encoder with its stage-1 (CTC) reader, saved and loaded
together as fp16 safetensors shards (<= 15 MB each) + config.json holding the sha256 of the weights.

    model = OpticalModel(EncoderConfig(), ReaderConfig())
    sha = save(model, "outputs/ck", {"train_log": log})
    model, meta = load("outputs/ck")                 # FormatError if unreadable or not its sha256
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from lab.models import state_sha
from lab.optical.encoder import EncoderConfig, VisionEncoder, to_tensor
from lab.optical.reader import make_reader

SHARD_BYTES = 15 << 20


@dataclass(frozen=True)
class ReaderConfig:
    kind: str = "line"         # line | grid (reader.make_reader); checkpoints without the key are "line"
    hidden: int = 768
    emb: int = 256
    frame_hidden: int = 384



class OpticalModel(nn.Module):
    """The encoder and its stage-1 reader, saved and loaded together."""

    def __init__(self, enc: EncoderConfig = EncoderConfig(), rd: ReaderConfig = ReaderConfig()):
        super().__init__()
        self.enc_cfg, self.rd_cfg = enc, rd
        self.encoder = VisionEncoder(enc)
        self.reader = make_reader(rd.kind, enc.dim, rd.hidden, rd.emb, rd.frame_hidden)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @torch.no_grad()
    def encode(self, images, mode: str, device=None) -> torch.Tensor:
        dev = device or next(self.parameters()).device
        x = to_tensor(images, mode).to(dev)
        with autocast(dev):
            return self.encoder(x).float()

    @torch.no_grad()
    def ocr(self, images, mode: str, batch: int = 8) -> list[str]:
        out = []
        for i in range(0, len(images), batch):
            out += self.reader.read(self.encode(images[i:i + batch], mode))
        return out


def autocast(device):
    """bf16 autocast on CUDA, nothing on the CPU (where everything stays float32)."""
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    if dev.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


# -- checkpoints ------------------------------------------------------------------------------------------
def write_shards(state: dict, d: str | Path, prefix: str) -> tuple[str, list[str]]:
    """A state dict as fp16 safetensors shards (<= SHARD_BYTES each, written atomically) named
    <prefix>-NN-of-MM.safetensors in d, older shards of that prefix removed; -> (sha256 of the fp16 state, names)."""
    from safetensors.torch import save_file

    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).cpu().contiguous() for k, v in state.items()}
    shards, cur, size = [], {}, 0
    for k in sorted(state):
        n = state[k].numel() * 2
        if cur and size + n > SHARD_BYTES:
            shards.append(cur)
            cur, size = {}, 0
        cur[k], size = state[k], size + n
    shards.append(cur)
    names = [f"{prefix}-{i + 1:02d}-of-{len(shards):02d}.safetensors" for i in range(len(shards))]
    for name, sh in zip(names, shards):
        save_file(sh, str(d / (name + ".tmp")))
        os.replace(d / (name + ".tmp"), d / name)
    for old in d.glob(f"{prefix}-*.safetensors"):
        if old.name not in names:
            old.unlink()
    return state_sha(state), names


def save(model: OpticalModel, out: str | Path, extra: dict | None = None) -> str:
    """fp16 safetensors shards + config.json; -> sha256 of the fp16 weights."""
    d = Path(out)
    sha, names = write_shards(model.state_dict(), d, "weights")
    meta = {"encoder": model.enc_cfg.to_dict(), "reader": asdict(model.rd_cfg), "sha256": sha,
            "params": model.n_params(), "shards": names, **(extra or {})}
    tmp = d / "config.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, d / "config.json")
    return sha


def load_state(path: str | Path) -> tuple[dict, dict]:
    """(config.json, fp16 state dict) of a checkpoint, its sha256 checked; any reader architecture."""
    from safetensors.torch import load_file

    from lab import FormatError

    d = Path(path)
    try:
        meta = json.loads((d / "config.json").read_text())
        state = {}
        for name in meta["shards"]:
            state.update(load_file(str(d / name)))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise FormatError(f"{path}: not a readable optical checkpoint ({e.__class__.__name__}: {e})") from None
    if state_sha(state) != meta.get("sha256"):
        raise FormatError(f"{path}: weights do not match their sha256 (corrupt checkpoint)")
    return meta, state


def load(path: str | Path, device="cpu") -> tuple[OpticalModel, dict]:
    from lab import FormatError

    meta, state = load_state(path)
    try:
        model = OpticalModel(EncoderConfig(**meta["encoder"]), ReaderConfig(**meta["reader"]))
    except (KeyError, TypeError) as e:
        raise FormatError(f"{path}: not a readable optical checkpoint ({e.__class__.__name__}: {e})") from None
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.to(device).eval(), meta
