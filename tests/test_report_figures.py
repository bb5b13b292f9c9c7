"""What the report's figures SHOW, for a tiny study of every task kind: every drawn axes has data, a metric sits on its
own scale (x100 "%" only for a fraction), learning curves keep one curve per model and stay within the epochs run,
loss axes name their loss, titles do not run into each other; and each report opened in headless Chromium."""
from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import Collection

from conftest import SHARED_DATA, make_idx_folder, tiny_study
from deepstudy.fileio import read_json
from deepstudy.report import formats, plots
from test_report_browser import ARTIFACTS, CHROMIUM, open_in_chromium

CNN = {"name": "cnn", "channels": [4, 8]}
NAB_FILES = ["realKnownCause/nyc_taxi.csv", "realKnownCause/ambient_temperature_system_failure.csv"]


def _lm_study(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    corpus = folder / "corpus.txt"
    corpus.write_text("".join(rng.choice(["the ", "cat ", "sat ", "on ", "a ", "mat. "]) for _ in range(3000)))
    study = {"name": "tiny", "task": "language-model",
             "data": {"name": "words", "format": "text-corpus", "path": str(corpus)},
             "model": {"name": "char-rnn", "embed_dim": 8, "hidden": 16, "layers": 1, "dropout": 0.0},
             "train": {"epochs": 2, "batch_size": 16, "optimizer": {"name": "adamw", "lr": 0.01}},
             "lm": {"seq_len": 16, "steps_per_epoch": 5, "sample_length": 20, "ngram_orders": [1, 2]},
             "arms": {"gru": {"model.cell": "gru"}}, "seeds": 2, "analyses": ["curves"]}
    (folder / "lm.yaml").write_text(yaml.safe_dump(study))
    return folder / "lm.yaml"


def _gan_study(folder: Path) -> Path:
    images = make_idx_folder(folder / "mnistlike", n_train=120, n_test=40, size=28)
    return tiny_study(folder, task="generate", data={"name": "blobs", "format": "idx", "path": str(images)},
                      model={"name": "dcgan", "latent": 8, "width": 4}, arms={"bn": {}}, seeds=1, analyses=["curves"],
                      train={"epochs": 2, "batch_size": 64,
                             "optimizer": {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]}})


# kind -> (study file maker, the folder of the shared data it needs or None). classify carries the explanation analyses.
STUDIES = {
    "classify": (lambda d: tiny_study(d, model=CNN, arms={"cnn": {}, "mlp": {"model": {"name": "mlp", "hidden": [32]}}},
                                      analyses=["curves", "confusion", "samples", "gradcam", "saliency"],
                                      explain={"examples": 4, "sanity_examples": 2}, **{"train.epochs": 2}), None),
    "reconstruct-nab": (lambda d: tiny_study(d, task="reconstruct", data={"name": "nab", "series": NAB_FILES},
                                             model={"name": "dense-ae", "hidden": [8, 4]}, arms={"dense": {}},
                                             analyses=["curves"], anomaly={"window": 24}, **{"train.epochs": 2}), "nab"),
    "reconstruct-images": (lambda d: tiny_study(d, task="reconstruct", model={"name": "dense-ae", "hidden": [16, 4]},
                                                arms={"dense": {}}, analyses=["curves"],
                                                anomaly={"normal_classes": ["0", "1", "2", "3", "4"]},
                                                **{"train.epochs": 2}), None),
    "forecast": (lambda d: tiny_study(d, task="forecast", data={"name": "air-quality", "lookback": 12, "stride": 8},
                                      model={"name": "rnn", "cell": "gru", "hidden": 8}, arms={"gru": {}},
                                      analyses=["curves"], **{"train.epochs": 2}), "air-quality"),
    "som": (lambda d: tiny_study(d, task="som", data={"name": "credit-card-applications"},
                                 model={"name": "som", "rows": 4, "cols": 4}, arms={"batch": {}}, analyses=["curves"],
                                 **{"train.epochs": 3}), None),
    "scratch": (lambda d: tiny_study(d, task="scratch", arms={"mlp": {}}, **{"train.epochs": 2}), None),
    "classical": (lambda d: tiny_study(d, task="classical", data={"name": "moons"}, model={"name": "logistic-regression"},
                                       arms={"lr": {}}, seeds=1, analyses=["curves", "roc", "generalization",
                                                                           "boundary"]), None),
    "language-model": (_lm_study, None),
    "generate": (_gan_study, None),
}
SLOW = {"generate", "forecast"}  # the judge network and 2,000 samples per epoch; reading air quality: ~10-20 s each
KINDS = [pytest.param(k, marks=pytest.mark.slow) if k in SLOW else k for k in STUDIES]


class Run:
    """A finished tiny run: its folder, results.json and the matplotlib figures its report drew (by file name)."""

    def __init__(self, folder: Path, figures: dict):
        self.folder, self.figures = folder, figures
        self.results = read_json(folder / "results.json")
        self.html = (folder / "report.html").read_text()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """kind -> Run, each study run once for the whole module (on first use), its report's figures recorded."""
    from deepstudy.cli import main

    done: dict[str, Run] = {}

    def get(kind: str) -> Run:
        if kind not in done:
            make, shared = STUDIES[kind]
            if shared and not (SHARED_DATA / shared).is_dir():
                pytest.skip(f"shared data not found at {SHARED_DATA} (set DEEPSTUDY_DATA)")
            folder = tmp_path_factory.mktemp(kind)
            figures: dict = {}
            plots.RECORDERS.append(lambda fig, path: figures.__setitem__(path.name, fig))
            try:
                out, err = io.StringIO(), io.StringIO()
                with redirect_stdout(out), redirect_stderr(err):
                    code = main(["run", str(make(folder)), "--out", str(folder / "runs")])
            finally:
                plots.RECORDERS.pop()
            assert code == 0, err.getvalue()[-2000:]
            report = Path(out.getvalue().strip().splitlines()[-1].removeprefix("report: "))
            done[kind] = Run(report.parent, figures)
        return done[kind]
    return get


def _has_data(ax) -> bool:
    lines = any(len(line.get_xdata()) and np.isfinite(np.asarray(line.get_ydata(), dtype=float)).any()
                for line in ax.get_lines())
    collections = any(isinstance(c, Collection) and (len(c.get_paths()) or len(c.get_offsets()))
                      for c in ax.collections)
    return lines or collections or bool(ax.images) or bool(ax.patches)


def _drawn_axes(fig):
    """The axes a reader sees as a panel: visible, with its frame (a switched-off cell of a grid is a blank)."""
    return [ax for ax in fig.axes if ax.get_visible() and ax.axison]


def _overlaps(a, b) -> bool:
    return a.width > 0 and b.width > 0 and a.x0 < b.x1 - 1 and b.x0 < a.x1 - 1 and a.y0 < b.y1 - 1 and b.y0 < a.y1 - 1


def _title_clashes(fig) -> list[str]:
    """Titles that run into another panel's title, axis label or tick labels (rendered extents, in pixels)."""
    canvas = FigureCanvasAgg(fig)  # the report closed the figure: a fresh canvas renders it again
    canvas.draw()
    renderer = canvas.get_renderer()
    titles, others = [], []
    for k, ax in enumerate(_drawn_axes(fig)):
        for t in (ax.title, ax._left_title, ax._right_title):
            if t.get_text():
                titles.append((k, t.get_text(), t.get_window_extent(renderer)))
        for t in [ax.xaxis.label, ax.yaxis.label, *ax.get_xticklabels(), *ax.get_yticklabels()]:
            if t.get_visible() and t.get_text():
                others.append((k, t.get_text(), t.get_window_extent(renderer)))
    clashes = [f"{a!r} / {b!r}" for i, (k, a, box) in enumerate(titles) for m, b, other in titles[i + 1:]
               if _overlaps(box, other)]
    return clashes + [f"{a!r} / {b!r}" for k, a, box in titles for m, b, other in others
                      if m != k and _overlaps(box, other)]


@pytest.mark.parametrize("kind", KINDS)
def test_every_figure_draws_data_without_clashing_titles(runs, kind):
    run = runs(kind)
    assert "scores.png" in run.figures and run.figures.keys() <= {p.name for p in (run.folder / "figures").iterdir()}
    for name, fig in run.figures.items():
        drawn = _drawn_axes(fig)
        assert drawn or name.startswith(("samples", "explain", "components")), f"{kind} {name}: nothing drawn"
        empty = [ax.get_title() or ax.get_ylabel() for ax in drawn if not _has_data(ax)]
        assert not empty, f"{kind} {name}: panels without data: {empty}"
        assert not _title_clashes(fig), f"{kind} {name}: {_title_clashes(fig)}"
        for ax in drawn:  # a loss axis says which loss
            if "loss" in ax.get_title():
                assert ax.get_ylabel().strip() not in ("", "loss"), f"{kind} {name}: {ax.get_title()} has no quantity"


@pytest.mark.parametrize("kind", KINDS)
def test_scores_sit_on_their_own_scale(runs, kind):
    run = runs(kind)
    metric = run.results["metric"]
    ax = run.figures["scores.png"].axes[0]
    low, high = ax.get_ylim()
    for arm, info in run.results["arms"].items():
        for s in info["seeds"]:
            v = s["test"][metric] * formats.scale(metric)
            assert low <= v <= high, f"{kind}: {arm}'s {metric} {v} drawn outside {low}..{high}"
    assert ("(%)" in ax.get_ylabel()) == (metric in formats.FRACTIONS), ax.get_ylabel()
    for arm, info in run.results["arms"].items():  # what the table calls a fraction is one, in results.json
        for m, d in info["summary"].items():
            if m in formats.FRACTIONS and isinstance(d, dict) and d.get("n"):
                assert 0 <= d["mean"] <= 1, f"{kind}: {m} = {d['mean']} is not a fraction"
        if metric not in formats.FRACTIONS and info["summary"][metric].get("n"):
            assert formats.scale(metric) == 1.0


@pytest.mark.parametrize("kind", KINDS)
def test_learning_curves_keep_one_curve_per_model_within_the_epochs_run(runs, kind):
    run = runs(kind)
    if "curves.png" not in run.figures:
        assert "curves" not in run.results.get("analyses", []) or kind == "classical", kind
        return
    fig = run.figures["curves.png"]
    epochs = max(s["epochs_run"] for info in run.results["arms"].values() for s in info["seeds"])
    for ax in _drawn_axes(fig):
        for line in ax.get_lines():
            x = np.asarray(line.get_xdata(), dtype=float)
            assert len(x) == 0 or x.max() <= epochs, f"{kind}: {ax.get_title()} runs to epoch {x.max()} of {epochs}"
        assert "accuracy" not in ax.get_title() or _has_data(ax)
    rows = {a: [json.loads(line) for line in (run.folder / "arms" / a / f"seed-{s['seed']}" / "metrics.jsonl")
                .read_text().splitlines()] for a, i in run.results["arms"].items() for s in i["seeds"][:1]}
    files = {r["file"] for seed in rows.values() for r in seed if r.get("file")}
    grid = fig.axes[0].get_subplotspec().get_gridspec().get_geometry()
    assert grid[0] == max(len(files), 1), f"{kind}: {grid[0]} rows of panels for {len(files)} series files"
    for f in files:
        assert any(Path(f).stem[:20] in ax.get_title() for ax in fig.axes), f"{kind}: no panel for {f}"
    has_acc = any(r.get("val_acc") is not None for seed in rows.values() for r in seed)
    assert any("accuracy" in ax.get_title() for ax in fig.axes) == has_acc, kind


def test_nab_report_draws_its_score_as_points_and_no_class_chart(runs):
    run = runs("reconstruct-nab")
    ax = run.figures["scores.png"].axes[0]
    assert ax.get_ylabel() == "test NAB standard score" and ax.get_ylim()[1] < 150  # points, not x100
    assert "balance.png" not in run.figures and "macro F1" not in run.html
    caption = re.search(r"<figcaption>(Learning curves[^<]*)</figcaption>", run.html).group(1)
    assert "series file" in caption and "accuracy" not in caption and "reconstruction MSE" in caption


def test_classify_figures_readable(runs):
    run = runs("classify")
    classes = run.results["dataset"]["classes"]
    fig = run.figures["confusion.png"]
    cells = [t for t in fig.axes[0].texts]
    assert cells and min(t.get_fontsize() for t in cells) >= 10  # 10 classes: big enough to read
    assert fig.get_size_inches()[1] >= 0.6 * len(classes)
    assert plots.confusion_fonts(40)[0] > plots.confusion_fonts(10)[0] > plots.confusion_fonts(3)[0]
    caption = re.search(r"<figcaption>(Learning curves[^<]*)</figcaption>", run.html).group(1)
    assert "cross-entropy loss" in caption and "series file" not in caption
    for arm, info in run.results["arms"].items():  # whole layer names under the randomization panels
        layers = next(iter(info["explain"]["methods"].values()))["cascade_layers"]
        ticks = [[t.get_text() for t in ax.get_xticklabels()] for ax in run.figures["sanity.png"].axes]
        assert layers in ticks, (layers, ticks)
    for name in ("explain-cnn.png", "explain-mlp.png"):  # 8x8 digits: maps beside them, perceptual colours
        fig = run.figures[name]
        for ax in fig.axes:
            assert len(ax.images) <= 1 and all(im.get_cmap().name != "jet" for im in ax.images), name
    epochs = {s["epochs_run"] for s in run.results["arms"]["cnn"]["seeds"]}
    n = epochs.pop()  # every seed ran the same epochs: "2", never "2.0 ± 0.0" (a fast seed's 0.0 ± 0.0 s is fine)
    assert not epochs and f"<td>{n}</td>" in run.html and f"<td>{n}.0 ± 0.0</td>" not in run.html


def test_integer_stat_is_written_as_an_integer_when_seeds_agree():
    assert formats.count({"mean": 6.0, "std": 0.0, "n": 3}, 3) == "6"
    assert formats.count({"mean": 6.0, "std": 0.0, "n": 2}, 3) == "6 (n=2)"
    assert formats.count({"mean": 5.666, "std": 0.577, "n": 3}, 3) == "5.7 ± 0.6"
    assert formats.count(None) == "—"


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (tests/setup_browser.py installs it as root)")
@pytest.mark.parametrize("kind", KINDS)
def test_report_of_every_task_renders_in_chromium(runs, kind, tmp_path):
    shot = ARTIFACTS / f"report-{kind}.png"
    probe = open_in_chromium(runs(kind).folder / "report.html", tmp_path, shot)
    assert probe["images"] >= 2 and probe["broken"] == [] and probe["errors"] == [], probe
    assert shot.is_file() and shot.stat().st_size > 20_000
