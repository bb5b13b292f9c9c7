"""task: language-model — n-gram baselines against hand counts, stateful scoring, the study end to end."""
import math

import numpy as np
import pytest
import torch
import yaml

from deepstudy.fileio import read_json
from deepstudy.models.rnn import CharLM
from deepstudy.tasks.language_model import ngram_nll, stream_scores


def test_ngram_nll_matches_hand_counts():
    train = np.array([0, 1, 0, 1, 0, 2])  # bigrams: 01 x2, 10 x2, 02 x1
    ev, history = np.array([1, 2]), np.array([0])  # predicts 1 after 0, then 2 after 1
    k, v = 0.5, 3
    p01 = (2 + k) / (3 + k * v)  # count(0 1) / count(0 .)
    p12 = (0 + k) / (2 + k * v)  # count(1 2) / count(1 .)
    assert math.isclose(ngram_nll(train, ev, history, 2, k, v), -(math.log(p01) + math.log(p12)) / 2)
    unigram = [(np.sum(train == c) + k) / (len(train) + k * v) for c in (1, 2)]
    assert math.isclose(ngram_nll(train, ev, history, 1, k, v), -np.mean(np.log(unigram)))


def test_stream_scores_carry_the_state():
    torch.manual_seed(0)
    lm = CharLM(7, embed_dim=4, hidden=8, layers=1, dropout=0.0).eval()
    ids = torch.randint(0, 7, (1000,))
    a, b = stream_scores(lm, ids, seq_len=10), stream_scores(lm, ids, seq_len=97)
    assert a["characters"] == b["characters"]
    assert math.isclose(a["loss"], b["loss"], rel_tol=1e-5)  # chunking does not matter when the state is carried
    assert math.isclose(a["perplexity"], math.exp(a["loss"])) and math.isclose(a["bits_per_char"], a["loss"] / math.log(2))


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_charlm_cells_generate(cell):
    lm = CharLM(5, embed_dim=4, hidden=8, layers=2, cell=cell)
    out = lm.generate(torch.tensor([0, 1, 2]), 20, temperature=0.8, generator=torch.Generator().manual_seed(0))
    assert out.shape == (20,) and int(out.max()) < 5


def _corpus(tmp_path):
    rng = np.random.default_rng(0)
    words = ["the ", "king ", "and ", "queen ", "shall ", "speak ", "to ", "thee\n"]
    text = "".join(rng.choice(words) for _ in range(4000))
    path = tmp_path / "corpus.txt"
    path.write_text(text)
    return path


def _study(tmp_path, **extra):
    study = {"name": "lm", "task": "language-model",
             "data": {"name": "words", "format": "text-corpus", "path": str(_corpus(tmp_path))},
             "model": {"name": "char-rnn", "embed_dim": 16, "hidden": 64, "layers": 1, "dropout": 0.0},
             "train": {"epochs": 3, "batch_size": 32, "optimizer": {"name": "adamw", "lr": 0.01}, "grad_clip": 1.0},
             "lm": {"seq_len": 32, "steps_per_epoch": 30, "sample_length": 60, "ngram_orders": [1, 2, 3]},
             "arms": {"lstm": {}, "gru": {"model.cell": "gru"}}, "seeds": 1, "analyses": ["curves"]}
    study.update(extra)
    path = tmp_path / "lm.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def test_language_model_study_beats_unigram_and_reports_samples(cli, tmp_path):
    r = cli("run", str(_study(tmp_path)), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = next((tmp_path / "runs" / "lm").iterdir())
    res = read_json(run / "results.json")
    assert res["metric"] == "perplexity" and set(res["ngram"]) == {"1", "2", "3"}
    unigram = res["ngram"]["1"]["test_perplexity"]
    assert res["ngram"]["3"]["test_perplexity"] < unigram  # the text has structure a trigram sees
    lstm = res["arms"]["lstm"]
    assert lstm["summary"]["perplexity"]["mean"] < unigram  # it learned more than character frequencies
    samples = (run / "arms" / "lstm" / "seed-0" / "samples.jsonl").read_text().splitlines()
    assert len(samples) == 3 * 2  # epochs x temperatures
    md = (run / "report.md").read_text()
    assert "3-gram counts" in md and "generated text" in md and "counting which characters follow which" in md
    assert res["comparison"]["best"] in ("lstm", "gru")


def test_language_model_bad_inputs(cli, tmp_path):
    r = cli("run", str(_study(tmp_path, model={"name": "mlp"})), "--out", str(tmp_path / "r"))
    assert r.code == 2 and "char-rnn" in r.err
    r = cli("run", str(_study(tmp_path, data={"name": "digits"})), "--out", str(tmp_path / "r"))
    assert r.code == 2 and "text corpus" in r.err
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe" * 2000)
    r = cli("run", str(_study(tmp_path, data={"name": "x", "format": "text-corpus", "path": str(bad)})), "--out", str(tmp_path / "r"))
    assert r.code == 2 and "not UTF-8" in r.err
    study = yaml.safe_load(_study(tmp_path).read_text())
    study["task"] = "classify"
    study["model"], study["arms"] = {"name": "mlp"}, {"a": {}}
    study.pop("lm", None)  # a section task classify does not read: refused before the data are
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(study))
    r = cli("run", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r"))
    assert r.code == 2 and "task: language-model" in r.err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("config.yaml"))
