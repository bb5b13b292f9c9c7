"""Curve diagnostics (deepstudy.report.diagnostics): each rule on synthetic metrics.jsonl rows, then real tiny
studies whose reports name an overfitting run and a diverging one."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import tiny_study

from deepstudy.report.diagnostics import diagnose


def _rows(train: list[float | None], val: list[float | None] | None = None, acc: list[float] | None = None,
          lr: float = 0.01) -> list[dict]:
    val = val or [None] * len(train)
    acc = acc or [None] * len(train)
    return [{"epoch": e, "train_loss": t, "val_loss": v, "val_acc": a, "lr": lr}
            for e, (t, v, a) in enumerate(zip(train, val, acc))]


CLEAN_TRAIN = [2.0, 1.2, 0.8, 0.6, 0.5, 0.45, 0.42, 0.40]
CLEAN_VAL = [1.9, 1.3, 0.9, 0.75, 0.7, 0.68, 0.67, 0.67]


def _kinds(findings: list[dict]) -> list[str]:
    return [f["kind"] for f in findings]


def test_a_clean_run_has_no_finding():
    acc = [0.4, 0.6, 0.7, 0.75, 0.78, 0.8, 0.8, 0.81]
    assert diagnose(_rows(CLEAN_TRAIN, CLEAN_VAL, acc), classes=10, best_epoch=7) == []


def test_overfitting_names_the_epoch_of_the_validation_minimum():
    train = [2.0, 1.0, 0.6, 0.4, 0.3, 0.2, 0.12, 0.08, 0.05, 0.03]
    val = [1.9, 1.1, 0.8, 0.6, 0.55, 0.5, 0.56, 0.62, 0.7, 0.8]  # lowest at epoch 5 (0-based): "epoch 6"
    (f,) = diagnose(_rows(train, val), classes=10, best_epoch=5)
    assert f["kind"] == "overfitting" and f["epoch"] == 5
    assert f["evidence"]["val_min"] == 0.5 and f["evidence"]["val_last"] == 0.8
    assert f["evidence"]["train_at_min"] == 0.2 and f["evidence"]["train_last"] == 0.03
    assert f["evidence"]["caught"] is True
    assert "lowest at epoch 6 (0.5) and rises to 0.8 by epoch 10" in f["text"]
    assert "from before the rise" in f["text"]
    # the last epoch's weights tested (monitor: last): they are 4 epochs into the rise
    (late,) = diagnose(_rows(train, val), best_epoch=9)
    assert late["evidence"]["caught"] is False and "4 epoch(s) into the rise" in late["text"]


def test_overfitting_needs_a_sustained_rise_and_a_falling_training_loss():
    train = [2.0, 1.0, 0.6, 0.4, 0.3, 0.2, 0.12, 0.08, 0.05, 0.03]
    spike = [1.9, 1.1, 0.8, 0.6, 0.55, 0.5, 0.7, 0.52, 0.51, 0.5]  # one bad epoch, then back to the minimum
    assert diagnose(_rows(train, spike)) == []
    noise = [1.9, 1.1, 0.8, 0.6, 0.55, 0.5, 0.52, 0.53, 0.52, 0.53]  # +6 %: inside the 10 % tolerance
    assert diagnose(_rows(train, noise)) == []
    too_late = [1.9, 1.1, 0.8, 0.6, 0.55, 0.5, 0.45, 0.4, 0.6, 0.7]  # minimum 2 epochs before the end: too soon
    assert diagnose(_rows(train, too_late)) == []
    flat_train = [2.0, 1.0, 0.6, 0.4, 0.3, 0.2, 0.2, 0.21, 0.22, 0.21]  # the training loss stopped falling
    val = [1.9, 1.1, 0.8, 0.6, 0.55, 0.5, 0.56, 0.62, 0.7, 0.8]
    assert "overfitting" not in _kinds(diagnose(_rows(flat_train, val)))


def test_a_training_loss_that_climbs_is_divergence():
    train = [2.3, 1.5, 1.2, 1.9, 2.6, 3.4, 4.0]  # minimum 1.2 at epoch 2, then up for 4 epochs
    (f,) = diagnose(_rows(train), lr=0.5)
    assert f["kind"] == "diverged" and f["epoch"] == 2
    assert f["text"] == ("the training loss rose from 1.2 (epoch 3) to 4 (epoch 7): the learning rate (0.5) is "
                         "probably too high")
    ended_worse = [2.3, 2.0, 3.6]  # above 1.5 x the first epoch's loss at the end, however briefly
    assert _kinds(diagnose(_rows(ended_worse))) == ["diverged"]
    near_zero = [0.5, 0.01, 0.001, 0.002, 0.003, 0.002]  # +100 % of a tiny minimum is noise, not divergence
    assert diagnose(_rows(near_zero)) == []


def test_a_loss_that_exploded_in_the_first_epoch_and_stays_above_a_uniform_guess_diverged():
    train = [7.8e4, 21.7, 16.5, 15.2]  # a real run at SGD lr 50: it "falls", but stays 6.6 x ln 10
    (f,) = diagnose(_rows(train), classes=10, lr=50.0)
    assert f["kind"] == "diverged" and f["epoch"] == 0 and f["evidence"]["uniform_loss"] == pytest.approx(math.log(10))
    assert "reached 7.8e+04 in epoch 1 and still ends at 15.2 (epoch 4), 6.6 × the 2.3 of a uniform guess" in f["text"]
    assert diagnose(_rows(train)) == []  # without K there is no uniform guess to compare with


def test_a_non_finite_loss_is_named_with_its_epoch():
    rows = _rows([2.3, 1.9, None, None], [2.2, 1.8, None, None])  # metrics.jsonl writes NaN as null
    (f,) = diagnose(rows)
    assert f["kind"] == "non-finite" and f["epoch"] == 2 and "training loss became NaN or infinite in epoch 3" in f["text"]
    rows = _rows([2.3, 1.9, 1.7], [2.2, math.inf, 1.6])
    (f,) = diagnose(rows)
    assert f["kind"] == "non-finite" and f["epoch"] == 1 and "validation loss" in f["text"]
    # a seed that stopped: the failing epoch was never written, it is the one after the last row
    (f,) = diagnose(_rows([2.3, 1.9]), failed="training loss became nan in epoch 3")
    assert f["kind"] == "non-finite" and f["epoch"] == 2 and "the seed stopped there" in f["text"]
    # a run without validation (null everywhere) has no non-finite validation loss
    assert diagnose(_rows(CLEAN_TRAIN)) == []


def test_a_flat_loss_near_chance_is_a_plateau_but_not_one_near_the_floor():
    flat = [2.302, 2.301, 2.300, 2.299, 2.298, 2.297]  # ln 10 = 2.303: a uniform guess over 10 classes
    (f,) = diagnose(_rows(flat, flat, [0.1] * 6), classes=10, lr=1e-6)
    assert f["kind"] == "plateau" and f["epoch"] == 0 and f["evidence"]["epochs"] == 5
    assert "barely moved in the first 5 epochs" in f["text"] and "(1e-06) is probably too low" in f["text"]
    assert "validation accuracy at most 10.0% (chance 10.0%)" in f["text"]
    # the same flatness at a loss near 0 and a high accuracy: the model learned everything in its first epoch
    floor = [0.020, 0.0199, 0.0198, 0.0197, 0.0197]
    assert diagnose(_rows(floor, floor, [0.99] * 5), classes=10) == []
    # without K there is no chance level to compare with: no plateau is named
    assert diagnose(_rows(flat, flat, [0.1] * 6)) == []
    # fewer than 3 epochs are too few to call anything flat
    assert diagnose(_rows(flat[:2], flat[:2], [0.1] * 2), classes=10) == []
    # a falling loss (3 % in 5 epochs) is no plateau
    slow = [2.30, 2.28, 2.26, 2.25, 2.23]
    assert diagnose(_rows(slow, slow, [0.1] * 5), classes=10) == []


def _report(run: Path) -> tuple[str, str, dict]:
    return ((run / "report.html").read_text(), (run / "report.md").read_text(),
            json.loads((run / "results.json").read_text()))


def test_a_tiny_study_made_to_overfit_is_named_in_its_report(tmp_path, cli):
    # a wide MLP memorizing 90 digits with shuffled labels: the training loss falls from ln 10 while the validation
    # loss, with nothing to generalize, rises steadily from its first epochs (robust to the CPU's rounding)
    study = tiny_study(tmp_path, **{"data.train_limit": 100, "data.permute_labels": True, "model.hidden": [256],
                                    "train.epochs": 10, "train.batch_size": 20,
                                    "train.optimizer": {"name": "adamw", "lr": 0.003}, "arms": {"wide": {}},
                                    "seeds": 1})
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = next((tmp_path / "runs").glob("*/*"))
    html, md, results = _report(run)
    assert "Training curves" in html and "Training curves" in md
    assert "(overfitting)" in md and "wide: the validation loss rises after epoch" in md
    best = results["arms"]["wide"]["seeds"][0]["best_epoch"]
    assert f"lowest at epoch {best + 1} (" in md  # the monitor is val_loss: the best epoch is the minimum
    assert f"kept epoch {best + 1}&#39;s weights from before the rise" in html  # escaped in HTML


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the NumPy engine's overflow on its way to NaN
@pytest.mark.parametrize("task, lr, code, named", [
    # torch, SGD at lr 50: the loss explodes within the first epoch (~1e5) and stays far above ln 10
    ("classify", 50.0, 0, "hot: the training loss reached "),
    # the NumPy engine at lr 1e30: NaN in the first epoch, the seed stops (exit 2, the report is written first)
    ("scratch", 1e30, 2, "hot: the loss became NaN or infinite in its only seed, in epoch 1"),
    # torch, SGD at lr 1e-7: the loss stays at ln 10 and accuracy at chance
    ("classify", 1e-7, 0, "hot: the training loss barely moves from the start in its only seed"),
])
def test_a_learning_rate_far_off_is_named(tmp_path, cli, task, lr, code, named):
    study = tiny_study(tmp_path, **{"task": task, "train.optimizer": {"name": "sgd", "lr": lr}, "train.epochs": 4,
                                    "arms": {"hot": {}}, "seeds": 1})
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == code, r.err
    html, md, _ = _report(next((tmp_path / "runs").glob("*/*")))
    conclusions = md.split("## Conclusions")[1].split("## Comparison")[0]
    assert named in conclusions
    assert f"is probably too {'low' if lr < 1 else 'high'}" in conclusions


def test_a_sound_run_says_so_in_one_line(tmp_path, cli):
    r = cli("run", str(tiny_study(tmp_path, **{"arms": {"small": {}}, "seeds": 1})), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    html, md, _ = _report(next((tmp_path / "runs").glob("*/*")))
    assert "No divergence, plateau, non-finite loss or overfitting in any seed&#39;s curves." in html
    assert '<ul class="curves">' not in html  # no bullet in the conclusions


@pytest.mark.parametrize("task", ["forecast", "classical"])
def test_tasks_whose_rows_are_not_a_classifiers_are_not_diagnosed(task):
    from deepstudy.report import sections

    assert not sections.get(task).diagnose and sections.get("classify").diagnose and sections.get("scratch").diagnose


def _fake_run(tmp_path: Path, arms: dict[str, list[tuple[list, list, int | None, str]]]) -> tuple[Path, dict]:
    """A run directory with only what the diagnosis reads: results.json's arms and each seed's metrics.jsonl.
    ``arms``: {arm: [(train losses, val losses, best_epoch, monitor), ...]} (best_epoch None: a failed seed)."""
    from deepstudy.fileio import write_jsonl
    from deepstudy.rundir import RunDir

    results = {"dataset": {"classes": [str(c) for c in range(10)]}, "arms": {}}
    for arm, seeds in arms.items():
        infos = []
        for i, (train, val, best, monitor) in enumerate(seeds):
            write_jsonl(RunDir(tmp_path).seed(arm, i).metrics, _rows(train, val, [0.5] * len(train), lr=0.003))
            infos.append({"seed": i, "status": "ok", "best_epoch": best, "monitor": {"metric": monitor}} if best
                         is not None else {"seed": i, "status": "diverged", "message": "training loss became nan"})
        results["arms"][arm] = {"seeds": infos}
    return tmp_path, results


def test_for_run_counts_seeds_and_says_where_the_tested_weights_come_from(tmp_path):
    from deepstudy.report.diagnostics import for_run

    train = [2.0, 1.0, 0.6, 0.4, 0.3, 0.2, 0.12, 0.08, 0.05, 0.03]
    val_a = [1.9, 1.1, 0.8, 0.6, 0.55, 0.5, 0.56, 0.62, 0.7, 0.8]  # lowest at epoch 6 (from 1)
    val_b = [1.9, 1.1, 0.8, 0.6, 0.5, 0.55, 0.6, 0.62, 0.7, 0.8]  # lowest at epoch 5
    run, results = _fake_run(tmp_path, {
        "cnn": [(train, val_a, 5, "val_loss"), (train, val_b, 4, "val_loss"), (CLEAN_TRAIN, CLEAN_VAL, 7, "val_loss")],
        "late": [(train, val_a, 9, "last")],
        "broken": [([2.3, 2.1], [2.2, 2.0], None, "")],
        "fine": [(CLEAN_TRAIN, CLEAN_VAL, 7, "val_loss")]})
    out = for_run(run, results)
    assert out["lines"] == [
        "cnn: the validation loss rises after epochs 5–6 in 2 of 3 seeds while the training loss keeps falling "
        "(overfitting); the best checkpoint kept weights from before the rise",
        "late: the validation loss rises after epoch 6 in its only seed while the training loss keeps falling "
        "(overfitting); the tested weights come from after the rise (train.early_stopping.monitor last chose a later "
        "epoch)",
        "broken: the loss became NaN or infinite in its only seed, in epoch 3: the learning rate (0.003) is probably "
        "too high — lower train.optimizer.lr or set train.grad_clip"]
    assert [f["seed"] for f in out["findings"]["cnn"]] == [0, 1] and out["findings"]["fine"] == []
    assert out["notes"][0].startswith("cnn, overfitting in 2 of 3 seeds. Seed 0: the validation loss is lowest at "
                                      "epoch 6 (0.5)")
    assert out["notes"][-1] == "fine: no divergence, plateau, non-finite loss or overfitting in any seed."


def test_steps_to_a_target_loss_every_sound_arm_reaches(tmp_path):
    from deepstudy.report.convergence import notes, steps_to

    rows = [{"train_loss": loss, "steps": 10} for loss in (2.0, 1.0, 0.5, 0.4)]
    assert steps_to(rows, 1.0) == 20 and steps_to(rows, 0.4) == 40 and steps_to(rows, 0.3) is None
    losses = {"fast": [(1.0, 0.3, 0.1), (1.2, 0.4, 0.1)], "slow": [(2.0, 1.0, 0.5), (2.0, 0.9, 0.5)],
              "blown": [(2.0, 9.0, 30.0), (2.0, 9.0, 30.0)]}  # diverged: not a target, still counted
    for arm, seeds in losses.items():
        for s, curve in enumerate(seeds):
            folder = tmp_path / "arms" / arm / f"seed-{s}"
            folder.mkdir(parents=True)
            (folder / "metrics.jsonl").write_text("".join(json.dumps({"epoch": e, "train_loss": v, "steps": 10}) + "\n"
                                                          for e, v in enumerate(curve)))
    results = {"arms": {arm: {"seeds": [{"seed": 0}, {"seed": 1}]} for arm in losses}}
    (line,) = notes(tmp_path, results, {"blown": [{"kind": "diverged"}]})
    assert "training loss of 0.5 (the final training loss of slow" in line  # median of slow's finals
    assert "fast 20 ± 0; slow 30 ± 0; blown never." in line  # fast reaches 0.5 after 2 epochs in both seeds
    assert notes(tmp_path, {"arms": {"fast": results["arms"]["fast"]}}, {}) == []  # one arm: nothing to compare
    smoothed = {**results["arms"], "slow": {**results["arms"]["slow"], "overrides": {"train.label_smoothing": 0.1}}}
    (line,) = notes(tmp_path, {"arms": smoothed}, {"blown": [{"kind": "diverged"}]})  # slow's loss: another scale
    assert "training loss of 0.1 (the final training loss of fast" in line and "slow" not in line
