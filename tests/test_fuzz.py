"""Issue 22's guard that lasts: study files and small CSV tables generated from a grammar of valid and broken pieces.

Every generated case ends in exactly one of two ways:

- exit 0 and a complete run directory (results.json holds every arm x seed, each seed's result.json and report.html
  exist), or
- exit 2, stderr one line ``error: ...`` without a traceback, and nothing under ``--out`` (a user error is found before
  the run directory exists).

Anything else (exit 1, an exception, two lines, a half-written run directory) fails with the case shown: hypothesis
prints the falsifying example and the assertion message holds the study file and the data file.

Budget: ``DEEPSTUDY_FUZZ=ci`` (the default, ``make test``) tries 25 cases, derandomized (the same ones every run, so
CI never fails on a case found today by chance), within about 25 s; ``DEEPSTUDY_FUZZ=long`` (``make fuzz``) tries 500
random ones. No example database is kept (a failure prints a ``@reproduce_failure`` blob to replay it).
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import yaml
from conftest import run_cli
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
settings.register_profile("ci", max_examples=25, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=500, **_COMMON)
PROFILE = os.environ.get("DEEPSTUDY_FUZZ", "ci")
BUDGET_S = {"ci": 25.0, "long": math.inf}[PROFILE]  # seconds of cases; later ones pass without running
DATA = "@DATA@"  # the case's own data folder, filled in when it runs
MISSING = object()  # a piece that leaves its key out


# ---- the grammar: each piece is valid, or (in a broken case, one time in four) one of its broken forms -------------

def _piece(draw, broken: bool, valid, *bad):
    return draw(st.one_of(*bad) if broken and draw(st.integers(0, 3)) == 0 else valid)


_TEXT = st.text(min_size=1, max_size=12)  # unicode, control characters and line breaks included
_NUMBERS = st.sampled_from([0, -1, -3, 1.5, 10**12, 2**64, 1e30, math.nan, math.inf, True])
_JUNK = st.one_of(_TEXT, _NUMBERS, st.none(), st.just([]), st.just({}), st.just(["x"]))


def _name(draw, broken):
    return _piece(draw, broken, st.one_of(st.from_regex(r"[a-z][a-z0-9-]{0,11}[a-z0-9]", fullmatch=True),
                                          st.just(MISSING)),
                  st.sampled_from(["../escape", "/abs/path", "", "a" * 300, "étude-π", "a/b", ".", "..", "x.",
                                   "-lead", "with space", "a\nb", "a\x00b", "runs/../x"]), _JUNK)


def _task(draw, broken):
    return _piece(draw, broken, st.sampled_from(["classify", MISSING]),
                  st.sampled_from(["classfy", "", "som", "scratch", "classical", "reconstruct", "forecast",
                                   "generate", "CLASSIFY"]), _JUNK)


def _model(draw, broken, csv):
    hidden = st.lists(st.integers(4, 24), min_size=1, max_size=2)
    valid = st.one_of(st.builds(lambda h: {"name": "mlp", "hidden": h}, hidden),
                      st.builds(lambda h, d: {"name": "mlp", "hidden": h, "dropout": d}, hidden,
                                st.sampled_from([0.0, 0.1, 0.5])))
    if not csv:
        valid = st.one_of(valid, st.just({"name": "cnn", "channels": [4]}))
    return _piece(draw, broken, valid,
                  st.builds(lambda v: {"name": "mlp", "hidden": v}, st.one_of(_JUNK, st.lists(_NUMBERS, min_size=1,
                                                                                             max_size=2))),
                  st.builds(lambda k: {"name": "mlp", k: [8]}, _TEXT),
                  st.builds(lambda v: {"name": v}, _JUNK),
                  st.builds(lambda v: {"name": "mlp", "dropout": v}, st.one_of(_NUMBERS, _TEXT)),
                  st.sampled_from([{"name": "mlpp"}, {"name": "cnn", "channels": [4]}, {"name": "som"},
                                   {"name": "cnn", "stride": 0}, {"hidden": [8]}]),
                  _JUNK)


def _train(draw, broken):
    out = {"epochs": draw(st.integers(1, 2)), "batch_size": draw(st.sampled_from([16, 32, 64, 10**12])),
           "optimizer": {"name": draw(st.sampled_from(["adam", "adamw", "sgd"])),
                         "lr": draw(st.sampled_from([1e-3, 0.01, 0.05]))}}
    if draw(st.booleans()):
        out["schedule"] = draw(st.sampled_from(["constant", "cosine", "onecycle", "step"]))
    if broken and draw(st.integers(0, 3)) == 0:
        key, value = draw(st.sampled_from([
            ("epochs", st.one_of(st.sampled_from([0, -1, "two", 1.5, None, [1], 2**64]), _TEXT)),
            ("batch_size", st.sampled_from([0, -8, "64", 1.5, None])),
            ("optimizer.lr", st.one_of(st.sampled_from([-0.1, 0, math.nan, math.inf, -math.inf, "fast", None]), _TEXT)),
            ("optimizer.name", _JUNK), ("optimizer", _JUNK), ("schedule", _JUNK), ("early_stopping", _JUNK),
            ("early_stopping.patience", _NUMBERS), ("label_smoothing", _NUMBERS), ("grad_clip", _NUMBERS),
            ("optimizer.momentum", _NUMBERS), ("device", _JUNK), ("precision", st.sampled_from(["fp16", "fp8"])),
            ("unknown", _JUNK), ("whole", _JUNK)]))
        value = draw(value)
        if key == "whole":
            return value
        if key == "unknown":
            key = draw(_TEXT.filter(lambda k: k not in out and "." not in k))
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def _arms(draw, broken, csv):
    valid = st.sampled_from([{"base": {}}, {"base": {}, "wide": {"model.hidden": [16]}},
                             {"slow": {"train.optimizer.lr": 0.005}, "fast": {"train.optimizer.lr": 0.05}},
                             {"drop": {"model.dropout": 0.2}}, MISSING])
    return _piece(draw, broken, valid,
                  st.sampled_from([{}, [], "base", {"base": None}, {"base": "x"}, {"base": []},
                                   {"../x": {}}, {"A": {}, "a": {}}, {"a.": {}}, {"a": {"seeds": 2}},
                                   {"a": {"model.hiden": [8]}}, {"a": {"train.epochs": 0}}, {"a": {"task": "som"}},
                                   {"a": {"model": "mlp"}}, {"a": {"": 1}}, {"a": {"data.name": "iris"}},
                                   {"a": {"train.device": "cpu"}}, {"a": {"data.train_limit": 150}},
                                   {"a": {"model.hidden": [0]}}, {"a": {"train.optimizer.lr": -1}}]),
                  st.builds(lambda k: {k: {}}, _TEXT), st.builds(lambda k, v: {"a": {k: v}}, _TEXT, _JUNK))


def _seeds(draw, broken):
    return _piece(draw, broken, st.sampled_from([1, 2, MISSING]),
                  st.sampled_from([0, -1, 10**12, 2**64, "two", 1.5, None, 101, [1], math.nan]))


def _digits(draw, broken):
    data = {"name": "digits", "train_limit": draw(st.integers(100, 200))}
    if draw(st.booleans()):
        data[draw(st.sampled_from(["val_fraction", "test_fraction"]))] = draw(st.floats(0.05, 0.5))
    if draw(st.integers(0, 4)) == 0:
        data["augment"] = draw(st.sampled_from([["hflip"], ["crop:1"], ["rotate:10", "erase"]]))
    if broken and draw(st.integers(0, 3)) == 0:
        key, value = draw(st.sampled_from([
            ("train_limit", st.sampled_from([5, 0, -1, "all", 1.5, 10**12, None])),
            ("val_fraction", st.sampled_from([0, 1, 1.5, -0.1, math.nan, "x", 0.999, 0.95])),
            ("test_fraction", st.sampled_from([0, 1, 0.999, 0.99, 0.95, "x"])),
            ("name", st.one_of(st.sampled_from(["digitz", "../x", "", "/etc", "iris", "mnist"]), _JUNK)),
            ("augment", st.one_of(st.sampled_from([["bogus"], "crop", ["crop:-1"], ["rotate:x"], [None]]), _JUNK)),
            ("path", st.sampled_from([f"{DATA}/t.csv", "/nonexistent", ""])),
            ("format", st.sampled_from(["idx", "csv-table", "image-folder", "png", None])),
            ("unknown", _JUNK)]))
        data[draw(_TEXT) if key == "unknown" else key] = draw(value)
    return data


def _table_section(draw, broken):
    data = {"name": draw(st.sampled_from(["mine", "my-table"])), "format": "csv-table", "path": f"{DATA}/t.csv"}
    if draw(st.booleans()):
        data["target"] = "label"
    if draw(st.integers(0, 3)) == 0:
        data["drop"] = ["color"]
    if broken and draw(st.integers(0, 3)) == 0:
        key, value = draw(st.sampled_from([
            ("target", st.one_of(st.sampled_from(["nope", "x1", "", "LABEL"]), _JUNK)),
            ("drop", st.sampled_from([["label"], ["nope"], ["x1", "x2", "color"], "color", [None]])),
            ("path", st.sampled_from([DATA, f"{DATA}/missing.csv", f"{DATA}/t.csv/x", "", "t.csv", None])),
            ("format", st.sampled_from(["idx", "time-series", "nab", "text-corpus", "csv", None])),
            ("augment", st.sampled_from([["hflip"], ["crop"]])),
            ("train_limit", st.sampled_from([10, 12, 5, 10**9])),
            ("val_fraction", st.sampled_from([0.5, 0.9, 0.01])), ("test_fraction", st.sampled_from([0.5, 0.9, 0.01])),
            ("name", st.sampled_from(["digits", "../up", "a/b", "tabular-churn"]))]))
        data[key] = draw(value)
    return data


_DAMAGE = ["empty-target", "nan-cell", "inf-cell", "huge-cell", "single-class", "rare-class", "text-in-number",
           "ragged-extra", "ragged-short", "fraction-label", "text-labels", "duplicate-header", "empty-header-cell",
           "target-only", "header-only", "empty-file", "bom", "latin1", "binary", "nul", "semicolons", "crlf",
           "unclosed-quote", "empty-column", "blank-lines", "many-classes", "spaces"]


@st.composite
def csv_tables(draw, broken: bool) -> tuple[bytes, list[str]]:
    """A CSV table of a few dozen rows (x1, x2 numeric; color categorical; label 0..k-1), maybe damaged."""
    n, k = draw(st.integers(24, 48)), draw(st.integers(2, 3))
    header = ["x1", "x2", "color", "label"]
    rows = [[f"{(i * 37 % 101) / 10 - 5:.2f}", str(i * 11 % 7), ("red", "green", "blue")[i % 3], str(i % k)]
            for i in range(n)]
    damage = draw(st.lists(st.sampled_from(_DAMAGE), max_size=2, unique=True)) if broken else []
    r = draw(st.integers(0, n - 1))
    sep, newline = ",", "\n"
    for d in damage:
        if d == "empty-target":
            rows[r][3] = draw(st.sampled_from(["", "nan", "NA", " "]))
        elif d == "nan-cell":
            rows[r][0] = draw(st.sampled_from(["nan", "NaN", "", " ", "null"]))
        elif d == "inf-cell":
            rows[r][0] = draw(st.sampled_from(["inf", "-inf", "1e999", "Infinity", "-1e400"]))
        elif d == "huge-cell":
            rows[r][1] = draw(st.sampled_from(["1e300", "-1.7e308", "1e200", "1e150", "9" * 400]))
        elif d == "single-class":
            for row in rows:
                row[3] = "0"
        elif d == "rare-class":
            rows[r][3] = "7"
        elif d == "text-in-number":
            rows[r][0] = draw(st.sampled_from(["abc", "1,5", "1.2.3", "--1", "0x10"]))
        elif d == "ragged-extra":
            rows[r].append("9")
        elif d == "ragged-short":
            rows[r].pop()
        elif d == "fraction-label":
            rows[r][3] = "0.5"
        elif d == "text-labels":
            for row in rows:
                row[3] = ("yes", "no", "maybe")[int(row[3])] if row[3].isdigit() and int(row[3]) < 3 else row[3]
        elif d == "duplicate-header":
            header[1] = "x1"
        elif d == "empty-header-cell":
            header[draw(st.integers(0, 2))] = ""
        elif d == "target-only":
            header, rows = header[3:], [row[3:] for row in rows]
        elif d == "header-only":
            rows = []
        elif d == "semicolons":
            sep = ";"
        elif d == "crlf":
            newline = "\r\n"
        elif d == "unclosed-quote":
            rows[r][2] = '"blue'
        elif d == "empty-column":
            for row in rows:
                row[1] = ""
        elif d == "blank-lines":
            rows.insert(r, [""] * 0)
        elif d == "many-classes":
            for i, row in enumerate(rows):
                row[3] = str(i)
        elif d == "spaces":
            rows = [[f" {c} " for c in row] for row in rows]
    text = newline.join([sep.join(header)] + [sep.join(row) for row in rows]) + newline
    raw = text.encode()
    if "empty-file" in damage:
        raw = b""
    if "bom" in damage:
        raw = b"\xef\xbb\xbf" + raw
    if "latin1" in damage:
        raw = raw.replace(b"red", "r\xe9d".encode("latin-1"), 1)
    if "nul" in damage:
        raw = raw.replace(b"green", b"gr\x00en", 1)
    if "binary" in damage:
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=16)) + raw[at:]
    return raw, damage


def _dump(study: dict) -> str:
    return yaml.safe_dump({k: v for k, v in study.items() if v is not MISSING}, sort_keys=False, allow_unicode=True)


@st.composite
def yaml_damage(draw, text: str) -> str | bytes:
    """The study file's text broken at the YAML level (or, for some, still valid)."""
    kind = draw(st.sampled_from(["tab", "unclosed", "list", "scalar", "empty", "binary", "alias-bomb", "duplicate",
                                 "truncate", "python-tag", "crlf", "bom", "latin1", "alias", "merge", "nul",
                                 "huge", "deep"]))
    lines = text.splitlines(keepends=True)
    if kind == "tab":
        i = draw(st.integers(0, len(lines) - 1))
        return "".join(lines[:i] + ["\t" + lines[i]] + lines[i + 1:])
    if kind == "unclosed":
        return text + "extra: {name: [mlp\n"
    if kind == "list":
        return "- name: x\n- task: classify\n"
    if kind == "scalar":
        return draw(st.sampled_from(["just a string\n", "42\n", "null\n", "~\n", "'name: x'\n"]))
    if kind == "empty":
        return draw(st.sampled_from(["", "\n", "---\n", "# only a comment\n"]))
    if kind == "binary":
        return draw(st.binary(min_size=1, max_size=64))
    if kind == "alias-bomb":
        bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefg", "bcdefgh"))
        return bomb + text
    if kind == "duplicate":
        return text + lines[0]
    if kind == "truncate":
        return text[:draw(st.integers(0, len(text)))]
    if kind == "python-tag":
        return text + "x: !!python/object/apply:os.system ['true']\n"
    if kind == "crlf":
        return text.replace("\n", "\r\n")
    if kind == "bom":
        return "\ufeff" + text
    if kind == "latin1":
        return ("# étude\n" + text).encode("latin-1", errors="replace")
    if kind == "alias":  # an anchor used where a value belongs: valid YAML
        return "seeds: &s 1\n" + "\n".join(ln for ln in text.splitlines() if not ln.startswith("seeds:")) + "\n"
    if kind == "merge":
        return "base: &b {epochs: 1}\n" + text.replace("train:\n", "train:\n  <<: *b\n", 1)
    if kind == "nul":
        return text.replace("\n", "\x00\n", 1)
    if kind == "huge":
        return text + "description: " + "x" * 2_100_000 + "\n"
    return text + "deep: " + "[" * 5_000 + "]" * 5_000 + "\n"


@dataclass(frozen=True)
class Case:
    study: str | bytes  # the study file, with DATA where its data folder goes
    table: bytes | None  # t.csv in the data folder (csv-table studies)
    pieces: tuple[str, ...]  # what was broken on purpose (csv damage, yaml damage)

    def show(self, data: Path) -> str:
        study = self.study.replace(DATA, str(data)) if isinstance(self.study, str) else self.study
        table = "" if self.table is None else f"\n--- t.csv ({len(self.table)} bytes) ---\n{self.table[:1500]!r}"
        return f"pieces: {self.pieces}\n--- study.yaml ---\n{study if isinstance(study, str) else repr(study)[:3000]}" \
               f"{table}"


@st.composite
def cases(draw) -> Case:
    broken = draw(st.booleans())
    csv = draw(st.booleans())
    study = {"name": _name(draw, broken), "task": _task(draw, broken), "description": "fuzz"}
    study["data"] = _table_section(draw, broken) if csv else _digits(draw, broken)
    study["model"] = _model(draw, broken, csv)
    study["train"] = _train(draw, broken)
    study["arms"] = _arms(draw, broken, csv)
    study["seeds"] = _seeds(draw, broken)
    if broken and draw(st.integers(0, 5)) == 0:
        study[draw(st.sampled_from(["trian", "analyses", "seed", "explain", "search", "opt_in_arms"]))] = draw(_JUNK)
    table, pieces = draw(csv_tables(broken)) if csv else (None, [])
    text: str | bytes = _dump(study)
    if broken and draw(st.integers(0, 5)) == 0:
        pieces = [*pieces, "yaml"]
        text = draw(yaml_damage(text))
    return Case(text, table, tuple(pieces))


# ---- the property ---------------------------------------------------------------------------------------------------

_STARTED: list[float] = []


def _outcome_is_complete_or_one_line(case: Case, r, out: Path, shown: str) -> None:
    made = sorted(str(p.relative_to(out)) for p in out.rglob("*")) if out.exists() else []
    if r.code == 0:
        runs = [p for p in out.glob("*/*") if p.is_dir()]
        assert len(runs) == 1, f"exit 0 but {len(runs)} run directories: {made[:20]}\n{shown}"
        run = runs[0]
        results = json.loads((run / "results.json").read_text())
        arms = yaml.safe_load((run / "config.yaml").read_text())["arms"]
        assert set(results["arms"]) == set(arms), f"results.json arms {list(results['arms'])} != {list(arms)}\n{shown}"
        for arm, summary in results["arms"].items():
            assert len(summary["seeds"]) == results["seeds"], f"arm {arm}: {len(summary['seeds'])} seeds\n{shown}"
            assert all(s["status"] == "ok" for s in summary["seeds"]), f"arm {arm}: {summary['seeds']}\n{shown}"
            for i in range(results["seeds"]):
                assert (run / "arms" / arm / f"seed-{i}" / "result.json").is_file(), f"{arm} seed {i}\n{shown}"
        assert (run / "report.html").stat().st_size > 0, shown
        return
    lines = r.err.strip().splitlines()
    assert r.code == 2, f"exit {r.code} (expected 0 or 2)\nstderr: {r.err[-2000:]}\n{shown}"
    assert "Traceback" not in r.err, f"a traceback\n{r.err[-2000:]}\n{shown}"
    assert len(lines) == 1 and lines[0].startswith("error: "), f"stderr is not one 'error:' line: {r.err!r}\n{shown}"
    assert not made, f"exit 2 but --out holds {made[:20]}\nstderr: {r.err}\n{shown}"


@settings.get_profile(PROFILE)
@given(case=cases())
def test_a_generated_study_runs_completely_or_stops_in_one_line(case: Case):
    _STARTED[:] = _STARTED or [time.perf_counter()]
    if time.perf_counter() - _STARTED[0] > BUDGET_S:
        event("untried (time budget spent)")
        return  # the time budget is spent: later cases pass untried (DEEPSTUDY_FUZZ=long has none)
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        tmp = Path(tmp)
        data = tmp / "data"
        data.mkdir()
        if case.table is not None:
            (data / "t.csv").write_bytes(case.table)
        study = tmp / "study.yaml"
        if isinstance(case.study, str):
            study.write_text(case.study.replace(DATA, str(data)), encoding="utf-8")
        else:
            study.write_bytes(case.study)
        shown = case.show(data)
        out = tmp / "runs"
        with warnings.catch_warnings():
            warnings.simplefilter("default")  # a warning reaches stderr as a user would see it
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            try:
                r = run_cli("run", str(study), "--out", str(out))
            except BaseException as e:  # noqa: BLE001 — any exception is the defect this test looks for
                raise AssertionError(f"{type(e).__name__} escaped the CLI:\n{traceback.format_exc()[-3000:]}\n"
                                     f"{shown}") from e
        event(f"exit {r.code}")  # pytest --hypothesis-show-statistics: how many ran, how many stopped
        _outcome_is_complete_or_one_line(case, r, out, shown)
