"""Every NumPy layer against torch autograd in float64: outputs and input/parameter gradients."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from deepstudy import scratch
from deepstudy.scratch import relative_error as rel
from deepstudy.scratch.models import lenet

TOL = 1e-7
settings.register_profile("ci", max_examples=25, deadline=None)
settings.load_profile("ci")


def t(a, grad=True):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def compare(layer, x, torch_fn, torch_params, warm_first=False):
    """Run both engines on x with the same upstream gradient; compare output and every gradient.
    ``warm_first``: a pass on other numbers first fills the arrays the layer reuses between calls —
    nothing stale may leak into the next call."""
    rng = np.random.default_rng(1)
    if warm_first:
        layer.backward(rng.standard_normal(layer.forward(rng.standard_normal(x.shape)).shape))
    out = layer.forward(x)
    w = rng.standard_normal(out.shape)
    layer.zero_grad()
    dx = layer.backward(w)
    tx = t(x)
    tout = torch_fn(tx)
    (tout * torch.tensor(w)).sum().backward()
    assert rel(out, tout.detach().numpy()) < TOL
    assert rel(dx, tx.grad.numpy()) < TOL
    for p, tp in zip(layer.params(), torch_params):
        assert rel(p.grad, tp.grad.numpy()) < TOL


def nhwc(fn, channels_last):
    """torch works in NCHW: wrap ``fn`` so it takes and returns NHWC when the layer does."""
    return (lambda x: fn(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)) if channels_last else fn


@given(n=st.integers(1, 3), c=st.integers(1, 3), f=st.integers(1, 4), h=st.integers(5, 11), w=st.integers(5, 11),
       k=st.sampled_from([1, 2, 3, 5]), stride=st.integers(1, 3), pad=st.integers(0, 4), dil=st.integers(1, 2),
       cl=st.booleans(), chunked=st.booleans())
def test_conv2d(n, c, f, h, w, k, stride, pad, dil, cl, chunked):
    if dil * (k - 1) + 1 > h + 2 * pad or dil * (k - 1) + 1 > w + 2 * pad:
        return
    rng = np.random.default_rng(0)
    layer = scratch.Conv2D(c, f, k, rng, stride=stride, padding=pad, dilation=dil, dtype=np.float64, channels_last=cl)
    if chunked:  # two images per im2col/col2im chunk: with 3 images the last chunk is partial
        ho, wo = (scratch.conv.output_size(s, k, stride, pad, dil) for s in (h, w))
        layer.chunk_bytes = 2 * ho * wo * k * k * c * 8
    W, b = t(layer.W.data), t(layer.b.data)
    x = rng.standard_normal((n, c, h, w))
    compare(layer, x.transpose(0, 2, 3, 1) if cl else x,
            nhwc(lambda x: F.conv2d(x, W, b, stride=stride, padding=pad, dilation=dil), cl), [W, b], warm_first=True)


@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(2, 9), w=st.integers(2, 9),
       k=st.integers(1, 3), stride=st.integers(1, 3), kind=st.sampled_from(["max", "avg"]), cl=st.booleans(),
       ties=st.booleans())
def test_pooling(n, c, h, w, k, stride, kind, cl, ties):
    if k > min(h, w):
        return
    rng = np.random.default_rng(0)
    # ties: small integers (as after a ReLU, many equal maxima): the first maximum must take the gradient, as in torch
    x = rng.integers(-1, 2, (n, c, h, w)).astype(np.float64) if ties else rng.standard_normal((n, c, h, w))
    layer = (scratch.MaxPool2D if kind == "max" else scratch.AvgPool2D)(k, stride, channels_last=cl)
    fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    compare(layer, x.transpose(0, 2, 3, 1) if cl else x, nhwc(lambda tx: fn(tx, k, stride), cl), [], warm_first=True)


def test_channels_last_lenet_is_the_same_function():
    """The layout inside changes nothing: same weights, same outputs and gradients (float64)."""
    x = np.random.default_rng(1).standard_normal((3, 2, 12, 12))
    models = [lenet(2, 5, (12, 12), np.random.default_rng(0), channels=(3, 4), kernel_size=3, hidden=8,
                                   batch_norm=True, channels_last=cl, dtype=np.float64) for cl in (False, True)]
    upstream = np.random.default_rng(2).standard_normal((3, 5))
    outs = []
    for m in models:
        outs.append(m.forward(x))
        m.backward(upstream)
    assert np.allclose(outs[0], outs[1], rtol=1e-12, atol=1e-12)
    for a, b in zip(models[0].params(), models[1].params()):
        assert a.data.shape == b.data.shape and np.allclose(a.grad, b.grad, rtol=1e-10, atol=1e-12)


@given(n=st.integers(1, 5), d_in=st.integers(1, 9), d_out=st.integers(1, 9))
def test_dense(n, d_in, d_out):
    rng = np.random.default_rng(0)
    layer = scratch.Dense(d_in, d_out, rng, dtype=np.float64)
    W, b = t(layer.W.data), t(layer.b.data)
    compare(layer, rng.standard_normal((n, d_in)), lambda x: F.linear(x, W, b), [W, b])


@pytest.mark.parametrize("layer,fn", [
    (scratch.ReLU(), torch.relu), (scratch.LeakyReLU(0.1), lambda x: F.leaky_relu(x, 0.1)),
    (scratch.Sigmoid(), torch.sigmoid), (scratch.Tanh(), torch.tanh), (scratch.Softmax(), lambda x: torch.softmax(x, -1)),
    (scratch.Flatten(), lambda x: x.reshape(len(x), -1)),
])
def test_elementwise_layers(layer, fn):
    x = np.random.default_rng(0).standard_normal((4, 3, 5)) * 3
    compare(layer, x, fn, [])


@pytest.mark.parametrize("shape", [(7, 5), (1, 4), (3, 4, 5, 6), (2, 3, 1, 1)])
def test_batchnorm_train_and_eval_with_running_statistics(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape) * 2 + 1
    c = shape[1]
    layer = scratch.BatchNorm(c, eps=1e-5, dtype=np.float64)
    layer.gamma.data[:] = rng.standard_normal(c)
    layer.beta.data[:] = rng.standard_normal(c)
    ref = (torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d)(c, eps=1e-5).double()
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(layer.gamma.data))
        ref.bias.copy_(torch.tensor(layer.beta.data))
    if shape[0] * (shape[2] * shape[3] if len(shape) == 4 else 1) > 1:  # torch refuses one value per channel
        compare(layer, x, ref, [ref.weight, ref.bias])
        assert rel(layer.running_mean, ref.running_mean.numpy()) < TOL
        assert rel(layer.running_var, ref.running_var.numpy()) < TOL
    layer.eval(), ref.eval()
    compare(layer, x * 0.5, ref, [])


def test_batchnorm_channels_last_against_torch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 5, 6)) * 2 + 1  # NCHW
    layer = scratch.BatchNorm(4, dtype=np.float64, channels_last=True)
    layer.gamma.data[:] = rng.standard_normal(4)
    ref = torch.nn.BatchNorm2d(4).double()
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(layer.gamma.data))
    compare(layer, x.transpose(0, 2, 3, 1), nhwc(ref, True), [ref.weight, ref.bias])
    assert rel(layer.running_var, ref.running_var.numpy()) < TOL


def test_dropout_is_inverted_and_backward_uses_the_same_mask():
    layer = scratch.Dropout(0.3, np.random.default_rng(0))
    x = np.ones((200, 100))
    out = layer.forward(x)
    assert abs(out.mean() - 1) < 0.02 and set(np.unique(out)) == {0.0, 1 / 0.7}
    assert np.array_equal(layer.backward(np.ones_like(x)), out)
    layer.eval()
    assert np.array_equal(layer.forward(x), x)


def test_losses_match_torch():
    rng = np.random.default_rng(0)
    logits, y = rng.standard_normal((6, 4)) * 5, rng.integers(0, 4, 6)
    loss, grad = scratch.softmax_cross_entropy(logits, y)
    tl = t(logits)
    F.cross_entropy(tl, torch.tensor(y)).backward()
    assert abs(loss - F.cross_entropy(t(logits, False), torch.tensor(y)).item()) < 1e-12 and rel(grad, tl.grad.numpy()) < TOL
    z, target = rng.standard_normal(8) * 50, rng.integers(0, 2, 8).astype(float)  # large |z|: stability
    loss, grad = scratch.bce_with_logits(z, target)
    tz = t(z)
    F.binary_cross_entropy_with_logits(tz, torch.tensor(target)).backward()
    assert np.isfinite(loss) and rel(grad, tz.grad.numpy()) < TOL
    p, q = rng.standard_normal(5), rng.standard_normal(5)
    loss, grad = scratch.mse(p, q)
    tp = t(p)
    F.mse_loss(tp, torch.tensor(q)).backward()
    assert rel(grad, tp.grad.numpy()) < TOL


def test_penalties_add_their_gradients():
    layer = scratch.Dense(3, 2, np.random.default_rng(0), dtype=np.float64)
    value = scratch.l2_penalty(layer.params(), 0.1)
    assert value == pytest.approx(0.05 * (layer.W.data ** 2).sum()) and np.allclose(layer.W.grad, 0.1 * layer.W.data)
    assert np.all(layer.b.grad == 0)  # biases are not penalized
    layer.zero_grad()
    assert scratch.l1_penalty(layer.params(), 0.2) == pytest.approx(0.2 * np.abs(layer.W.data).sum())


def test_gradcheck_on_a_whole_model():
    rng = np.random.default_rng(0)
    model = scratch.Sequential(scratch.Conv2D(2, 3, 3, rng, padding=1, bias=False, dtype=np.float64),
                               scratch.BatchNorm(3, dtype=np.float64),  # a bias before BN has gradient exactly 0
                               scratch.Tanh(), scratch.MaxPool2D(2), scratch.Flatten(), scratch.Dense(12, 4, rng, dtype=np.float64))
    errors = scratch.check_layer(model, rng.standard_normal((3, 2, 4, 4)))
    assert max(errors.values()) < 1e-6, errors


def test_gradcheck_catches_a_wrong_backward():
    class Wrong(scratch.ReLU):
        def backward(self, dout):
            return dout  # ignores the mask

    errors = scratch.check_layer(Wrong(), np.random.default_rng(0).standard_normal((4, 5)))
    assert errors["input"] > 0.1
