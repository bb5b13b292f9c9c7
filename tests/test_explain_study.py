"""Explanations inside studies and through `deepstudy explain RUN_DIR`: files, report, bad input."""
from pathlib import Path

import pytest

from conftest import tiny_study
from deepstudy.fileio import read_json

CNN = {"name": "cnn", "channels": [8, 16], "batch_norm": True}


def _run_dir(out: str) -> Path:
    line = [ln for ln in out.splitlines() if ln.startswith("report: ")][-1]
    return Path(line.removeprefix("report: ")).parent


def test_study_with_explanations_and_gradient_flow(cli, tmp_path):
    study = tiny_study(tmp_path, model=CNN, arms={"cnn": {}, "mlp": {"model": {"name": "mlp", "hidden": [32]}}},
                       analyses=["curves", "gradcam", "saliency", "feature-maps", "gradient-flow"],
                       explain={"examples": 6, "sanity_examples": 3})
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = _run_dir(r.out)
    res = read_json(run / "results.json")
    cnn, mlp = res["arms"]["cnn"], res["arms"]["mlp"]
    assert set(cnn["explain"]["methods"]) == {"gradcam", "saliency"} and cnn["explain"]["methods"]["gradcam"]["n"] == 2
    assert "gradcam" in mlp["explain"]["skipped"] and set(mlp["explain"]["methods"]) == {"saliency"}
    assert cnn["gradient_flow"]["layers"][0] == "features.0.0" and len(cnn["gradient_flow"]["first"]) == len(cnn["gradient_flow"]["layers"])
    flow = cnn["gradient_flow"]
    assert len(flow["init"]) == len(flow["layers"]) and all(v > 0 for v in flow["init"])  # measured before any update
    init0 = read_json(run / "arms" / "cnn" / "seed-0" / "grad_init.json")
    assert flow["ratio"]["init"]["n"] == 2 and flow["ratio"]["init"]["values"][0] == pytest.approx(
        init0[flow["layers"][0]] / init0[flow["layers"][-1]])
    dead = flow["dead_units"]  # ReLU units of the cnn, at initialization and as tested
    assert dead["init"]["n"] == dead["trained"]["n"] == 2 and 0 <= dead["trained"]["mean"] <= 1
    units = read_json(run / "arms" / "cnn" / "seed-0" / "units.json")
    assert set(units) == {"init", "trained"} and set(dead["per_layer"]) == set(units["init"])
    for f in ("explain-cnn.png", "explain-mlp.png", "sanity.png", "faithfulness.png", "features.png", "gradient-flow.png"):
        assert (run / "figures" / f).is_file(), f
    seed = read_json(run / "arms" / "cnn" / "seed-0" / "explain.json")
    assert seed["examples"] == 6 and 0 <= seed["wrong"] <= 3
    html = (run / "report.html").read_text()
    assert "Can the explanations be trusted?" in html and "gradcam" in html and "skipped:" in html
    assert "Dead units" in html


def test_explain_command_adds_methods_to_a_finished_run(cli, tmp_path):
    r = cli("run", str(tiny_study(tmp_path, model=CNN, arms={"cnn": {}}, seeds=1)), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = _run_dir(r.out)
    assert "explain" not in read_json(run / "results.json")["arms"]["cnn"]
    config_before = (run / "config.yaml").read_text()
    bad = cli("explain", str(run), "--method", "gradcam", "--layer", "features.9")
    assert bad.code == 2 and "'features.9' is not a layer" in bad.err and "Traceback" not in bad.err
    assert (run / "config.yaml").read_text() == config_before and not (run / "arms/cnn/seed-0/explain.json").exists()
    ok = cli("explain", str(run), "--method", "occlusion", "--method", "integrated-gradients", "--n", "4")
    assert ok.code == 0, ok.err
    res = read_json(run / "results.json")
    assert set(res["arms"]["cnn"]["explain"]["methods"]) == {"occlusion", "integrated-gradients"}
    assert "occlusion" in res["analyses"] and "occlusion" in (run / "config.yaml").read_text()
    assert "Can the explanations be trusted?" in (run / "report.html").read_text()


def test_explain_bad_inputs(cli, tmp_path):
    assert cli("explain", str(tmp_path), "--method", "gradcam").code == 2
    assert cli("explain", str(tmp_path), "--method", "lime").code == 2  # not a method: argparse's message
    r = cli("run", str(tiny_study(tmp_path, task="scratch", analyses=["saliency"])), "--out", str(tmp_path / "r"))
    assert r.code == 2 and "task: classify" in r.err and not (tmp_path / "r").exists()


def test_misnamed_layer_stops_before_training(cli, tmp_path):
    r = cli("run", str(tiny_study(tmp_path, model=CNN, analyses=["gradcam"], explain={"layer": "features.1.O"})),
            "--out", str(tmp_path / "r"))
    assert r.code == 2 and "features.1.0" in r.err and not (tmp_path / "r").exists()


def test_data_randomization_arm(cli, tmp_path):
    """An arm trained on permuted labels beside an identical arm: the report compares their maps."""
    study = tiny_study(tmp_path, model=CNN, arms={"cnn": {}, "cnn-random-labels": {"data.permute_labels": True,
                                                                        "train.early_stopping.monitor": "last"}},
                       analyses=["gradcam", "saliency"], explain={"examples": 4, "sanity_examples": 4}, seeds=1)
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = _run_dir(r.out)
    res = read_json(run / "results.json")
    control = read_json(run / "arms" / "cnn" / "seed-0" / "data_randomization.json")
    assert control["control_arm"] == "cnn-random-labels" and set(control["spearman"]) == {"gradcam", "saliency"}
    assert all(-1 <= v <= 1 for v in control["spearman"].values())
    assert res["arms"]["cnn"]["explain"]["methods"]["saliency"]["spearman_labels"]["n"] == 1
    assert res["arms"]["cnn-random-labels"]["summary"]["accuracy"]["mean"] < res["arms"]["cnn"]["summary"]["accuracy"]["mean"]
    assert "label-permuted model" in (run / "report.html").read_text()
