"""Sequence models: the written-out LSTM equals nn.LSTM, attention masks and the argmax attention's
missing gradient, padding invariance of the packed encoders, and the character LM's sampling."""
import pytest
import torch
from torch import nn

from deepstudy.models.rnn import Attention, CharLM, ConvNet1d, MaskedBatchNorm1d, RecurrentNet, WrittenLSTM


def test_written_lstm_equals_nn_lstm_forward_and_backward():
    torch.manual_seed(0)
    ours, ref = WrittenLSTM(5, 7), nn.LSTM(5, 7, batch_first=True)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ref, f"{name}_l0").copy_(getattr(ours.cell, name))
    x = torch.randn(3, 9, 5)
    out, (h, c) = ours(x)
    ref_out, (ref_h, ref_c) = ref(x)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close((h, c), (ref_h[0], ref_c[0]), rtol=1e-5, atol=1e-6)
    out.square().sum().backward()
    ref_out.square().sum().backward()
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        torch.testing.assert_close(getattr(ours.cell, name).grad, getattr(ref, f"{name}_l0").grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kind", Attention.KINDS)
def test_attention_ignores_padding_and_weights_sum_to_one(kind):
    torch.manual_seed(0)
    att = Attention(8, kind)
    keys, query = torch.randn(2, 6, 8), torch.randn(2, 8)
    pad = torch.tensor([[False] * 6, [False] * 3 + [True] * 3])
    ctx, w = att(query, keys, pad)
    assert torch.allclose(w.sum(1), torch.ones(2)) and (w[1, 3:] == 0).all()
    keys2 = keys.clone()
    keys2[1, 3:] = 100.0  # whatever sits in the padded steps
    torch.testing.assert_close(att(query, keys2, pad)[0], ctx)


def test_argmax_attention_passes_no_gradient_to_the_scores():
    """Soft attention sends gradient to every step's key (through the scores); argmax only to the chosen one."""
    torch.manual_seed(0)
    grads = {}
    for kind in ("dot", "argmax"):
        keys = torch.randn(1, 6, 4, requires_grad=True)
        ctx, w = Attention(4, kind)(torch.randn(1, 4), keys)
        ctx.sum().backward()
        grads[kind] = keys.grad.abs().sum(-1)[0]
    assert (grads["dot"] > 0).all()
    assert (grads["argmax"] > 0).sum() == 1


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("attention", [None, "additive"])
def test_recurrent_net_is_blind_to_padding(cell, attention):
    torch.manual_seed(0)
    net = RecurrentNet(3, vocab_size=30, embed_dim=8, cell=cell, hidden=8, layers=2, bidirectional=True,
                       attention=attention).eval()
    ids = torch.randint(1, 30, (2, 5))
    padded = torch.cat([ids, torch.zeros(2, 3, dtype=torch.long)], 1)
    torch.testing.assert_close(net(ids), net(padded), rtol=1e-5, atol=1e-6)
    if attention:
        assert net.last_attention.shape == (2, 8) and (net.last_attention[:, 5:] == 0).all()


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_blind_encoder_equals_torch_on_packed_sequences(cell, bidirectional):
    """The oracle: torch's own packed path, which never reads padding, on a batch of mixed lengths — forward and
    gradients; padded steps come out zero."""
    torch.manual_seed(0)
    net = RecurrentNet(3, vocab_size=30, embed_dim=6, cell=cell, hidden=5, layers=3, bidirectional=bidirectional)
    lengths = torch.tensor([7, 2, 5, 1])
    emb = torch.randn(4, 7, 6, requires_grad=True)
    ours = net.rnn(emb, lengths)
    packed = nn.utils.rnn.pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False)
    fused = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
    assert isinstance(net.rnn, fused)  # same weights, names and init as torch's module
    theirs = nn.utils.rnn.pad_packed_sequence(fused.forward(net.rnn, packed)[0], batch_first=True, total_length=7)[0]
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    weight = torch.randn_like(ours)
    g_ours = torch.autograd.grad((ours * weight).sum(), [emb, *net.rnn.parameters()])
    g_theirs = torch.autograd.grad((theirs * weight).sum(), [emb, *net.rnn.parameters()])
    for a, b in zip(g_ours, g_theirs):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert (ours[1, 2:] == 0).all() and (ours[3, 1:] == 0).all()


def test_masked_batch_norm_equals_batch_norm_on_the_real_steps_only():
    """The oracle: nn.BatchNorm1d on the real steps of every row laid end to end — outputs, running statistics
    (two updates) and gradients; eval mode is nn.BatchNorm1d's."""
    torch.manual_seed(0)
    ours, ref = MaskedBatchNorm1d(4), nn.BatchNorm1d(4)
    with torch.no_grad():
        ours.weight.uniform_(0.5, 2), ours.bias.normal_()
        ref.load_state_dict(ours.state_dict())
    lengths = [7, 3, 5]
    real = (torch.arange(7) < torch.tensor(lengths)[:, None]).unsqueeze(1)  # (3, 1, 7)
    for _ in range(2):
        h = (torch.randn(3, 4, 7) * 3 + 1).requires_grad_()
        out = ours(h, real)
        joined = torch.cat([h[i, :, :n] for i, n in enumerate(lengths)], 1).unsqueeze(0)  # (1, 4, 15)
        expected = ref(joined)
        torch.testing.assert_close(torch.cat([out[i, :, :n] for i, n in enumerate(lengths)], 1).unsqueeze(0), expected)
    torch.testing.assert_close((ours.running_mean, ours.running_var), (ref.running_mean, ref.running_var))
    g = torch.randn_like(expected)
    ga = torch.autograd.grad((torch.cat([out[i, :, :n] for i, n in enumerate(lengths)], 1) * g[0]).sum(), [ours.weight, ours.bias])
    gb = torch.autograd.grad((expected * g).sum(), [ref.weight, ref.bias])
    torch.testing.assert_close(ga, gb)
    ours.eval(), ref.eval()
    torch.testing.assert_close(ours(h, real), ref(h))


def test_conv_net_on_tokens_is_blind_to_padding():
    """Each text alone gives the same outputs as in a batch padded to a longer text (eval), and a batch's training
    step does not depend on how much padding it carries."""
    torch.manual_seed(0)
    net = ConvNet1d(3, vocab_size=30, embed_dim=6, channels=(8, 8), kernel_size=3, dilate=True)
    texts = [torch.randint(1, 30, (n,)) for n in (9, 4, 1)]
    batch = nn.utils.rnn.pad_sequence(texts, batch_first=True)  # (3, 9), padding id 0 after the real steps
    longer = torch.cat([batch, torch.zeros(3, 5, dtype=torch.long)], 1)
    torch.testing.assert_close(net(batch), net(longer))  # training mode: batch statistics over real steps only
    net.eval()
    alone = torch.cat([net(t.unsqueeze(0)) for t in texts])
    torch.testing.assert_close(net(batch), alone, rtol=1e-5, atol=1e-6)


def test_many_to_many_and_numeric_inputs():
    x = torch.randn(4, 12, 13)  # 12 hours of the 13 Air Quality variables
    assert RecurrentNet(13, in_features=13, hidden=16, output="all")(x).shape == (4, 12, 13)
    assert RecurrentNet(13, in_features=13, hidden=16, cell="gru")(x).shape == (4, 13)
    assert ConvNet1d(13, in_features=13, channels=(16, 16), dilate=True)(x).shape == (4, 13)
    assert ConvNet1d(5, vocab_size=40, embed_dim=8, channels=(16,), output="all")(torch.randint(0, 40, (2, 9))).shape == (2, 9, 5)


def test_char_lm_generation_is_seeded_and_greedy_at_low_temperature():
    torch.manual_seed(0)
    lm = CharLM(20, embed_dim=8, hidden=16, layers=1)
    prefix = torch.tensor([1, 2, 3])
    a = lm.generate(prefix, 10, generator=torch.Generator().manual_seed(1))
    b = lm.generate(prefix, 10, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (10,)
    greedy = lm.generate(prefix, 1, temperature=1e-8, generator=torch.Generator().manual_seed(2))
    assert greedy.item() == lm(prefix.unsqueeze(0))[0][0, -1].argmax().item()


@pytest.mark.parametrize("name", ["rnn", "conv1d", "transformer"])
def test_registered_text_models_fit_one_batch(name):
    from deepstudy import models

    torch.manual_seed(0)
    y = torch.arange(12) % 3
    ids = torch.randint(3, 40, (12, 10))
    ids[:, 2] = y  # the class is written in the third token
    ids[:6, 8:] = 0  # and some rows are padded
    model = models.build(name, (10,), 3, vocab_size=40, **models.entry(name).tiny)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(ids), y)
        loss.backward()
        opt.step()
    model.eval()
    assert (model(ids).argmax(1) == y).all(), f"{name}: loss {loss.item():.3f}"


def test_token_models_need_text_and_image_models_refuse_it():
    from deepstudy import models
    from deepstudy.errors import UserError

    with pytest.raises(UserError, match="token ids or time series"):
        models.build("rnn", (10,), 2)
    with pytest.raises(UserError, match="text dataset"):
        models.build("transformer", (10,), 2)
    assert models.build("rnn", (24, 12), 12, hidden=8)(torch.randn(3, 24, 12)).shape == (3, 12)  # a forecaster
    with pytest.raises(UserError, match="does not read text"):
        models.build("mlp", (10,), 2, vocab_size=50)
