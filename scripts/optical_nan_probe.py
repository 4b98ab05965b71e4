"""Where the non-finite gradients of GPU runs 8-9 come from: one batch per mode, loss variants, on CUDA.

    python scripts/optical_nan_probe.py CKPT      (CKPT: an optical checkpoint folder; needs CUDA)

variants: both losses, CTC only, frame cross-entropy only, CTC computed on the CPU, the encoder in fp32.
"""
import sys, torch, numpy as np, torch.nn.functional as F
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
from lab import data
from lab.optical import train as T, reader as Rd
from lab.optical.corpus import PageSampler
from lab.optical.encoder import MODES
m, _ = T.load(sys.argv[1], "cuda"); m.train()
s = PageSampler(data.page_documents("train"))
def grads_ok():
    return all(torch.isfinite(p.grad).all().item() for p in m.parameters() if p.grad is not None)
for mode in ("tiny", "small", "base", "large"):
    res = MODES[mode]; s.size_range = (max(6, int(res * 0.0125)), max(7, int(res * 0.025)))
    rng = np.random.default_rng(0)
    pages = [s.page(rng, mode) for _ in range(T.batch_pages(32, mode))]
    x = torch.from_numpy(np.stack([p.image for p in pages]))[:, None].cuda()
    tg = torch.from_numpy(np.stack([p.targets for p in pages])).cuda()
    for variant in ("both", "ctc", "frame", "ctc_cpu", "fp32_encoder"):
        m.zero_grad()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=variant != "fp32_encoder"):
            tok = m.encoder(T._ink(x))
        if variant in ("both", "fp32_encoder"):
            loss = m.reader.loss(tok.float(), tg, 0.2)
        elif variant == "ctc":
            loss = m.reader.loss(tok.float(), tg, 0.0)
        elif variant == "frame":
            loss = m.reader.loss(tok.float(), tg, 1.0, ctc_weight=0.0)
        else:
            logits = m.reader(tok.float()).float()
            S, T_, _ = logits.shape
            t = tg.reshape(S, -1)[:, :Rd.MAXLEN]
            lens = (t != 0).sum(-1)
            logp = logits.log_softmax(-1).cpu()
            loss = F.ctc_loss(logp.transpose(0, 1), t[t != 0].long().cpu(), torch.full((S,), T_, dtype=torch.long), lens.cpu(),
                              blank=0, reduction="sum", zero_infinity=True) / (lens.sum().item() + S)
        loss.backward()
        tmax = (tg[..., :Rd.MAXLEN] != 0).sum(-1).max().item()
        print(mode, variant, f"loss {loss.item():.4f}", "grads finite" if grads_ok() else "GRADS NON-FINITE", f"max line {tmax}", flush=True)
print(torch.__version__, torch.backends.cudnn.version())
