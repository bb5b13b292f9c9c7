"""The run directory's layout, written down once (torch-free: the report reads it too).

::

    runs/<study>/<timestamp>/                      RunDir
      config.yaml  env.json  data.json  test_labels.npy  samples.npz  results.json  report.html  report.md
      models.json                                   your own model classes (class_path): module file, sha256
      precision.json                                what `train.precision: auto` chose for each arm and why
      arms/<arm>/                                   RunDir.arm(arm): preprocessing.json (+ tokenizer.json), what
                                                    new inputs go through (deepstudy predict / export)
        seed-<i>/                                   SeedDir: metrics.jsonl checkpoint/ best.safetensors
                                                    predictions.npy result.json (+ what the task writes)
      teachers/<key>/seed-<i>/                      a distillation teacher's own seed run (SeedDir)
      pretrained/<key>-seed-<i>/                    pretrained weights shared by arms (rotation, transfer)
      judge/  ngram.json                            per-run parts of task: generate / language-model
      search/journal.log                            a search's trials as Optuna records them (config `search:`)
      search/held/<k>.lock                          who trains trial k on Ray (a lock held while it trains)
      search/trials/<k>/                            trial k: a run directory of its own (config.yaml trial.json
                                                    arms/trial/seed-0/); arms/default, arms/tuned: the re-evaluation
"""
from __future__ import annotations

import datetime as _dt
import fcntl
import html
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from deepstudy.errors import UserError


class RunPath(type(Path())):  # the concrete class (PosixPath): Path itself cannot be subclassed before Python 3.12
    """A run directory's path, as ``deepstudy.study.run`` returns it: a ``pathlib.Path`` in every way, which
    a Jupyter notebook displays as the run's report (``report.html``, inline in an iframe).

    Example:
        >>> import tempfile
        >>> folder = RunPath(tempfile.mkdtemp())
        >>> _ = (folder / "report.html").write_text("<h1>mlp vs cnn</h1>")
        >>> isinstance(folder, Path), (folder / "results.json").name
        (True, 'results.json')
        >>> folder._repr_html_()[:60]
        '<iframe title="deepstudy report" srcdoc="&lt;h1&gt;mlp vs cn'
    """

    def _repr_html_(self) -> str | None:
        """The report in an iframe (its own styles stay inside it), or None (plain repr) when there is none yet."""
        report = self / "report.html"
        if not report.is_file():
            return None
        return (f'<iframe title="deepstudy report" srcdoc="{html.escape(report.read_text(encoding="utf-8"))}" '
                'style="width: 100%; height: 80vh; border: 1px solid #ccc"></iframe>')


@dataclass(frozen=True)
class SeedDir:
    """One (arm, seed) run: everything it writes lives here, so a finished one is skipped on resume."""

    path: Path
    arm: str
    index: int

    @property
    def run(self) -> RunDir:
        return RunDir(self.path.parents[2])

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint"

    @property
    def best(self) -> Path:
        return self.path / "best.safetensors"

    @property
    def result(self) -> Path:
        return self.path / "result.json"

    @property
    def finished(self) -> bool:
        return self.result.is_file()

    def __truediv__(self, name: str) -> Path:
        return self.path / name


@dataclass(frozen=True)
class RunDir:
    path: Path

    @classmethod
    def create(cls, out_root: Path, name: str, now: _dt.datetime | None = None) -> RunDir:
        """A new, empty runs/<name>/<timestamp>[-k] under a writable ``out_root``."""
        try:
            out_root.mkdir(parents=True, exist_ok=True)
            probe = out_root / f".deepstudy-write-test-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as e:
            raise UserError(f"cannot write to output folder '{out_root}' ({e.strerror or e}); "
                            "choose a writable one with --out DIR") from None
        base = out_root / name / stamp(now)
        path, k = base, 1
        while path.exists():
            path, k = base.with_name(f"{base.name}-{k}"), k + 1
        path.mkdir(parents=True)
        return cls(path)

    @classmethod
    def existing(cls, path: str | Path, finished: bool = False) -> RunDir:
        """An earlier run directory (``finished``: one with results.json), or one clear error."""
        run = cls(Path(path))
        if not run.config.is_file():
            raise UserError(f"'{path}' is not a run directory (no config.yaml); pass runs/<study>/<timestamp>")
        if finished and not run.results.is_file():
            raise UserError(f"'{path}' is not a finished run directory (no results.json); "
                            "finish it with `deepstudy run --resume`")
        return run

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @contextmanager
    def locked(self) -> Iterator[None]:
        """An advisory lock on the run directory while a run, a resume or an explanation writes to it: a second
        process gets one line naming the holder's pid. The OS drops the lock when its process ends, so a killed
        run leaves no stale lock behind (the .lock file stays; only the lock on it counts)."""
        try:
            fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise UserError(f"cannot write to run directory {self.path} ({e.strerror or e}); a run, --resume or "
                            "explain writes there: make it writable (or copy it somewhere writable)") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise UserError(f"run directory {self.path} is in use by process {holder} (a run, --resume or explain "
                            "writing to it); wait for it to end, then try again") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    config = property(lambda self: self.path / "config.yaml")
    results = property(lambda self: self.path / "results.json")
    env = property(lambda self: self.path / "env.json")
    data = property(lambda self: self.path / "data.json")
    test_labels = property(lambda self: self.path / "test_labels.npy")
    samples = property(lambda self: self.path / "samples.npz")
    models = property(lambda self: self.path / "models.json")  # class_path models: module file, sha256
    precision = property(lambda self: self.path / "precision.json")  # what train.precision auto chose per arm, why

    def arm(self, arm: str) -> Path:
        return self.path / "arms" / arm

    def seed(self, arm: str, index: int) -> SeedDir:
        return SeedDir(self.arm(arm) / f"seed-{index}", arm, index)

    def seeds(self, arm: str, indices) -> list[SeedDir]:
        return [self.seed(arm, i) for i in indices]

    def teacher(self, key: str, index: int) -> SeedDir:
        return SeedDir(self.path / "teachers" / key / f"seed-{index}", f"teacher {key}", index)

    def pretrained(self, key: str) -> Path:
        return self.path / "pretrained" / key

    @property
    def search(self) -> Path:
        return self.path / "search"

    def trial(self, number: int) -> RunDir:
        return RunDir(self.search / "trials" / f"{number:04d}")


def stamp(now: _dt.datetime | None = None) -> str:
    """A run directory's name: its start time, to the second."""
    return (now or _dt.datetime.now()).strftime("%Y-%m-%dT%H-%M-%S")
