"""`deepstudy run --track tensorboard|mlflow`: the trackers' logs, read back with their own readers, hold what the run
directory holds (every epoch of metrics.jsonl, the arm's config, the test scores, the report and best weights)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import tiny_study
from deepstudy.fileio import read_json


def _run_dir(out: str) -> Path:
    return Path(out.strip().splitlines()[-1].removeprefix("report: ")).parent


def _epochs(run: Path, arm: str, seed: int) -> list[dict]:
    return [json.loads(line) for line in (run / "arms" / arm / f"seed-{seed}" / "metrics.jsonl").read_text().splitlines()]


def test_tensorboard_holds_every_epoch_the_hparams_and_the_figures(cli, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    study = tiny_study(tmp_path, seeds=2, analyses=["curves"])
    r = cli("run", str(study), "--out", str(tmp_path / "runs"), "--track", "tensorboard")
    assert r.code == 0, r.err
    run = _run_dir(r.out)
    for arm in ("small", "wide"):
        for seed in (0, 1):
            rows = _epochs(run, arm, seed)
            acc = EventAccumulator(str(run / "tensorboard" / arm / f"seed-{seed}")).Reload()
            for tag in ("train_loss", "val_loss", "val_acc"):
                events = acc.Scalars(tag)
                assert [e.step for e in events] == [row["epoch"] for row in rows]
                assert [e.value for e in events] == pytest.approx([row[tag] for row in rows], rel=1e-6)
            test = read_json(run / "arms" / arm / f"seed-{seed}" / "result.json")["test"]
            assert acc.Scalars("test/accuracy")[0].value == pytest.approx(test["accuracy"], rel=1e-6)
            assert "_hparams_/session_start_info" in acc.summary_metadata  # the HPARAMS plugin's record
            start = acc.summary_metadata["_hparams_/session_start_info"].plugin_data.content
            assert f"{[64] if arm == 'wide' else [32]}".encode() in start  # model.hidden of this arm
    figures = EventAccumulator(str(run / "tensorboard" / "report"), size_guidance={"images": 0}).Reload()
    pngs = sorted(p.stem for p in (run / "figures").glob("*.png"))
    assert pngs and sorted(figures.Tags()["images"]) == pngs


@pytest.mark.slow  # MLflow's import and its sqlite store's first migration take ~15 s
def test_mlflow_runs_per_arm_and_seed_and_a_resume_logs_to_the_same_runs(cli, tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    study = tiny_study(tmp_path, seeds=2, arms={"small": {}}, **{"train.epochs": 2})
    r = cli("run", str(study), "--out", str(tmp_path / "runs"), "--track", "mlflow")
    assert r.code == 0, r.err
    run = _run_dir(r.out)
    ids = read_json(run / "mlflow.json")
    assert ids["tracking_uri"] == f"sqlite:///{(run / 'mlflow.db').resolve()}"
    client = MlflowClient(tracking_uri=ids["tracking_uri"])
    assert client.get_experiment(ids["experiment_id"]).name == "tiny"
    parent = client.get_run(ids["study_run"])
    assert parent.info.status == "FINISHED" and [a.path for a in client.list_artifacts(ids["study_run"])] == ["report.html"]
    for seed in (0, 1):
        child = client.get_run(ids["runs"][f"small/seed-{seed}"])
        tags = child.data.tags
        assert (tags["arm"], tags["seed"], tags["study"], tags["mlflow.parentRunId"]) == ("small", str(seed), "tiny",
                                                                                           ids["study_run"])
        assert child.data.params["model.hidden"] == "[32]" and child.data.params["train.epochs"] == "2"
        rows = _epochs(run, "small", seed)
        history = client.get_metric_history(child.info.run_id, "val_loss")
        assert [(m.step, m.value) for m in history] == [(row["epoch"], pytest.approx(row["val_loss"])) for row in rows]
        test = read_json(run / "arms" / "small" / f"seed-{seed}" / "result.json")["test"]
        assert child.data.metrics["test/accuracy"] == pytest.approx(test["accuracy"])
        assert "best.safetensors" in [a.path for a in client.list_artifacts(child.info.run_id)]

    # resume (a seed's result removed, as if killed after its last epoch): the same runs, no new ones
    (run / "arms" / "small" / "seed-1" / "result.json").unlink()
    r = cli("run", "--resume", str(run), "--track", "mlflow")
    assert r.code == 0, r.err
    assert read_json(run / "mlflow.json") == ids
    assert len(client.search_runs([ids["experiment_id"]])) == 3  # the study's run and one per seed


def test_tracker_flags_are_checked_before_a_run_starts(cli, tmp_path):
    study = tiny_study(tmp_path, seeds=1)
    r = cli("run", str(study), "--out", str(tmp_path / "runs"), "--track-uri", "sqlite:///x.db")
    assert r.code == 2 and "add --track mlflow" in r.err and not (tmp_path / "runs").exists()
    r = cli("run", str(study), "--out", str(tmp_path / "runs"), "--track", "wandb")
    assert r.code == 2 and "invalid choice: 'wandb'" in r.err


@pytest.mark.slow  # MLflow's import: ~10 s
def test_a_bad_tracking_uri_is_one_line_and_leaves_no_run_directory(cli, tmp_path):
    pytest.importorskip("mlflow")
    from deepstudy.rundir import RunDir

    study = tiny_study(tmp_path, seeds=1, arms={"small": {}}, **{"train.epochs": 1})
    r = cli("run", str(study), "--out", str(tmp_path / "runs"), "--track", "mlflow", "--track-uri", "bogus://nowhere")
    assert r.code == 2 and "cannot use tracking URI 'bogus://nowhere'" in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()

    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = _run_dir(r.out)
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    r = cli("run", "--resume", str(run), "--track", "mlflow", "--track-uri", "bogus://nowhere")
    assert r.code == 2 and "cannot use tracking URI" in r.err and len(r.err.strip().splitlines()) == 1, r.err
    with RunDir(run).locked():  # another process resuming it: the tracker writes nothing before the lock is had
        r = cli("run", "--resume", str(run), "--track", "mlflow")
    assert r.code == 2 and "is in use by process" in r.err, r.err
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before  # no mlflow.json, no mlflow.db


def test_helper_runs_of_a_study_are_not_tracked(cli, tmp_path):
    """A distillation teacher ("teacher of t2") trains inside the study but is no arm of it: no tracker run."""
    pytest.importorskip("tensorboard")
    study = tiny_study(tmp_path, seeds=1, arms={"alone": {}, "t2": {"distill.teacher": {"name": "mlp", "hidden": [16]}}},
                       distill={"teacher_epochs": 1}, **{"train.epochs": 1})
    r = cli("run", str(study), "--out", str(tmp_path / "runs"), "--track", "tensorboard")
    assert r.code == 0, r.err
    run = _run_dir(r.out)
    assert (run / "teachers").is_dir()  # the teacher did train
    assert sorted(p.name for p in (run / "tensorboard").iterdir() if p.name != "report") == ["alone", "t2"]


def test_a_missing_tracker_package_is_one_line_with_the_pip_command(monkeypatch):
    import builtins

    from deepstudy import tracking
    from deepstudy.errors import UserError

    real = builtins.__import__

    def no_mlflow(name, *args, **kwargs):
        if name == "mlflow" or name.startswith("mlflow."):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlflow)
    monkeypatch.setattr(tracking.importlib, "import_module", lambda name: no_mlflow(name))
    with pytest.raises(UserError, match=r"--track mlflow needs the mlflow package: pip install 'deepstudy\[mlflow\]'"):
        tracking.open(["mlflow"])
