"""``--jobs N``: the (arm, seed) tasks in N worker processes on this machine (``--executor processes``).

Spawned, not forked (a fresh interpreter per worker: no copied torch thread pools), like a search's trial
workers (deepstudy.search). A worker loads each data config once and trains the seeds it is handed; its
progress events come back through a queue. A worker that dies (killed, out of memory) breaks the pool: the
finished seeds are kept and ``deepstudy run --resume`` continues the others from their checkpoints (on Ray, a
dead worker's task is retried by itself). A worker whose driver died stops at its next event.

An error in one task (a UserError, a bug) or Ctrl-C stops the others at once, not after they finish: a shared
stop flag ends each worker at its next progress event, and the workers still busy after ``GRACE_SECONDS`` (an
epoch can be long) are terminated. Their seed folders stay as a kill leaves them (the last checkpoint, written
atomically; a cut last line of metrics.jsonl is dropped on resume), so ``--resume`` continues them.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue as _queue
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from deepstudy.config import Study
from deepstudy.errors import UserError
from deepstudy.executors import (Event, Outcome, SeedJob, _Worker, absolute_data_path, check_fits, dataset_for,
                                 train_one)

GRACE_SECONDS = 1.0  # after a stop: how long the workers get to end at their next event before a SIGTERM


class ProcessExecutor(_Worker):
    kind = "processes"

    def __init__(self, jobs: int):
        self.jobs = jobs
        self._pool: tuple | None = None  # (pool, events queue, stop flag) once started
        self._stop_workers = lambda: None  # the running pool's stop (run sets it), also called by close

    @classmethod
    def create(cls, jobs: int | None, arms: dict[str, Study]) -> ProcessExecutor:
        """The pool, its workers already starting: they import torch and load their modules (seconds) while the
        driver loads the data and writes the run directory."""
        import torch

        cores = os.cpu_count() or 1
        check_fits(arms, cores, torch.cuda.device_count(), "this machine")
        widest = max(cfg.train.resources.cpus for cfg in arms.values())
        executor = cls(jobs or max(1, int(cores // widest)))
        # the arms as their jobs will carry them (jobs_for): the workers' data cache keys match
        warm = [(arm, absolute_data_path(cfg).model_dump(mode="json")) for arm, cfg in arms.items()]
        executor._start(min(executor.jobs, sum(cfg.seeds for cfg in arms.values())), warm)
        return executor

    def _start(self, workers: int, warm: list[tuple[str, dict]] = ()) -> tuple:
        if self._pool is None:
            ctx = mp.get_context("spawn")
            events, stop = ctx.Queue(), ctx.Event()
            pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init, initargs=(events, stop, os.getpid()))
            for _ in range(workers):  # each submit starts a worker (none is idle yet): all start now
                pool.submit(_warm, warm)
            self._pool = (pool, events, stop)
            self._stop_workers = lambda: _stop(pool, stop)
        return self._pool

    def run(self, jobs: list[SeedJob], on_event: Event, datasets: dict) -> Iterator[tuple[SeedJob, Outcome]]:
        if not jobs:
            return
        pool, events, stop = self._start(min(self.jobs, len(jobs)))
        ended: set[tuple[str, int]] = set()

        def drain() -> None:
            while True:
                try:
                    e = events.get_nowait()
                except _queue.Empty:
                    return
                if (e.get("arm"), e.get("seed")) not in ended:  # a late event of a task already reported
                    on_event(e)

        pending: dict = {}
        try:
            pending.update({pool.submit(_task, job): job for job in jobs})  # (a worker dead at its start: below)
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
            if pending:  # an error, Ctrl-C or the caller gave up: the running seeds stop now (checkpoints stay)
                self._stop_workers()
            else:  # every seed ended: the workers are idle and exit on their own
                pool.shutdown(wait=True)
            self._stop_workers, self._pool = lambda: None, None

    def close(self) -> None:
        """A run whose caller stopped reading it (an exception in on_event), or a study stopped before its seeds
        (bad data), ends with the executor, not at its garbage collection."""
        stop, self._stop_workers, self._pool = self._stop_workers, lambda: None, None
        stop()


def _stop(pool: ProcessPoolExecutor, stop) -> None:
    """Every worker of ``pool`` gone, within about GRACE_SECONDS: the flag first (each ends at its next event), then
    SIGTERM for those still in an epoch; queued seeds are dropped."""
    stop.set()
    workers = list((getattr(pool, "_processes", None) or {}).values())  # before shutdown forgets them
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + GRACE_SECONDS
    for p in workers:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in workers:
        if p.is_alive():
            p.terminate()
    for p in workers:
        p.join(5)


_EVENTS: list = []  # the worker's event queue, the pool's stop flag and its driver's pid (set by _init)


def _init(events, stop, parent: int) -> None:
    events.cancel_join_thread()  # a worker's exit never waits for the driver to read its last events
    _EVENTS[:] = [events, stop, parent]


def _warm(arms: list[tuple[str, dict]]) -> None:
    """A worker's first call, made as the pool starts: what every task needs imported (torch, the tasks and their
    models, the data readers) and the arms' data loaded, while the driver loads it too. A failure here is left to
    the driver's own load, which says it in one line."""
    import torch._dynamo  # noqa: F401  (torch.optim's first param group imports it: ~1 s, here rather than in a seed)

    from deepstudy import config, study_data, tasks, train  # noqa: F401

    for arm, raw in arms:
        try:
            dataset_for(arm, config.validate(raw, source=f"arm '{arm}'"))
        except Exception:
            return


def _task(job: SeedJob) -> Outcome:
    events, stop, parent = _EVENTS

    def on_event(e: dict) -> None:
        # the driver stopped the run or was killed: end now (the epoch driver commits the newest epoch on the way out)
        if stop.is_set() or os.getppid() != parent:
            raise _Stopped
        events.put(e)
    try:
        return train_one(job, on_event, worker=True)
    except _Stopped:
        os._exit(1)
    except UserError as e:  # re-raised on the driver: a plain exception pickles with its one line
        raise UserError(str(e)) from None


class _Stopped(BaseException):
    """Raised through a worker's task when its run is stopped (not an Exception: nothing on the way swallows it)."""
