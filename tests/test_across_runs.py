"""Results across runs: `deepstudy runs` lists and filters run directories, `deepstudy compare` puts arms of
different runs into one comparison on one test set (deepstudy.runs)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, tiny_study

from deepstudy import evaluate
from deepstudy.runs import list_runs, testset


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three tiny finished runs under one root: tiny (arms small, wide), other (arm deep) on the same test set,
    quarter (a 25% test hold-out); a copy of tiny; a damaged run and an unfinished one."""
    from deepstudy import config, study

    tmp = tmp_path_factory.mktemp("across")
    root = tmp / "runs"
    common = {"train.epochs": 1, "data.train_limit": 200, "analyses": []}  # no figures but the scores: fast
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp / "cache"))
        specs = {"tiny": {}, "other": {"arms": {"deep": {"model.hidden": [32, 32]}}},
                 "quarter": {"arms": {"small": {}}, "seeds": 1, "data.test_fraction": 0.25}}
        made = {}
        for name, extra in specs.items():
            (tmp / name).mkdir()
            path = tiny_study(tmp / name, name=name, **common, **extra)
            made[name] = study.run(config.load(path), out_root=root)
    copy = made["tiny"].with_name(made["tiny"].name + "-copy")
    shutil.copytree(made["tiny"], copy)
    broken = root / "broken" / made["tiny"].name
    shutil.copytree(made["tiny"], broken)
    (broken / "results.json").write_text('{"study": "tiny", "arms": {')  # cut off mid-write
    killed = root / "killed" / made["other"].name
    shutil.copytree(made["other"], killed)
    (killed / "results.json").unlink()
    return {"root": root, **made, "copy": copy, "broken": broken, "killed": killed}


def test_runs_lists_each_finished_run_with_its_scores(cli, runs):
    r = cli("runs", "--out", str(runs["root"]))
    assert r.code == 0, r.err
    for name in ("tiny", "other", "quarter"):
        assert str(runs[name]) in r.out
    assert "accuracy" in r.out and "best" in r.out and "deep" in r.out
    assert str(runs["killed"]) not in r.out and "1 unfinished run(s) not shown" in r.err

    listed = {row["path"]: row for row in json.loads(cli("runs", "--out", str(runs["root"]), "--json").out)}
    tiny = listed[str(runs["tiny"])]
    results = json.loads((runs["tiny"] / "results.json").read_text())
    assert tiny["status"] == "finished" and tiny["study"] == "tiny" and tiny["dataset"] == "digits"
    assert tiny["seeds"] == 2 and set(tiny["arms"]) == {"small", "wide"}
    assert tiny["arms"]["wide"]["mean"] == results["arms"]["wide"]["summary"]["accuracy"]["mean"]
    assert tiny["arms"]["wide"]["n"] == 2 and tiny["best"] == results["comparison"]["best"]


def test_runs_all_shows_unfinished_runs(cli, runs):
    r = cli("runs", "--out", str(runs["root"]), "--all", "--json")
    status = {row["path"]: row["status"] for row in json.loads(r.out)}
    assert status[str(runs["killed"])] == "unfinished"
    assert "unfinished" in cli("runs", "--out", str(runs["root"]), "--all").out


def test_damaged_results_are_listed_as_damaged(cli, runs):
    r = cli("runs", "--out", str(runs["root"]), "--study", "tiny")  # its config.yaml still names the study
    assert r.code == 0 and "Traceback" not in r.err
    (line,) = [line for line in r.out.splitlines() if str(runs["broken"]) in line]
    assert "DAMAGED: results.json is not JSON" in line
    (row,) = [row for row in list_runs(runs["root"], study="tiny") if row.path == str(runs["broken"])]
    assert row.status == "damaged" and row.reason.startswith("results.json is not JSON")


def test_where_filters_on_the_config(cli, runs):
    def paths(*where):
        r = cli("runs", "--out", str(runs["root"]), "--json", *[a for w in where for a in ("--where", w)])
        assert r.code == 0, r.err
        return {row["path"] for row in json.loads(r.out)}

    finished = {str(runs[k]) for k in ("tiny", "other", "quarter", "copy")}
    assert paths("data.test_fraction=0.25") == {str(runs["quarter"])}
    assert paths("data.name=digits", "train.epochs=1") >= finished  # 1 == 1 after YAML parsing
    assert paths("data.normalize=true") >= finished and paths("data.normalize=false") == set()
    assert paths("train.optimizer.lr=1e-2") >= finished  # PyYAML reads 1e-2 as text; it is the number 0.01
    assert paths("model.hidden=[32, 32]") == {str(runs["other"])}  # an arm's override: the arm matches
    assert paths("model.hidden=[64]", "data.test_fraction=0.2") == {str(runs[k]) for k in ("tiny", "copy", "broken")}
    assert paths("name=other") == {str(runs["other"])}


def test_where_unknown_key_names_the_closest_keys(cli, runs):
    r = cli("runs", "--out", str(runs["root"]), "--where", "trian.epochs=3")
    assert r.code == 2 and "Traceback" not in r.err
    assert "'trian.epochs'" in r.err and "train.epochs" in r.err and len(r.err.strip().splitlines()) == 1
    assert cli("runs", "--out", str(runs["root"]), "--where", "epochs").code == 2
    assert cli("runs", "--out", str(runs["root"] / "nowhere")).code == 2


def test_new_runs_record_their_test_set(runs):
    recorded = json.loads((runs["tiny"] / "results.json").read_text())["test_set"]
    assert recorded == testset.record(runs["tiny"])  # the record is the files' own fingerprint
    assert len(recorded["labels_sha256"]) == 64 and recorded["split"]["data.test_fraction"] == 0.2
    other = json.loads((runs["other"] / "results.json").read_text())["test_set"]
    quarter = json.loads((runs["quarter"] / "results.json").read_text())["test_set"]
    assert other["sha256"] == recorded["sha256"] != quarter["sha256"]


def test_compare_puts_arms_of_two_runs_in_one_comparison(cli, runs, tmp_path):
    out = tmp_path / "cmp"
    r = cli("compare", str(runs["tiny"]), str(runs["other"]), "--out", str(out))
    assert r.code == 0, r.err
    doc = json.loads((out / "comparison.json").read_text())
    assert {a["name"] for a in doc["arms"]} == {"tiny/small", "tiny/wide", "other/deep"}
    comparison = doc["comparison"]
    assert comparison["summary"] in r.out and len(comparison["comparisons"]) == 2
    assert all(len(c["mcnemar"]) == 2 for c in comparison["comparisons"])  # per-example correctness, seed pairs
    html = (out / "report.html").read_text()
    for c in comparison["comparisons"]:
        assert c["text"].replace("'", "&#39;") in html
    assert "other/deep" in html and "deepstudy compare" in html and "data:image/png;base64," in html
    assert "report.html" in (out / "report.md").read_text()
    source = {s["name"]: s for s in doc["runs"]}
    assert (out / source["tiny"]["report"]).resolve() == (runs["tiny"] / "report.html").resolve()


def test_compare_gives_a_study_s_own_statistics(cli, runs, tmp_path):
    """The two arms of one run, chosen across runs, get exactly the p-values and McNemar counts of its report."""
    r = cli("compare", str(runs["tiny"]), str(runs["other"]), "--arms", "tiny:small,1:wide", "--out", str(tmp_path))
    assert r.code == 0, r.err
    (got,) = json.loads((tmp_path / "comparison.json").read_text())["comparison"]["comparisons"]
    (want,) = json.loads((runs["tiny"] / "results.json").read_text())["comparison"]["comparisons"]
    assert (got["p"], got["p_holm"], got["mcnemar"], got["verdict"]) == (want["p"], want["p_holm"], want["mcnemar"],
                                                                         want["verdict"])
    assert got["best"] == f"tiny/{want['best']}"


def test_compare_names_runs_of_one_study_apart(cli, runs, tmp_path):
    r = cli("compare", str(runs["tiny"]), str(runs["copy"]), "--out", str(tmp_path))
    assert r.code == 0, r.err
    names = {a["name"] for a in json.loads((tmp_path / "comparison.json").read_text())["arms"]}
    assert names == {f"tiny@{runs['tiny'].name}/small", f"tiny@{runs['tiny'].name}/wide",
                     f"tiny@{runs['copy'].name}/small", f"tiny@{runs['copy'].name}/wide"}


def test_compare_refuses_different_test_sets(cli, runs, tmp_path):
    r = cli("compare", str(runs["tiny"]), str(runs["quarter"]), "--out", str(tmp_path / "x"))
    assert r.code == 2 and "Traceback" not in r.err
    assert "different test sets" in r.err and "data.test_fraction 0.2 vs 0.25" in r.err
    assert not (tmp_path / "x").exists()


def test_compare_refuses_bad_input_in_one_line(cli, runs, tmp_path):
    for args in ([str(runs["tiny"])], [str(runs["tiny"]), str(runs["tiny"])], [str(runs["tiny"]), str(runs["killed"])],
                 [str(runs["tiny"]), str(runs["broken"])], [str(runs["tiny"]), str(runs["other"]), "--arms", "tiny:x"],
                 [str(runs["tiny"]), str(runs["other"]), "--arms", "nope:small,other:deep"]):
        r = cli("compare", *args, "--out", str(tmp_path / "x"))
        assert r.code == 2 and len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err, (args, r.err)


def test_test_labels_alone_can_tell_test_sets_apart(runs, tmp_path):
    """Same settings, other rows (e.g. the data changed on disk): the labels' sha256 says so."""
    a = testset.fingerprint(runs["tiny"])
    moved = tmp_path / "moved"
    shutil.copytree(runs["tiny"], moved)
    np.save(moved / "test_labels.npy", np.load(moved / "test_labels.npy")[::-1])
    why = testset.difference(a, testset.fingerprint(moved))
    assert why.startswith("test labels sha256 ") and " vs " in why
    assert testset.difference(a, testset.fingerprint(runs["copy"])) is None


def test_compare_agrees_with_compare_arms(runs, tmp_path):
    from deepstudy.runs import compare_runs

    compare_runs([runs["tiny"], runs["other"]], out=tmp_path)
    doc = json.loads((tmp_path / "comparison.json").read_text())
    again = evaluate.compare_arms(doc["scores"], {}, "accuracy")
    assert again["best"] == doc["comparison"]["best"]
    assert [c["p_holm"] for c in again["comparisons"]] == [c["p_holm"] for c in doc["comparison"]["comparisons"]]


def test_listing_does_not_import_torch(runs):
    code = ("import sys; from deepstudy.runs import list_runs; rows = list_runs(sys.argv[1]); "
            "assert rows and 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))")
    done = subprocess.run([sys.executable, "-c", code, str(runs["root"])], check=False, capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
