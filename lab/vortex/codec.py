"""The Vortex codec (.vtx): the model's next-byte distribution, quantised to integer CDFs, drives a range
coder. The input is split into B streams coded together as one batch; every step runs
`lab.vortex.stepper.Stepper` (static buffers, a CUDA graph on CUDA) identically in the encoder and the
decoder, so both see the same integers. The encoder knows every byte in advance, so it runs a whole segment
of steps before copying the CDFs to the host once; the decoder needs each byte before the next step.

Two modes:
- pretrained: the model comes from `lab vortex train`; the header records its sha256 and a file is refused
  by any other model.
- online: no weights at all. A model of the given config starts from a seeded initialisation and, after
  every segment, takes one Adam step on the bytes just coded; the decoder replays the same updates. This is
  deterministic only where the arithmetic is: on CPU, one thread (the codec pins it), the same machine
  class and torch build. CUDA is refused for online mode: its backward kernels (embedding and attention
  gradients) accumulate with atomics, so two runs need not give the same weights.

.vtx (lab.container): magic b"VRTX", version 2, header (original length u64, CRC32 u32, streams u16, device
class u8, mode u8, model sha256 32 bytes), sections LENS (stream lengths), DATA, and CONF (online: JSON of
the config, seed and learning rate).
"""
from __future__ import annotations

import hashlib
import json
import struct
import zlib

import numpy as np
import torch
import torch.nn.functional as F

from lab import FormatError, container
from lab.streams import one_thread, split
from lab.entropy.rangecoder import code_cdf_rows, dec_buffer, dec_init, enc_flush, new_encoder
from lab.vortex.model import START, VortexConfig, VortexModel
from lab.vortex.stepper import Stepper

MAGIC = b"VRTX"
VERSION = 2
_HEAD = struct.Struct("<QIHBB32s")
DEVICES = {"cpu": 0, "cuda": 1}
PRETRAINED, ONLINE = 0, 1
ONLINE_DEFAULT = {"config": dict(d_model=64, n_layers=2, n_heads=4, d_ff=256, segment=32, recent=64, longterm=32,
                                 rate=4), "seed": 0, "lr": 3e-3}


def _devclass(device) -> int:
    return DEVICES["cuda" if str(device).startswith("cuda") else "cpu"]


class _Online:
    """One Adam step per segment on the bytes just coded (both directions run this identically)."""

    def __init__(self, model: VortexModel, lr: float):
        self.model, self.opt = model, torch.optim.Adam(model.parameters(), lr=lr)

    def update(self, stp: Stepper, x: torch.Tensor, y: torch.Tensor, active: torch.Tensor):
        m = self.model
        with torch.enable_grad():
            m.train()
            logits, _ = m.forward_segment(x, stp.prev_state)
            loss = F.cross_entropy(logits.reshape(-1, 256), y.reshape(-1), reduction="none")
            w = active.reshape(-1).float()
            loss = (loss * w).sum() / w.sum().clamp(min=1)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            m.eval()


def _run(model: VortexModel, lens: list[int], data: np.ndarray | None, st, buf, enc: bool, device,
         online: _Online | None = None, graph: bool | None = None) -> np.ndarray:
    B, S = len(lens), model.cfg.segment
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    out = np.zeros(sum(lens), np.uint8) if data is None else data
    lens_a = np.array(lens)
    n = max(lens) if lens else 0
    stp = Stepper(model, B, device, graph=graph)
    prev = np.full(B, START, np.int64)
    syms = np.zeros(B, np.int64)
    pin = torch.cuda.is_available() and stp.cuda
    for s0 in range(0, n, S):
        T = min(S, n - s0)
        t_idx = s0 + np.arange(T)
        act = t_idx[:, None] < lens_a[None, :]                       # (T, B)
        seg_in = np.empty((T, B), np.int64)
        if enc:  # all of the segment's bytes are known: run the steps back to back, copy the CDFs once
            seg = np.where(act, out[np.minimum(starts[None, :] + t_idx[:, None], len(out) - 1)], 0)
            seg_in[0], seg_in[1:] = prev, seg[:-1]
            dev_in = torch.from_numpy(seg_in).to(stp.device)
            cdfs = torch.empty((T, B, 257), dtype=torch.int32, device=stp.device)
            for t in range(T):
                stp.prev.copy_(dev_in[t])
                cdfs[t].copy_(stp.step())
            cdfs = cdfs.cpu().numpy()
            for t in range(T):
                syms[:] = seg[t]
                code_cdf_rows(st, buf, cdfs[t], syms, act[t], True)
            prev = seg[-1].copy()
        else:
            host = torch.empty((B, 257), dtype=torch.int32, pin_memory=pin)
            pv = torch.empty(B, dtype=torch.long, pin_memory=pin)
            seg = np.zeros((T, B), np.int64)
            for t in range(T):
                seg_in[t] = prev
                pv.copy_(torch.from_numpy(prev))
                stp.prev.copy_(pv, non_blocking=True)
                host.copy_(stp.step())
                syms[:] = 0
                code_cdf_rows(st, buf, host.numpy(), syms, act[t], False)
                if st[5]:
                    raise FormatError("corrupt .vtx file (stream ended early)")
                seg[t] = np.where(act[t], syms, 0)
                prev = seg[t].copy()
                idx = starts[act[t]] + s0 + t
                out[idx] = syms[act[t]]
        if online is not None and T == S:
            online.update(stp, torch.from_numpy(seg_in.T.copy()), torch.from_numpy(seg.T.copy()),
                          torch.from_numpy(act.T.copy()))
    return out


ONLINE_LIMITS = {"d_model": 1024, "n_layers": 16, "n_heads": 64, "d_ff": 8192, "segment": 1024, "recent": 4096,
                 "longterm": 4096, "rate": 64}


def _conf_sha(conf: dict) -> str:
    return hashlib.sha256(json.dumps(conf, sort_keys=True).encode()).hexdigest()


def _online_model(conf: dict) -> tuple[VortexModel, str]:
    cfg = VortexConfig(**conf["config"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(conf["seed"]))
        model = VortexModel(cfg)
    return model.eval(), _conf_sha(conf)


@torch.no_grad()
def compress(data: bytes, model: VortexModel | None, sha: str | None, streams: int = 16, device="cpu",
             online: dict | None = None, graph: bool | None = None) -> bytes:
    """Pretrained mode: `model` and its `sha`. Online mode: model=None and `online` = {"config", "seed", "lr"}
    (ONLINE_DEFAULT when {})."""
    lens = split(len(data), streams)
    arr = np.frombuffer(data, np.uint8)
    st, buf = new_encoder(), np.empty(len(data) * 2 + 1024, np.uint8)
    sections = {"LENS": np.array(lens, np.uint64).tobytes()}
    if model is None:
        if _devclass(device):
            raise ValueError("online mode runs on CPU only (CUDA training steps are not bit-reproducible)")
        conf = {**ONLINE_DEFAULT, **(online or {})}
        model, sha = _online_model(conf)
        sections["CONF"] = json.dumps(conf, sort_keys=True).encode()
        with one_thread():
            _run(model, lens, arr, st, buf, True, device, _Online(model, conf["lr"]))
        mode = ONLINE
    else:
        model.eval()
        _run(model, lens, arr, st, buf, True, device, graph=graph)
        mode = PRETRAINED
    enc_flush(st, buf)
    if st[5]:
        raise RuntimeError("encoder buffer overflow")
    sections["DATA"] = buf[: st[4]].tobytes()
    head = (len(data), zlib.crc32(data), len(lens), _devclass(device), mode, bytes.fromhex(sha))
    return container.pack(MAGIC, VERSION, _HEAD, head, sections)


def read_header(blob: bytes):
    return container.unpack(blob, MAGIC, VERSION, _HEAD, ".vtx")


def is_online(blob: bytes) -> bool:
    (_, _, _, _, mode, _), _ = read_header(blob)
    return mode == ONLINE


@torch.no_grad()
def decompress(blob: bytes, model: VortexModel | None = None, sha: str | None = None, device="cpu",
               graph: bool | None = None) -> bytes:
    (n, crc, B, dev, mode, msha), sec = read_header(blob)
    if dev != _devclass(device):
        raise FormatError(f"this .vtx file was encoded on {'cuda' if dev else 'cpu'}; decode on the same device class")
    want = {"LENS", "DATA"} | ({"CONF"} if mode == ONLINE else set())
    if mode not in (PRETRAINED, ONLINE) or set(sec) != want or len(sec["LENS"]) != 8 * B:
        raise FormatError("corrupt .vtx file (bad mode or sections)")
    online = None
    if mode == ONLINE:
        try:
            conf = json.loads(sec["CONF"])
            mc, lr = dict(conf["config"]), float(conf["lr"])
        except (ValueError, TypeError, KeyError) as e:
            raise FormatError(f"corrupt .vtx file (online configuration: {e})") from None
        if msha.hex() != _conf_sha(conf):
            raise FormatError("corrupt .vtx file (online configuration does not match its hash)")
        if not (all(type(mc.get(k, 0)) is int and 0 <= mc.get(k, 0) <= v for k, v in ONLINE_LIMITS.items())
                and 0 < lr <= 1):
            raise FormatError("corrupt .vtx file (online configuration out of range)")
        try:
            model, sha = _online_model(conf)
        except (ValueError, TypeError, KeyError) as e:
            raise FormatError(f"corrupt .vtx file (online configuration: {e})") from None
        online = _Online(model, lr)
    elif model is None:
        raise FormatError("this .vtx file was written with a trained model: pass --model")
    elif msha.hex() != sha:
        raise FormatError(f"this .vtx file was written with model {msha.hex()[:12]}..., not {sha[:12]}...: "
                          "decompress with the same model")
    lens = np.frombuffer(sec["LENS"], np.uint64).astype(np.int64).tolist()
    if sum(lens) != n or (n and min(lens) < 1):
        raise FormatError("corrupt .vtx file (stream lengths do not add up)")
    if n == 0:
        return b""
    buf = dec_buffer(sec["DATA"])
    st = np.zeros(6, np.int64)
    dec_init(st, buf)
    model.eval()
    if online is not None:
        with one_thread():
            out = _run(model, lens, None, st, buf, False, device, online).tobytes()
    else:
        out = _run(model, lens, None, st, buf, False, device, graph=graph).tobytes()
    if zlib.crc32(out) != crc:
        raise FormatError("corrupt .vtx file (decoded data fails its CRC32)")
    return out


TINY = dict(d_model=16, n_layers=1, n_heads=2, d_ff=32, segment=8, recent=8, longterm=4, rate=2)


def tiny_model() -> tuple[VortexModel, str]:
    """A tiny seeded vortex model and its sha: the tests', the fuzz campaign's and lab.codecs' model."""
    from lab.vortex.train import _sha

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = VortexModel(VortexConfig(**TINY)).eval()
    return model, _sha(model.state_dict())


def fuzz_target():
    """Small .vtx files from a tiny seeded model (several stream counts, empty) and online files (lab.formats)."""
    from lab.formats import Target

    model, sha = tiny_model()
    text = b"In the beginning God created the heaven and the earth. And the earth was without form.\n"
    online = {"config": dict(d_model=16, n_layers=1, n_heads=2, d_ff=32, segment=8, recent=8, longterm=4, rate=2),
              "seed": 0, "lr": 3e-3}
    samples = [compress(text, model, sha, streams=1), compress(text, model, sha, streams=5),
               compress(text[:9], model, sha, streams=2), compress(b"", model, sha),
               compress(text[:40], None, None, online=online)]
    return Target(".vtx", MAGIC, VERSION, _HEAD, samples, lambda b: decompress(b, model, sha))
