"""``--executor ray``: each (arm, seed) a Ray task holding ``train.resources`` (``pip install 'deepstudy[ray]'``);
a search's trials too, trained by Ray tasks of those resources (``RayExecutor.call``: deepstudy.search's trial
workers).

Without ``--address`` a Ray instance is started on this machine for the run and shut down after it; with
``--address auto`` (a cluster this machine belongs to, or ``ray job submit``'s) or ``ray://head:10001`` (Ray
Client) the tasks go to that cluster, whose workers must have deepstudy installed and see the run directory
at the same path (a shared filesystem: docs/scale-out.md).

Faults: a task whose worker process dies (killed, out of memory, its node lost) is retried by Ray up to
``RETRIES`` times, and the retry continues from the seed's last checkpoint in its folder (the epoch driver,
deepstudy.train.drive, resumes whatever finds a checkpoint there). A bad-input error (UserError) is not retried:
it comes back as a value and the driver stops with its one line. Any other failure Ray reports (its memory
monitor's OutOfMemoryError, a task it could not schedule or an object it lost) stops the run with one line and
the resume command; a bug in the task stops it with the task's traceback.
"""
from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from deepstudy.config import Study
from deepstudy.errors import UserError
from deepstudy.executors import Event, Outcome, SeedJob, _Worker, train_one

_QUEUES: dict = {}  # this driver's event queue and the Ray job it lives in (RayExecutor._events)
RETRIES = 3  # retries of a task whose worker died (system failures only: retry_exceptions=False)
CONNECT_SECONDS = 10.0  # a cluster address that does not answer within this is unreachable
INSTALL = "pip install 'deepstudy[ray]'"


@dataclass
class _Refused:
    """A UserError raised in a worker, returned as a value (Ray retries nothing, the driver says the line)."""

    message: str


def _task(job: SeedJob, events) -> Outcome | _Refused:
    """One (arm, seed) in a Ray worker: trained (or continued) in its seed folder; events go to the driver, tagged
    with the run they belong to (the driver's queue outlives one run)."""
    try:
        return train_one(job, _sender(events, job.run_path), worker=True)
    except UserError as e:
        return _Refused(str(e))


def _call(fn: Callable, args: tuple, run_path: str, events):
    """``fn(*args, send)`` in a Ray worker (a search's trial worker): ``send`` gives the driver an event of the run
    at ``run_path``; a UserError comes back as a value, as for a seed."""
    try:
        return fn(*args, _sender(events, run_path))
    except UserError as e:
        return _Refused(str(e))


def _sender(events, run_path: str) -> Event:
    def send(e: dict) -> None:  # fire and forget (one caller's calls stay in order): Queue.put waits for the queue
        events.actor.put_nowait.remote((run_path, e))  # actor's answer at every event, 5x slower per epoch here
    return send


class RayExecutor(_Worker):
    kind = "ray"

    def __init__(self, ray, started: bool):
        self.ray, self.started = ray, started

    @classmethod
    def connect(cls, address: str | None, arms: dict[str, Study]) -> RayExecutor:
        """Ray connected (an instance started here, or the cluster at ``address``), every arm's task checked to fit
        one of its nodes; one line and nothing started when not."""
        try:
            import ray
        except ImportError:
            raise UserError(f"--executor ray needs Ray, which is not installed: {INSTALL}") from None
        started = False
        if not ray.is_initialized():
            if address not in (None, "auto"):
                _reachable(address)
            # a Ray started here runs its workers at nice 0, as the local executor and --jobs do: Ray's default
            # (15) let any other process on the machine starve the training tasks (5x slower beside one busy job)
            local = {"_system_config": {"worker_niceness": 0}} if address is None else {}
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING, **local)
            except ConnectionError as e:
                raise UserError(f"--address {address}: no Ray cluster there ({str(e).splitlines()[0][:160]}); start "
                                "one (`ray start --head`) or drop --address to start Ray on this machine") from None
            started = True
        executor = cls(ray, started)
        try:
            executor._check_fits(arms)
        except UserError:
            executor.close()
            raise
        return executor

    def _check_fits(self, arms: dict[str, Study]) -> None:
        nodes = [n["Resources"] for n in self.ray.nodes() if n.get("Alive")]
        for arm, cfg in arms.items():
            r = cfg.train.resources
            if not any(n.get("CPU", 0) >= r.cpus and n.get("GPU", 0) >= r.gpus for n in nodes):
                most = max(nodes, key=lambda n: (n.get("GPU", 0), n.get("CPU", 0)), default={})
                raise UserError(f"arm '{arm}' asks train.resources {{cpus: {r.cpus:g}, gpus: {r.gpus:g}}} but no node "
                                f"of the Ray cluster has that (the largest: {most.get('CPU', 0):g} CPU(s), "
                                f"{most.get('GPU', 0):g} GPU(s)); lower train.resources")

    def slots(self, resources) -> int:
        """How many tasks holding ``resources`` (train.resources) the cluster's live nodes run at once."""
        total = 0
        for node in (n["Resources"] for n in self.ray.nodes() if n.get("Alive")):
            fit = int(node.get("CPU", 0) // resources.cpus)
            if resources.gpus:
                fit = min(fit, int(node.get("GPU", 0) // resources.gpus))
            total += fit
        return total

    def run(self, jobs: list[SeedJob], on_event: Event, datasets: dict) -> Iterator[tuple[SeedJob, Outcome]]:
        if not jobs:
            return
        from ray.util.queue import Queue

        events = self._events(Queue)
        remote = self.ray.remote(_task)
        pending = {remote.options(num_cpus=j.cfg.train.resources.cpus, num_gpus=j.cfg.train.resources.gpus,
                                  max_retries=RETRIES, retry_exceptions=False).remote(j, events): j for j in jobs}
        ended: set[tuple[str, int]] = set()
        with contextlib.closing(self._as_they_end(pending, events, jobs[0].run_path, on_event,
                                                  lambda e: (e.get("arm"), e.get("seed")) not in ended)) as done:
            for job, ref in done:
                outcome = self._outcome(ref, job)
                ended.add((job.arm, job.index))
                yield job, outcome

    def call(self, fn: Callable, calls: list[tuple], resources, run_path: str, on_event: Event, what: str,
             kept: str, resume: str) -> list:
        """``fn(*args, send)`` for each ``args`` of ``calls``, each a Ray task holding ``resources`` (a search's trial
        workers; ``run_path``: the run their events belong to); their return values, in the order they end. Faults
        as for seeds: a task whose worker died is retried (``fn`` must make that safe), a UserError stops the others
        and is the one line; ``what`` names a task in a message (numbered), ``kept`` says what ``--resume resume``
        keeps."""
        if not calls:
            return []
        from ray.util.queue import Queue

        events = self._events(Queue)
        remote = self.ray.remote(_call).options(num_cpus=resources.cpus, num_gpus=resources.gpus,
                                                max_retries=RETRIES, retry_exceptions=False)
        pending = {remote.remote(fn, args, run_path, events): f"{what} {i}" for i, args in enumerate(calls)}
        with contextlib.closing(self._as_they_end(pending, events, run_path, on_event)) as done:
            return [self._result(ref, label, resume, kept) for label, ref in done]

    def _as_they_end(self, pending: dict, events, run_path: str, on_event: Event,
                     keep: Callable[[dict], bool] = lambda e: True) -> Iterator[tuple[object, object]]:
        """(what pending named, its ref) for each task as it ends; meanwhile the events of ``run_path`` that
        ``keep`` lets through go to ``on_event``. Closed early (a UserError, a crash, Ctrl-C): the tasks left are
        cancelled (their checkpoints stay)."""
        ray = self.ray

        def drain() -> None:  # two calls to the queue's actor, not one per event (this driver alone takes from it)
            waiting = events.size()
            for path, e in events.get_nowait_batch(waiting) if waiting else ():
                if path == run_path and keep(e):
                    on_event(e)
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.2)
                drain()
                for ref in ready:
                    yield pending.pop(ref), ref
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def _events(self, queue_class):
        """The queue the tasks' progress events come back through: one actor per driver and Ray session, kept for
        the next run of this process (starting one is a new Ray worker process: seconds on a busy machine)."""
        key = self.ray.get_runtime_context().get_job_id()
        if _QUEUES.get("job") != key:
            _QUEUES.update(job=key, queue=queue_class(actor_options={"num_cpus": 0}))
        return _QUEUES["queue"]

    def _outcome(self, ref, job: SeedJob) -> Outcome:
        return self._result(ref, f"arm '{job.arm}' seed {job.index}", job.run_path, "the finished seeds are kept")

    def _result(self, ref, what: str, run_path: str, kept: str):
        from ray import exceptions

        try:
            got = self.ray.get(ref)
        except exceptions.RayTaskError as e:  # a bug in the task: its traceback, as the local executor shows it
            raise RuntimeError(f"{what} failed on Ray:\n{e}") from None
        except (exceptions.WorkerCrashedError, exceptions.NodeDiedError, exceptions.RaySystemError) as e:
            raise RuntimeError(f"{what}: its Ray worker died {RETRIES + 1} times ({type(e).__name__}); {kept}: "
                               f"continue with `deepstudy run --resume {run_path} --executor ray`") from None
        except exceptions.RayError as e:  # Ray stopped the task itself: out of memory, disk, a lost object, ...
            reason = (str(e).strip().splitlines() or [""])[0][:160]
            raise RuntimeError(f"{what}: Ray stopped its task ({type(e).__name__}: {reason}); {kept}: continue "
                               f"with `deepstudy run --resume {run_path} --executor ray`") from None
        if isinstance(got, _Refused):
            raise UserError(got.message)
        return got

    def close(self) -> None:
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()


def _reachable(address: str) -> None:
    """The head's port answers (a TCP connection within CONNECT_SECONDS); Ray itself would wait minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--address {address!r} is not auto, HOST:PORT or ray://HOST:PORT (Ray Client, port 10001)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as e:
        raise UserError(f"--address {address}: cannot reach {host}:{port} ({e.strerror or type(e).__name__}); start "
                        "the cluster's head (`ray start --head`) or check the host and port") from None
