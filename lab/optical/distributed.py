"""Training on several processes (torchrun, one a GPU; gloo on the CPU), shared by the stage-2 campaign
(train_lm) and the answering model's fine-tuning (qa.finetune): the process group, and the one collective
every data-parallel step needs, the gradient of the whole global batch on every rank.

    device = init_distributed("cuda")       # under torchrun: this rank's GPU; otherwise "cuda" unchanged
    rank, world = rank_world()
    ... each rank computes its share of the loss, already divided by the global normaliser ...
    sum_gradients(params)                   # then clip and step identically everywhere
    finish_distributed()                    # after the last collective, on every rank
"""
from __future__ import annotations

import os


def current():
    """torch.distributed when a process group is up (a torchrun launch), else None."""
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def rank_world() -> tuple[int, int]:
    d = current()
    return (d.get_rank(), d.get_world_size()) if d else (0, 1)


def init_distributed(device: str) -> str:
    """Under torchrun (WORLD_SIZE > 1): the process group (NCCL on GPUs, gloo on the CPU; NVLink multicast kept
    off) and this rank's device; otherwise `device` unchanged."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device
    import torch
    import torch.distributed as dist

    for k, v in (("NCCL_NVLS_ENABLE", "0"), ("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1"), ("NVSHMEM_DISABLE_NVLS", "1")):
        os.environ.setdefault(k, v)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if str(device).startswith("cuda"):
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    dist.init_process_group("nccl" if str(device).startswith("cuda") else "gloo")
    return device


def finish_distributed() -> None:
    """The process group torn down once every rank is past its last collective (a no-op outside torchrun): gloo
    work freed at interpreter exit, with a rank still in the group, aborts that rank ("terminate called without an
    active exception"; the optical DDP test on the CPU, as vortex's training once did)."""
    import gc

    d = current()
    if not d:
        return
    gc.collect()                # what holds gloo work is freed while the group and interpreter still live
    d.barrier()
    d.destroy_process_group()


def sum_gradients(params) -> None:
    """Sum the parameters' gradients across ranks in one flattened all-reduce (a missing gradient counts as
    zeros); a no-op outside torchrun."""
    import torch

    d = current()
    if not d:
        return
    params = list(params)
    grads = [q.grad if q.grad is not None else torch.zeros_like(q) for q in params]
    flat = torch._utils._flatten_dense_tensors(grads)
    d.all_reduce(flat)
    for q, g in zip(params, torch._utils._unflatten_dense_tensors(flat, grads)):
        q.grad = g


def all_sum(values: list[float], device="cpu", op: str = "sum") -> list[float]:
    """Values summed (or the max taken, op="max") across ranks, in float64; unchanged outside torchrun."""
    import torch

    d = current()
    if not d:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    d.all_reduce(t, op=d.ReduceOp.MAX if op == "max" else d.ReduceOp.SUM)
    return t.tolist()
