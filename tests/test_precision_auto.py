"""train.precision: auto — decided once per arm by the driver, recorded in precision.json, reused on resume."""
import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import tiny_study

from deepstudy import config, study, study_data, study_precision, tasks, train
from deepstudy.config import TrainConfig
from deepstudy.rundir import RunDir
from deepstudy.train import precision

CPU = torch.device("cpu")


def _auto_study(tmp_path: Path, **overrides) -> Path:
    return tiny_study(tmp_path, **{"seeds": 1, "arms": {"a": {}}, "analyses": [], "train.precision": "auto",
                                   "train.epochs": 2, **overrides})


def _probe_returns(monkeypatch, speedup: float | None) -> list[int]:
    """The probe mocked: it says bf16 is ``speedup`` times faster (None: it must not run); returns its call count."""
    calls = []

    def fake(setup, device):
        assert speedup is not None, "the probe ran where it must not"
        calls.append(1)
        return {"fp32_ms": 1.0, "bf16_ms": 1.0 / speedup, "speedup": speedup, "steps": 5}
    monkeypatch.setattr(precision, "probe_speed", fake)
    return calls


def _seed_numbers(run: Path) -> tuple[list[dict], dict]:
    seed = run / "arms" / "a" / "seed-0"
    rows = [{k: v for k, v in json.loads(r).items() if "seconds" not in k}
            for r in (seed / "metrics.jsonl").read_text().splitlines()]
    return rows, json.loads((seed / "result.json").read_text())["test"]


def test_the_default_is_auto_and_the_schema_states_the_threshold():
    field = TrainConfig.model_fields["precision"]
    assert field.default == "auto" and f"{precision.AUTO_SPEEDUP}x" in field.description
    assert config.validate({"name": "x", "task": "som"}).train.precision == "fp32"  # a task without the key


def test_auto_on_a_cpu_without_native_bf16_is_fp32_with_no_probe(cli, tmp_path, monkeypatch):
    _probe_returns(monkeypatch, None)  # conftest: auto sees no native bf16
    r = cli("run", str(_auto_study(tmp_path)), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    note = "precision auto → fp32 (this CPU has no native bf16): arm(s) a"
    assert r.out.count(note) == 1, r.out
    run = next((tmp_path / "runs").glob("*/*"))
    assert json.loads((run / "precision.json").read_text())["arms"]["a"] == {
        "asked": "auto", "used": "fp32", "why": "this CPU has no native bf16", "probe": None, "device": "cpu"}
    assert json.loads((run / "arms/a/seed-0/result.json").read_text())["precision"] == "fp32"
    assert note in json.loads((run / "results.json").read_text())["notes"]
    assert f"Note: {note}." in (run / "report.md").read_text()
    assert "precision: auto" in (run / "config.yaml").read_text()  # the study as asked; the choice is recorded


@pytest.mark.parametrize("speedup, used", [(1.5, "bf16"), (1.19, "fp32")])
def test_auto_with_native_bf16_follows_the_probe_and_records_it(tmp_path, monkeypatch, speedup, used):
    monkeypatch.setattr(study_precision, "native_bf16", lambda: True)
    calls = _probe_returns(monkeypatch, speedup)
    cfg = config.load(str(_auto_study(tmp_path, arms={"a": {}, "fixed": {"train.precision": "fp32"}})))
    arms = study.check(cfg)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    events = []
    resolved = study_precision.resolve(arms, study_data.load(arms), run, CPU, events.append)
    assert resolved["a"].train.precision == used and resolved["fixed"].train.precision == "fp32"
    assert len(calls) == 1  # only the arm that asks for auto is probed
    record = json.loads(run.precision.read_text())["arms"]
    assert list(record) == ["a"] and record["a"]["used"] == used and record["a"]["probe"]["speedup"] == speedup
    assert [e["text"] for e in events] == [f"precision auto → {used} ({record['a']['why']}): arm(s) a"]
    assert (f"{speedup:.2f}x faster" if used == "bf16" else "below 1.2x") in record["a"]["why"]


def test_auto_on_cuda_asks_the_gpu_not_a_probe(monkeypatch):
    for supported, used in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda supported=supported: supported)
        choice = precision.choose_auto(torch.device("cuda"), False, probe=lambda: pytest.fail("probed on CUDA"))
        assert choice["used"] == used and choice["probe"] is None


def test_the_recorded_choice_is_reused_on_resume_without_a_second_probe(cli, tmp_path, monkeypatch):
    """A seed trained again on resume (its folder gone) trains in the recorded precision; nothing is probed."""
    monkeypatch.setattr(study_precision, "native_bf16", lambda: True)
    _probe_returns(monkeypatch, 1.5)
    r = cli("run", str(_auto_study(tmp_path, **{"train.epochs": 1})), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = next((tmp_path / "runs").glob("*/*"))
    recorded = (run / "precision.json").read_text()
    used = json.loads((run / "arms/a/seed-0/result.json").read_text())["precision"]
    assert used == train.autocast("bf16", CPU)[1]  # bf16, or fp32 with the fallback said where the CPU lacks it
    shutil.rmtree(run / "arms/a/seed-0")
    (run / "results.json").unlink()
    _probe_returns(monkeypatch, None)  # a second probe fails the test
    monkeypatch.setattr(study_precision, "native_bf16", lambda: pytest.fail("auto decided again on resume"))
    r = cli("run", "--resume", str(run))
    assert r.code == 0, r.err
    assert "precision auto → bf16 (probe: bf16 1.50x faster): arm(s) a" in r.out
    assert (run / "precision.json").read_text() == recorded
    assert json.loads((run / "arms/a/seed-0/result.json").read_text())["precision"] == used


def test_an_auto_run_whose_probe_picks_fp32_is_bit_identical_to_an_fp32_run(tmp_path, monkeypatch):
    """The real probe (it builds and trains the model) runs first and picks fp32: the seed draws the same random
    numbers as a run that never probed."""
    monkeypatch.setattr(study_precision, "native_bf16", lambda: True)
    monkeypatch.setattr(precision, "AUTO_SPEEDUP", float("inf"))  # whatever the timing: fp32
    auto = study.run(config.load(str(_auto_study(tmp_path, **{"model.dropout": 0.2}))), out_root=tmp_path / "auto")
    probe = json.loads((auto / "precision.json").read_text())["arms"]["a"]["probe"]
    assert probe["steps"] >= 2 and probe["fp32_ms"] > 0  # it really ran
    fixed = study.run(config.load(str(_auto_study(tmp_path, **{"train.precision": "fp32", "model.dropout": 0.2}))),
                      out_root=tmp_path / "fixed")
    assert _seed_numbers(auto) == _seed_numbers(fixed)


def test_the_probe_leaves_the_random_state_as_it_was_and_times_both_precisions(tmp_path):
    cfg = config.load(str(_auto_study(tmp_path, **{"model.dropout": 0.2})))
    arms = study.check(cfg)
    ds = study_data.load(arms)["a"]
    torch.manual_seed(3)
    before = torch.random.get_rng_state()
    found = precision.probe_speed(tasks.get("classify").precision_probe(arms["a"], ds, CPU), CPU)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert found["fp32_ms"] > 0 and found["bf16_ms"] > 0 and found["speedup"] == pytest.approx(
        found["fp32_ms"] / found["bf16_ms"], rel=0.01)


def test_a_language_model_has_a_probe(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat. " * 100)
    cfg = config.load(str(tiny_study(tmp_path, task="language-model", seeds=1, arms={"lstm": {}}, analyses=[],
                                     data={"name": "toy", "format": "text-corpus", "path": str(corpus)},
                                     model={"name": "char-rnn", "hidden": 16, "embed_dim": 8},
                                     lm={"seq_len": 16, "steps_per_epoch": 2, "sample_length": 10},
                                     train={"epochs": 1, "batch_size": 4, "precision": "auto",
                                            "optimizer": {"name": "adamw", "lr": 1e-2}})))
    arms = study.check(cfg)
    choice = study_precision.decide(arms["lstm"], lambda: study_data.load(arms)["lstm"], CPU)
    assert choice["used"] == "fp32" and choice["probe"] is None  # conftest: no native bf16
    setup = tasks.get("language-model").precision_probe(arms["lstm"], study_data.load(arms)["lstm"], CPU)
    assert setup.x.shape == (4, 16) and precision.probe_speed(setup, CPU)["steps"] >= 2


def test_a_search_resolves_auto_once_for_every_trial_and_its_workers_read_it(tmp_path, monkeypatch):
    monkeypatch.setattr(study_precision, "native_bf16", lambda: True)
    calls = _probe_returns(monkeypatch, 2.0)
    raw = {"name": "s", "data": {"name": "digits", "train_limit": 400}, "model": {"name": "mlp", "hidden": [32]},
           "train": {"epochs": 1, "batch_size": 64}, "search": {"trials": 2, "space": {
               "train.optimizer.lr": {"loguniform": [1e-3, 1e-2]}}}}
    cfg = config.validate(raw)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.config.write_text(config.to_yaml(cfg))
    from deepstudy import search

    resolved = search._resolve_precision(cfg, run, lambda e: None)
    assert resolved.train.precision == "bf16" and len(calls) == 1
    _probe_returns(monkeypatch, None)
    assert search._resolve_precision(cfg, run, lambda e: None).train.precision == "bf16"  # recorded: no probe
    as_worker = config.validate(config.read_yaml(run.config))  # what a trial worker process reads
    assert as_worker.train.precision == "auto" and study_precision.as_recorded(as_worker, run).train.precision == "bf16"


def test_auto_cannot_reach_the_loop_unresolved():
    with pytest.raises(ValueError, match="resolved by a study"):
        train.autocast("auto", CPU)


def test_a_process_held_below_avx512_has_no_native_bf16(monkeypatch):
    """ONEDNN_MAX_CPU_ISA=AVX2 or torch's AVX2 kernels (ATEN_CPU_CAPABILITY): bf16 would be emulated, so it is not
    native whatever the CPU reports (benchmarks/isa.py's AVX2-only emulation relies on it)."""
    from deepstudy.train import precision

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    assert precision.cpu_supports_bf16()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")
    assert not precision.cpu_supports_bf16()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")
    assert precision.cpu_supports_bf16()
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert not precision.cpu_supports_bf16()
