"""Knowledge distillation (Hinton, Vinyals & Dean, 2015, "Distilling the Knowledge in a Neural Network").

A classify arm with ``distill.teacher`` first gets a trained teacher: an ordinary classify run of the
teacher model on the same data with the arm's train settings, kept under
``run_dir/teachers/<key>/seed-<i>/`` with its own metrics, checkpoint and test result. It is trained
once per seed and shared by every arm whose teacher, data and train settings agree — a temperature
sweep trains one teacher per seed, and a resumed run finds it. The arm's model (the student) then
minimizes, per batch,

    (1 − α) · CE(z_s, y) + α · T² · KL(softmax(z_t / T) ‖ softmax(z_s / T))

with z_s, z_t the student's and the teacher's logits on the same augmented images. The T² keeps the
soft term's gradient, α T (softmax(z_s/T) − softmax(z_t/T)) / B, on the hard term's scale as T
changes (Hinton et al., section 2). Validation and test use the student alone.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from deepstudy import data as _data
from deepstudy import models, train
from deepstudy.config import Study, validate
from deepstudy.errors import UserError
from deepstudy.fileio import read_json, write_json
from deepstudy.rundir import SeedDir
from deepstudy.tasks import build_model


class DistillationLoss:
    """Hinton's loss; called without teacher logits (validation) it is the plain cross-entropy."""

    def __init__(self, temperature: float, alpha: float, label_smoothing: float = 0.0):
        self.temperature, self.alpha, self.label_smoothing = temperature, alpha, label_smoothing

    def __call__(self, student: torch.Tensor, y: torch.Tensor, teacher: torch.Tensor | None = None) -> torch.Tensor:
        hard = F.cross_entropy(student, y, label_smoothing=self.label_smoothing)
        if teacher is None:
            return hard
        t = self.temperature  # (B, C) logits, in float32 also under autocast
        soft = F.kl_div(F.log_softmax(student.float() / t, 1), F.log_softmax(teacher.float() / t, 1),
                        reduction="batchmean", log_target=True)
        return (1 - self.alpha) * hard + self.alpha * t * t * soft


def check(arm: str, cfg: Study) -> None:
    teacher = cfg.distill.teacher
    if teacher is None:
        return
    if cfg.task != "classify":
        raise UserError(f"arm '{arm}': distill.teacher distills classifiers (task: classify); remove it for task: "
                        f"{cfg.task}")
    models.check_kwargs(teacher.name, teacher.kwargs())


def check_data(arm: str, cfg: Study, ds: _data.Dataset) -> None:
    """The teacher can be built for this data (e.g. an image model is not given text)."""
    teacher = cfg.distill.teacher
    if teacher is not None:
        try:
            build_model(teacher, ds)
        except (ValueError, TypeError) as e:
            raise UserError(f"arm '{arm}': the teacher {teacher.name} does not fit dataset '{ds.name}' ({e})") from None


def teacher_config(cfg: Study) -> Study:
    """The teacher's own run: the arm's data and train settings with the teacher model, no distillation."""
    raw = cfg.model_dump(mode="json")
    raw.update(model=cfg.distill.teacher.model_dump(mode="json"), arms={"teacher": {}}, analyses=["curves"],
               distill={}, pretrain={})
    raw["train"]["epochs"] = cfg.distill.teacher_epochs or cfg.train.epochs
    raw["train"]["freeze_backbone"] = False
    return validate(raw, source="distill.teacher")


def _key(teacher: Study) -> str:
    # what trains the teacher (not how often its checkpoints are written: a setting that changes no number)
    what = teacher.model_dump(mode="json", exclude={"name": True, "description": True, "arms": True, "analyses": True,
                                                    "explain": True, "train": {"checkpoint_seconds": True}})
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def student_alone(cfg: Study, arms: dict[str, Study]) -> str | None:
    """The arm that trains this arm's student without a teacher, every other setting equal (its comparison)."""
    def plain(c: Study) -> str:
        return json.dumps(c.model_dump(mode="json", exclude={"arms", "distill"}), sort_keys=True)
    return next((a for a,
                 c in arms.items() if c.distill.teacher is None and c.task == "classify" and plain(c) == plain(cfg)),
                None)


def loss(cfg: Study) -> DistillationLoss:
    return DistillationLoss(cfg.distill.temperature, cfg.distill.alpha, cfg.train.label_smoothing)


def step(teacher: nn.Module, loss_fn: DistillationLoss) -> Callable:
    """train.fit's step: the student's loss against the labels and the teacher's logits on the same batch."""
    def distilled(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = model(x)
        with torch.no_grad():
            teacher_out = teacher(x)
        return loss_fn(out, y, teacher_out), out
    return distilled


def trained_teacher(ctx, train_seed: Callable) -> tuple[nn.Module, dict]:
    """The teacher of this seed (trained now by ``train_seed``, the classify task's, or found from an earlier arm
    or run session) in eval mode, frozen, and a record of it for the student's result."""
    cfg, dataset, arm, seed_index = ctx.cfg, ctx.dataset, ctx.arm, ctx.index
    tcfg = teacher_config(cfg)
    seed = ctx.run.teacher(_key(tcfg), seed_index)
    if seed.finished:
        result = read_json(seed.result)
    else:
        ctx.on_event({"kind": "start", "arm": f"teacher of {arm}", "seed": seed_index, "seeds": None,
                      "epochs": tcfg.train.epochs, "aux": True})  # aux: outside the study's plan of runs
        teacher_seed = SeedDir(seed.path, f"teacher of {arm}", seed_index)
        result = train_seed(replace(ctx, cfg=tcfg, seed=teacher_seed)).to_json()
        write_json(seed.result, result)
        ctx.on_event({"kind": "start", "arm": arm, "seed": seed_index, "seeds": cfg.seeds, "epochs": cfg.train.epochs})
    model = build_model(tcfg.model, dataset).to(ctx.device)
    train.checkpoint.load_weights(model, seed.best)
    model.eval().requires_grad_(False)
    record = {"model": {"name": tcfg.model.name, **tcfg.model.kwargs()}, "epochs": tcfg.train.epochs,
              "test_accuracy": result["test"]["accuracy"], "folder": str(seed.path.relative_to(ctx.run.path))}
    return model, record
