"""Names cannot reach outside the run folder or collide; a device is checked before a run folder exists;
an interrupted run says which folder to resume; a closed pipe is not a traceback (issue 22, items 2-4 and low)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, tiny_study


@pytest.mark.parametrize("overrides, message", [
    ({"name": "../../escaped"}, "study name '../../escaped' must be one folder name"),
    ({"name": "/abs/escaped"}, "study name '/abs/escaped' must be one folder name"),
    ({"arms": {"small": {}, "small/.": {}}}, "arm name 'small/.' must be one folder name"),
    ({"arms": {"/abs/path": {}}}, "arm name '/abs/path' must be one folder name"),
    ({"arms": {"..": {}}}, "arm name '..' must be one folder name"),
    ({"arms": {"small": {}, "Small": {}}}, "differ only in case"),
    ({"opt_in_arms": {"SMALL": {}}}, "differ only in case"),
    ({"data.name": "../mnist"}, "data.name '../mnist' must be one folder name"),
])
def test_names_are_single_safe_folder_names(cli, tmp_path, overrides, message):
    study = tiny_study(tmp_path, **overrides)
    out = tmp_path / "out"
    r = cli("run", str(study), "--out", str(out))
    assert r.code == 2 and message in r.err and "Traceback" not in r.err
    assert not out.exists() and not (tmp_path.parent / "escaped").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_on_a_cpu_machine_stops_before_the_run_folder(cli, tmp_path):
    r = cli("run", str(tiny_study(tmp_path)), "--device", "cuda", "--out", str(tmp_path / "out"))
    assert r.code == 2 and "sees no GPU" in r.err and not (tmp_path / "out").exists()


def test_an_interrupted_run_names_the_folder_to_resume(cli, tmp_path, monkeypatch):
    from deepstudy import study

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(study, "execute", interrupted)
    r = cli("run", str(tiny_study(tmp_path)), "--out", str(tmp_path / "out"))
    run = next((tmp_path / "out" / "tiny").iterdir())
    assert r.code == 130 and f"deepstudy run --resume {run}" in r.err


def test_a_closed_pipe_is_not_a_traceback():
    cmd = f"'{sys.executable}' -m deepstudy schema | head -c 10"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0 and proc.stdout == '{\n  "title' and "Traceback" not in proc.stderr


BOMB = "name: bomb\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))


@pytest.mark.parametrize("text, message", [
    (BOMB, "aliases expand to 490,329,066 values"),  # the billion laughs: 371 bytes, gigabytes once built
    ("name: dup\nseeds: 1\nseeds: 3\n", "duplicated key 'seeds'"),
    ("name: inf\ntrain: {optimizer: {lr: .inf}}\n", "'train.optimizer.lr': Input should be a finite number"),
    ("name: nan\ntrain: {label_smoothing: .nan}\n", "'train.label_smoothing': Input should be a finite number"),
    (f"name: long\nseeds: '{'9' * 5000}'\n", "... (5,002 characters)"),  # a value is echoed as an excerpt
    # found by tests/test_fuzz.py: PyYAML parses nesting recursively (a RecursionError), pydantic serializes it so
    (f"name: deep\nx: {'[' * 5000}{']' * 5000}\n", "nest too deeply (hundreds of levels)"),
    (f"name: deep\nmodel: {{name: mlp, hidden: {'[' * 51}8{']' * 51}}}\n", "nest more than 50 levels deep"),
])
def test_hostile_or_ambiguous_study_files_are_one_line(cli, tmp_path, text, message):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    r = cli("run", str(path), "--out", str(tmp_path / "out"))
    assert r.code == 2 and message in r.err and "Traceback" not in r.err, r.err[:300]
    assert len(r.err) < 400 and not (tmp_path / "out").exists()


def test_merge_keys_may_still_be_overridden(tmp_path):
    from deepstudy import config

    path = tmp_path / "study.yaml"
    path.write_text("name: merged\nbase: &base {epochs: 3, batch_size: 32}\ntrain: {<<: *base, epochs: 5}\n")
    assert config.read_yaml(path)["train"] == {"epochs": 5, "batch_size": 32}


def _idx_with_labels(tmp_path, train_labels, dtype=np.uint8):
    from conftest import make_idx_folder, write_idx

    folder = make_idx_folder(tmp_path / "idx", n_train=len(train_labels))
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.asarray(train_labels, dtype=dtype))
    return folder


@pytest.mark.parametrize("labels, dtype, message", [
    ([0, 1, 2] * 40 + [255], np.uint8, "no training example has label 3, 4, 5, 6, 7 and 247 more"),
    ([0, 1, 2] * 40 + [-1], np.int32, "has a negative label (-1)"),
    ([0.0, 1.0, 2.0] * 40 + [1.5], np.float32, "float32 labels"),
    ([0] * 121, np.uint8, "no training example has label 1, 2"),  # the test split has classes 0-2
])
def test_idx_labels_are_checked_at_load(cli, tmp_path, labels, dtype, message):
    folder = _idx_with_labels(tmp_path, labels, dtype)
    study = tiny_study(tmp_path, data={"name": "mine", "format": "idx", "path": str(folder)})
    r = cli("run", str(study), "--out", str(tmp_path / "out"))
    assert r.code == 2 and message in r.err and "Traceback" not in r.err, r.err[:300]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("target_values, message", [
    (["a", "b", ""] * 20, "is empty or missing in 20 of 60 rows (first: data row 3)"),
    (["a", "b", "nan"] * 20, "is empty or missing in 20 of 60 rows"),
    (["a"] * 60, "has one value only ('a')"),
    (["0.5", "1.25", "2"] * 20, "holds fractional numbers (e.g. 0.5)"),
])
def test_csv_targets_are_checked_at_load(cli, tmp_path, target_values, message):
    rng = np.random.default_rng(0)
    lines = ["x1,x2,label"] + [f"{rng.normal():.3f},{rng.normal():.3f},{v}" for v in target_values]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    study = tiny_study(tmp_path, data={"name": "mine", "format": "csv-table", "path": str(tmp_path / "t.csv"),
                                       "target": "label"})
    r = cli("run", str(study), "--out", str(tmp_path / "out"))
    assert r.code == 2 and message in r.err and "Traceback" not in r.err, r.err[:300]
    assert not (tmp_path / "out").exists()


def test_atomic_writes_honour_the_umask(tmp_path):
    import os

    from deepstudy.fileio import _UMASK, atomic_write_text

    atomic_write_text(tmp_path / "a.json", "{}")
    (tmp_path / "b.json").write_text("{}")  # what a plain open() makes
    assert os.stat(tmp_path / "a.json").st_mode & 0o777 == os.stat(tmp_path / "b.json").st_mode & 0o777
    assert os.stat(tmp_path / "a.json").st_mode & 0o777 == 0o666 & ~_UMASK


def test_markup_in_names_and_texts_is_escaped_in_html_and_plain_in_markdown(cli, tmp_path):
    lines = ["x1,x2,label"] + [f"{i % 7}.5,{i % 3}.25,{'<b>bold</b>' if i % 2 else 'it' + chr(39) + 's'}"
                               for i in range(80)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    study = tiny_study(tmp_path, description="a <script>alert(1)</script> & 'quoted' study",
                       data={"name": "mine", "format": "csv-table", "path": str(tmp_path / "t.csv"), "target": "label"},
                       seeds=1, **{"train.epochs": 1})
    r = cli("run", str(study), "--out", str(tmp_path / "out"))
    assert r.code == 0, r.err
    run = next((tmp_path / "out" / "tiny").iterdir())
    html, md = (run / "report.html").read_text(), (run / "report.md").read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html  # a class name
    assert "a <script>alert(1)</script> & 'quoted' study" in md and "&#39;" not in md and "&lt;" not in md


def test_a_run_directory_in_use_is_refused_and_freed_with_its_process(cli, tmp_path):
    import os

    from deepstudy.rundir import RunDir

    r = cli("run", str(tiny_study(tmp_path, seeds=1, **{"train.epochs": 1})), "--out", str(tmp_path / "out"))
    assert r.code == 0, r.err
    run = next((tmp_path / "out" / "tiny").iterdir())
    with RunDir(run).locked():  # as if another process were still writing to it
        for args in (("run", "--resume", str(run)), ("explain", str(run), "--method", "saliency")):
            busy = cli(*args)
            assert busy.code == 2 and f"in use by process {os.getpid()}" in busy.err, busy.err
    assert cli("run", "--resume", str(run)).code == 0  # the lock went with its holder
    # a killed holder leaves the .lock file but no lock: subprocess runs are killed in test_cli's resume tests


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_run_directory_is_one_line(cli, tmp_path):
    r = cli("run", str(tiny_study(tmp_path, seeds=1, **{"train.epochs": 1})), "--out", str(tmp_path / "out"))
    run = next((tmp_path / "out" / "tiny").iterdir())
    (run / ".lock").unlink()
    run.chmod(0o555)
    try:
        r = cli("run", "--resume", str(run))
        assert r.code == 2 and "cannot write to run directory" in r.err
    finally:
        run.chmod(0o755)


def test_a_full_disk_says_so_and_keeps_the_last_good_checkpoint(cli, tmp_path, monkeypatch):
    """ENOSPC surfaces at the fsync of epoch 1's checkpoint: one line naming the fix; epoch 0's checkpoint intact, no
    temporary file left; once space is back, --resume finishes the run."""
    import errno

    from deepstudy import fileio

    real_fsync = os.fsync

    def full_at_epoch_1(fd):
        if "epoch-0001.state.pt" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(fileio.os, "fsync", full_at_epoch_1)
    r = cli("run", str(tiny_study(tmp_path, seeds=1, arms={"small": {}})), "--out", str(tmp_path / "runs"))
    assert r.code == 1 and "Traceback" not in r.err
    line = r.err.strip().splitlines()[-1]
    assert line.startswith("error: the disk is full (No space left on device)") and "--resume" in line
    run = Path(line.split("--resume ")[1].split("`")[0])
    ckpt = run / "arms" / "small" / "seed-0" / "checkpoint"
    assert json.loads((ckpt / "last.json").read_text())["epoch"] == 0
    assert not [p for p in run.rglob("*") if p.name.endswith(".tmp")]
    monkeypatch.setattr(fileio.os, "fsync", real_fsync)
    r = cli("run", "--resume", str(run))
    assert r.code == 0, r.err
    assert len((ckpt.parent / "metrics.jsonl").read_text().splitlines()) == 3


def test_a_deeply_nested_set_value_is_one_line(cli, tmp_path):
    """--set goes through the study file's YAML limits: 5,000 brackets are kept as a string, which the model
    refuses in one line — not a RecursionError traceback."""
    r = cli("run", str(tiny_study(tmp_path)), "--out", str(tmp_path / "out"), "--set", "model.hidden=" + "[" * 5000)
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err
    assert r.err.startswith("error: model 'mlp' cannot be built") and not (tmp_path / "out").exists()
