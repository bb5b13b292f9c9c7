"""``deepstudy runs`` and ``deepstudy compare``: results across runs (deepstudy.runs)."""
from __future__ import annotations

import json
import shlex
import sys


def add_parsers(sub) -> None:
    runs = sub.add_parser("runs", help="list the runs under an output folder: study, data, arms x seeds, scores",
                          description="List the run directories under an output folder with each arm's headline "
                                      "metric (mean ± std over seeds) and the best arm; filter by study and by keys "
                                      "of the run's config.yaml.",
                          epilog="examples: deepstudy runs | deepstudy runs --study mlp-vs-cnn | deepstudy runs "
                                 "--where data.name=fashion-mnist --where train.epochs=5 --json")
    runs.add_argument("--out", default="runs", metavar="ROOT",
                      help="the output folder `deepstudy run --out` wrote to (default: runs)")
    runs.add_argument("--study", help="only runs of this study (its name)")
    runs.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                      help="only runs whose config.yaml has KEY=VALUE (dotted key, value parsed as YAML; repeatable)")
    runs.add_argument("--all", action="store_true", help="also list unfinished runs (killed or still running)")
    runs.add_argument("--json", action="store_true", help="print the list as JSON")

    cmp = sub.add_parser("compare", help="compare arms of different runs on one test set, as an HTML report",
                         description="Put the arms of two or more finished runs into one comparison with a study's "
                                     "statistics (Welch's t-test over seeds, Holm-adjusted; McNemar on the test set). "
                                     "The runs must share task, metric and test set (checked by sha256).",
                         epilog="example: deepstudy compare runs/mlp-vs-cnn/2026-... runs/cnn-design/2026-... "
                                "--arms mlp-vs-cnn:cnn,cnn-design:wide")
    cmp.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    cmp.add_argument("--out", metavar="DIR", help="folder for report.html, report.md and comparison.json "
                                                  "(default: <root>/comparisons/<timestamp>)")
    cmp.add_argument("--arms", metavar="RUN:ARM[,RUN:ARM]",
                     help="compare only these arms; RUN is a run's name (its study), its position 1.. or its folder")


def _table(runs) -> tuple[list[str], list[list[str]]]:
    """One row per arm (the run's columns on its first row only); a damaged or unfinished run is one row."""
    head = ["run", "study", "task", "data", "started", "arms x seeds", "arm", "test score", "best"]
    rows = []
    for r in runs:
        first = [r.path, r.study, r.task, r.dataset, r.date, f"{len(r.arms)} x {r.seeds if r.seeds else '?'}"]
        if r.status != "finished":
            what = {"damaged": f"DAMAGED: {r.reason}", "running": "running now",
                    "unfinished": f"unfinished: `deepstudy run --resume {r.path}` continues it"}[r.status]
            rows.append([*first, what, "", ""])
            continue
        for k, arm in enumerate(r.arms):
            cells = first if k == 0 else [""] * len(first)
            rows.append([*cells, arm, f"{r.metric} {r.score(arm)}", "best" if arm == r.best else ""])
    return head, rows


def cmd_runs(args) -> int:
    from deepstudy.runs import list_runs

    every = list_runs(args.out, study=args.study, where=args.where, include_unfinished=True)
    shown = every if args.all else [r for r in every if r.status in ("finished", "damaged")]
    hidden = len(every) - len(shown)
    if args.json:
        print(json.dumps([r.to_json() for r in shown], indent=2))
        return 0
    if not shown:
        which = f" of study '{args.study}'" if args.study else ""
        print(f"no finished runs{which} under {args.out}" + (" match --where" if args.where else ""))
    else:
        head, rows = _table(shown)
        if sys.stdout.isatty():
            from rich.console import Console
            from rich.markup import escape
            from rich.table import Table

            table = Table(*head, header_style="bold")
            for row in rows:
                table.add_row(*map(escape, row), style="red" if row[6].startswith("DAMAGED") else None)
            Console().print(table)
        else:
            # a damaged or unfinished run's sentence (arm column, nothing after it) may run past the column
            widths = [max(len(row[i]) for row in [head, *rows] if i != 6 or row[7]) for i in range(len(head))]
            for row in [head, *rows]:
                print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    if hidden:
        print(f"({hidden} unfinished run(s) not shown; --all lists them)", file=sys.stderr)
    return 0


def cmd_compare(args) -> int:
    from deepstudy.runs import compare_runs

    command = "deepstudy compare " + shlex.join([*args.run_dirs, *(["--out", args.out] if args.out else []),
                                                 *(["--arms", args.arms] if args.arms else [])])
    path = compare_runs(args.run_dirs, out=args.out, arms=args.arms, command=command)
    doc = json.loads((path.parent / "comparison.json").read_text(encoding="utf-8"))
    print(f"{doc['comparison']['summary']}")
    print(f"report: {path}")
    return 0
