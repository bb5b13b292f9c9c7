"""``--jobs N``: the (arm, seed) tasks in N worker processes on this machine (``--executor processes``).

Spawned, not forked (a fresh interpreter per worker: no copied torch thread pools), like a search's trial
workers (deepstudy.search). A worker loads each data config once and trains the seeds it is handed; its
progress events come back through a queue. A worker that dies (killed, out of memory) breaks the pool: the
finished seeds are kept and ``deepstudy run --resume`` continues the others from their checkpoints (on Ray, a
dead worker's task is retried by itself). A worker whose driver died stops at its next event.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue as _queue
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from deepstudy.config import Study
from deepstudy.errors import UserError
from deepstudy.executors import Event, Outcome, SeedJob, _Worker, check_fits, train_one


class ProcessExecutor(_Worker):
    kind = "processes"

    def __init__(self, jobs: int):
        self.jobs = jobs

    @classmethod
    def create(cls, jobs: int | None, arms: dict[str, Study]) -> ProcessExecutor:
        import torch

        cores = os.cpu_count() or 1
        check_fits(arms, cores, torch.cuda.device_count(), "this machine")
        widest = max(cfg.train.resources.cpus for cfg in arms.values())
        return cls(jobs or max(1, int(cores // widest)))

    def run(self, jobs: list[SeedJob], on_event: Event, datasets: dict) -> Iterator[tuple[SeedJob, Outcome]]:
        if not jobs:
            return
        ctx = mp.get_context("spawn")
        events = ctx.Queue()
        ended: set[tuple[str, int]] = set()

        def drain() -> None:
            while True:
                try:
                    e = events.get_nowait()
                except _queue.Empty:
                    return
                if (e.get("arm"), e.get("seed")) not in ended:  # a late event of a task already reported
                    on_event(e)

        with ProcessPoolExecutor(min(self.jobs, len(jobs)), mp_context=ctx, initializer=_init,
                                 initargs=(events, os.getpid())) as pool:
            pending = {pool.submit(_task, job): job for job in jobs}
            try:
                while pending:
                    done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    drain()
                    for future in done:
                        job = pending.pop(future)
                        outcome = future.result()  # a UserError in the worker is raised here, as one line
                        ended.add((job.arm, job.index))
                        yield job, outcome
            except BrokenProcessPool:
                raise RuntimeError(f"a worker process died (killed, or out of memory); the finished seeds are kept: "
                                   f"continue with `deepstudy run --resume {jobs[0].run_path} --jobs {self.jobs}`") \
                    from None
            finally:
                for future in pending:
                    future.cancel()


_EVENTS: list = []  # the worker's event queue and its driver's pid (set by _init)


def _init(events, parent: int) -> None:
    _EVENTS[:] = [events, parent]


def _task(job: SeedJob) -> Outcome:
    events, parent = _EVENTS

    def on_event(e: dict) -> None:
        if os.getppid() != parent:  # the driver was killed: stop (the seed's checkpoint is kept for a resume)
            os._exit(1)
        events.put(e)
    try:
        return train_one(job, on_event, worker=True)
    except UserError as e:  # re-raised on the driver: a plain exception pickles with its one line
        raise UserError(str(e)) from None
