"""Registry-driven: every model gets the same checks (shape, finite, backward, round trip, overfit)."""
import pytest
import torch
from torch import nn

from deepstudy import models
from deepstudy.errors import UserError
from deepstudy.models.cnn import conv_output_size, same_padding
from deepstudy.train import checkpoint


def learnable_batch(n=24, classes=3, size=16):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % classes
    x = torch.rand(n, 1, size, size, generator=g) * 0.2
    for i, c in enumerate(y):
        x[i, 0, 2 + 4 * c: 5 + 4 * c, 3:8] = 1.0
    return x, y


@pytest.mark.parametrize("name", [n for n in models.names() if models.entry(n).inputs not in ("tokens", "sequence")])
def test_every_model(name, tmp_path):
    x, y = learnable_batch()
    torch.manual_seed(0)
    tiny = models.entry(name).tiny  # the same family at a size that trains in seconds
    model = models.build(name, tuple(x.shape[1:]), 3, **tiny)
    out = model(x)
    assert out.shape == (len(x), 3) and out.isfinite().all()
    out.sum().backward()
    assert all(p.grad is not None and p.grad.isfinite().all() for p in model.parameters())
    # state-dict round trip through safetensors
    checkpoint.save_weights(model, tmp_path / "w.safetensors")
    torch.manual_seed(1)
    clone = models.build(name, tuple(x.shape[1:]), 3, **tiny)
    checkpoint.load_weights(clone, tmp_path / "w.safetensors")
    model.eval(), clone.eval()
    assert torch.equal(model(x), clone(x))
    # overfits one batch
    model.train()
    # plain VGG (no batch norm) diverges into dead ReLUs at 1e-2: deep plain stacks need a gentler step
    opt = torch.optim.Adam(model.parameters(), lr=1e-3 if models.entry(name).family == "vgg" else 1e-2)
    for _ in range(150):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    _recalibrate_batchnorm(model, x)  # slow running averages (MobileNet: momentum 0.01) lag 150 steps behind
    model.eval()
    assert (model(x).argmax(1) == y).all(), f"{name} could not fit one batch (loss {loss.item():.3f})"


def _recalibrate_batchnorm(model: nn.Module, x: torch.Tensor) -> None:
    """Running statistics := the batch's exact statistics (a cumulative average over one pass)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        model(x)


@pytest.mark.parametrize("name", [n for n in models.names() if models.entry(n).inputs == "any"])
def test_vector_models_take_tables(name):
    model = models.build(name, (13,), 2)
    assert model(torch.randn(5, 13)).shape == (5, 2)


def test_image_model_rejects_tables():
    with pytest.raises(UserError, match="needs images"):
        models.build("cnn", (13,), 2)


def test_unknown_model_and_argument_suggest():
    with pytest.raises(UserError, match="mlp"):
        models.create("mpl")
    with pytest.raises(UserError, match="channels"):
        models.build("cnn", (1, 28, 28), 10, chanels=[8])


class Tied(nn.Module):
    """A language-model-style head that shares the embedding matrix."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.proj = nn.Linear(16, 50, bias=False)
        self.proj.weight = self.embed.weight

    def forward(self, x):
        return self.proj(self.embed(x))


def test_summary_counts_tied_weights_once():
    rows, total, macs = models.summarize(Tied(), torch.zeros(2, 7, dtype=torch.long))
    assert total == 50 * 16 == sum(p.numel() for p in Tied().parameters())
    assert sum(r.params for r in rows) == total and macs == 7 * 16 * 50


def test_summary_counts_recurrent_layers():
    lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True, bidirectional=True)
    rows, total, macs = models.summarize(lstm, torch.zeros(1, 5, 8))
    assert total == sum(p.numel() for p in lstm.parameters())
    assert macs == 2 * 5 * 4 * (8 * 16 + 16 * 16) + 2 * 5 * 4 * (32 * 16 + 16 * 16)


def test_summary_macs_of_a_conv():
    conv = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1))
    _, total, macs = models.summarize(conv, torch.zeros(1, 3, 10, 10))
    assert total == 8 * 3 * 9 + 8 and macs == 8 * 10 * 10 * 3 * 9


@pytest.mark.parametrize("size,k,s,d", [(28, 3, 1, 1), (28, 5, 2, 1), (17, 3, 1, 2), (9, 7, 3, 3), (32, 3, 2, 4)])
def test_output_size_helper_matches_real_convolutions(size, k, s, d):
    p = same_padding(k, d)
    real = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)(torch.zeros(1, 1, size, size)).shape[-1]
    assert conv_output_size(size, k, s, p, d) == real
    if s == 1:
        assert real == size  # "same" padding keeps the size, dilation included


def test_cnn_options_build_and_run():
    for kw in [dict(batch_norm=True, dropout=0.2), dict(conv1x1=True, pool="avg"), dict(dilation=2, kernel_size=5),
               dict(stride=2, pool=None), dict(global_pool=False, hidden=[32]), dict(convs_per_block=2, channels=[4, 8, 16]),
               dict(inception=True, convs_per_block=2, channels=[8, 16])]:
        m = models.build("cnn", (1, 28, 28), 10, **kw)
        assert m(torch.zeros(2, 1, 28, 28)).shape == (2, 10), kw


@pytest.mark.parametrize("channels_last", [False, True])
def test_fast_max_pool_is_torchs_to_the_bit_and_trains_with_torchs_kernel(channels_last):
    """MaxPool2x2 (cnn, vgg): without autograd the maximum of four strided views, equal to nn.MaxPool2d(2) bit for
    bit — ties (ReLU zeros), NaN, odd sizes, bf16, either memory format; with autograd torch's own kernel, so the
    gradient (its tie rule) is unchanged."""
    from deepstudy.models.blocks import MaxPool2x2

    torch.manual_seed(0)
    fast, ref = MaxPool2x2(), torch.nn.MaxPool2d(2)
    for shape in [(8, 3, 28, 28), (5, 2, 15, 13), (3, 1, 2, 3)]:
        x = torch.relu(torch.randn(shape))
        x[0, 0, 0, 0] = float("nan")
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        for t in (x, x.bfloat16()):
            with torch.no_grad():
                a, b = fast(t), ref(t)
            assert a.shape == b.shape and torch.equal(a.isnan(), b.isnan())
            assert torch.equal(a.nan_to_num(7.0), b.nan_to_num(7.0))
    x = torch.relu(torch.randn(4, 2, 6, 6)).requires_grad_()
    fast(x).sum().backward()
    g, x.grad = x.grad, None
    ref(x).sum().backward()
    assert torch.equal(g, x.grad)
    with torch.no_grad(), pytest.raises(RuntimeError):
        fast(torch.zeros(1, 1, 1, 4))  # under 2x2: torch's own error, not an empty tensor
