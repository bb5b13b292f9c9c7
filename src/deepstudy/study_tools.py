"""Beside the orchestrator (deepstudy.study, which re-exports both): explanations added to a finished run
(``deepstudy explain``) and the learning-rate range test of a study's arms before any trains (``deepstudy
lr-find``)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from deepstudy import repro, study_data, study_precision, study_results, tasks
from deepstudy.config import Study
from deepstudy.errors import UserError
from deepstudy.fileio import write_json
from deepstudy.rundir import RunDir, stamp

Event = Callable[[dict], None]


def _quiet(event: dict) -> None:
    pass


def explain_run(run_dir: str | Path, methods: list[str], examples: int | None = None, layer: str | None = None,
                on_event: Event = _quiet, progress: bool | None = None) -> Path:
    """Add explanations to a finished run: every arm and seed's best weights explain the same kind of test
    examples; config.yaml and results.json gain the methods; the report is re-rendered. ``on_event``,
    ``progress``: as for ``run`` (an "explain" event per method of each seed, "explained" per seed).

    Example:
        Grad-CAM and saliency maps for a finished image study, then its report again::

            report = study.explain_run(run_dir, ["gradcam", "saliency"], examples=8)
    """
    from deepstudy.study import _shown, check, restore_models
    from deepstudy.tasks import explaining

    run = RunDir.existing(run_dir, finished=True)
    with run.locked(), _shown(on_event, progress) as on_event:
        restore_models(run, on_event)
        study = explaining.with_methods(run, methods, examples, layer)
        if study.search is not None:
            raise UserError(f"{run.path} is a search; `deepstudy explain` adds explanations to a run of arms — put the "
                            "methods in the study's `analyses:` before the search (they explain its tuned and default "
                            "arms)")
        arms = check(study)
        datasets = study_data.load(arms)
        explaining.explain_run(run, study, arms, datasets, repro.resolve_device(study.train.device), on_event)
        write_json(run.results, study_results.aggregate(study, arms, run))
    from deepstudy import report

    return report.write(run.path)


def lr_find(study: Study, out: str | Path | None = None, on_event: Event = _quiet) -> Path:
    """The learning-rate range test (Smith, 2017) of every arm, without training them: each arm's sweep from seed
    0's initial weights (``lr_range:`` of the study) into ``out`` (default runs/<study>/lr-find-<timestamp>/):
    lr-find.json (per arm: the curve, the suggested rates, where it stopped) and lr-find.png; returns ``out``.
    ``on_event``: a note event as each arm starts.

    Example:
        The range test of two arms of a built-in study, then the suggested rates::

            from deepstudy import config, study
            from deepstudy.fileio import read_json

            folder = study.lr_find(config.load("mlp-vs-cnn", arms=["mlp", "cnn-plain"]))
            {arm: f["suggestion"] for arm, f in read_json(folder / "lr-find.json")["arms"].items()}
    """
    from deepstudy.report import lr_range
    from deepstudy.study import check

    arms = check(study)
    for arm, cfg in arms.items():  # before the data is read
        if not tasks.get(cfg.task).sweeps_lr:
            raise UserError(f"arm '{arm}' is task: {cfg.task}, which has no learning-rate range test")
    datasets = study_data.load(arms)
    folder = Path(out) if out is not None else Path("runs") / study.name / f"lr-find-{stamp()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create output folder '{folder}' ({e.strerror or e}); choose another with --out DIR") \
            from None
    device = repro.resolve_device(study.train.device)
    repro.set_deterministic(device)
    arms = study_precision.resolve(arms, datasets, None, device, on_event)
    found = {}
    for arm, cfg in arms.items():
        r = cfg.lr_range
        on_event({"kind": "note", "text": f"arm {arm}: {r.steps} steps, learning rate {r.start:g} to {r.end:g}"})
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        found[arm] = tasks.get(cfg.task).lr_range(cfg, datasets[arm], device)
    write_json(folder / "lr-find.json", {"study": study.name, "device": str(device), "caption": lr_range.caption(found),
                                         "arms": found})
    lr_range.figure(found, folder / "lr-find.png")
    return folder
