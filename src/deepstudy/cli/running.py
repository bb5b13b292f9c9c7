"""``deepstudy run`` and ``deepstudy explain``: the progress view while they work, the conclusion and the
report's path when they end, and what Ctrl-C leaves (the exact command that continues the run)."""
from __future__ import annotations

from pathlib import Path

from deepstudy.errors import UserError
from deepstudy.rundir import RunDir

_RUN_DIR: dict[str, str] = {}  # the run directory of this process's run, once it exists (for the Ctrl-C hint)


def version() -> str:
    """The installed package's version (`deepstudy --version`)."""
    from importlib import metadata

    try:
        return metadata.version("deepstudy")
    except metadata.PackageNotFoundError:  # a source tree on PYTHONPATH, not installed
        import deepstudy

        return deepstudy.__version__


def interrupted(args) -> str:
    """What Ctrl-C leaves: the exact command that continues the run, or that there is nothing to continue."""
    if args.command == "run" and _RUN_DIR.get("path"):
        return (f"interrupted; finished seeds and the last epoch's checkpoint are kept — continue with:\n"
                f"  deepstudy run --resume {_RUN_DIR['path']}{_where(args)}")
    if args.command == "run":
        return "interrupted before the run folder was created; nothing to resume (run the same command again)"
    return "interrupted"


def _where(args) -> str:
    """The executor flags of this command, as the resume command repeats them."""
    flags = [("--jobs", args.jobs if args.jobs != 1 else None), ("--executor", getattr(args, "executor", None)),
             ("--address", getattr(args, "address", None))]
    return "".join(f" {flag} {value}" for flag, value in flags if value is not None)


def disk_full(e: OSError) -> str:
    """ENOSPC: every write of a run is atomic (a temporary file, then a rename): the last good checkpoint is intact."""
    where = _RUN_DIR.get("path")
    then = f"then `deepstudy run --resume {where}` continues from the last checkpoint" if where else "then retry"
    return (f"error: the disk is full ({e.strerror}{f': {e.filename}' if e.filename else ''}); nothing written so far "
            f"was lost — free some space, {then}")


def _noting_run_dir(forward):
    def on_event(e: dict) -> None:
        if e["kind"] == "run_dir":
            _RUN_DIR["path"] = e["path"]
        else:
            forward(e)
    return on_event


def cmd_run(args) -> int:
    from deepstudy import study
    from deepstudy.cli import distributed

    if args.jobs is not None and not 1 <= args.jobs <= 64:
        raise UserError(f"--jobs must be a whole number from 1 to 64 (runs or trials trained at once), got {args.jobs}")
    distributed.rank_nproc(args)
    distributed.check_flags(args)
    if args.resume:
        if args.study or args.overrides or args.seeds or args.device or args.arms:
            raise UserError("--resume continues a run exactly as configured; drop the study name, --set, --seeds, "
                            "--arms and --device")
        cfg = None  # study.resume validates the run's config (after restoring its custom models)
        settings = distributed.of_run(RunDir.existing(args.resume).config)
        if args.nproc is not None and args.nproc != settings.processes:
            raise UserError(f"this run trains with {settings.processes} process(es) per machine; resume it "
                            f"with the same number (--nproc {settings.processes}, or no --nproc)")
    else:
        cfg = _study_config(args)
        settings = distributed.of_study(cfg)
    if settings.processes > 1 and not distributed.is_rank():  # launch the ranks; each runs this command
        distributed.check_flags(args, launching=True)
        if cfg is not None:
            distributed.check_task(cfg, settings.processes)
            study.check(cfg)  # every bad setting stops here, before a process is started or a file written
        return distributed.launch(args, args.argv, settings.processes)
    if distributed.is_rank() and settings.processes > 1:
        with distributed.as_rank(args, settings) as mine:
            return _run(mine, cfg)
    return _run(args, cfg)


def _study_config(args):
    """The study of a new run: the file or built-in name with --set, --seeds, --device, --arms and --nproc."""
    from deepstudy import config
    from deepstudy.cli import distributed

    if not args.study:
        raise UserError("name a study to run: `deepstudy run digits-quickstart` (see `deepstudy list`) or a .yaml file")
    overrides = config.parse_set(args.overrides)
    given = {k.strip(): f"--set {item}" for item in args.overrides for k in [item.partition("=")[0]]}
    if args.seeds is not None:
        overrides["seeds"], given["seeds"] = args.seeds, f"--seeds {args.seeds}"
    if args.device is not None:
        overrides["train.device"], given["train.device"] = args.device, f"--device {args.device}"
    arms = [a.strip() for a in args.arms.split(",") if a.strip()] if args.arms is not None else None
    if arms == []:
        raise UserError("--arms names arms of the study, comma-separated: --arms bilstm-3,bilstm-attention")
    if Path(args.study).is_file():  # model.class_path: the study file's folder is searched for the module
        from deepstudy.models import custom

        custom.search_in(Path(args.study).resolve().parent)
    cfg = config.load(args.study, overrides, arms=arms, given=given)
    distributed.check_task(cfg, args.nproc)  # a task without train.distributed: its own line, not 'unknown key'
    if args.nproc is not None and distributed.distributes(cfg):
        overrides["train.distributed.processes"] = args.nproc
        given["train.distributed.processes"] = f"--nproc {args.nproc}"
        cfg = config.load(args.study, overrides, arms=arms, given=given)
    return cfg


def _run(args, cfg) -> int:
    """The study (or the resume) in this process: progress, trackers, the run directory, the report."""
    from deepstudy import config, study
    from deepstudy.progress import Progress

    where = {"jobs": args.jobs, "executor": args.executor, "address": args.address}
    with Progress() as progress, _trackers(args) as track:
        if args.resume:
            _RUN_DIR["path"] = args.resume
            if track is not None:  # the trackers open their store on study.resume's run_dir event, under its lock
                _trackable(config.read_yaml(RunDir.existing(args.resume).config).get("search"))
            run_dir = study.resume(args.resume, on_event=_both(track, progress.event), progress=False, **where)
        else:
            if cfg.search is not None:
                s = cfg.search
                progress.line(f"study {cfg.name}: search of {s.budget()} trial(s) ({s.sampler}, pruner {s.pruner}), "
                              f"then best and default on {s.final_seeds} fresh seeds, data {cfg.data.name}")
            else:
                progress.line(f"study {cfg.name}: {len(cfg.arms)} arm(s) x {cfg.seeds} seed(s), data {cfg.data.name}")
            if track is not None:
                _trackable(cfg.search)
            run_dir = study.run(cfg, out_root=args.out, on_event=_both(track, _noting_run_dir(progress.event)),
                                progress=False, **where)
    conclusion = _conclusion(run_dir)
    if conclusion:
        print(f"conclusion: {conclusion}")
    print(f"report: {run_dir / 'report.html'}")  # the last line, always (scripts and tests read it)
    return 0


def _trackers(args):
    """The experiment trackers of --track (deepstudy.tracking), or a context of None without it."""
    from contextlib import nullcontext

    if not args.track:
        if args.track_uri:
            raise UserError("--track-uri is MLflow's tracking URI; add --track mlflow (or drop --track-uri)")
        return nullcontext()
    from deepstudy import tracking

    return tracking.open(args.track, uri=args.track_uri)


def _trackable(search) -> None:
    if search:
        raise UserError("--track logs the arms and seeds of a study; a study with `search:` is not tracked yet — "
                        "drop --track (its trials are in search/journal.log and the report)")


def _both(track, forward):
    """Every event to the trackers, then on (the trackers see run_dir, which names where they write)."""
    if track is None:
        return forward

    def on_event(e: dict) -> None:
        track.event(e)
        forward(e)
    return on_event


def _conclusion(run_dir: Path) -> str | None:
    """The report's top verdict (its "Conclusions" sentence): the samplers' comparison for a comparison of
    searches, else the arms'."""
    from deepstudy.fileio import read_json

    results = read_json(Path(run_dir) / "results.json")
    search = results.get("search") or {}
    verdict = search["comparison"] if search.get("mode") == "compare" else results.get("comparison") or {}
    return f"{verdict['summary']}." if verdict.get("summary") else None


def cmd_explain(args) -> int:
    from deepstudy import study
    from deepstudy.progress import Progress

    if args.n is not None and not 2 <= args.n <= 256:
        raise UserError(f"--n must be between 2 and 256, got {args.n}")

    with Progress() as progress:
        path = study.explain_run(args.run_dir, args.method, examples=args.n, layer=args.layer,
                                 on_event=progress.event, progress=False)
    print(f"report: {path}")
    return 0
