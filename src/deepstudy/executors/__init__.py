"""Where a study's (arm, seed) runs train: in this process, in a pool of worker processes, or on a Ray cluster.

    deepstudy run STUDY                        # local: one after another, in this process
    deepstudy run STUDY --jobs 2               # processes: two worker processes on this machine
    deepstudy run STUDY --executor ray         # ray: a local Ray instance, or --address auto | ray://head:10001

Each (arm, seed) is one task (:class:`SeedJob`) holding ``train.resources`` (CPUs, GPUs); its torch threads are
its CPUs. Every executor runs the same function, :func:`train_one`, on the same seed folder: the run directory
stays the one source of truth, so the workers write their seed folders there themselves (metrics.jsonl, the
checkpoints, result.json) and a cluster needs a filesystem every worker shares with the driver. Why
not stream results back instead: a task retried after its worker died must find the seed's last checkpoint,
and only a shared folder gives it one. What comes back to the driver is small: the result record, the
nondeterminism warnings seen, and the progress events (streamed while the task runs).

Identical numbers whichever executor ran: every random stream of a seed starts from (study seed, seed index)
and its data is loaded by the worker with the same split seed, so nothing depends on which seeds ran before
or beside it. The thread count is the one thing that differs (torch's CPU reductions may sum in another order
with more threads): a local run with ``train.threads: 1`` equals a pool or Ray run of 1-CPU tasks, bit for bit.
"""
from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from deepstudy.config import Study
from deepstudy.errors import UserError

Event = Callable[[dict], None]
KINDS = ("local", "processes", "ray")
ATTEMPTS = "attempts.jsonl"  # in a seed folder run by a worker: one row per attempt (its pid, where it resumed)


@dataclass(frozen=True)
class SeedJob:
    """One (arm, seed) task: what a worker needs to train it, all of it picklable."""

    arm: str
    index: int
    seeds: int  # the study's seeds (for the progress events)
    cfg: Study  # the arm's config
    run_seed: int
    run_path: str
    device: str  # the study's train.device, resolved by the worker (a Ray worker's GPU is its own)
    threads: int | None  # torch threads; None: torch's choice (the local executor without train.threads)

    def __reduce__(self):
        """Pickled with the config as JSON (a task's config classes are built at import, not picklable by name)."""
        fields = {**self.__dict__, "cfg": self.cfg.model_dump(mode="json")}
        return _rebuild, (fields,)


def _rebuild(fields: dict) -> SeedJob:
    from deepstudy import config

    return SeedJob(**{**fields, "cfg": config.validate(fields["cfg"], source=f"arm '{fields['arm']}'")})


@dataclass
class Outcome:
    """What comes back from a task: its result record, torch's nondeterminism warnings, a failure line or None."""

    result: dict
    nondeterministic: set[str] = field(default_factory=set)
    failure: str | None = None


class Executor:
    """Runs seed jobs; ``run`` yields each (job, outcome) as it ends (in the order they end)."""

    kind = "local"
    elsewhere = False  # its tasks run in other processes, maybe in another folder (jobs get absolute paths)

    def run(self, jobs: list[SeedJob], on_event: Event, datasets: dict) -> Iterator[tuple[SeedJob, Outcome]]:
        """``datasets``: each arm's data as the driver loaded it (a worker loads its own)."""
        for job in jobs:
            yield job, train_one(job, on_event, datasets[job.arm])

    def threads(self, cfg: Study) -> int | None:
        """The torch threads of one task of this arm."""
        return cfg.train.threads

    def close(self) -> None:
        pass

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Worker(Executor):
    """A task in a process of its own: torch threads are the CPUs it holds (train.threads, where set, wins)."""

    elsewhere = True

    def threads(self, cfg: Study) -> int | None:
        return cfg.train.threads or max(1, int(cfg.train.resources.cpus))


def start(kind: str | None, jobs: int | None, address: str | None, arms: dict[str, Study]) -> Executor:
    """The executor asked for, checked against what it can give (CPUs, GPUs, a reachable cluster) before the
    run directory exists; ``kind`` None: processes when ``jobs`` > 1, else local."""
    kind = kind or ("processes" if jobs not in (None, 1) else "local")
    if kind not in KINDS:
        raise UserError(f"--executor must be one of {', '.join(KINDS)}, got {kind!r}")
    if jobs is not None and (not isinstance(jobs, int) or isinstance(jobs, bool) or not 1 <= jobs <= 64):
        raise UserError(f"--jobs must be a whole number from 1 to 64 (worker processes), got {jobs!r}")
    if address is not None and kind != "ray":
        raise UserError(f"--address names a Ray cluster; add --executor ray (or drop --address {address})")
    if kind == "local":
        if jobs not in (None, 1):
            raise UserError(f"--jobs {jobs} asks for worker processes; drop --executor local (or use --executor "
                            "processes)")
        return Executor()
    _check_independent(arms)
    if kind == "ray":
        if jobs is not None and jobs != 1:
            raise UserError(f"--jobs {jobs} sizes the process pool; on Ray as many tasks run at once as the "
                            "cluster's CPUs and GPUs hold (train.resources): drop --jobs")
        from deepstudy.executors.ray_cluster import RayExecutor

        return RayExecutor.connect(address, arms)
    from deepstudy.executors.pool import ProcessExecutor

    check_spawnable("--jobs")
    return ProcessExecutor.create(jobs, arms)


def check_spawnable(what: str) -> None:
    """Worker processes are spawned (a fresh interpreter each), and each imports the driver's main script again
    before it can take a task: a script that calls deepstudy at its top level, outside ``if __name__ ==
    "__main__":``, would start the study again in every worker, which multiprocessing refuses (the pool breaks, and
    the driver can only say a worker died). Said before anything starts, in one line. A notebook, the REPL, the
    ``deepstudy`` command and ``python -m package`` are not re-run (nothing to check)."""
    main = sys.modules.get("__main__")
    path, spec = getattr(main, "__file__", None), getattr(main, "__spec__", None)
    if path is None or (spec is not None and spec.name.endswith("__main__")):
        return
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    if "__main__" not in text:
        raise UserError(f"{what} starts worker processes, and each imports {path} again: put the script's calls "
                        "under `if __name__ == \"__main__\":` (or run without worker processes)")


def _check_independent(arms: dict[str, Study]) -> None:
    """What is trained once per run or per seed into the run directory and shared by the seeds or arms that ask for
    it, refused: two tasks at once would train it into one folder at the same time (``Task.shared``: a teacher or a
    pretrained encoder of task classify, task generate's judge)."""
    from deepstudy import tasks

    for arm, cfg in arms.items():
        if shared := tasks.get(cfg.task).shared(cfg):
            raise UserError(f"arm '{arm}' (task: {cfg.task}) has {shared}; run this study with --executor local "
                            "(parallel tasks would train it at once into one folder)")


def check_fits(arms: dict[str, Study], cpus: float, gpus: float, where: str) -> None:
    """Every arm's task fits one worker of ``where`` (``cpus``, ``gpus`` it has)."""
    for arm, cfg in arms.items():
        r = cfg.train.resources
        if r.cpus > cpus or r.gpus > gpus:
            raise UserError(f"arm '{arm}' asks train.resources {{cpus: {r.cpus:g}, gpus: {r.gpus:g}}} but {where} has "
                            f"{cpus:g} CPU(s) and {gpus:g} GPU(s); lower train.resources")


def jobs_for(study: Study, arms: dict[str, Study], run, executor: Executor) -> tuple[list[SeedJob], dict]:
    """The (arm, seed) jobs not yet finished in ``run`` and the seeds every arm uses (finished ones included)."""
    from deepstudy import repro

    todo, seeds_used = [], {}
    # a worker may run in another folder (a Ray node, `ray job submit --working-dir`): it gets absolute paths (not
    # in this process: a teacher's or encoder's cache key is a hash of the config, data.path as written included)
    run_path = os.path.abspath(run.path) if executor.elsewhere else str(run.path)
    for arm, cfg in arms.items():
        cfg = absolute_data_path(cfg) if executor.elsewhere else cfg
        for i in range(study.seeds):
            run_seed = repro.derive_seed(study.seed, "seed", i)
            seeds_used.setdefault(arm, {})[str(i)] = run_seed
            if not run.seed(arm, i).finished:
                todo.append(SeedJob(arm, i, study.seeds, cfg, run_seed, run_path, study.train.device,
                                    executor.threads(cfg)))
    return todo, seeds_used


def absolute_data_path(cfg: Study) -> Study:
    """``cfg`` with a relative data.path made absolute from this process's folder, as the driver read it (absolute,
    not resolved: a symlinked shared mount keeps the name every node knows it by)."""
    path = cfg.data.path
    if path is None or os.path.isabs(os.path.expanduser(path)):
        return cfg
    return cfg.model_copy(update={"data": cfg.data.model_copy(update={"path": os.path.abspath(path)})})


# ---------------------------------------------------------------- the task itself (driver or worker process)

_DATA: dict[str, object] = {}  # a worker's datasets, loaded once per data config (a pool worker trains many seeds)
_DETERMINISTIC: set[str] = set()  # devices this process already asked torch for deterministic kernels on


def train_one(job: SeedJob, on_event: Event, dataset=None, worker: bool = False) -> Outcome:
    """Train (or continue from its checkpoint) one (arm, seed) in its seed folder and write its result.json.
    ``dataset``: the arm's data as the driver loaded it (local); None: load it here, once per process.
    ``worker``: in a worker process: record the attempt (pid, where it resumed) in the seed folder."""
    import torch

    from deepstudy import repro, tasks, train
    from deepstudy.fileio import write_json
    from deepstudy.records import Failure
    from deepstudy.rundir import RunDir

    device = repro.resolve_device(job.device)
    if device.type not in _DETERMINISTIC:
        repro.set_deterministic(device)
        _DETERMINISTIC.add(device.type)
    seed = RunDir(Path(job.run_path)).seed(job.arm, job.index)
    if worker:
        on_event = _recording(job, seed.path, on_event)
    if dataset is None:
        dataset = dataset_for(job.arm, job.cfg)
    on_event({"kind": "start", "arm": job.arm, "seed": job.index, "seeds": job.seeds, "epochs": job.cfg.train.epochs})
    if job.threads:
        torch.set_num_threads(job.threads)
    nondeterministic: set[str] = set()
    failure = None
    with repro.record_nondeterminism(nondeterministic):
        try:
            result = tasks.get(job.cfg.task).train_seed(tasks.SeedContext(job.cfg, dataset, device, job.run_seed,
                                                                          seed, on_event))
        except train.NonFiniteLoss as e:
            result, failure = Failure(str(e)), f"arm '{job.arm}' seed {job.index}: {e}"
    write_json(seed.result, result.to_json())
    return Outcome(result.to_json(), nondeterministic, failure)


def dataset_for(arm: str, cfg: Study):
    """The arm's data in this worker, loaded once per data config (the pool's workers load it as they start)."""
    from deepstudy import study_data

    key = f"{cfg.task}|{cfg.seed}|{cfg.data.model_dump_json()}"
    if key not in _DATA:
        _DATA[key] = study_data.load({arm: cfg})[arm]
    return _DATA[key]


def _recording(job: SeedJob, folder: Path, on_event: Event) -> Event:
    """``on_event``, and a row in the seed folder's attempts.jsonl for this attempt and for where it resumed."""
    folder.mkdir(parents=True, exist_ok=True)
    where = {"pid": os.getpid(), "host": socket.gethostname()}

    def append(row: dict) -> None:
        with open(folder / ATTEMPTS, "a") as f:
            f.write(json.dumps(row) + "\n")
    append({"event": "start", **where})

    def forward(e: dict) -> None:
        if e["kind"] == "resumed" and (e.get("arm"), e.get("seed")) == (job.arm, job.index):
            append({"event": "resumed", "epoch": e["epoch"], **where})
        on_event(e)
    return forward
