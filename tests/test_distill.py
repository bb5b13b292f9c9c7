"""Knowledge distillation (Hinton et al., 2015): the loss against its closed-form gradient, the teacher run."""
import pytest
import torch
import torch.nn.functional as F

from conftest import tiny_study
from deepstudy.fileio import read_json
from deepstudy.tasks.distill import DistillationLoss


def test_distillation_loss_matches_hintons_gradient():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(6, 5, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.randn(6, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 5, (6,), generator=g)
    T, alpha = 3.0, 0.7
    DistillationLoss(T, alpha)(s, y, t).backward()
    p_s, p_t = F.softmax(s.detach() / T, 1), F.softmax(t / T, 1)
    hard = (F.softmax(s.detach(), 1) - F.one_hot(y, 5)) / 6
    expected = (1 - alpha) * hard + alpha * T * (p_s - p_t) / 6  # the T^2 cancels the 1/T of the softened softmax
    torch.testing.assert_close(s.grad, expected)


def test_distillation_loss_edges():
    s, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    loss = DistillationLoss(4.0, 0.9)
    assert torch.equal(loss(s, y), F.cross_entropy(s, y))  # validation: no teacher
    assert torch.allclose(loss(s, y, s.clone()), 0.1 * F.cross_entropy(s, y))  # a teacher equal to the student adds nothing
    assert torch.allclose(DistillationLoss(4.0, 0.0)(s, y, torch.randn(4, 3)), F.cross_entropy(s, y))


def test_distillation_study_trains_one_teacher_per_seed(cli, tmp_path):
    teacher = {"name": "mlp", "hidden": [128, 64]}
    study = tiny_study(tmp_path, model={"name": "mlp", "hidden": [16]},
                       arms={"alone": {}, "t2": {"distill.teacher": teacher, "distill.temperature": 2.0},
                             "t8": {"distill.teacher": teacher, "distill.temperature": 8.0}},
                       distill={"teacher_epochs": 4}, seeds=2, analyses=["curves"])
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = next((tmp_path / "runs" / "tiny").iterdir())
    teachers = list((run / "teachers").iterdir())
    assert len(teachers) == 1 and sorted(p.name for p in teachers[0].iterdir()) == ["seed-0", "seed-1"]
    metrics = (teachers[0] / "seed-0" / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == 4  # teacher_epochs, not train.epochs
    res = read_json(run / "results.json")
    t2, t8 = (res["arms"][a] for a in ("t2", "t8"))
    assert t2["teacher"]["accuracy"]["n"] == 2 and t2["teacher"]["accuracy"]["mean"] == t8["teacher"]["accuracy"]["mean"]
    assert "teacher" not in res["arms"]["alone"]
    # the temperature changes what the student learns from the same teacher
    losses = [(run / "arms" / a / "seed-0" / "metrics.jsonl").read_text() for a in ("alone", "t2", "t8")]
    assert len(set(losses)) == 3
    assert "teacher" in (run / "report.md").read_text()


@pytest.mark.parametrize("bad, message", [
    ({"task": "som", "model": {"name": "som"}, "arms": {"a": {}}, "distill.teacher": {"name": "mlp"}},
     "'distill' is not used by task: som"),
    ({"distill.teacher": {"name": "nope"}}, "nope"),
    ({"distill.teacher": {"name": "cnn", "channels": "x"}}, "channels"),
])
def test_distillation_bad_inputs(cli, tmp_path, bad, message):
    r = cli("run", str(tiny_study(tmp_path, **bad)), "--out", str(tmp_path / "r"))
    assert r.code == 2 and message in r.err, r.err


def test_reports_of_runs_made_before_the_new_keys_still_render(cli, tmp_path):
    r = cli("run", str(tiny_study(tmp_path, seeds=1, arms={"a": {}})), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = next((tmp_path / "runs" / "tiny").iterdir())
    import json
    res = read_json(run / "results.json")
    res.pop("sample_size")
    for arm in res["arms"].values():
        arm.pop("trainable_params")
    (run / "results.json").write_text(json.dumps(res))
    r = cli("report", str(run))
    assert r.code == 0, r.err


def test_the_teachers_folder_does_not_depend_on_how_often_it_checkpoints():
    """A teacher is trained once per (config, seed) and found again by a hash of its config: train.checkpoint_seconds
    changes no number, so it does not name another teacher (a run resumed across the key's introduction, or arms
    that differ only there, share it); a setting that trains it differently does."""
    from deepstudy import config
    from deepstudy.tasks import distill

    base = {"name": "t", "data": {"name": "digits"}, "model": {"name": "mlp", "hidden": [16]}}
    key = lambda **train: distill._key(config.validate({**base, "train": train}))  # noqa: E731
    assert key(checkpoint_seconds=0) == key() == key(checkpoint_seconds=30)
    assert key(epochs=3) != key()
