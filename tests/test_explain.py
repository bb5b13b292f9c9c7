"""deepstudy.explain against Captum as the oracle, and the checks that tell a user whether to trust a map."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deepstudy import config, data, explain, models, train
from deepstudy.explain.gradcam import gradcam


def _cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return models.build("cnn", (1, 28, 28), 10, channels=[8, 16], hidden=[32], global_pool=False).eval()


class _Conv1dNet(nn.Module):
    """A temporal-convolution classifier: (N, C, L) -> logits; what 1-D Grad-CAM must handle."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv1d(3, 8, 5, padding=2), nn.Conv1d(8, 8, 3, padding=1)
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        h = F.relu(self.conv2(F.max_pool1d(F.relu(self.conv1(x)), 2)))
        return self.head(h.mean(2))


@pytest.fixture(scope="module")
def mnist_cnn():
    """A small CNN trained for two epochs on 3,000 MNIST images (~98% is not needed: ~95% is plenty)."""
    from conftest import SHARED_DATA

    if not (SHARED_DATA / "mnist").is_dir():
        pytest.skip("shared data not found (set DEEPSTUDY_DATA)")
    import os
    os.environ.setdefault("DEEPSTUDY_DATA", str(SHARED_DATA))
    ds = data.load(config.DataConfig(name="mnist", train_limit=3000), split_seed=0)
    model = _cnn()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in train.fit(model, ds.batches("train", 64, train=True, seed=0).epoch, ds.batches("val", 512),
                       optimizer=opt, scheduler=None, loss_fn=nn.CrossEntropyLoss(), epochs=2,
                       device=torch.device("cpu"), seed=0):
        pass
    x, y = next(iter(ds.batches("test", 32)))
    return model.eval(), x, y


def test_gradcam_equals_captum_layer_gradcam_upsampled():
    from captum.attr import LayerAttribution, LayerGradCam

    model, x = _cnn(), torch.randn(5, 1, 28, 28)
    target = model(x).argmax(1)
    layer = explain.target_layer(model, x)
    assert layer == "features"  # the last conv block's output (BN, ReLU, pool): 7x7
    ours = gradcam(model, x, target, layer)
    ref = LayerGradCam(model, model.get_submodule(layer)).attribute(x, target=target, relu_attributions=True)
    ref = LayerAttribution.interpolate(ref, (28, 28), interpolate_mode="bilinear").squeeze(1)
    assert ours.shape == (5, 28, 28)
    torch.testing.assert_close(ours, ref.detach(), rtol=1e-5, atol=1e-6)


def test_gradcam_works_on_1d_convolutions_and_matches_captum():
    from captum.attr import LayerGradCam

    torch.manual_seed(0)
    model, x = _Conv1dNet().eval(), torch.randn(4, 3, 32)
    target = torch.tensor([0, 1, 2, 3])
    assert explain.target_layer(model, x) == "conv2"
    raw = gradcam(model, x, target, "conv2", mode="nearest")  # 16 steps -> 32 by repetition
    ref = LayerGradCam(model, model.conv2).attribute(x, target=target, relu_attributions=True).detach().squeeze(1)
    torch.testing.assert_close(raw, ref.repeat_interleave(2, dim=1), rtol=1e-5, atol=1e-6)
    for method in explain.METHODS:
        assert explain.attribute(model, x, target, method).shape == (4, 32), method


def test_gradcam_plus_plus_is_a_non_negative_map_that_differs_from_gradcam():
    """Grad-CAM++ weighs positive gradients per position: a non-negative map, not Grad-CAM's under another name."""
    model, x = _cnn(1), torch.randn(3, 1, 28, 28)
    cam = explain.attribute(model, x, model(x).argmax(1), "gradcam++")
    assert cam.shape == (3, 28, 28) and (cam >= 0).all() and cam.abs().sum() > 0
    assert not torch.allclose(cam, explain.attribute(model, x, model(x).argmax(1), "gradcam"))


def test_integrated_gradients_completeness():
    """Sum of attributions = f(x) - f(baseline) (Sundararajan et al., axiom), within 1% at 200 steps."""
    model, x = _cnn(2), torch.randn(4, 1, 28, 28)
    target = model(x).argmax(1)
    maps = explain.attribute(model, x, target, "integrated-gradients", steps=200, internal_batch_size=100)
    with torch.no_grad():
        gap = (model(x) - model(torch.zeros_like(x))).gather(1, target.view(-1, 1)).squeeze(1)
    assert ((maps.flatten(1).sum(1) - gap).abs() <= 0.01 * gap.abs()).all(), (maps.flatten(1).sum(1), gap)


def test_attributions_on_tables_and_the_mlp():
    torch.manual_seed(0)
    model = models.build("mlp", (6,), 3, hidden=[16]).eval()
    x = torch.randn(5, 6)
    for method in ("saliency", "smoothgrad", "integrated-gradients", "occlusion"):
        assert explain.attribute(model, x, torch.zeros(5, dtype=torch.long), method).shape == (5, 6)
    with pytest.raises(ValueError, match="needs a convolution"):
        explain.attribute(model, x, torch.zeros(5, dtype=torch.long), "gradcam")


def _edges(_model, x, _target):
    """An 'explanation' that never looks at the model: the image's gradient magnitude (Sobel)."""
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]).view(1, 1, 3, 3)
    return torch.hypot(F.conv2d(x, kx, padding=1), F.conv2d(x, kx.transpose(2, 3), padding=1)).squeeze(1)


def test_randomization_test_flags_an_input_only_explanation(mnist_cnn):
    model, x, y = mnist_cnn
    result = explain.randomization_test(model, x[:8], y[:8], _edges)
    assert result["spearman_all"] > 0.99 and not result["passed"]


def test_randomization_test_passes_gradcam_on_a_trained_cnn(mnist_cnn):
    model, x, y = mnist_cnn
    before = [p.clone() for p in model.parameters()]
    result = explain.randomization_test(model, x[:8], model(x[:8]).argmax(1),
                                        lambda m, xs, t: explain.attribute(m, xs, t, "gradcam"))
    assert result["spearman_all"] < explain.FLAG_AT and result["passed"]
    assert [c["layers"] for c in result["cascade"]][-1] == result["layers_total"] == 4
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the trained model is untouched


def test_gradcam_deletion_beats_random_order_on_trained_mnist_cnn(mnist_cnn):
    model, x, y = mnist_cnn
    target = model(x).argmax(1)
    assert (target == y).float().mean() > 0.85
    maps = explain.attribute(model, x, target, "gradcam")
    s = explain.deletion_insertion(model, x, target, maps, steps=20)
    assert s["deletion_auc"] < s["deletion_auc_random"] and s["insertion_auc"] > s["insertion_auc_random"]
    curve = s["deletion_curve"]
    with torch.no_grad():  # the curve starts at the model's own confidence and ends on the all-mean image
        p0 = F.softmax(model(x), 1).gather(1, target.view(-1, 1)).mean()
        p1 = F.softmax(model(torch.zeros_like(x)), 1).gather(1, target.view(-1, 1)).mean()
    assert curve[0] == pytest.approx(float(p0), abs=1e-5) and curve[-1] == pytest.approx(float(p1), abs=1e-5)


def test_explain_examples_and_features(mnist_cnn):
    model, x, y = mnist_cnn
    out = explain.explain_examples(model, x[:6], y[:6], ["gradcam", "occlusion"], features=True, sanity_n=3, steps=8)
    assert set(out["maps"]) == {"gradcam", "occlusion"} and out["maps"]["gradcam"].shape == (6, 28, 28)
    assert out["filters"].shape == (8, 1, 3, 3) and out["feature_maps"].shape == (16, 7, 7)
    assert np.array_equal(out["preds"], model(x[:6]).argmax(1).numpy())


def test_gradient_flow_is_recorded_without_changing_training():
    def run(grad_norms):
        torch.manual_seed(0)
        model = models.build("mlp", (6,), 3, hidden=[16, 16])
        x, y = torch.randn(64, 6), torch.randint(0, 3, (64,))
        batches = data.Batches(x, y, 16, shuffle=True)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        rows = list(train.fit(model, batches.epoch, data.Batches(x, y, 64), optimizer=opt, scheduler=None,
                              loss_fn=nn.CrossEntropyLoss(), epochs=2, device=torch.device("cpu"), seed=0,
                              grad_norms=grad_norms))
        return rows, model

    plain, m1 = run(False)
    flow, m2 = run(True)
    assert plain[0].grad_norms is None
    assert list(flow[0].grad_norms) == [n.removesuffix(".weight") for n, p in m2.named_parameters() if p.dim() > 1]
    assert all(v > 0 for v in flow[1].grad_norms.values())
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))


def test_token_attributions_and_attention_maps():
    from deepstudy.models.rnn import RecurrentNet
    from deepstudy.models.transformer import TransformerEncoder

    torch.manual_seed(0)
    ids = torch.randint(2, 30, (4, 9))
    ids[2:, 6:] = 0  # padded rows
    target = torch.tensor([0, 1, 2, 0])
    rnn = RecurrentNet(3, vocab_size=30, embed_dim=8, hidden=8, bidirectional=True, attention="additive").eval()
    for method in ("saliency", "integrated-gradients", "occlusion"):
        a = explain.attribute(rnn, ids, target, method)
        assert a.shape == (4, 9) and a.isfinite().all(), method
    assert (explain.attribute(rnn, ids, target, "occlusion")[2:, 6:] == 0).all()  # padding is never "occluded"
    ig = explain.attribute(rnn, ids, target, "integrated-gradients", steps=300)
    with torch.no_grad():
        emb = rnn.embed.weight
        out = rnn(ids).gather(1, target.view(-1, 1)).squeeze(1)
        rnn.embed.weight = nn.Parameter(torch.zeros_like(emb))  # the all-<pad> baseline, same lengths
        base = rnn(ids).gather(1, target.view(-1, 1)).squeeze(1)
        rnn.embed.weight = emb
    assert torch.allclose(ig.sum(1), out - base, rtol=0.02, atol=1e-4)  # completeness at the embedding layer
    from deepstudy.explain.methods import attention_weights

    w = attention_weights(rnn, ids)
    assert w.shape == (4, 9) and torch.allclose(w.sum(1), torch.ones(4)) and (w[2:, 6:] == 0).all()
    tr = TransformerEncoder(30, 3, dim=16, depth=2, heads=2).eval()
    w = attention_weights(tr, ids)
    assert w.shape == (4, 9) and torch.allclose(w.sum(1), torch.ones(4), atol=1e-5) and (w[2:, 6:] < 1e-6).all()
    result = explain.explain_examples(tr, ids, target, ["saliency", "smoothgrad"], attention=True, sanity_n=2)
    assert "smoothgrad" in result["skipped"] and result["attention"].shape == (4, 9)
    assert 0 <= result["scores"]["saliency"]["deletion_auc"] <= 1


def test_padding_is_left_out_of_token_sanity_and_last_in_every_deletion_order():
    from deepstudy.explain.sanity import rank_correlation

    a = torch.tensor([[3.0, 1.0, 2.0, 0.0, 0.0, 0.0]])
    b = torch.tensor([[1.0, 2.0, 3.0, 0.0, 0.0, 0.0]])
    real = torch.tensor([[True, True, True, False, False, False]])
    assert rank_correlation(a, b, real) == pytest.approx(-0.5)
    assert rank_correlation(a, b) > 0.5  # the shared zeros alone make unrelated maps look alike

    class CountTokens(nn.Module):  # logit of class 1 = number of real tokens: every real token matters
        def forward(self, ids):
            n = (ids != 0).float().sum(1, keepdim=True)
            return torch.cat([torch.zeros_like(n), n], 1)

    ids = torch.tensor([[5, 6, 7, 0, 0, 0, 0, 0]])
    maps = torch.zeros(1, 8, dtype=torch.float32)
    s = explain.deletion_insertion(CountTokens(), ids, torch.tensor([1]), maps, steps=8, random_orders=3)
    assert s["deletion_auc"] == pytest.approx(s["deletion_auc_random"])  # all orders delete the 3 words first
    assert s["deletion_curve"][3:] == pytest.approx([0.5] * 6)  # 3 words gone after 3 of 8 steps


def test_word_heatmaps_show_the_stretch_a_long_text_is_weighted_most():
    from deepstudy.report.explain_plots import heaviest_stretch
    weight = np.zeros(200)
    weight[150:156] = 1.0
    start = heaviest_stretch(weight, 36)
    assert start <= 150 and start + 36 >= 156  # the whole peak is shown
    assert heaviest_stretch(np.ones(20), 36) == 0  # short texts from the first word


def test_dead_units_finds_a_dead_relu_and_a_saturated_sigmoid_and_changes_nothing():
    from deepstudy.train.units import dead_fraction, dead_units

    torch.manual_seed(0)
    x = torch.randn(128, 4)
    relu = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Dropout(0.5), nn.BatchNorm1d(4), nn.Linear(4, 2))
    leaky = nn.Sequential(nn.Linear(4, 4), nn.LeakyReLU(), nn.Linear(4, 2))
    sigmoid = nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 2))
    with torch.no_grad():
        for net in (relu, leaky):
            net[0].bias.copy_(torch.tensor([-1e3, -1e3, 0.0, 0.0]))  # units 0 and 1: never positive
        sigmoid[0].bias.copy_(torch.tensor([1e3, 0.0, 0.0, 0.0]))  # unit 0: saturated at 1
    before = {k: v.clone() for k, v in relu.state_dict().items()}
    state = torch.get_rng_state()
    relu.train()
    assert dead_units(relu, x) == {"1": {"units": 4, "dead": 0.5}}
    assert relu.training and torch.equal(torch.get_rng_state(), state)  # mode restored, no random numbers drawn
    assert all(torch.equal(before[k], v) for k, v in relu.state_dict().items())  # BN statistics untouched
    assert dead_units(leaky, x)["1"]["dead"] == 0.0  # LeakyReLU's negative side still varies
    assert dead_units(sigmoid, x)["1"]["dead"] == 0.25
    assert dead_fraction({"a": {"units": 4, "dead": 0.5}, "b": {"units": 12, "dead": 0.0}}) == 0.125
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    with torch.no_grad():
        conv[0].bias.copy_(torch.tensor([-1e3, 0.0]))
    assert dead_units(conv, torch.randn(8, 1, 6, 6)) == {"1": {"units": 2, "dead": 0.5}}  # a channel is a unit
    tokens = nn.Sequential(nn.Linear(4, 8), nn.ReLU())  # (batch, tokens, features): a feature is a unit
    with torch.no_grad():
        tokens[0].bias.copy_(torch.tensor([-1e3] * 2 + [0.0] * 6))
    assert dead_units(tokens, torch.randn(16, 5, 4)) == {"1": {"units": 8, "dead": 0.25}}
    conv1d = nn.Sequential(nn.Conv1d(4, 3, 1), nn.ReLU())  # (batch, channels, length) after a 1-D convolution
    assert dead_units(conv1d, torch.randn(16, 4, 5))["1"]["units"] == 3
    assert dead_units(nn.LSTM(4, 3, batch_first=True), torch.randn(2, 5, 4)) == {}  # functional tanh: nothing measured
    with pytest.raises(ValueError, match="no unit"):
        dead_fraction({})
