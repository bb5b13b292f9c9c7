"""``deepstudy`` command line: parse, call study / report / data, print, exit codes.

Exit codes: 0 success, 2 user error (one line: what is wrong, how to fix; no traceback), 1 disk full (one line
with the resume command), 130 interrupted (Ctrl-C: the resume command).
Heavy imports (torch) happen inside the commands that need them: ``report`` and ``list`` stay fast.
"""
from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path

from deepstudy.config import EXPLANATIONS
from deepstudy.cli.across import add_parsers as add_across_parsers
from deepstudy.cli.across import cmd_compare, cmd_runs
from deepstudy.cli.distributed import add_arguments as add_distributed_arguments
from deepstudy.cli.doctor import cmd_doctor
from deepstudy.cli.lr_find import add_parser as add_lr_find_parser
from deepstudy.cli.lr_find import cmd_lr_find
from deepstudy.cli.predict import add_parsers as add_predict_parsers
from deepstudy.cli.predict import cmd_export, cmd_predict
from deepstudy.cli.presence import presence
from deepstudy.cli.running import cmd_explain, cmd_run, disk_full, interrupted, version
from deepstudy.errors import UserError
from deepstudy.fileio import DamagedFile

EXPLAIN_METHODS = (*EXPLANATIONS, "feature-maps")
EPILOG = "Docs: docs/quickstart.md and docs/study-file.md. Data folder: $DEEPSTUDY_DATA, else ~/.cache/deepstudy."


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deepstudy", description="Build, train, compare and explain neural networks "
                                "on real data, with conclusions that survive seed-to-seed noise.", epilog=EPILOG)
    p.add_argument("--version", action="version", version=f"deepstudy {version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub.add_parser("list", help="list the built-in studies with their purpose")

    run = sub.add_parser("run", help="run a study (built-in name or YAML file), or resume a killed run",
                         description="Train every arm x seed of a study, evaluate on the test split, write a report.",
                         epilog="examples: deepstudy run digits-quickstart --seeds 5 | deepstudy run my.yaml --set "
                                "train.epochs=3 --set data.augment=[crop,hflip] | deepstudy run imdb-sentiment "
                                "--arms bilstm-attention | deepstudy run --resume runs/x/2026-...")
    run.add_argument("study", nargs="?", help="built-in study name (see `deepstudy list`) or path to a .yaml file")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="dotted override of the study, value parsed as YAML (repeatable): train.epochs=3")
    run.add_argument("--seeds", type=int, help="seeds per arm (overrides the study's `seeds`)")
    run.add_argument("--arms", metavar="NAME[,NAME]",
                     help="run only these arms of the study, in this order (default: all)")
    run.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where to train (default: the study's, auto)")
    run.add_argument("--out", default="runs", help="root folder for run directories (default: runs)")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run in RUN_DIR; ends bit-identical on CPU")
    run.add_argument("--track", action="append", default=[], choices=["tensorboard", "mlflow"],
                     help="also log to an experiment tracker (repeatable): tensorboard (event files in "
                          "<run dir>/tensorboard) or mlflow (runs per arm and seed; see --track-uri)")
    run.add_argument("--track-uri", metavar="URI",
                     help="MLflow tracking URI (default: sqlite:///<run dir>/mlflow.db; a resume keeps the run's)")
    run.add_argument("--jobs", type=int, metavar="N",
                     help="train N (arm, seed) runs at once in worker processes (--executor processes; a study with "
                          "`search:`: N trials at once); default 1")
    run.add_argument("--executor", choices=["local", "processes", "ray"],
                     help="where the runs train: local (this process, one after another; the default), processes "
                          "(--jobs N workers on this machine), ray (a Ray cluster; pip install 'deepstudy[ray]'); "
                          "docs/scale-out.md")
    run.add_argument("--address", metavar="auto|ray://HOST:10001",
                     help="--executor ray: the cluster to use (default: start Ray on this machine for the run)")
    add_distributed_arguments(run)  # --nproc, --nnodes, --rdzv-endpoint (cli/distributed.py)

    rep = sub.add_parser("report", help="re-render report.html / report.md of a finished run (no torch needed)")
    rep.add_argument("run_dir")

    exp = sub.add_parser("explain", help="add explanations (Grad-CAM, saliency, ...) with sanity and faithfulness "
                                         "scores to a finished run",
                         description="Explain test predictions of every arm and seed of a finished run with their "
                                     "best weights; the report gains the maps, the randomization test and "
                                     "deletion/insertion AUCs.",
                         epilog="example: deepstudy explain runs/mlp-vs-cnn/2026-... --method gradcam "
                                "--method saliency --n 16")
    exp.add_argument("run_dir")
    exp.add_argument("--method", action="append", required=True, choices=list(EXPLAIN_METHODS),
                     help="attribution method (repeatable); feature-maps adds first-layer filters and activations")
    exp.add_argument("--n", type=int, help="test examples per seed (default: the run's explain.examples, 16)")
    exp.add_argument("--layer", help="Grad-CAM layer by module name (default: the last spatial convolution)")

    data = sub.add_parser("data", help="registered datasets: list, info, fetch, verify")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    dsub.add_parser("list", help="registered datasets and whether they are present and verified")
    info = dsub.add_parser("info", help="source, license, files and checksums of one dataset")
    info.add_argument("name")
    fetch = dsub.add_parser("fetch", help="download a dataset, verify sha256, then move it into place")
    fetch.add_argument("name")
    fetch.add_argument("--dir", help="data root to fetch into (default: $DEEPSTUDY_DATA, else ~/.cache/deepstudy)")
    fetch.add_argument("--min-rate", type=float, metavar="KIB_S",
                       help="abandon a file whose average rate falls below this many KiB/s after 20 s (default 16)")
    fetch.add_argument("--deadline", type=float, metavar="SECONDS",
                       help="abandon a file after this long (default: its size at the minimum rate, plus a minute)")
    fetch.add_argument("--from", dest="archive", metavar="FILE",
                       help="a downloaded copy of the published archive the dataset is made from (e.g. "
                            "aclImdb_v1.tar.gz; see `deepstudy data info NAME`), used instead of downloading it")
    verify = dsub.add_parser("verify", help="check the sha256 of present datasets")
    verify.add_argument("name", nargs="?")

    wts = sub.add_parser("weights", help="torchvision's ImageNet checkpoints for our compatible models: list, fetch")
    wsub = wts.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    wsub.add_parser("list", help="architectures with published weights, their ImageNet top-1 and whether present")
    wfetch = wsub.add_parser("fetch",
                             help="download a checkpoint from download.pytorch.org, check its sha256, load-test it")
    wfetch.add_argument("name")
    wfetch.add_argument("--dir", help="data root to fetch into (default: $DEEPSTUDY_DATA, else ~/.cache/deepstudy)")
    summ = sub.add_parser("summary", help="per-layer output shape, parameters and MACs of a registered model")
    summ.add_argument("model", help="registered model name")
    summ.add_argument("--input", default="1x28x28",
                      help="input shape without batch, e.g. 3x32x32 or 13 (default 1x28x28)")
    summ.add_argument("--classes", type=int, default=10, help="number of classes (default 10)")
    summ.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE",
                      help="model keyword argument (repeatable)")

    schema = sub.add_parser("schema", help="JSON schema of the study file (for editor completion)")
    schema.add_argument("--markdown", action="store_true", help="the study-file reference as Markdown instead")
    schema.add_argument("--models", action="store_true", help="the model zoo table as Markdown instead")
    schema.add_argument("--studies", action="store_true",
                        help="the built-in studies and their measured results as Markdown")
    sub.add_parser("doctor", help="check torch, device, data folder and a tiny training, in seconds")
    add_across_parsers(sub)  # runs, compare: results across runs (cli/across.py)
    add_lr_find_parser(sub)  # lr-find: the learning-rate range test alone (cli/lr_find.py)
    add_predict_parsers(sub)  # predict, export: use a trained run (cli/predict.py)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # `run --nproc N` launches this command again
    try:
        return COMMANDS[args.command](args) or 0
    except (UserError, DamagedFile) as e:  # DamagedFile: a run's file that the reader did not name itself
        print(f"error: {one_line(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted(args), file=sys.stderr)
        return 130
    except BrokenPipeError:  # `deepstudy schema | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        print(disk_full(e), file=sys.stderr)
        return 1


def one_line(message: str) -> str:
    """``message`` on one line: a line break inside it (a key or value from the user's file, a library's own
    multi-line text) is shown escaped, as the YAML file writes it (``\\n``).

    Example:
        >>> print(one_line("unknown key 'train.a\\nb'"))
        unknown key 'train.a\\nb'
    """
    return "".join(c.encode("unicode_escape").decode("ascii") if c in _LINE_BREAKS else c for c in message)


_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # every break str.splitlines knows


def cmd_list(args) -> int:
    from deepstudy import config

    studies = config.builtin_studies()
    width = max(map(len, studies))
    for name, path in sorted(studies.items()):
        print(f"{name:<{width}}  {config.read_yaml(path).get('description', '')}")
    return 0


def cmd_report(args) -> int:
    from deepstudy import report

    print(f"report: {report.write(args.run_dir)}")
    return 0


def cmd_weights(args) -> int:
    from deepstudy import weights

    if args.weights_command == "list":
        for name, w in weights.WEIGHTS.items():
            where = weights.locate(w)
            print(f"{name:<20} top-1 {w.top1:6.2f}%  {'present: ' + str(where) if where else 'not present'}  {w.url}")
        return 0
    path = weights.fetch(args.name, Path(args.dir) if args.dir else None)
    weights.load(args.name, path)  # proves the file loads into our model with strict=True
    print(f"{args.name}: {path} (sha256 verified, loads with strict=True)")
    return 0


def cmd_data(args) -> int:
    from deepstudy.data import download, registry

    if args.data_command == "list":
        for name, spec in sorted(registry.REGISTRY.items()):
            print(f"{name:<14} {spec.format:<10} {presence(spec):<28} {spec.description}")
    elif args.data_command == "info":
        spec = registry.get(args.name)
        print(f"{spec.name}: {spec.description}\n  license: {spec.license}\n  format: {spec.format}\n"
              f"  folder: <data root>/{spec.folder}/")
        for f in spec.files:
            if f.sha256 is None:
                print(f"  {f.name}  no published sha256: trusted on first verified fetch (its download checked "
                      f"against the published digests below, the sha256 of the file made recorded in "
                      f"{f.name}{registry.RECORD} and checked on every load)")
            else:
                print(f"  {f.name}  {f.size} bytes  sha256 {f.sha256}")
            for url in f.urls:
                print(f"    {url}")
            for digest in f.also_sha256:
                print(f"    also accepted: sha256 {digest} (our conversion, compressed without GNU gzip)")
        for a in spec.archives:
            made = ", ".join(f.name for f in spec.files if spec.source_of(f) == a)
            print(f"  {made} made from {a.name} (" + (a.digests() if a.verified else "no published digest: the "
                  "made files are checked") + ")")
            for url in a.urls:
                print(f"    {url}")
        if spec.how_to_get:
            print(f"  how to get: {spec.how_to_get}")
        print(f"  status: {presence(spec)}")
    elif args.data_command == "fetch":
        spec = registry.get(args.name)
        root = Path(args.dir) if args.dir else registry.data_roots()[0]
        for flag, value in (("--min-rate", args.min_rate), ("--deadline", args.deadline)):
            if value is not None and not 0 < value < float("inf"):
                raise UserError(f"{flag} must be a positive number, got {value}")
        status = download.fetch(spec, root / spec.folder, deadline=args.deadline,
                                min_rate=args.min_rate * 1024 if args.min_rate is not None else None,
                                archive=Path(args.archive) if args.archive else None)
        print(f"{spec.name}: " + (", ".join(f"{k} {v}" for k, v in status.items()) or "nothing to fetch")
              + f" in {root / spec.folder}")
    elif args.data_command == "verify":
        names = [args.name] if args.name else sorted(registry.REGISTRY)
        bad = 0
        for name in names:
            state = presence(registry.get(name))
            bad += state.startswith("checksum")
            print(f"{name:<14} {state}")
        if bad:
            raise UserError(f"{bad} dataset(s) failed verification; delete the damaged files and "
                            "`deepstudy data fetch NAME`")
    return 0


def cmd_summary(args) -> int:
    import torch

    from deepstudy import config, models

    try:
        shape = tuple(int(s) for s in args.input.lower().split("x"))
    except ValueError:
        raise UserError(f"--input '{args.input}' is not a shape; write it as CxHxW (1x28x28) or a feature count "
                        "(13)") from None
    model = models.build(args.model, shape, args.classes, **config.parse_set(args.arg))
    rows, total, macs = models.summarize(model, torch.zeros(1, *shape))
    width = max(len(r.name) for r in rows)
    print(f"{'layer':<{width}}  {'type':<18} {'output shape':<20} {'params':>10} {'MACs':>12}")
    for r in rows:
        print(f"{r.name:<{width}}  {r.kind:<18} {str(list(r.output_shape[1:])):<20} {r.params:>10,} {r.macs:>12,}")
    print(f"total: {total:,} parameters (unique tensors; equals sum(p.numel()) over model.parameters()), "
          f"{macs:,} MACs per example")
    return 0


def cmd_schema(args) -> int:
    import json

    from deepstudy.config import json_schema
    from deepstudy.docs import models_markdown, schema_markdown, studies_markdown

    if args.studies:
        print(studies_markdown(), end="")
    elif args.models:
        print(models_markdown(), end="")
    else:
        print(schema_markdown() if args.markdown else json.dumps(json_schema(), indent=2))
    return 0


COMMANDS = {"list": cmd_list, "run": cmd_run, "report": cmd_report, "explain": cmd_explain, "data": cmd_data,
            "weights": cmd_weights, "summary": cmd_summary, "schema": cmd_schema, "doctor": cmd_doctor}
COMMANDS.update(runs=cmd_runs, compare=cmd_compare)  # results across runs (cli/across.py)
COMMANDS["lr-find"] = cmd_lr_find  # the learning-rate range test alone (cli/lr_find.py)
COMMANDS.update(predict=cmd_predict, export=cmd_export)  # use a trained run (cli/predict.py)

if __name__ == "__main__":
    raise SystemExit(main())
