"""The DDP equivalence check (issue 21): N gloo processes on shards of each global batch end with the weights one
process reaches on the whole batches (tests/test_ddp.py, ``python -m benchmarks ddp``). It lives beside the executors
because it builds its own data (``deepstudy.data.Batches``), which the trainer package never imports.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn

from deepstudy.train.distributed import Shards, through, wrap


def equivalence(processes: int = 2, steps_per_epoch: int = 10, epochs: int = 2, batch_size: int = 16) -> dict:
    """The DDP check: a small MLP (no batch norm) trained ``epochs`` x ``steps_per_epoch`` SGD steps by one process
    on global batches of ``batch_size`` and by ``processes`` gloo processes on CPU on shards of them, from the same
    initial weights in the same data order; returns the largest relative difference of the final weights (per
    tensor: max |w_ddp - w_one| / max |w_one|, the largest over tensors). The last batch of each epoch has
    ``batch_size // 2 - 1`` rows, split unequally, so the uneven-share scaling is checked too.
    """
    import tempfile

    import torch.multiprocessing as mp

    problem = {"rows": (steps_per_epoch - 1) * batch_size + batch_size // 2 - 1, "batch_size": batch_size,
               "epochs": epochs}
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_equivalence_rank, args=(processes, tmp, problem), nprocs=processes, join=True)
        ddp = torch.load(os.path.join(tmp, "rank0.pt"), weights_only=True)
    one = _equivalence_train(problem, None).state_dict()
    diffs = {k: float((ddp[k] - w).abs().max() / w.abs().max()) for k, w in one.items()}
    return {"processes": processes, "backend": "gloo", "steps": epochs * steps_per_epoch, "global_batch": batch_size,
            "rows": problem["rows"], "max_relative_difference": max(diffs.values()), "per_tensor": diffs}


def _equivalence_train(problem: dict, shard: tuple[int, int] | None) -> nn.Module:
    from deepstudy import data, repro, train  # torch.multiprocessing's spawned ranks import this module

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(7)
    x = torch.randn(problem["rows"], 8, generator=g)
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).long() + (x[:, 3] > 1).long()  # 3 classes
    repro.seed_torch(11)
    model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 3))
    batches = data.Batches(x, y, problem["batch_size"], shuffle=True, seed=3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn, step = nn.CrossEntropyLoss(), None
    if shard is not None:
        batches = Shards(batches, *shard)
        step = through(wrap(model, torch.device("cpu")), batches, None, loss_fn)
    for _ in train.fit(model, batches, optimizer=optimizer, loss_fn=loss_fn, epochs=problem["epochs"], seed=5,
                       step=step):
        pass
    return model


def _equivalence_rank(rank: int, world: int, folder: str, problem: dict) -> None:
    dist.init_process_group("gloo", init_method=f"file://{folder}/store", rank=rank, world_size=world)
    try:
        model = _equivalence_train(problem, (rank, world))
        if rank == 0:
            torch.save(model.state_dict(), os.path.join(folder, "rank0.pt"))
        dist.barrier()  # both ranks end together: one tearing its group down while the other still talks to it
        # aborted a rank once in a full test run ("terminate called without an active exception", SIGABRT)
    finally:
        dist.destroy_process_group()
