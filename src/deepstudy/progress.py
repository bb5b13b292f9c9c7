"""Progress of a study: a rich progress bar on a terminal, plain lines otherwise (CI, pipes, logs)."""
from __future__ import annotations

import sys


class Progress:
    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.rich = None
        self.task = None

    def __enter__(self) -> Progress:
        if self.stream.isatty():
            from rich.progress import BarColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

            self.rich = RichProgress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                                     TimeElapsedColumn(), transient=False)
            self.rich.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.rich is not None:
            self.rich.stop()

    def line(self, text: str) -> None:
        if self.rich is not None:
            self.rich.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)

    def event(self, e: dict) -> None:
        if e["kind"] == "trial_end":
            self.line(_trial_line(e))
            return
        if e["kind"] == "note":  # one line about the whole run (e.g. a precision that fell back)
            self.line(e["text"])
            return
        label = f"{e['arm']}  seed {e['seed'] + 1}"
        if e["kind"] == "start":
            of = f"/{e['seeds']}" if e.get("seeds") else ""
            if self.rich is not None:
                self.task = self.rich.add_task(f"▸ {label}{of}", total=e["epochs"], info="")
            else:
                self.line(f"▸ {label}{of}")
        elif e["kind"] == "resumed":
            self.line(f"  {label}: resumed from its checkpoint at epoch {e['epoch'] + 1}")
            if self.rich is not None and self.task is not None:
                self.rich.update(self.task, completed=e["epoch"])
        elif e["kind"] == "checkpoint_fallback":
            self.line(f"  {label}: the checkpoint of epoch {e['damaged'] + 1} failed its sha256 check ({e['reason']}); "
                      f"going back to epoch {e['epoch'] + 1}'s and training again from there")
        elif e["kind"] == "epoch":
            shown = [f"{name} {e[key]:.4f}" for key, name in (("train_loss", "loss"), ("val_loss", "val_loss"),
                                                               ("val_acc", "val_acc")) if e.get(key) is not None]
            info = "  ".join([*shown, f"{e['seconds']:.1f} s/epoch"])
            if self.rich is not None and self.task is not None:
                self.rich.update(self.task, completed=e["epoch"] + 1, info=info)
            elif (e["epoch"] + 1) % max(1, e["epochs"] // 10) == 0 or e["epoch"] + 1 == e["epochs"]:
                self.line(f"  {label}  epoch {e['epoch'] + 1}/{e['epochs']}  {info}")  # at most ~10 lines a run


def _trial_line(e: dict) -> str:
    """One line per finished trial of a search: how it ended, its score, its values."""
    values = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in e["params"].items())
    how = {"complete": f"{e['metric']} {e['value']:.4f}" if e["value"] is not None else "complete",
           "pruned": f"pruned after {e['epochs']} epoch(s)", "fail": f"failed: {e['message']}"}[e["state"]]
    search = f"{e['search']} " if e.get("search") else ""
    return f"◆ {search}trial {e['number']} [{e['number'] + 1}/{e['budget']}]  {how}  ({values})"
