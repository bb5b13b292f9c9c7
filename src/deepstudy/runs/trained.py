"""One trained (arm, seed) of a run, rebuilt from its files alone: ``arms/<arm>/preprocessing.json`` (the data's
preprocessing, the arm's task and model section) and the seed's ``best.safetensors`` — the training data need not be
there (deepstudy predict, deepstudy export)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from deepstudy.config import ModelConfig
from deepstudy.data import preprocessing
from deepstudy.errors import UserError
from deepstudy.fileio import read_json
from deepstudy.rundir import RunDir
from deepstudy.tasks import build_model
from deepstudy.train import checkpoint


@dataclass(frozen=True)
class Trained:
    model: nn.Module  # on the CPU, in eval mode, with the seed's best weights
    state: dict  # preprocessing.json
    run: RunDir
    arm: str
    seed: int

    @property
    def folder(self) -> Path:
        """arms/<arm>: where preprocessing.json (and a WordPiece run's tokenizer.json) are."""
        return self.run.arm(self.arm)

    @property
    def name(self) -> str:
        return f"{self.run.path.parent.name}-{self.arm}-seed-{self.seed}"


def load(run_dir: str | Path, arm: str | None = None, seed: int | None = None, command: str = "predict",
         log: Callable[[str], None] = lambda text: None) -> Trained:
    """The best weights of ``arm`` (default: the run's best arm, or its only one) and ``seed`` (default: the lowest
    finished seed); every missing piece is one UserError naming it. A run of your own model class (models.json)
    imports its module from where the run found it, as resume and explain do; ``log`` gets a note if it changed."""
    run = RunDir.existing(run_dir)
    arm = _arm(run, arm, command)
    path = run.arm(arm) / preprocessing.FILE
    if not path.is_file():
        raise UserError(f"{path} is missing: this run was made before deepstudy saved its preprocessing; run the "
                        f"study again to {command} with it")
    state = read_json(path)
    if state.get("task") != "classify" or state.get("kind") not in preprocessing.KINDS:
        raise UserError(f"deepstudy {command} reads classifiers of images, tables or text (task: classify); arm "
                        f"'{arm}' is task: {state.get('task')} on {state.get('kind')} data")
    index = _seed(run, arm, seed, command)
    from deepstudy import study  # model.class_path: importable again from any folder, as for resume and explain

    study.restore_models(run, on_event=lambda e: log(e["text"]))
    model = build_model(ModelConfig.model_validate(state["model"]), state)
    checkpoint.load_weights(model, run.seed(arm, index).best)
    return Trained(model.eval(), state, run, arm, index)


def _arm(run: RunDir, arm: str | None, command: str) -> str:
    arms = sorted(p.name for p in (run.path / "arms").iterdir() if p.is_dir()) if (run.path / "arms").is_dir() else []
    if not arms:
        raise UserError(f"{run.path} has no trained arm yet (no arms/ folder); finish it with "
                        f"`deepstudy run --resume {run.path}`")
    if arm is not None:
        if arm not in arms:
            raise UserError(f"--arm '{arm}' is not an arm of {run.path}; its arms: {', '.join(arms)}")
        return arm
    if len(arms) == 1:
        return arms[0]
    best = (read_json(run.results).get("comparison") or {}).get("best") if run.results.is_file() else None
    if best in arms:
        return best
    raise UserError(f"{run.path} has {len(arms)} arms and no results.json naming the best; choose one with --arm "
                    f"({', '.join(arms)})")


def _seed(run: RunDir, arm: str, seed: int | None, command: str) -> int:
    folders = sorted((p for p in run.arm(arm).glob("seed-*") if p.name[5:].isdigit()), key=lambda p: int(p.name[5:]))
    done = [int(p.name[5:]) for p in folders if _ok(run, arm, int(p.name[5:]))]
    if seed is not None:
        if seed not in done:
            raise UserError(f"arm '{arm}' seed {seed} of {run.path} has not finished with best weights; finished "
                            f"seeds: {', '.join(map(str, done)) or 'none'}")
        return seed
    if not done:
        raise UserError(f"arm '{arm}' of {run.path} has no finished seed to {command} (no seed-*/result.json with "
                        f"status ok and best.safetensors); finish it with `deepstudy run --resume {run.path}`")
    return done[0]


def _ok(run: RunDir, arm: str, index: int) -> bool:
    seed = run.seed(arm, index)
    return seed.finished and seed.best.is_file() and read_json(seed.result).get("status") == "ok"
