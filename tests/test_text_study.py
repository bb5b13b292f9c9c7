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
