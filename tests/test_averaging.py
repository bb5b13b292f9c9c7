"""train.l1, train.ema and train.swa: the L1 penalty's gradient, the averages against torch.optim.swa_utils fed the
same weights (and a hand-written average), a killed run that resumes with its averages bit-identical, and the
refusals of bad settings."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import safetensors.torch
import torch
from conftest import killed_and_clean_runs, tiny_study
from torch import nn
from torch.optim.swa_utils import SWALR, AveragedModel, get_ema_multi_avg_fn, update_bn

from deepstudy import config, data, train
from deepstudy.errors import UserError
from deepstudy.fileio import read_json


def _net() -> nn.Module:
    torch.manual_seed(0)  # weights, biases and batch-norm parameters: the penalty must tell them apart
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def _data(n: int = 48) -> tuple[data.Batches, data.Batches]:
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(n, 4, generator=g), torch.randint(0, 3, (n,), generator=g)
    return data.Batches(x, y, 12, shuffle=True, seed=2), data.Batches(x, y, n)


def _floats(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items() if v.is_floating_point()}


# ------------------------------------------------------------------------------------------------------------ L1


def test_l1_penalty_gradient_equals_sign_w_times_lambda_on_the_weights_only():
    model, lam = _net(), 0.03
    with torch.no_grad():
        model[0].weight[0, :2] = 0.0  # sign(0) = 0: the subgradient torch's abs gives there
    penalty = train.l1_penalty(model, lam)
    penalty.backward()
    weights = [model[0].weight, model[3].weight]
    expected = lam * sum(float(w.detach().abs().sum()) for w in weights)
    assert abs(penalty.item() - expected) < 1e-6
    for w in weights:
        assert torch.equal(w.grad, lam * torch.sign(w.detach())), "dλΣ|w|/dw = λ·sign(w)"
    assert model[0].weight.grad[0, :2].tolist() == [0.0, 0.0]
    others = [model[0].bias, model[1].weight, model[1].bias, model[3].bias]  # biases and the norm's scale/shift
    assert all(p.grad is None for p in others)


def test_fit_adds_the_l1_penalty_to_the_step_loss_and_logs_the_data_term():
    """One SGD step on a loss that ignores the data: weights move by -lr·λ·sign(w), biases and norm parameters stay."""
    model, lam, lr = _net(), 0.05, 0.5
    before = {k: v.clone() for k, v in model.named_parameters()}
    x, y = torch.randn(8, 4), torch.zeros(8, dtype=torch.long)
    zero_loss = lambda m, xb, yb: ((m(xb) * 0).sum(), m(xb))  # noqa: E731  (data term 0, still in the graph)
    r = next(iter(train.fit(model, [(x, y)], optimizer=torch.optim.SGD(model.parameters(), lr=lr), epochs=1,
                            step=zero_loss, l1=lam)))
    assert r.train_loss == 0.0  # the logged loss is the data term
    for name, p in model.named_parameters():
        w = before[name]
        expected = w - lr * lam * torch.sign(w) if w.dim() > 1 else w
        assert torch.allclose(p.detach(), expected, atol=1e-7), name
    with pytest.raises(ValueError, match="l1"):
        train.fit(model, [(x, y)], optimizer=torch.optim.SGD(model.parameters(), lr=lr), epochs=1, step=zero_loss,
                  l1=-1.0)


# ----------------------------------------------------------------------------------------------------- EMA, SWA


def test_ema_matches_averaged_model_fed_the_same_weights():
    """Ours is AveragedModel: what fit validates with is an EMA (updated after every step, buffers too) equal to a
    separate AveragedModel, and to a hand-written float64 EMA, fed the same sequence of weights."""
    model, decay = _net(), 0.8
    seen: list[dict[str, torch.Tensor]] = []  # the weights at each step's start: after the previous step

    def recording(m, x, y):
        seen.append({k: v.detach().clone() for k, v in m.state_dict().items()})
        out = m(x)
        return nn.functional.cross_entropy(out, y), out

    train_b, val_b = _data()
    ema = train.Averages(model, ema_decay=decay)
    results = list(train.fit(model, train_b, val_b, optimizer=torch.optim.SGD(model.parameters(), lr=0.1,
                                                                               momentum=0.9),
                             loss_fn=nn.CrossEntropyLoss(), epochs=2, step=recording, averages=ema))
    sequence = seen[1:] + [{k: v.detach().clone() for k, v in model.state_dict().items()}]
    assert int(ema.model.n_averaged) == len(sequence) == 8

    twin = copy.deepcopy(model)
    reference = AveragedModel(twin, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    by_hand: dict[str, torch.Tensor] = {}
    for weights in sequence:
        twin.load_state_dict(weights)
        reference.update_parameters(twin)
        for k, v in weights.items():
            if v.is_floating_point():
                by_hand[k] = v.double() if k not in by_hand else decay * by_hand[k] + (1 - decay) * v.double()
    ours, theirs = _floats(ema.model.module), _floats(reference.module)
    for k in ours:
        assert torch.allclose(ours[k], theirs[k], rtol=0, atol=1e-7), k
        assert torch.allclose(ours[k].double(), by_hand[k], rtol=0, atol=1e-6), k
    assert not torch.allclose(ours["0.weight"], model[0].weight.detach())  # an average, not the raw weights
    reference.module.eval()
    x_val, y_val = next(iter(val_b))
    with torch.no_grad():
        val_loss = float(nn.functional.cross_entropy(reference.module(x_val), y_val))
    assert abs(results[-1].val_loss - val_loss) < 1e-6, "validation scored the average"


def test_swa_matches_a_hand_written_swa_loop():
    """fit with SWA from epoch 1 of 3 against torch's documented recipe written out: the same weights, rates, average,
    and after update_bn the same batch-norm statistics; the average is the mean of the end-of-epoch weights."""
    start, swa_lr, epochs = 1, 0.02, 3
    train_b, _ = _data()

    def setup():
        model = _net()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        return model, opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * len(train_b))

    model, opt, sched = setup()
    swa = train.Averages(model, opt, swa_start=start, swa_lr=swa_lr, swa_anneal_epochs=1)
    ends, ours_lr = [], []
    for r in train.fit(model, train_b, optimizer=opt, scheduler=sched, loss_fn=nn.CrossEntropyLoss(), epochs=epochs,
                       averages=swa):
        ends.append(_floats(model))
        ours_lr.append(r.lr)
    tested = swa.final(model, train_b.epoch(epochs))

    ref, ref_opt, ref_sched = setup()
    ref_avg, ref_swa_sched, ref_lr = AveragedModel(ref), None, []
    for epoch in range(epochs):
        if epoch >= start and ref_swa_sched is None:
            ref_swa_sched = SWALR(ref_opt, swa_lr=swa_lr, anneal_epochs=1)
        ref.train()
        for x, y in train_b.epoch(epoch):
            ref_opt.zero_grad()
            nn.functional.cross_entropy(ref(x), y).backward()
            ref_opt.step()
            if epoch < start:
                ref_sched.step()
        if epoch >= start:
            ref_avg.update_parameters(ref)
            ref_swa_sched.step()
        ref_lr.append(ref_opt.param_groups[0]["lr"])
    update_bn(train_b.epoch(epochs), ref_avg.module)

    assert ours_lr == ref_lr and ours_lr[-1] == swa_lr
    ours, theirs = _floats(tested), _floats(ref_avg.module)
    for k in ours:
        assert torch.allclose(ours[k], theirs[k], rtol=0, atol=1e-7), k
    for k, _ in model.named_parameters():
        mean = sum(e[k].double() for e in ends[start:]) / (epochs - start)
        assert torch.allclose(ours[k].double(), mean, rtol=0, atol=1e-6), k
    assert not torch.allclose(ours["1.running_mean"], model[1].running_mean)  # statistics of the average's own


def test_averages_survive_a_checkpoint_round_trip(tmp_path):
    """TorchState saves the averages (and SWALR mid-anneal); a fresh state loads them identical."""
    train_b, _ = _data()
    model = _net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    swa = train.Averages(model, opt, swa_start=0, swa_lr=0.01, swa_anneal_epochs=3)
    list(train.fit(model, train_b, optimizer=opt, loss_fn=nn.CrossEntropyLoss(), epochs=2, averages=swa))
    train.TorchState(model, opt, averages=swa).save(tmp_path, 1, {})
    model2 = _net()
    opt2 = torch.optim.SGD(model2.parameters(), lr=0.1)
    swa2 = train.Averages(model2, opt2, swa_start=0, swa_lr=0.01, swa_anneal_epochs=3)
    assert train.TorchState(model2, opt2, averages=swa2).load(tmp_path)[0] == 1
    assert all(torch.equal(a, b) for a, b in zip(swa.model.state_dict().values(), swa2.model.state_dict().values()))
    assert swa2.swa_scheduler.state_dict() == swa.swa_scheduler.state_dict()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    with pytest.raises(UserError, match="holds no weight average"):
        train.TorchState(model2, opt2).save(tmp_path / "plain", 0, {})
        train.TorchState(model2, opt2, averages=swa2).load(tmp_path / "plain")


# --------------------------------------------------------------------------------------------- through a study


@pytest.mark.parametrize("averaging", [  # about 40 s each on a busy 2-core machine (three runs in subprocesses)
    pytest.param({"train.ema": {"decay": 0.9}}, id="ema"),
    pytest.param({"train.swa": {"start": 2, "lr": 0.005, "anneal_epochs": 2}}, id="swa", marks=pytest.mark.slow)])
def test_averages_survive_kill_and_resume_bit_identical(averaging, tmp_path):
    """Killed after epoch 2 of 4 (SWA: one epoch into its average), resumed: results, metrics and the tested weights
    equal an uninterrupted run's."""
    study = tiny_study(tmp_path, **{"train.epochs": 4, "seeds": 1, "arms": {"a": {}}, "analyses": ["curves"],
                                    "model.batch_norm": True, "model.dropout": 0.2, **averaging})
    clean, killed, resume = killed_and_clean_runs(study, tmp_path, after_epoch=1)
    resumed = resume()
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from its checkpoint at epoch 3" in resumed.stdout
    rel = Path("arms") / "a" / "seed-0"
    a, b = read_json(clean / rel / "result.json"), read_json(killed / rel / "result.json")
    drop = lambda r: {k: v for k, v in r.items() if "seconds" not in k}  # noqa: E731
    assert drop(a) == drop(b) and a["averaging"]["method"] == next(iter(averaging)).split(".")[1]
    rows = lambda run: [drop(json.loads(x)) for x in (run / rel / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    assert rows(clean) == rows(killed)
    wa, wb = (safetensors.torch.load_file(run / rel / "best.safetensors") for run in (clean, killed))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_bad_averaging_and_penalty_settings_are_one_line_refusals(cli, tmp_path):
    study = tiny_study(tmp_path, **{"train.epochs": 10})
    cases = {"train.l1=-0.1": "'train.l1': Input should be greater than or equal to 0",
             "train.optimizer.weight_decay=-1": "'train.optimizer.weight_decay': Input should be greater than or equal",
             "train.swa.start=12": "train.swa.start 12 is after the last epoch (10)",
             "train.ema.decay=1.0": "'train.ema.decay': Input should be less than 1",
             "train.ema.decay=0": "'train.ema.decay': Input should be greater than 0"}
    for setting, message in cases.items():
        r = cli("run", str(study), "--set", setting, "--out", str(tmp_path / "runs"))
        assert r.code == 2 and message in r.err and len(r.err.strip().splitlines()) == 1, (setting, r.err)
    assert not (tmp_path / "runs").exists()
    with pytest.raises(UserError, match="keep one of them"):
        config.load(str(study), {"train.ema.decay": 0.9, "train.swa.start": 3})
    with pytest.raises(UserError, match="not used by task: scratch"):
        config.load("scratch-mlp", {"train.swa.start": 1})
    s = config.load(str(study), {"train.swa.start": 10, "train.l1": 1e-4})  # the last epoch is a valid start
    assert s.train.swa.lr is None and s.train.l1 == 1e-4 and s.train.ema is None


def test_the_numpy_engine_takes_train_l1_with_the_same_rule():
    """task: scratch reads train.l1: one full-batch SGD step moves each weight by a further -lr·λ·sign(w) against
    the same step without it; biases (and batch-norm parameters: ndim 1) are untouched by the penalty."""
    import numpy as np

    from deepstudy import scratch

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 4)).astype(np.float32), rng.integers(0, 3, 32)
    lam, lr, after = 0.05, 0.1, []
    for l1 in (0.0, lam):
        net = scratch.Sequential(scratch.Dense(4, 8, np.random.default_rng(1)), scratch.ReLU(),
                                 scratch.Dense(8, 3, np.random.default_rng(2)))
        start = [p.data.copy() for p in net.params()]
        list(scratch.fit(net, scratch.SGD(net.params(), lr), x, y, x, y, epochs=1, batch_size=32, seed=0, l1=l1))
        after.append([p.data for p in net.params()])
    for w0, plain, penalized in zip(start, *after):
        shift = -lr * lam * np.sign(w0) if w0.ndim > 1 else np.zeros_like(w0)
        np.testing.assert_allclose(penalized - plain, shift, atol=1e-6)
    assert config.load("scratch-mlp", {"train.l1": 1e-3}).train.l1 == 1e-3
