"""``deepstudy lr-find``: the learning-rate range test of a study's arms alone, without training them."""
from __future__ import annotations

import sys

from deepstudy.errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser("lr-find", help="learning-rate range test of a study's arms (suggested rates), no training",
                       description="Sweep the learning rate exponentially over a few hundred training steps from each "
                                   "arm's seed-0 initial weights (Smith, 2017) and suggest rates: where the smoothed "
                                   "loss falls fastest, and the rate of its minimum / 10. The sweep is the study's "
                                   "`lr_range:` section (start, end, steps, smooth, diverge).",
                       epilog="examples: deepstudy lr-find mlp-vs-cnn --arms cnn-plain | deepstudy lr-find my.yaml "
                              "--set lr_range.end=1 --set lr_range.steps=100 --out lr/")
    p.add_argument("study", help="built-in study name (see `deepstudy list`) or path to a .yaml file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="dotted override of the study, value parsed as YAML (repeatable): lr_range.steps=100")
    p.add_argument("--arms", metavar="NAME[,NAME]", help="only these arms of the study, in this order (default: all)")
    p.add_argument("--out", metavar="DIR", help="folder for lr-find.json and lr-find.png "
                                                "(default: runs/<study>/lr-find-<timestamp>)")


def cmd_lr_find(args) -> int:
    from deepstudy import config, study
    from deepstudy.fileio import read_json

    overrides = config.parse_set(args.overrides)
    given = {k.strip(): f"--set {item}" for item in args.overrides for k in [item.partition("=")[0]]}
    arms = [a.strip() for a in args.arms.split(",") if a.strip()] if args.arms is not None else None
    if arms == []:
        raise UserError("--arms names arms of the study, comma-separated: --arms mlp,cnn-plain")
    cfg = config.load(args.study, overrides, arms=arms, given=given)
    folder = study.lr_find(cfg, args.out, on_event=lambda e: print(e["text"], file=sys.stderr, flush=True))
    found = read_json(folder / "lr-find.json")["arms"]
    rows = [["arm", "steepest", "min ÷ 10", "stopped at", "trains at"]]
    for arm, f in found.items():
        s, stop = f["suggestion"], f["stopped_at"]
        rows.append([arm, _rate(s["steepest"]), _rate(s["min_div_10"]),
                     f"{stop['lr']:.2g} (diverged)" if stop else f"not by {f['end']:g}", f"{f['lr']:g}"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print(f"figure: {folder / 'lr-find.png'}")
    print(f"results: {folder / 'lr-find.json'}")
    return 0


def _rate(lr: float | None) -> str:
    return "—" if lr is None else f"{lr:.2g}"
