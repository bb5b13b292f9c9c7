"""The report of a comparison across runs (deepstudy.runs.compare): report.html (self-contained) + report.md.

Rendered from comparison.json's contents alone, with the run reports' stylesheet, number formats and per-arm
score figure; the verdicts are evaluate.compare_arms' sentences, written as the comparison computed them.
"""
from __future__ import annotations

import base64
from pathlib import Path

from jinja2 import Environment, FileSystemLoader

from deepstudy.fileio import atomic_write_text
from deepstudy.report.formats import ci, mdcell, pm
from deepstudy.report.search_view import PERCENT_TEST

_TEMPLATES = Path(__file__).parent / "templates"


def _rows(doc: dict, scale: float, digits: int) -> list[dict]:
    """One row per arm, best mean first, with its tests against the best arm."""
    against = {c["other"]: c for c in doc["comparison"]["comparisons"]}
    sign = 1 if doc["lower_better"] else -1
    out = []
    for a in sorted(doc["arms"], key=lambda a: (a["summary"]["mean"] is None, sign * (a["summary"]["mean"] or 0))):
        c = against.get(a["name"])
        mcnemar = c and c["mcnemar"] and f"{sum(m['p'] < 0.05 for m in c['mcnemar'])} of {len(c['mcnemar'])}"
        out.append({**a, "score": pm(a["summary"], scale, digits), "ci": ci(a["summary"], scale) if scale != 1 else
                    ("—" if not a["summary"].get("ci95") else "[{:.4g}, {:.4g}]".format(*a["summary"]["ci95"])),
                    "best": a["name"] == doc["comparison"]["best"],
                    "p": "—" if not c or c["p"] is None else f"{c['p']:.3g}",
                    "p_holm": "—" if not c or c["p_holm"] is None else f"{c['p_holm']:.3g}",
                    "mcnemar": mcnemar or "—", "verdict": c["verdict"] if c else ("best" if a["name"] ==
                                                                                    doc["comparison"]["best"] else "")})
    return out


def write(out: Path, doc: dict) -> Path:
    """report.html and report.md of a comparison in folder ``out``; returns the HTML path."""
    from deepstudy.report import plots

    out = Path(out)
    percent = doc["metric"] in PERCENT_TEST or doc["metric"] in ("precision", "recall")
    scale, digits = (100.0, 2) if percent else (1.0, 4)
    figure = plots.arm_scores(doc["scores"], doc["metric"], out / "figures" / "scores.png")
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=lambda name: bool(name and ".html" in name),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(mdcell=mdcell)
    context = {"d": doc, "rows": _rows(doc, scale, digits), "unit": " (%)" if percent else "",
               "figure": {"path": figure, "rel": str(figure.relative_to(out)),
                          "caption": f"Test {doc['metric'].replace('_', ' ')} per arm across the runs: each dot is one "
                                     "seed, the black mark the mean ± std. Overlapping spreads mean the ranking may "
                                     "not survive another set of seeds — read the conclusions above for the tests."}}
    embed = "data:image/png;base64," + base64.b64encode(figure.read_bytes()).decode()
    atomic_write_text(out / "report.html", env.get_template("across.html.j2").render(**context, embedded=embed))
    atomic_write_text(out / "report.md", env.get_template("across.md.j2").render(**context) + "\n")
    return out / "report.html"
