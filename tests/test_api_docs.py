"""The library API as a user meets it: the API reference (pdoc) builds without warnings, every public function
has a docstring with an example, the examples run, and a run directory shows its report in Jupyter."""
import doctest
import html
import importlib
import inspect
import re
import sys
from pathlib import Path

import pytest

from deepstudy import docs

MODULES = [f"deepstudy.{m}" for m in docs.API_MODULES]


def _public(name: str) -> dict[str, object]:
    """What the module's page documents: its __all__, else the public names defined in it."""
    module = importlib.import_module(name)
    names = getattr(module, "__all__", None) or [n for n, o in vars(module).items() if not n.startswith("_")
                                                 and getattr(o, "__module__", None) == name]
    return {n: getattr(module, n) for n in names}


def _functions_and_classes():
    for name in MODULES:
        for attr, obj in _public(name).items():
            if inspect.isfunction(obj) or inspect.isclass(obj):
                yield f"{name}.{attr}", obj


def test_the_api_reference_covers_every_library_module_without_warnings(tmp_path):
    pytest.importorskip("pdoc", reason="the API reference needs pdoc (pip install -e '.[test]')")
    assert docs.api_reference(tmp_path) == []
    assert (tmp_path / "index.html").is_file()
    for name in MODULES:
        page = (tmp_path / (name.replace(".", "/") + ".html")).read_text()
        for attr, obj in _public(name).items():
            if inspect.isfunction(obj) or inspect.isclass(obj):
                assert f'id="{attr}"' in page, f"{name}.{attr} is missing from its page"
    train_page = (tmp_path / "deepstudy/train.html").read_text()
    assert 'id="example"' in train_page and "was never iterated" not in train_page
    assert not list(tmp_path.glob("deepstudy/*/*.html")), "submodules are internals: no pages of their own"


def test_the_api_reference_reports_what_pdoc_cannot_read(tmp_path, monkeypatch):
    """The check above can fail: a module with an annotation pdoc cannot resolve gives a warning."""
    pytest.importorskip("pdoc")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "deepstudy_broken_doc.py").write_text(
        'def f(x: "NoSuchType") -> None:\n    """Example:\n        f(1)\n    """\n')
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    warnings = docs.api_reference(tmp_path / "out", modules=("deepstudy_broken_doc",))
    assert any("NoSuchType" in w for w in warnings), warnings


@pytest.mark.parametrize("qualname, obj", list(_functions_and_classes()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_public_function_has_a_docstring_with_an_example(qualname, obj):
    doc = inspect.getdoc(obj) or ""
    assert doc.strip(), f"{qualname} has no docstring"
    if inspect.isfunction(obj):
        assert "Example:" in doc, f"{qualname}'s docstring has no 'Example:' block"


def test_the_examples_run():
    """Every >>> line in the public docstrings (the examples that train, train tiny models on random tensors)."""
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    ran = 0
    for qualname, obj in _functions_and_classes():
        globs = dict(vars(sys.modules[obj.__module__]))
        for test in finder.find(obj, qualname, globs=globs):
            runner.run(test)
            ran += len(test.examples)
    failed, attempted = runner.summarize(verbose=False)
    assert failed == 0, f"{failed} of {attempted} docstring examples failed (output above)"
    assert ran > 300  # nearly every public function shows a runnable example


def test_a_run_directory_shows_its_report_in_jupyter(tmp_path):
    from conftest import tiny_study
    from deepstudy import config, study

    path = tiny_study(tmp_path, seeds=2, **{"train.epochs": 1})
    run_dir = study.run(config.load(str(path)), out_root=tmp_path / "runs")
    # still a Path for every caller
    assert isinstance(run_dir, Path) and run_dir == Path(str(run_dir)) and run_dir.parent.name == "tiny"
    assert (run_dir / "results.json").is_file() and str(run_dir / "results.json") == f"{run_dir}/results.json"
    report = (run_dir / "report.html").read_text()
    shown = run_dir._repr_html_()
    srcdoc = re.fullmatch(r'<iframe title="deepstudy report" srcdoc="([^"]*)" style="[^"]*"></iframe>', shown)
    assert srcdoc, shown[:200]
    assert "<" not in srcdoc.group(1) and html.unescape(srcdoc.group(1)) == report  # escaped, and all of it
    verdict = re.search(r'class="verdict[^"]*">(.*?)</', report, re.S).group(1)
    assert len(verdict) > 20 and html.escape(verdict) in srcdoc.group(1)
    assert (run_dir / "arms")._repr_html_() is None  # a folder without a report: the plain repr
