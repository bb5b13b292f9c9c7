"""Progress a person can plan by: how many runs are done, when the study will end, how each run ended.

On a terminal (rich): one live view — the study's bar over all its runs (arms x seeds, and a search's trials)
with an ETA, a bar per run in progress with its latest metrics — and a line per finished run with its headline::

    ✓ cnn seed-1 (2/5): test accuracy 91.8 %, 6 epochs, 14 s
    mlp-vs-cnn          ━━━━━━━━━━━━───────────  3/10 runs  ETA 1:52  elapsed 0:41
    ▸ cnn seed-2 (3/5)  ━━━━━━━━━━━━━━━────────  epoch 4/6  0:09      val_acc 0.9310

Elsewhere (CI, pipes, logs, notebooks): plain lines — at most ~10 epoch lines a run and, per finished run, its
headline with ``[k/N runs] ETA mm:ss``. Seeds are named as on disk: ``seed-1 (2/5)`` is folder ``seed-1``.

The events (dicts with a "kind"), from deepstudy.study, deepstudy.search, the epoch driver and the explanations:
  study_start   runs, epochs: totals planned; done_runs, done_epochs: kept from before a resume (also name, arms,
                seeds, trials, trial_epochs)
  start         arm, seed, seeds (None: a trial), epochs; aux: a helper run outside the plan (a teacher)
  resumed, checkpoint_fallback, epoch    arm, seed and the epoch (an epoch: its metrics row, epochs planned)
  run_end       arm, seed, seeds, status, metric, value, percent, epochs, seconds, message
  trial_end     a search trial's record (number, state, value, params, budget, metric)
  explain       arm, seed, seeds, method, index, methods: before each explanation method of a seed
  explained     arm, seed, seeds, seconds: `deepstudy explain` finished one seed
  note          text
  report        path: report.html written (the experiment trackers, deepstudy.tracking, log it)
ETA: the planned epochs not yet run x the measured seconds per epoch, that is the wall time since the first run
began over the epochs run since (testing, explanations and parallel trials are inside the measurement); "ETA …"
until an epoch has been measured. A study of no epochs (`deepstudy explain`) counts runs instead.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from deepstudy.progress.text import MAX_LABEL, MIN_BAR, clock, fit_line, headline, label, trial_line

__all__ = ["MIN_BAR", "Plan", "Progress", "clock", "headline", "interactive", "label"]


@dataclass
class _Run:
    label: str
    total: int  # epochs planned (or explanation methods)
    unit: str = "epoch"
    done: int = 0
    info: list[str] = field(default_factory=list)  # the last epoch's metrics, or what is explained now
    started: float = 0.0
    aux: bool = False  # a helper run (a distillation teacher, pretraining): not in the study's plan


@dataclass
class Plan:
    """The study-wide count: runs and epochs planned and done, and the measured rate behind the ETA."""

    runs: int = 0
    epochs: int = 0
    done_runs: int = 0
    done_epochs: int = 0  # run (or counted done: an early stop's, a pruned trial's rest) of the planned epochs
    measured: int = 0  # units run in this session since ``t0``
    t0: float | None = None
    known: bool = False

    def eta(self, now: float) -> float | None:
        units, done = (self.epochs, self.done_epochs) if self.epochs else (self.runs, self.done_runs)
        if done >= units and self.known:
            return 0.0
        if not self.measured or self.t0 is None:
            return None
        return (units - done) * (now - self.t0) / self.measured


class Progress:
    """Receives a study's events (``event``) and shows them: a rich live view on a terminal (or ``console``),
    plain lines otherwise. Use as a context manager."""

    def __init__(self, stream=None, console=None, clock=time.monotonic):
        self.stream = stream or sys.stdout
        self.console = console  # a rich Console to draw on (tests: Console(file=StringIO(), width=80, ...))
        self.clock = clock
        self.live = None
        self.plan = Plan()
        self.name = ""
        self.runs: dict[tuple[str, int], _Run] = {}

    def __enter__(self) -> Progress:
        if self.console is None and _isatty(self.stream):
            from rich.console import Console

            self.console = Console(file=self.stream)
        if self.console is not None:
            from rich.live import Live

            self.live = Live(_View(self), console=self.console, refresh_per_second=4, transient=True)
            self.live.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def line(self, text: str) -> None:
        if self.live is not None:
            self.live.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, file=self.stream, flush=True)

    def lines(self, width: int) -> list[str]:
        """The live view as plain text, ``width`` columns (what the terminal shows, without colours)."""
        return [(f"{name}  {'━' * filled}{'─' * (bar - filled)}  {right}" + (f"  {info}" if info else "")).rstrip()
                for name, filled, bar, right, info in self._rows(width)]

    def event(self, e: dict) -> None:
        handler = getattr(self, f"_on_{e['kind']}", None)
        if handler is not None:
            handler(e)

    # ---------------------------------------------------------------- the events

    def _on_study_start(self, e: dict) -> None:
        p = self.plan
        p.runs, p.epochs, p.known = e["runs"], e["epochs"], True
        p.done_runs, p.done_epochs = e.get("done_runs", 0), e.get("done_epochs", 0)
        self.name = e.get("name") or self.name
        if p.done_runs and self.live is None:
            self.line(f"{p.done_runs} of {p.runs} runs were finished before; {p.runs - p.done_runs} to go")

    def _on_start(self, e: dict) -> None:
        self._drop_aux()
        key, now = (e["arm"], e["seed"]), self.clock()
        self.runs[key] = _Run(label(e["arm"], e["seed"], e.get("seeds")), e["epochs"], started=now,
                              aux=e.get("aux", False))
        if self.plan.t0 is None:
            self.plan.t0 = now
        if self.live is None:
            self.line(f"▸ {self.runs[key].label}")

    def _on_resumed(self, e: dict) -> None:
        run = self._run(e)
        if not run.aux:
            self.plan.done_epochs += e["epoch"] - run.done
        run.done = e["epoch"]
        self.line(f"  {run.label}: resumed from its checkpoint at epoch {e['epoch'] + 1}")

    def _on_checkpoint_fallback(self, e: dict) -> None:
        self.line(f"  {self._run(e).label}: the checkpoint of epoch {e['damaged'] + 1} failed its sha256 check "
                  f"({e['reason']}); going back to epoch {e['epoch'] + 1}'s and training again from there")

    def _on_epoch(self, e: dict) -> None:
        run = self._run(e)
        if not run.aux:
            self._drop_aux()
            if run.done < run.total:
                self.plan.done_epochs += 1
            self.plan.measured += 1
        run.done = e["epoch"] + 1
        run.info = [f"{name} {e[key]:.4f}" for key, name in (("val_acc", "val_acc"), ("val_loss", "val_loss"),
                                                             ("train_loss", "loss")) if e.get(key) is not None]
        run.info.append(f"{e['seconds']:.1f} s/epoch")
        if self.live is None and (run.done % max(1, run.total // 10) == 0 or run.done == run.total):
            self.line(f"  {run.label}  epoch {run.done}/{run.total}  {'  '.join(run.info)}")  # ~10 lines a run

    def _on_run_end(self, e: dict) -> None:
        self._drop_aux()
        self._finish(self.runs.pop((e["arm"], e["seed"]), None))
        self.line(headline(e) + self._overall_suffix())

    def _on_trial_end(self, e: dict) -> None:
        arm = f"{e['search']} trial {e['number']}" if e.get("search") else f"trial {e['number']}"
        self._finish(self.runs.pop((arm, 0), None))
        self.line(trial_line(e) + self._overall_suffix())

    def _on_explain(self, e: dict) -> None:
        key = (e["arm"], e["seed"])
        if key not in self.runs:  # `deepstudy explain`: a bar over the seed's methods
            self.runs[key] = _Run(label(e["arm"], e["seed"], e.get("seeds")), e["methods"], unit="method",
                                  started=self.clock())
            if self.plan.t0 is None:
                self.plan.t0 = self.runs[key].started
        run = self.runs[key]
        if run.unit == "method":
            run.done = e["index"] - 1
        run.info = [f"explaining {e['method']} ({e['index']}/{e['methods']})"]
        if self.live is None:
            self.line(f"  {run.label}: {run.info[0]}")

    def _on_explained(self, e: dict) -> None:
        self.runs.pop((e["arm"], e["seed"]), None)
        self.plan.done_runs += 1
        self.plan.measured += not self.plan.epochs
        self.line(f"✓ {label(e['arm'], e['seed'], e.get('seeds'))}: explained in {e['seconds']:.0f} s"
                  + self._overall_suffix())

    def _on_note(self, e: dict) -> None:  # one line about the whole run (e.g. a precision that fell back)
        self.line(e["text"])

    # ---------------------------------------------------------------- bookkeeping and drawing

    def _run(self, e: dict) -> _Run:
        key = (e["arm"], e["seed"])
        if key not in self.runs:  # epochs of a run that announced none (pretraining): a helper run
            self.runs[key] = _Run(label(e["arm"], e["seed"], None), e.get("epochs") or 0, started=self.clock(),
                                  aux=e.get("aux", True))
        return self.runs[key]

    def _drop_aux(self) -> None:
        for key in [k for k, r in self.runs.items() if r.aux]:
            del self.runs[key]

    def _finish(self, run: _Run | None) -> None:
        """A planned run ended: its epochs not run (an early stop, a pruned trial) are done too."""
        p = self.plan
        p.done_runs += 1
        if run is None:  # ended before it started (a trial whose values failed): its share of the plan
            p.done_epochs += p.epochs // p.runs if p.runs else 0
        elif not run.aux:
            p.done_epochs += max(0, run.total - run.done)

    def _overall_suffix(self) -> str:
        if self.live is not None or not self.plan.known:
            return ""
        return f"  [{self.plan.done_runs}/{self.plan.runs} runs] ETA {clock(self.plan.eta(self.clock()))}"

    def _rows(self, width: int) -> list[tuple[str, int, int, str, str]]:
        now, rows, p = self.clock(), [], self.plan
        if p.known:
            frac = p.done_epochs / p.epochs if p.epochs else p.done_runs / max(1, p.runs)
            right = f"{p.done_runs}/{p.runs} runs  ETA {clock(p.eta(now))}"
            info = [f"elapsed {clock(now - p.t0)}"] if p.t0 is not None else []
            rows.append((self.name or "study", frac, right, info))
        for run in list(self.runs.values()):
            right = f"{run.unit} {run.done}/{run.total}  {clock(now - run.started)}"
            rows.append((f"▸ {run.label}", run.done / run.total if run.total else 0.0, right, run.info))
        right_pad = max((len(r) for _, _, r, _ in rows), default=0)
        # labels share one column, as wide as the longest, cut (…) where the line would leave the bar < MIN_BAR
        pad = min(MAX_LABEL, max((len(n) for n, *_ in rows), default=0), max(8, width - 5 - right_pad - MIN_BAR))
        names = [n if len(n) <= pad else n[:pad - 1] + "…" for n, *_ in rows]
        # one bar width and column for all rows: the narrowest any row needs
        bar = min((fit_line(n.ljust(pad), r.ljust(right_pad), i, width)[1] for n, (_, _, r, i) in zip(names, rows)),
                  default=MIN_BAR)
        out = []
        for name, (_, frac, right, info) in zip(names, rows):
            name, bar_w, text = fit_line(name.ljust(pad), right.ljust(right_pad), info, width, bar)
            out.append((name, int(round(bar_w * min(1.0, max(0.0, frac)))), bar_w, right.ljust(right_pad), text))
        return out


class _View:
    """The live area, redrawn by rich a few times a second at the console's current width."""

    def __init__(self, progress: Progress):
        self.progress = progress

    def __rich_console__(self, console, options):
        from rich.text import Text

        for name, filled, bar, right, info in self.progress._rows(options.max_width):
            yield Text.assemble((name, "bold"), "  ", ("━" * filled, "magenta"), ("━" * (bar - filled), "grey37"),
                                "  ", (right, "cyan"), *(("  ", (info, "dim")) if info else ()), no_wrap=True,
                                overflow="crop")


def interactive() -> bool:
    """Whether a person watches this process's output: a terminal, or a Jupyter notebook (ipykernel)."""
    return _isatty(sys.stdout) or "ipykernel" in sys.modules


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or file-like stream without a terminal
        return False
