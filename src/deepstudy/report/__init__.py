"""Reports from a run directory alone: ``write(run_dir)`` -> report.html (self-contained) + report.md.

Reads ``results.json``, ``data.json``, ``samples.npz`` and each arm/seed's ``metrics.jsonl``; it
never imports torch, so a finished run re-renders anywhere (``deepstudy report RUN_DIR``).
"""
from __future__ import annotations

import base64
import datetime as _dt
from pathlib import Path

import numpy as np
from jinja2 import Environment, FileSystemLoader

from deepstudy.errors import UserError
from deepstudy.fileio import DamagedFile, atomic_write_text, read_json, read_jsonl
from deepstudy.report import conclusions, convergence, diagnostics, lr_range, search_view, sections, tasks, trajectories
from deepstudy.report.figures import roc_points
from deepstudy.report.formats import ci, count, human, mdcell, metric_label, pm

__all__ = ["check_files", "ci", "damaged", "explain_rows", "human", "pm", "roc_points", "write"]

_TEMPLATES = Path(__file__).parent / "templates"


def _figures(run_dir: Path, results: dict, wanted: set[str], section: sections.Section) -> list[dict]:
    """The per-arm scores, then the section's own figures."""
    from deepstudy.report import plots

    metric = results.get("metric", "accuracy")
    scores = {a: [s["test"][metric] for s in info["seeds"] if s["status"] == "ok"]
              for a, info in results["arms"].items()}
    out = [{"path": plots.arm_scores(scores, metric, run_dir / "figures" / "scores.png"),
            "caption": f"Test {metric_label(metric, '')} per arm: each dot is one seed, "
                       "the black mark is the mean ± std. Overlapping spreads mean the ranking may not survive another "
                       "set of seeds — read the conclusions above for the tests."}]
    return out + section.figures(run_dir, results, wanted)


def explain_rows(results: dict) -> list[dict]:
    """One row per arm and method for the report's trust table, with a one-sentence reading."""
    rows = []
    for arm, info in results["arms"].items():
        e = info.get("explain")
        if not e:
            continue
        for method, reason in e["skipped"].items():
            rows.append({"arm": arm, "method": method, "skipped": reason})
        for method, s in e["methods"].items():
            n, rho_all, rho_top = s["n"], s["spearman_all"]["mean"], s["spearman_top"]["mean"]
            sanity_level = ("flagged" if rho_all >= e["flag_at"] else "partly" if rho_all >= e["flag_at"] / 2
                            else "passes")
            if rho_all >= e["flag_at"]:
                sanity = (f"FLAGGED: its maps keep ρ = {rho_all:.2f} with the trained ones when every layer is random "
                          "— they follow the input more than the model")
            elif rho_all >= e["flag_at"] / 2:
                sanity = (f"is only partly passed: ρ is still {rho_all:.2f} with every layer random ({rho_top:.2f} "
                          "after the top layer) — part of the map is the input's own structure (Adebayo et al. saw the "
                          "same for gradient × input and integrated gradients)")
            else:
                sanity = f"passes: ρ falls to {rho_all:.2f} with every layer random ({rho_top:.2f} after the top layer)"
            beats = min(s["deletion_beats_random"], s["insertion_beats_random"])
            faithful = (f"ranks what matters better than chance (deletion and insertion beat random order in "
                        f"{beats}/{n} seeds)" if beats == n
                        else f"is not reliably better than a random order ({beats}/{n} seeds beat it on both)")
            labels = s.get("spearman_labels")
            control, labels_level = "", None
            if labels and s.get("control_constant"):
                labels_level = "inconclusive"
                control = (f" The label-permuted control ({s['control_arm']}) learned nothing (its maps are constant), "
                           "so the data-randomization check is inconclusive — train the control longer, without "
                           "regularization, until it memorizes.")
                labels = None
            elif labels:
                rho_l = labels["mean"]
                labels_level = ("flagged" if rho_l >= e["flag_at"] else "partly" if rho_l >= e["flag_at"] / 2
                                else "passes")
                control = (f" Against the model trained on permuted labels ({s['control_arm']}) its maps keep ρ = "
                           f"{rho_l:.2f}"
                           + (" — FLAGGED: they barely depend on what the labels taught." if rho_l >= e["flag_at"]
                              else " — only partly what was learned: much of the map is the input's own structure."
                              if rho_l >= e["flag_at"] / 2 else " — they depend on what was learned."))
            rows.append({"arm": arm, "method": method, "s": s, "faithful": beats == n, "sanity": sanity_level,
                         "labels": labels_level, "control_arm": s.get("control_arm"),
                         "flagged": rho_all >= e["flag_at"] or bool(labels and labels["mean"] >= e["flag_at"]),
                         "reading": f"{method} {faithful}; the sanity check {sanity}.{control}"})
    return rows


def _dataset_figures(run_dir: Path, results: dict, wanted: set[str]) -> list[dict]:
    from deepstudy.report import plots

    ds, out = results["dataset"], []
    if "samples" in wanted and (run_dir / "samples.npz").is_file():
        s = np.load(run_dir / "samples.npz")
        out.append({"path": plots.sample_grid(s["images"], s["labels"], ds["classes"],
                                              run_dir / "figures" / "samples.png"),
                    "caption": "Test examples, one row per class (as stored, before normalization)."})
    counts = ds.get("class_counts") or {}
    if any(sum(c) for c in counts.values()):  # a split with rows in some class (NAB series have no class rows)
        scores = {m for i in results["arms"].values() for m, d in (i.get("summary") or {}).items()
                  if isinstance(d, dict) and d.get("n")}
        beside = [name for m, name in (("f1", "F1"), ("roc_auc", "ROC-AUC")) if m in scores]
        out.append({"path": plots.class_balance({k: c for k, c in counts.items() if sum(c)}, ds["classes"],
                                                run_dir / "figures" / "balance.png"),
                    "caption": "Class balance of each split. With unequal classes, accuracy flatters a model that "
                               "favours the majority" + (f": read {' and '.join(beside)} beside it." if beside
                                                         else ".")})
    return out


def _embed(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def damaged(run_dir: Path, e: DamagedFile) -> UserError:
    """One line: which file of the run is damaged, and how the run gets it back."""
    resume = f"`deepstudy run --resume {run_dir}`"
    if e.path.name == "results.json" and e.path.parent == Path(run_dir):
        todo = f"{resume} rebuilds it from the seeds' results (nothing is retrained)"
    else:
        seed = next((p for p in e.path.parents if p.name.startswith("seed-")), e.path.parent)
        todo = f"restore it from a backup, or delete the folder {seed} and {resume} trains that seed again"
    return UserError(f"{e.path} is damaged ({e.why}); {todo}")


def check_files(run_dir: Path, results: bool = False) -> dict | None:
    """Every metrics.jsonl and result.json of a run read back (and with ``results``, results.json, returned): a
    damaged one is one line (``damaged``) before the report or a resume writes anything."""
    try:
        for path in sorted(Path(run_dir).rglob("metrics.jsonl")):
            bad = next((r for r in read_jsonl(path) if not {"epoch", "train_loss", "val_loss"} <= r.keys()), None)
            if bad is not None:
                raise DamagedFile(path, f"a row without epoch, train_loss and val_loss: {str(bad)[:60]}")
        for path in sorted(Path(run_dir).rglob("result.json")):
            if not isinstance(read_json(path), dict):
                raise DamagedFile(path, "not a JSON object")
        if not results:
            return None
        out = read_json(Path(run_dir) / "results.json")
        if not (isinstance(out, dict) and {"task", "dataset", "arms"} <= out.keys()):
            raise DamagedFile(Path(run_dir) / "results.json", "not the results deepstudy writes: no task, dataset "
                              "and arms")
        return out
    except DamagedFile as e:
        raise damaged(Path(run_dir), e) from None


def write(run_dir: str | Path) -> Path:
    """Render report.html and report.md from the files of ``run_dir``; returns the HTML path."""
    from deepstudy.report import search_plots

    run_dir = Path(run_dir)
    if not (run_dir / "results.json").is_file():
        raise UserError(f"'{run_dir}' has no results.json: it is not a finished run directory "
                        "(a killed run continues with `deepstudy run --resume RUN_DIR`)")
    results = check_files(run_dir, results=True)  # before anything is written
    wanted = set(results.get("analyses", ("curves", "confusion", "samples")))
    dataset_figs = _dataset_figures(run_dir, results, wanted)
    section = sections.get(results["task"])
    figs = _figures(run_dir, results, wanted, section)
    curves = diagnostics.for_run(run_dir, results) if section.diagnose else {"lines": [], "notes": []}
    if section.diagnose:  # and how fast each arm's training loss gets to one every sound arm reaches
        curves["notes"] += convergence.notes(run_dir, results, curves["findings"], curves["curves"])
    for f in figs:
        if f.get("name") == "curves":
            f["after"] = curves["notes"]  # the "Training curves" paragraph under the learning curves
    folders = [_TEMPLATES, *([Path(section.templates)] if section.templates else [])]
    # HTML templates escape every value; Markdown ones write text as it is (no &#39; entities in report.md)
    env = Environment(loader=FileSystemLoader(folders), autoescape=lambda name: bool(name and ".html" in name),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(pm=pm, ci=ci, count=count, human=human, mdcell=mdcell)
    search = search_view.view(results)  # a study with a search: section; its figures sit in its own section
    search_figs = search_plots.figures(run_dir, results) if search else []
    rows = explain_rows(results)
    context = {**section.context(results), "r": results, "section": section, "figures": figs,
               "search": search, "search_figures": search_figs, "lead": conclusions.lead(results, rows, search),
               "curve_lines": curves["lines"],
               "explain_rows": rows, "starting_points": tasks.starting_points(results),
               "lr_range": lr_range.lines(results), "trajectories": trajectories.lines(results),
               "dataset_figures": dataset_figs, "run_dir": str(run_dir),
               "generated": _dt.datetime.now().isoformat(timespec="seconds")}
    html = env.get_template("report.html.j2").render(**context, embed=_embed)
    atomic_write_text(run_dir / "report.html", html)
    md = env.get_template("report.md.j2").render(**context, rel=lambda p: str(Path(p).relative_to(run_dir)))
    atomic_write_text(run_dir / "report.md", md)
    return run_dir / "report.html"
