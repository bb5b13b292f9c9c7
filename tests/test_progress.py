"""The progress view a person plans by (issue 24 C): the study's count and ETA, a line per finished run with its
headline, seeds named as on disk, readable at 80 columns; plain lines when not on a terminal."""
from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from deepstudy.progress import MIN_BAR, Progress, clock


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _events(ticks: Clock, progress: Progress, stop_after_runs: int | None = None) -> None:
    """A study of 2 arms x 5 seeds, 6 epochs a run, 2 s an epoch; the first run stops early after 4 epochs."""
    progress.event({"kind": "study_start", "name": "mlp-vs-cnn", "arms": ["mlp", "cnn"], "seeds": 5, "trials": 0,
                    "runs": 10, "epochs": 60, "done_runs": 0, "done_epochs": 0})
    finished = 0
    for arm in ("mlp", "cnn"):
        for seed in range(5):
            if stop_after_runs is not None and finished == stop_after_runs:
                return
            progress.event({"kind": "start", "arm": arm, "seed": seed, "seeds": 5, "epochs": 6})
            epochs = 4 if finished == 0 else 6
            for epoch in range(epochs):
                ticks.now += 2.0
                progress.event({"kind": "epoch", "arm": arm, "seed": seed, "epochs": 6, "epoch": epoch,
                                "train_loss": 0.5, "val_loss": 0.4, "val_acc": 0.9, "seconds": 2.0})
            progress.event({"kind": "run_end", "arm": arm, "seed": seed, "seeds": 5, "status": "ok",
                            "metric": "accuracy", "value": 0.918, "percent": True, "epochs": epochs,
                            "seconds": 2.0 * epochs})
            finished += 1


def test_the_live_view_at_80_columns_shows_the_count_an_eta_and_a_readable_bar():
    out, ticks = io.StringIO(), Clock()
    console = Console(file=out, width=80, force_terminal=True, color_system=None)
    with Progress(console=console, clock=ticks) as progress:
        progress.event({"kind": "study_start", "name": "mlp-vs-cnn", "arms": ["mlp", "cnn"], "seeds": 5,
                        "trials": 0, "runs": 10, "epochs": 60})
        before = progress.lines(80)
        _events(ticks, progress, stop_after_runs=3)
        progress.event({"kind": "start", "arm": "mlp", "seed": 3, "seeds": 5, "epochs": 6})
        ticks.now += 2.0
        progress.event({"kind": "epoch", "arm": "mlp", "seed": 3, "epochs": 6, "epoch": 0, "train_loss": 0.51234,
                        "val_loss": 0.4, "val_acc": 0.9, "seconds": 2.0})
        view = progress.lines(80)
        console.print(progress.live.renderable)  # what the terminal draws, at the console's 80 columns
    assert "ETA …" in before[0]  # nothing measured yet: unknown, not a guess
    # 3 runs done (the first stopped early: its 2 epochs not run count as done), 1 epoch of the 4th: 19 of 60
    # epochs done, 17 run in 34 s -> 41 left x 2 s
    assert "3/10 runs" in view[0] and "ETA 1:22" in view[0]
    assert "▸ mlp seed-3 (4/5)" in view[1] and "epoch 1/6" in view[1]
    for line in view:
        assert len(line) < 80
        bar = re.search(r"[━─]+", line).group()
        assert len(bar) >= MIN_BAR  # never one glyph
        assert re.search(r"\d+:\d\d", line)  # the time whole, never "0:…"
    text = out.getvalue()
    assert "3/10 runs" in text and "ETA 1:22" in text
    assert "✓ mlp seed-0 (1/5): test accuracy 91.8 %, 4 epochs, 8.0 s" in text


def test_metrics_are_dropped_before_the_bar_shrinks():
    ticks = Clock()
    with Progress(stream=io.StringIO(), clock=ticks) as progress:
        progress.event({"kind": "start", "arm": "a-rather-long-arm-name", "seed": 0, "seeds": 3, "epochs": 10})
        progress.event({"kind": "epoch", "arm": "a-rather-long-arm-name", "seed": 0, "epochs": 10, "epoch": 4,
                        "train_loss": 0.2, "val_loss": 0.3, "val_acc": 0.93, "seconds": 1.5})
        wide, narrow = progress.lines(160)[0], progress.lines(60)[0]
    assert "val_acc 0.9300" in wide and "1.5 s/epoch" in wide
    assert "val_acc" not in narrow and "epoch 5/10" in narrow and len(narrow) < 60
    assert len(re.search(r"[━─]+", narrow).group()) >= MIN_BAR


def test_plain_mode_prints_a_line_per_run_with_its_headline_and_the_overall_count():
    out, ticks = io.StringIO(), Clock()
    with Progress(stream=out, clock=ticks) as progress:
        _events(ticks, progress)
    text = out.getvalue()
    assert "✓ mlp seed-0 (1/5): test accuracy 91.8 %, 4 epochs, 8.0 s  [1/10 runs] ETA 1:48" in text  # 54 x 2 s
    assert "✓ cnn seed-4 (5/5): test accuracy 91.8 %, 6 epochs, 12 s  [10/10 runs] ETA 0:00" in text
    assert "▸ cnn seed-2 (3/5)" in text and "seed 3/5" not in text  # seeds named as on disk
    epoch_lines = [ln for ln in text.splitlines() if ln.startswith("  cnn seed-2 (3/5)  epoch")]
    assert 1 <= len(epoch_lines) <= 10
    assert "\x1b[" not in text  # no terminal codes in a log


def test_a_resumed_study_counts_what_it_already_has():
    out, ticks = io.StringIO(), Clock()
    with Progress(stream=out, clock=ticks) as progress:
        progress.event({"kind": "study_start", "name": "s", "runs": 4, "epochs": 40, "done_runs": 2,
                        "done_epochs": 20})
        progress.event({"kind": "start", "arm": "b", "seed": 0, "seeds": 2, "epochs": 10})
        progress.event({"kind": "resumed", "arm": "b", "seed": 0, "epoch": 5})
        for epoch in range(5, 10):
            ticks.now += 3.0
            progress.event({"kind": "epoch", "arm": "b", "seed": 0, "epochs": 10, "epoch": epoch, "seconds": 3.0})
        progress.event({"kind": "run_end", "arm": "b", "seed": 0, "seeds": 2, "status": "ok", "metric": "r2",
                        "label": "R²", "value": 0.8123, "percent": False, "epochs": 10, "seconds": 30.0})
    text = out.getvalue()
    assert "2 of 4 runs were finished before" in text and "b seed-0 (1/2): resumed from its checkpoint at epoch 6" in text
    assert "✓ b seed-0 (1/2): test R² 0.8123, 10 epochs, 30 s  [3/4 runs] ETA 0:30" in text  # 10 epochs x 3 s


def test_explanations_show_per_method_and_per_seed():
    out, ticks = io.StringIO(), Clock()
    with Progress(stream=out, clock=ticks) as progress:
        progress.event({"kind": "study_start", "name": "s", "runs": 2, "epochs": 0})
        for seed in range(2):
            for k, method in enumerate(("gradcam", "saliency"), 1):
                progress.event({"kind": "explain", "arm": "cnn", "seed": seed, "seeds": 2, "method": method,
                                "index": k, "methods": 2})
                ticks.now += 5
            progress.event({"kind": "explained", "arm": "cnn", "seed": seed, "seeds": 2, "seconds": 10.0})
    text = out.getvalue()
    assert "cnn seed-1 (2/2): explaining saliency (2/2)" in text
    assert "✓ cnn seed-0 (1/2): explained in 10 s  [1/2 runs] ETA 0:10" in text


@pytest.mark.parametrize("seconds, shown", [(None, "…"), (0, "0:00"), (75.4, "1:15"), (3725, "1:02:05")])
def test_clock(seconds, shown):
    assert clock(seconds) == shown


# ------------------------------------------------------------------ the events of a real (tiny) study


def test_a_study_announces_its_plan_and_each_run_and_explanation(tmp_path, capsys, monkeypatch):
    from conftest import tiny_study

    from deepstudy import config, progress, study

    cfg = config.load(tiny_study(tmp_path, seeds=1, arms={"only": {}}, analyses=["saliency"],
                                 **{"train.epochs": 2, "explain.examples": 4, "explain.sanity_examples": 2}))
    events: list[dict] = []
    run = study.run(cfg, out_root=tmp_path / "quiet", on_event=events.append)  # not a terminal: silent
    assert capsys.readouterr().out == ""
    kinds = [e["kind"] for e in events]
    assert kinds.index("study_start") < kinds.index("start") < kinds.index("explain") < kinds.index("run_end")
    plan = events[kinds.index("study_start")]
    assert (plan["runs"], plan["epochs"], plan["done_runs"], plan["arms"]) == (1, 2, 0, ["only"])
    end = events[kinds.index("run_end")]
    result = (run / "arms" / "only" / "seed-0" / "result.json").read_text()
    assert end["metric"] == end["label"] == "accuracy" and end["percent"] and f'"accuracy": {end["value"]}' in result
    assert events[kinds.index("explain")]["method"] == "saliency"

    monkeypatch.setattr(progress, "interactive", lambda: True)  # as on a terminal or in a notebook
    study.run(cfg, out_root=tmp_path / "shown")
    out = capsys.readouterr().out
    assert "▸ only seed-0 (1/1)" in out and "only seed-0 (1/1): explaining saliency (1/1)" in out
    assert "✓ only seed-0 (1/1): test accuracy" in out and "[1/1 runs] ETA 0:00" in out


def test_deepstudy_explain_shows_each_seed_and_method(cli, tmp_path):
    from conftest import tiny_study

    r = cli("run", str(tiny_study(tmp_path, seeds=2, arms={"only": {}}, **{"train.epochs": 1})), "--out",
            str(tmp_path / "runs"))
    run = next((tmp_path / "runs" / "tiny").iterdir())
    r = cli("explain", str(run), "--method", "saliency", "--method", "occlusion", "--n", "4")
    assert r.code == 0, r.err
    assert "only seed-1 (2/2): explaining occlusion (2/2)" in r.out
    assert "✓ only seed-0 (1/2): explained in" in r.out and "[2/2 runs] ETA 0:00" in r.out
    assert r.out.splitlines()[-1] == f"report: {run / 'report.html'}"
