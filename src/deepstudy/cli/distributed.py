"""``deepstudy run --nproc N``: one model over N processes (DDP), launched by torch.distributed.run.

The command checks the study (every bad input stops here: one line, nothing written), then runs itself again
under torch's elastic launcher with the same arguments::

    python -m torch.distributed.run --standalone --nproc-per-node N -m deepstudy run ...      # one machine
    ... --nnodes M --rdzv-backend c10d --rdzv-endpoint HOST:PORT ...                          # M machines

Each launched process (a rank: RANK, WORLD_SIZE, LOCAL_RANK in its environment) joins the process group and runs
the whole study; task classify trains each seed with DDP (deepstudy.train.distributed). Rank 0 writes the run
directory. The other ranks do the same work in a private scratch copy (deleted when they end), silent: every
rank then takes the same path through the study — the same seeds, the same epochs, resumed from the same
checkpoint (a resume copies the run directory before rank 0 writes to it) — and meets the others at every
all-reduce, without a rule at each write about who writes.
"""
from __future__ import annotations

import contextlib
import copy
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from deepstudy.errors import UserError


def add_arguments(run) -> None:
    run.add_argument("--nproc", type=int, metavar="N",
                     help="train each model with N processes on this machine (PyTorch DDP, task classify; sets "
                          "train.distributed.processes); docs/scale-out.md")
    run.add_argument("--nnodes", type=int, metavar="M",
                     help="with --nproc: M machines, each running the same command (needs --rdzv-endpoint)")
    run.add_argument("--rdzv-endpoint", metavar="HOST:PORT",
                     help="with --nnodes: where the machines meet (torch.distributed.run's c10d rendezvous)")


def is_rank() -> bool:
    """This process was started by torch.distributed.run (or torchrun) as one rank of a group."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def check_flags(args, launching: bool = False) -> None:
    """--nproc and its companions, before any config is read (``launching``: the study trains with several
    processes, from --nproc or its train.distributed)."""
    if args.nproc is not None and not 1 <= args.nproc <= 64:
        raise UserError(f"--nproc must be a whole number from 1 to 64 (processes training one model), got {args.nproc}")
    if launching or (args.nproc is not None and args.nproc > 1):
        if args.jobs not in (None, 1) or args.executor not in (None, "local") or args.address:
            raise UserError("--nproc trains one model with several processes, one seed after another; it does not "
                            "combine with --jobs or --executor processes|ray (drop one of them)")
    if args.nnodes is not None:
        if not 1 <= args.nnodes <= 1024:
            raise UserError(f"--nnodes must be a whole number from 1 to 1024, got {args.nnodes}")
        if args.nnodes > 1 and not args.rdzv_endpoint:
            raise UserError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT (a machine every node reaches)")
    if (args.nnodes is not None or args.rdzv_endpoint) and args.nproc is None and not args.resume:
        raise UserError("--nnodes and --rdzv-endpoint go with --nproc N (processes per machine)")


def check_task(cfg, nproc: int | None) -> None:
    """--nproc N > 1 on a study whose task cannot be distributed (or a search): one line."""
    if nproc is None or nproc == 1:
        return
    if not distributes(cfg):
        from deepstudy.config.task_keys import TRAIN_KEYS

        can = ", ".join(task for task, keys in TRAIN_KEYS.items() if "distributed" in keys)
        raise UserError(f"--nproc: DDP trains task {can} only; study '{cfg.name}' has task {cfg.task}, which "
                        "runs in one process (drop --nproc, or use --jobs N to train seeds at once)")
    if cfg.search is not None:
        raise UserError("--nproc: a study with `search:` is not distributed; its trials run at once with --jobs N")


def distributes(cfg) -> bool:
    """The study's task reads train.distributed (config/task_keys.py TRAIN_KEYS says which tasks do)."""
    return "distributed" in type(cfg.train).model_fields


def of_study(cfg):
    """The study's train.distributed (one process for a task without it)."""
    from deepstudy.config.sections import DistributedConfig

    return getattr(getattr(cfg, "train", None), "distributed", None) or DistributedConfig()


def of_run(config_file: Path):
    """train.distributed of a run's config.yaml, read without validating the rest (a resume restores the run's
    custom models before its config is validated)."""
    from deepstudy.config import read_yaml
    from deepstudy.config.sections import DistributedConfig

    train = read_yaml(config_file).get("train") or {}
    given = train.get("distributed") if isinstance(train, dict) else None
    try:
        return DistributedConfig(**(given if isinstance(given, dict) else {}))
    except ValueError as e:  # pydantic's ValidationError
        raise UserError(f"{config_file}: train.distributed is not valid ({str(e).splitlines()[-1].strip()}); "
                        "restore the run's config.yaml") from None


def launch(args, argv: list[str], nproc: int) -> int:
    """Run this same command as ``nproc`` ranks under torch.distributed.run; its exit code."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc)]
    if args.nnodes is not None and args.nnodes > 1:
        launcher += ["--nnodes", str(args.nnodes), "--rdzv-backend", "c10d", "--rdzv-endpoint", args.rdzv_endpoint]
    else:
        launcher += ["--standalone"]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), NPROC: str(nproc)}
    return subprocess.run([*launcher, "-m", "deepstudy", *_without_launch_flags(argv)], env=env).returncode


def _without_launch_flags(argv: list[str]) -> list[str]:
    """``argv`` less --nproc, --nnodes and --rdzv-endpoint (the ranks get N from the environment): the launcher's
    own parser would take ``--nproc`` for an abbreviation of its ``--nproc-per-node`` and stop."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in _LAUNCH_FLAGS:
            skip = True
        elif not a.startswith(tuple(f"{f}=" for f in _LAUNCH_FLAGS)):
            out.append(a)
    return out


_LAUNCH_FLAGS = ("--nproc", "--nnodes", "--rdzv-endpoint")
NPROC = "DEEPSTUDY_NPROC"  # a rank's --nproc, set by launch()


def rank_nproc(args) -> None:
    """In a launched rank: the --nproc the launching command was given (it is not on the rank's command line)."""
    if is_rank() and args.nproc is None and os.environ.get(NPROC):
        args.nproc = int(os.environ[NPROC])


@contextlib.contextmanager
def as_rank(args, settings) -> Iterator[object]:
    """Join the process group; yields the arguments this rank runs with: rank 0 the given ones, the others a
    private scratch folder (--out, or a copy of the --resume directory), no trackers and no output."""
    from deepstudy.train import distributed

    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if local != settings.processes:
        raise UserError(f"this run trains with {settings.processes} process(es) per machine but {local} were "
                        f"launched; use --nproc {settings.processes}")
    distributed.init_from_env(settings.backend)
    try:
        rank = distributed.rank()
        if rank == 0:
            distributed.barrier()  # the others have copied the run directory: rank 0 may write to it now
            yield args
            return
        with tempfile.TemporaryDirectory(prefix=f"deepstudy-rank{rank}-") as scratch:
            mine = copy.copy(args)
            mine.track, mine.track_uri = [], None
            if args.resume:
                mine.resume = str(Path(scratch) / "run")
                shutil.copytree(args.resume, mine.resume)
            else:
                mine.out = scratch
            distributed.barrier()
            with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                yield mine
    finally:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
