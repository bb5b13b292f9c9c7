"""Optimizers step for step against torch.optim; RNN/LSTM against torch with copied weights; gradcheck through time."""
import numpy as np
import pytest
import torch

from deepstudy import scratch
from deepstudy.scratch import relative_error as rel


@pytest.mark.parametrize("name,ours,theirs", [
    ("sgd", lambda p: scratch.SGD(p, lr=0.05), lambda p: torch.optim.SGD(p, lr=0.05)),
    ("momentum", lambda p: scratch.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-3),
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-3)),
    ("nesterov", lambda p: scratch.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
    ("rmsprop", lambda p: scratch.RMSProp(p, lr=0.01), lambda p: torch.optim.RMSprop(p, lr=0.01)),
    ("rmsprop-momentum", lambda p: scratch.RMSProp(p, lr=0.01, momentum=0.5), lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5)),
    ("adam", lambda p: scratch.Adam(p, lr=0.01, weight_decay=1e-3), lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=1e-3)),
    ("adamw", lambda p: scratch.AdamW(p, lr=0.01, weight_decay=0.1), lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1)),
])
def test_optimizer_matches_torch_for_100_steps(name, ours, theirs):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 5)), rng.integers(0, 3, 32)
    layer = scratch.Dense(5, 3, rng, dtype=np.float64)
    W, b = (torch.tensor(p.data.copy(), requires_grad=True) for p in layer.params())
    opt_a, opt_b = ours(layer.params()), theirs([W, b])
    for _ in range(100):
        opt_a.zero_grad()
        _, grad = scratch.softmax_cross_entropy(layer.forward(x), y)
        layer.backward(grad)
        opt_a.step()
        opt_b.zero_grad()
        torch.nn.functional.cross_entropy(torch.tensor(x) @ W.T + b, torch.tensor(y)).backward()
        opt_b.step()
    assert rel(layer.W.data, W.detach().numpy()) < 1e-10 and rel(layer.b.data, b.detach().numpy()) < 1e-10


def _copy_from_torch(ours, ref):
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(ours, name).data[...] = getattr(ref, f"{name}_l0").detach().numpy()


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_recurrent_layers_match_torch(kind):
    rng = np.random.default_rng(0)
    ours = (scratch.RNN if kind == "rnn" else scratch.LSTM)(4, 6, rng, dtype=np.float64)
    ref = (torch.nn.RNN if kind == "rnn" else torch.nn.LSTM)(4, 6, batch_first=True).double()
    _copy_from_torch(ours, ref)
    x = rng.standard_normal((3, 7, 4))
    out = ours.forward(x)
    w = rng.standard_normal(out.shape)
    ours.zero_grad()
    dx = ours.backward(w)
    tx = torch.tensor(x, requires_grad=True)
    tout, _ = ref(tx)
    (tout * torch.tensor(w)).sum().backward()
    assert rel(out, tout.detach().numpy()) < 1e-10 and rel(dx, tx.grad.numpy()) < 1e-10
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        assert rel(getattr(ours, name).grad, getattr(ref, f"{name}_l0").grad.numpy()) < 1e-10, name


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_gradcheck_through_20_time_steps(kind):
    rng = np.random.default_rng(1)
    layer = (scratch.RNN if kind == "rnn" else scratch.LSTM)(3, 4, rng, dtype=np.float64)
    errors = scratch.check_layer(layer, rng.standard_normal((2, 20, 3)))
    assert max(errors.values()) < 1e-7, errors


def test_many_to_one_gradient_flows_only_from_the_last_step():
    rng = np.random.default_rng(0)
    layer = scratch.LSTM(3, 5, rng, dtype=np.float64)
    out = layer.forward(rng.standard_normal((2, 6, 3)))
    dout = np.zeros_like(out)
    dout[:, -1] = 1.0
    dx = layer.backward(dout)
    assert dx.shape == (2, 6, 3) and np.abs(dx[:, 0]).sum() > 0  # the first input still gets credit via BPTT
