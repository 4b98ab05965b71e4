"""Run under torchrun by tests/test_optical_ddp.py: a few steps of the answering model's LoRA fine-tuning
(lab.optical.qa.finetune) on the tiny chat model, each rank taking its share of every global batch; rank 0
writes the loss and a checksum of the trained weights.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/ddp_finetune.py OUT_DIR
"""
import json
import sys
from pathlib import Path

import torch

from lab import models
from lab.optical import distributed as D
from lab.optical.qa import finetune as F


def main(out: str, steps: int = 4) -> None:
    torch.set_num_threads(1)
    D.init_distributed("cpu")
    items = [(c[:120], q, a) for c, q, a in F.training_items(pages=4, seed=1)[:12]]   # bytes are tokens here
    lm, tok = models.tiny_lm(models.TINY_CHAT)
    cfg = F.FinetuneConfig(r=4, alpha=8, lr=1e-2, warmup=1, steps=steps, tokens=2048, max_tokens=256)
    model, rec = F.finetune(lm, tok, items, cfg)
    rank, world = D.rank_world()
    D.finish_distributed()
    if rank == 0:
        weights = sum(float(p.detach().double().sum()) for p in model.parameters() if p.requires_grad)
        Path(out, "result.json").write_text(json.dumps({"loss": rec["curve"][-1]["loss"], "steps": rec["steps"],
                                                        "examples": rec["examples"], "weights": weights,
                                                        "processes": world}))


if __name__ == "__main__":
    main(sys.argv[1])
