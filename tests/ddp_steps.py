"""Run under torchrun by tests/test_optical_ddp.py: a few stage-2 campaign steps on a fixed global batch of eight
examples, each rank taking its share; rank 0 writes the losses and a checksum of the trained weights.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/ddp_steps.py OUT_DIR
"""
import json
import sys
from pathlib import Path

import torch

from lab import models
from lab.optical import train_lm as L, vision
from lab.optical.decoder import ReaderSpec


def main(out: str, steps: int = 3, batch: int = 8) -> None:
    torch.set_num_threads(1)
    device = L.init_distributed("cpu")
    torch.manual_seed(0)
    stage1 = vision.load("random:0").model
    cfg = L.CampaignConfig(examples=5000, warmup=1, tokens=100_000, modes={"tiny": 1.0})
    camp = L.Campaign(Path(out) / "state", stage1, ReaderSpec(r=2, alpha=4), cfg, models.TINY_CHAT, device)
    g = torch.Generator().manual_seed(1)
    losses = []
    for s in range(steps):
        vt = torch.randn(batch, 64, stage1.enc_cfg.dim, generator=g)            # tiny mode: 8 x 8 tokens a page
        texts = [f"step {s}, page {i}: " + "word " * (3 + 2 * i) for i in range(batch)]
        mine = list(range(camp.rank, batch, camp.world))
        ctx = camp.reader.contexts(vt[mine], [(1, 3)] * len(mine))
        loss_sum, n, ex = camp.step(ctx, camp.reader.answer_ids([texts[i] for i in mine]), 1.0)
        assert ex == batch
        losses.append(float(loss_sum) / n)
    L.finish_distributed()
    if camp.rank == 0:
        weights = sum(float(p.detach().double().sum()) for p in camp.reader.parameters() if p.requires_grad)
        (Path(out) / "result.json").write_text(json.dumps({"losses": losses, "weights": weights,
                                                           "processes": camp.world}))


if __name__ == "__main__":
    main(sys.argv[1])
