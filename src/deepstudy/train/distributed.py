"""One model trained by several processes (PyTorch DistributedDataParallel): the pieces ``tasks.classify`` uses.

Every rank builds the same model from the same seed, draws the same epoch order from the same seed and cuts
each *global* batch of ``train.batch_size`` rows into ``world`` shards, keeping its own (:class:`Shards`). DDP
averages the ranks' gradients, and each rank's loss is the mean over its shard, so with equal shards

    mean over ranks of (mean over b/N rows) = mean over the b rows of the global batch,

the gradient one process gets from the whole batch. An unequal split (the epoch's last batch, or b not a
multiple of N) is made exact too: :func:`through` scales a rank's gradient by its share of the batch
(n_local x N / n_global) without changing the loss it reports. The ranks' weights therefore stay equal to the
one-process run's up to float rounding (:func:`equivalence` measures it: ``python -m benchmarks ddp``).

Train loss and accuracy of an epoch are summed over the ranks (:func:`global_epoch`); validation and test run on
every rank on the full splits with equal weights, so every rank takes the same early-stopping decision without
talking. Launching and the run directory (rank 0 writes it) are the CLI's part (deepstudy.cli.distributed).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import torch
import torch.distributed as dist
from torch import nn

from deepstudy.errors import UserError

Step = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def active() -> bool:
    """Whether this process is one rank of several (a process group of world size > 1 is initialized)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def check(arm: str, cfg, study) -> None:
    """An arm's ``train.distributed``: one setting for the whole study (one launch), task classify only, and what
    the backend and SyncBatchNorm need. Called before anything is written."""
    mine, whole = getattr(cfg.train, "distributed", None), getattr(study.train, "distributed", None)
    if mine != whole:
        raise UserError(f"arm '{arm}' changes train.distributed; one launch trains every arm with the same "
                        "processes — set it for the whole study (--nproc N)")
    if mine is None or mine.processes == 1:
        return
    if cfg.train.unfreeze_after:
        raise UserError(f"arm '{arm}': train.unfreeze_after is not distributed (DDP fixes the trained parameters "
                        "when it starts); drop it or train with one process (--nproc 1)")
    cuda = torch.cuda.is_available() and cfg.train.device != "cpu"
    if mine.backend == "nccl" and not cuda:
        raise UserError("train.distributed.backend nccl needs CUDA GPUs (one per process); on CPU use "
                        "train.distributed.backend=gloo")
    if mine.sync_bn and not cuda:
        raise UserError("train.distributed.sync_bn: torch's SyncBatchNorm runs on CUDA only; on CPU set "
                        "train.distributed.sync_bn=false (each process normalizes its own shard)")


def check_launched(study) -> None:
    """A study of N > 1 processes runs as one of N launched ranks (``deepstudy run --nproc N`` launches them)."""
    wanted = getattr(getattr(study, "train", None), "distributed", None)
    processes = 1 if wanted is None else wanted.processes
    if processes > 1 and not active():
        raise UserError(f"train.distributed.processes is {processes}: launch the study with `deepstudy run STUDY "
                        f"--nproc {processes}` (it starts the processes), or set it to 1")
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if active() and local != processes:
        raise UserError(f"this run trains with {processes} process(es) per node but {local} were launched; resume "
                        f"it with the same number (--nproc {processes})")


def init_from_env(backend: str) -> None:
    """Join the process group torch.distributed.run describes in the environment (RANK, WORLD_SIZE,
    MASTER_ADDR/PORT); with nccl each rank takes the GPU of its LOCAL_RANK."""
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)


class Shards:
    """This rank's part of each global batch of ``batches`` (an object with ``epoch(e)`` and ``len``): rows
    ``torch.tensor_split(batch, world)[rank]`` — contiguous, sizes differing by at most one. ``global_rows`` is the
    size of the global batch last handed out (read by :func:`through`); ``rows`` the rows this rank saw this epoch.

    Example:
        >>> import torch
        >>> from deepstudy import data
        >>> full = data.Batches(torch.arange(10.0).view(10, 1), torch.arange(10), 4)
        >>> [y.tolist() for _, y in Shards(full, rank=1, world=2).epoch(0)]
        [[2, 3], [6, 7], [9]]
    """

    def __init__(self, batches, rank: int, world: int):
        self.batches, self.rank, self.world = batches, rank, world
        self.global_rows, self.rows = 0, 0

    def __len__(self) -> int:
        return len(self.batches)  # the same number of steps on every rank: the schedule is the one-process one

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.rows = 0
        for x, y in self.batches.epoch(epoch):
            self.global_rows = len(y)
            xs, ys = torch.tensor_split(x, self.world)[self.rank], torch.tensor_split(y, self.world)[self.rank]
            self.rows += len(ys)
            yield xs, ys


def through(ddp: nn.Module, shards: Shards, step: Step | None, loss_fn: Callable | None) -> Step:
    """A ``train.fit`` step that runs the forward pass through ``ddp`` (so the backward pass all-reduces the
    gradients) and makes the averaged gradient the global batch's: a shard of n rows out of a global batch of
    n_global gets its gradient scaled by n x world / n_global (1 for equal shards: the loss is left untouched). The
    loss it returns keeps its value — the shard's mean — for the epoch's logged training loss.
    A rank whose shard is empty (a last batch smaller than the world) contributes a zero gradient."""
    inner = step or (lambda m, x, y: (loss_fn(out := m(x), y), out))

    def distributed_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        if len(y) == 0:  # still one forward and backward: every rank must join each all-reduce
            out = ddp(x)
            return out.sum() * 0.0, out
        loss, out = inner(ddp, x, y)
        share = len(y) * shards.world / shards.global_rows
        if share != 1.0:  # value: the mean; gradient: share x the mean's
            loss = loss * share - (loss * (share - 1.0)).detach()
        return loss, out
    return distributed_step


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` in DistributedDataParallel on ``device`` (which broadcasts rank 0's weights and buffers: every rank
    starts equal; batch-norm running statistics are rank 0's at every forward pass unless they are synced)."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def global_epoch(train_loss: float, train_acc: float | None, rows: int,
                 device: torch.device) -> tuple[float, float | None]:
    """The epoch's training loss and accuracy over every rank's rows (each rank's are means over its own rows)."""
    acc = 0.0 if train_acc is None else train_acc
    sums = torch.tensor([train_loss * rows, acc * rows, float(rows)], dtype=torch.float64,
                        device=device if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(sums)
    total = max(float(sums[2]), 1.0)
    return float(sums[0]) / total, None if train_acc is None else float(sums[1]) / total


def barrier() -> None:
    if active():
        dist.barrier()
