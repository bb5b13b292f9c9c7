"""End to end through the command line: a tiny study, resume after a kill, and every bad input."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch

from conftest import REPO, killed_and_clean_runs, make_idx_folder, tiny_study
from deepstudy.fileio import read_json


def _run_dir(out: str) -> Path:
    line = [ln for ln in out.splitlines() if ln.startswith("report: ")][-1]
    return Path(line.removeprefix("report: ")).parent


def test_tiny_study_end_to_end(cli, tmp_path):
    r = cli("run", str(tiny_study(tmp_path)), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    run = _run_dir(r.out)
    for name in ("config.yaml", "env.json", "data.json", "results.json", "report.html", "report.md",
                 "figures/curves.png", "figures/scores.png", "figures/confusion.png", "figures/samples.png"):
        assert (run / name).is_file(), name
    res = read_json(run / "results.json")
    assert set(res["arms"]) == {"small", "wide"}
    for arm in res["arms"].values():
        assert arm["summary"]["accuracy"]["n"] == 2 and arm["summary"]["accuracy"]["mean"] > 0.5
        assert arm["params"] > 0 and arm["macs"] > 0
        assert len((run / "arms" / "small" / "seed-0" / "metrics.jsonl").read_text().splitlines()) == 3
    assert res["comparison"]["comparisons"][0]["text"]
    *_, conclusion, last = r.out.splitlines()  # the report's verdict, then the report's path, last
    assert conclusion == f"conclusion: {res['comparison']['summary']}." and last == f"report: {run / 'report.html'}"
    assert "✓ wide seed-1 (2/2): test accuracy" in r.out and "[4/4 runs] ETA 0:00" in r.out
    env = read_json(run / "env.json")
    assert env["determinism"]["use_deterministic_algorithms"] and env["torch"]
    html = (run / "report.html").read_text()
    assert "Conclusions" in html and "data:image/png;base64," in html and "src=\"figures" not in html


def test_report_re_renders_without_torch(cli, tmp_path):
    r = cli("run", str(tiny_study(tmp_path, seeds=1, arms={"only": {}})), "--out", str(tmp_path / "runs"))
    run = _run_dir(r.out)
    (run / "report.html").unlink()
    code = ("import sys; sys.modules['torch'] = None\n"  # any import of torch now fails
            "from deepstudy.cli import main; raise SystemExit(main(['report', sys.argv[1]]))")
    p = subprocess.run([sys.executable, "-c", code, str(run)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert (run / "report.html").is_file()


def test_same_seed_gives_identical_results(cli, tmp_path):
    study = tiny_study(tmp_path, seeds=1, arms={"a": {}})
    runs = [_run_dir(cli("run", str(study), "--out", str(tmp_path / f"r{i}")).out) for i in range(2)]
    a, b = (safetensors.torch.load_file(r / "arms/a/seed-0/best.safetensors") for r in runs)
    assert all((a[k] == b[k]).all() for k in a)


def test_resume_after_kill_ends_bit_identical(tmp_path):
    """Kill (os._exit, no clean-up) right after epoch 2 of the first arm, resume, compare with a clean run."""
    study = tiny_study(tmp_path, **{"train.epochs": 4, "model.dropout": 0.2, "data.augment": []})
    clean_run, run, resume = killed_and_clean_runs(study, tmp_path)
    assert not (run / "results.json").exists()
    resumed = resume()
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from its checkpoint at epoch 3" in resumed.stdout
    for arm in ("small", "wide"):
        for seed in (0, 1):
            rel = Path("arms") / arm / f"seed-{seed}"
            a = safetensors.torch.load_file(clean_run / rel / "best.safetensors")
            b = safetensors.torch.load_file(run / rel / "best.safetensors")
            assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a), rel
            strip = lambda rows: [{k: v for k, v in r.items() if "seconds" not in k} for r in rows]  # noqa: E731
            ma = [json.loads(x) for x in (clean_run / rel / "metrics.jsonl").read_text().splitlines()]
            mb = [json.loads(x) for x in (run / rel / "metrics.jsonl").read_text().splitlines()]
            assert strip(ma) == strip(mb), rel
    ra, rb = read_json(clean_run / "results.json"), read_json(run / "results.json")
    assert ra["arms"]["small"]["summary"]["accuracy"] == rb["arms"]["small"]["summary"]["accuracy"]


# ------------------------------------------------------------------ bad input: message, exit 2, nothing written


def _bad(cli, tmp_path, *args):
    out = tmp_path / "runs"
    r = cli(*args, "--out", str(out)) if args[0] == "run" else cli(*args)
    assert r.code == 2, (r.code, r.out, r.err)
    assert r.err.startswith("error: ") and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1
    assert not out.exists() or not any(out.rglob("*.json")), "a failed start must not leave a run behind"
    return r.err


def test_unknown_yaml_key(cli, tmp_path):
    err = _bad(cli, tmp_path, "run", str(tiny_study(tmp_path, **{"train.epocs": 3})))
    assert "train.epocs" in err and "epochs" in err


def test_set_errors_name_the_set_argument_not_the_study_file(cli, tmp_path):
    err = _bad(cli, tmp_path, "run", "digits-quickstart", "--set", "train.epochz=3")
    assert err.startswith("error: --set train.epochz=3: unknown key 'train.epochz'") and "epochs" in err
    assert "digits-quickstart.yaml" not in err  # the packaged file is not where the typo is
    err = _bad(cli, tmp_path, "run", "digits-quickstart", "--set", "train.optimizer={name: adamw, lrr: 1}")
    assert err.startswith("error: --set train.optimizer={name: adamw, lrr: 1}: unknown key 'train.optimizer.lrr'")
    assert _bad(cli, tmp_path, "run", "digits-quickstart", "--seeds", "0").startswith("error: --seeds 0: 'seeds'")
    study = tiny_study(tmp_path, **{"train.epocs": 3})  # a typo in the file is still the file's
    assert _bad(cli, tmp_path, "run", str(study), "--set", "train.epochs=2").startswith(f"error: {study}: ")


def test_version(cli):
    from importlib.metadata import version

    r = cli("--version")
    assert r.code == 0 and r.out.strip() == f"deepstudy {version('deepstudy')}"


def test_ctrl_c_prints_the_command_that_resumes_the_run(tmp_path):
    """SIGINT (Ctrl-C) after the first epoch: exit 130 and the exact resume command, which continues the run."""
    import signal
    import time

    study = tiny_study(tmp_path, seeds=1, arms={"a": {}}, **{"train.epochs": 400, "data.train_limit": 64})
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    # SIGINT's default action restored in the child: a shell starting the test suite in the background (`make test
    # &`) hands its children SIGINT ignored, and Python then keeps ignoring it
    proc = subprocess.Popen([sys.executable, "-m", "deepstudy", "run", str(study), "--out", str(tmp_path / "r")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if list((tmp_path / "r").glob("tiny/*/arms/a/seed-0/checkpoint/last.json")):  # epoch 0 checkpointed
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    run = next((tmp_path / "r" / "tiny").iterdir())
    assert proc.returncode == 130, (out, err)
    command = err.strip().splitlines()[-1].strip()
    assert command == f"deepstudy run --resume {run}" and "Traceback" not in err
    done = len((run / "arms" / "a" / "seed-0" / "metrics.jsonl").read_text().splitlines())
    resumed = subprocess.run([sys.executable, "-m", "deepstudy", *command.split()[1:]],
                             capture_output=True, text=True, env={**env, "DEEPSTUDY_FAULT_AFTER_EPOCH": str(done)})
    # it continues from the last checkpoint (the epoch whose metrics line was written, or the one before if the
    # signal came between that line and its checkpoint; epoch 0's exists), then dies at the injected fault
    found = re.search(r"a seed-0 \(1/1\): resumed from its checkpoint at epoch (\d+)", resumed.stdout)
    assert resumed.returncode == 137 and found, (resumed.stdout, resumed.stderr)
    assert found.group(1) in (str(done), str(done + 1))


def test_wrong_type(cli, tmp_path):
    assert "train.batch_size" in _bad(cli, tmp_path, "run", str(tiny_study(tmp_path)), "--set", "train.batch_size=lots")


def test_unknown_arm(cli, tmp_path):
    err = _bad(cli, tmp_path, "run", str(tiny_study(tmp_path)), "--arms", "small,wdie")
    assert "'wdie'" in err and "wide" in err


def test_unknown_study(cli, tmp_path):
    assert "deepstudy list" in _bad(cli, tmp_path, "run", "no-such-study")


def test_missing_dataset(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSTUDY_DATA", str(tmp_path / "nothing"))
    err = _bad(cli, tmp_path, "run", str(tiny_study(tmp_path)), "--set", "data.name=mnist")
    assert "deepstudy data fetch mnist" in err


def test_checksum_mismatch(cli, tmp_path, shared_data):
    copy = tmp_path / "mnist"
    copy.mkdir()
    for f in (shared_data / "mnist").glob("*.gz"):
        (copy / f.name).write_bytes(f.read_bytes())
    raw = bytearray((copy / "train-labels-idx1-ubyte.gz").read_bytes())
    raw[100] ^= 0xFF
    (copy / "train-labels-idx1-ubyte.gz").write_bytes(bytes(raw))
    err = _bad(cli, tmp_path, "run", str(tiny_study(tmp_path)), "--set", "data.name=mnist", "--set", f"data.path={copy}")
    assert "checksum mismatch" in err


def test_truncated_idx(cli, tmp_path):
    folder = make_idx_folder(tmp_path / "idx")
    f = folder / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:-40])
    err = _bad(cli, tmp_path, "run", str(tiny_study(tmp_path)), "--set", "data.format=idx", "--set", f"data.path={folder}")
    assert "truncated or corrupt" in err


def test_unwritable_output_dir(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    r = cli("run", str(tiny_study(tmp_path)), "--out", str(blocker / "runs"))
    assert r.code == 2 and "cannot write to output folder" in r.err and "--out" in r.err
    assert blocker.read_text() == ""


def test_non_finite_loss_stops_the_arm_keeps_checkpoint(cli, tmp_path):
    study = tiny_study(tmp_path, seeds=1, arms={"ok": {}, "exploding": {"train.optimizer": {"name": "sgd", "lr": 1e30}}})
    r = cli("run", str(study), "--out", str(tmp_path / "runs"))
    assert r.code == 2 and "non-finite loss" in r.err and "Traceback" not in r.err
    run = next((tmp_path / "runs" / "tiny").iterdir())
    failed = read_json(run / "arms" / "exploding" / "seed-0" / "result.json")
    assert failed["status"] == "diverged" and "loss became" in failed["message"]
    assert (run / "report.html").is_file()  # the healthy arm is reported, the failure stated
    assert "diverged" in (run / "report.html").read_text()


def test_resume_of_a_non_run_dir(cli, tmp_path):
    r = cli("run", "--resume", str(tmp_path))
    assert r.code == 2 and "not a run directory" in r.err


def test_report_of_a_non_run_dir(cli, tmp_path):
    r = cli("report", str(tmp_path))
    assert r.code == 2 and "results.json" in r.err


def test_bad_cli_argument_exits_2(cli):
    assert cli("run", "--seeds", "many").code == 2
    assert cli("frobnicate").code == 2


# ------------------------------------------------------------------ the other commands


def test_list_shows_builtin_studies(cli):
    r = cli("list")
    assert r.code == 0 and "digits-quickstart" in r.out and "mlp-vs-cnn" in r.out


def test_data_commands(cli, shared_data):
    r = cli("data", "list")
    assert r.code == 0 and "mnist" in r.out and "verified" in r.out and "bundled" in r.out
    r = cli("data", "info", "fashion-mnist")
    assert "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84" in r.out and "MIT" in r.out
    assert cli("data", "verify", "mnist").code == 0
    assert cli("data", "info", "mnsit").code == 2


def test_summary_command(cli):
    r = cli("summary", "cnn", "--input", "1x28x28", "--arg", "channels=[8,16]")
    assert r.code == 0 and "Conv2d" in r.out and "total:" in r.out
    assert cli("summary", "cnn", "--input", "axb").code == 2
    r = cli("summary", "mlp", "--input", "13", "--classes", "2")
    assert r.code == 0 and "Linear" in r.out


def test_schema_commands(cli):
    assert json.loads(cli("schema").out)["title"] == "Study"
    md = cli("schema", "--markdown").out
    assert "`train.optimizer.lr`" in md
    assert md == (REPO / "docs" / "study-file.md").read_text(), "docs/study-file.md is stale: run `make docs`"
    zoo = cli("schema", "--models").out
    assert "| `cnn` |" in zoo and zoo == (REPO / "docs" / "models.md").read_text(), "docs/models.md is stale: run `make docs`"
    studies = cli("schema", "--studies").out
    assert "## mlp-vs-cnn" in studies and studies == (REPO / "docs" / "studies.md").read_text(), "run `make docs`"


def test_doctor_runs_in_seconds(cli):
    r = cli("doctor")
    assert r.code == 0, r.out
    assert "tiny training" in r.out and "all good" in r.out


def test_resume_reports_an_arm_that_diverged_before_the_kill(cli, tmp_path):
    study = tiny_study(tmp_path, seeds=1, arms={"ok": {}, "exploding": {"train.optimizer": {"name": "sgd", "lr": 1e30}}})
    assert cli("run", str(study), "--out", str(tmp_path / "runs")).code == 2
    run = next((tmp_path / "runs" / "tiny").iterdir())
    (run / "results.json").unlink()
    r = cli("run", "--resume", str(run))
    assert r.code == 2 and "exploding" in r.err


def test_arm_cannot_change_device(cli, tmp_path):
    study = tiny_study(tmp_path, arms={"a": {}, "b": {"train.device": "cpu"}})
    assert "train.device" in _bad(cli, tmp_path, "run", str(study))


def test_model_that_cannot_take_the_data_fails_before_writing(cli, tmp_path, shared_data):
    study = tiny_study(tmp_path, **{"data.name": "churn", "data.train_limit": None, "model": {"name": "cnn"}})
    assert "needs images" in _bad(cli, tmp_path, "run", str(study))
    study = tiny_study(tmp_path, **{"data.name": "churn", "data.train_limit": None, "data.augment": ["hflip"]})
    assert "table" in _bad(cli, tmp_path, "run", str(study))


@pytest.mark.parametrize("damage", ["state", "weights"])
def test_damaged_checkpoint_on_resume(tmp_path, damage):
    study = tiny_study(tmp_path, seeds=1, arms={"a": {}})
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "DEEPSTUDY_FAULT_AFTER_EPOCH": "0"}
    killed = subprocess.run([sys.executable, "-m", "deepstudy", "run", str(study), "--out", str(tmp_path / "r")],
                            capture_output=True, text=True, env=env)
    assert killed.returncode == 137
    run = next((tmp_path / "r" / "tiny").iterdir())
    ckpt = run / "arms" / "a" / "seed-0" / "checkpoint"
    target = next(ckpt.glob("*.state.pt" if damage == "state" else "*.safetensors"))
    target.write_bytes(b"garbage" * 10)
    env.pop("DEEPSTUDY_FAULT_AFTER_EPOCH")
    r = subprocess.run([sys.executable, "-m", "deepstudy", "run", "--resume", str(run)], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("error: ") and str(ckpt) in r.stderr
