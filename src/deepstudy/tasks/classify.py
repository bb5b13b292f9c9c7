"""task: classify — a model of the zoo trained by ``train.fit`` through the epoch driver, tested on its best weights.

It composes the optional parts that change where the weights start or what the loss sees: pretrained word
vectors (``data.word_vectors``), the NumPy engine's initial weights (``train.init``), published or own
pretraining (``pretrain``, tasks.pretrain), a teacher (``distill``, tasks.distill), a frozen backbone
(``train.freeze_backbone``, ``unfreeze_after``); and the explanations of its test predictions (tasks.explaining).
"""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from deepstudy import data as _data
from deepstudy import evaluate, models, repro, train, weights
from deepstudy.config import Study
from deepstudy.errors import UserError
from deepstudy.fileio import read_json, read_jsonl, write_json
from deepstudy.models import heads
from deepstudy.records import SeedResult
from deepstudy.rundir import RunDir
from deepstudy.tasks import SeedContext, Size, Task, build_model, distill, explaining, lr_range, pretrain, scratch
from deepstudy.train.precision import ProbeSetup
from deepstudy.train.units import UNITS, dead_units


def build(cfg: Study, ds: _data.Dataset | dict) -> nn.Module:
    """The arm's model for this data (a Dataset, or the data.json of a finished run)."""
    return build_model(cfg.model, ds)


class ClassifyTask(Task):
    name = "classify"
    epoch_metrics = {"val_loss": True, "val_acc": False}
    predictions = True
    sweeps_lr = True

    def check(self, arm: str, cfg: Study, study: Study) -> None:
        models.check_kwargs(cfg.model.name, cfg.model.kwargs())
        distill.check(arm, cfg)

    def shared(self, cfg: Study) -> str | None:
        teacher, pre = getattr(cfg, "distill", None), getattr(cfg, "pretrain", None)  # (forecast has neither)
        if teacher is not None and teacher.teacher is not None:
            return "a teacher trained once into the run directory (distill.teacher) that its seeds learn from"
        if pre is not None and pre.task in ("rotation", "supervised"):
            return (f"an encoder pretrained once into the run directory (pretrain.task {pre.task}) that its seeds "
                    "start from")
        return None

    def data_key(self, cfg: Study) -> str:
        key = cfg.data.model_copy(update={"augment": (), "permute_labels": False,
                                          "word_vectors": None}).model_dump_json()
        return key + ("|tokens" if _data.is_text(cfg.data) else "")  # torch models read token ids

    def prepare(self, ds: _data.Dataset, cfg: Study) -> _data.Dataset:
        return _data.tokenize(ds, cfg.data) if _data.is_text(cfg.data) else ds

    def check_data(self, arm: str, cfg: Study, ds: _data.Dataset) -> None:
        pretrain.check(arm, cfg, ds)
        model = build(cfg, ds)
        explaining.check_layer(arm, cfg, model)
        if cfg.train.init == "numpy-engine":  # the NumPy twin pairs up with this model layer by layer
            scratch.copy_initial_weights(model, cfg, ds.input_shape, ds.num_classes, 0)
        distill.check_data(arm, cfg, ds)
        if getattr(model, "pretrained_weights", None) == "minilm" and cfg.data.tokenizer != "wordpiece":
            raise UserError(f"arm '{arm}': model minilm reads MiniLM's WordPiece ids; set data.tokenizer: wordpiece")
        if cfg.data.word_vectors:  # reads (and caches) the vectors: a wrong size stops here, before the run directory
            weights.load_word_vectors(model, cfg.data.word_vectors, ds.vocab or [], cfg.train.freeze_embeddings)

    def loss(self, cfg: Study) -> nn.Module:
        return nn.CrossEntropyLoss(label_smoothing=cfg.train.label_smoothing)

    def train_seed(self, ctx: SeedContext) -> SeedResult:
        cfg, ds, device, run_seed, t = ctx.cfg, ctx.dataset, ctx.device, ctx.run_seed, ctx.cfg.train
        repro.seed_torch(repro.derive_seed(run_seed, "init"))
        model = build(cfg, ds).to(device)
        vectors = (weights.load_word_vectors(model, cfg.data.word_vectors, ds.vocab, t.freeze_embeddings)
                   if cfg.data.word_vectors else None)
        loaded = (scratch.copy_initial_weights(model, cfg, ds.input_shape, ds.num_classes, run_seed)
                  if t.init == "numpy-engine" else self._pretrained(model, cfg))
        pretext = (pretrain.pretrain(model, ds, cfg, device, run_seed, ctx.run, ctx.index, ctx.on_event)
                   if self._pretrains(cfg) else None)
        teacher, taught = distill.trained_teacher(ctx, self.train_seed) if self._distills(cfg) else (None, None)
        if t.channels_last:
            model = model.to(memory_format=torch.channels_last)
        ranks = train.distributed.active()  # one of several processes training this model (DDP)
        if ranks and t.distributed.sync_bn:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        train_batches = ds.batches("train", t.batch_size, train=True, augment=cfg.data.augment, seed=run_seed,
                                   device=device)
        val_batches = ds.batches("val", t.eval_batch_size, device=device)
        if t.freeze_backbone and not t.unfreeze_after:
            heads.freeze_backbone(model)  # before the optimizer: a linear probe's optimizer holds the head alone
        optimizer, scheduler = train.from_settings(model, t, len(train_batches))
        learnable = {id(p) for g in optimizer.param_groups for p in g["params"]}
        if t.unfreeze_after:  # the optimizer holds the backbone too; it skips parameters without gradients until then
            heads.freeze_backbone(model)
        scaler = train.grad_scaler(t.precision, device)
        _, precision_used = train.autocast(t.precision, device)
        averages = _averages(model, optimizer, t)
        # SWA tests the average at the end, whatever validation said: every epoch counts as the latest weights
        monitor = train.Monitor("last" if t.swa else t.early_stopping.monitor, t.early_stopping.patience,
                                t.early_stopping.min_delta)
        loss_fn = self.loss(cfg) if teacher is None else distill.loss(cfg)
        batches, step = train_batches.epoch, None if teacher is None else distill.step(teacher, loss_fn)
        if ranks:  # this rank's shard of every global batch, its forward pass through DDP (docs/scale-out.md)
            shards = train.distributed.Shards(train_batches, torch.distributed.get_rank(),
                                              torch.distributed.get_world_size())
            step = train.distributed.through(train.distributed.wrap(model, device), shards, step, loss_fn)
            batches = shards.epoch

        def unfreeze_from(epoch: int) -> None:  # the epoch after unfreeze_after fine-tunes every layer
            if t.unfreeze_after and epoch >= t.unfreeze_after:
                heads.unfreeze(model, learnable)

        def epochs(start: int):
            if "gradient-flow" in cfg.analyses and start == 0:  # at initialization, on the first validation batch
                x0, y0 = next(iter(ds.batches("val", t.batch_size, device=device)))
                write_json(ctx.seed / "grad_init.json", train.gradient_norms(model, x0, y0, loss_fn))
                if units := dead_units(model, x0):  # none: no activation modules (an LSTM's tanh is functional)
                    write_json(ctx.seed / UNITS, {"init": units})
            for r in train.fit(model, batches, val_batches, optimizer=optimizer, scheduler=scheduler,
                               loss_fn=loss_fn, epochs=t.epochs, device=device, seed=run_seed, start_epoch=start,
                               precision=t.precision, channels_last=t.channels_last, grad_clip=t.grad_clip,
                               scaler=scaler,
                               grad_norms="gradient-flow" in cfg.analyses,
                               step=step, l1=t.l1, averages=averages):
                if ranks:  # every rank's rows: rank 0 logs the global batch's numbers
                    r.train_loss, r.train_acc = train.distributed.global_epoch(r.train_loss, r.train_acc,
                                                                               shards.rows, device)
                row = {"epoch": r.epoch, "train_loss": r.train_loss, "train_acc": r.train_acc, "val_loss": r.val_loss,
                       "val_acc": r.val_acc, "lr": r.lr, "seconds": r.seconds, "eval_seconds": r.eval_seconds,
                       "steps": r.steps}
                yield {**row, "grad_norms": r.grad_norms} if r.grad_norms else row

        driven = train.drive(ctx.seed.path, train.TorchState(model, optimizer, scheduler, scaler, averages), epochs,
                             total=t.epochs,
                             monitor=monitor, on_event=ctx.on_event, arm=ctx.arm, seed=ctx.index,
                             on_resume=lambda start, _: unfreeze_from(start),
                             after_epoch=lambda e: unfreeze_from(e + 1), every=t.checkpoint_seconds)
        if t.swa:  # the average, with batch-norm statistics of its own, is what the seed's best weights are
            repro.seed_torch(repro.derive_seed(run_seed, "swa-bn"))  # update_bn runs in train mode (dropout)
            model.load_state_dict(averages.final(model, train_batches.epoch(t.epochs), device).state_dict())
            train.checkpoint.save_weights(model, ctx.seed.best)
        else:
            train.checkpoint.load_weights(model, ctx.seed.best)
        if "gradient-flow" in cfg.analyses and (ctx.seed / UNITS).is_file():  # the tested weights, same batch
            x0, _ = next(iter(ds.batches("val", t.batch_size, device=device)))
            write_json(ctx.seed / UNITS, {**read_json(ctx.seed / UNITS), "trained": dead_units(model, x0)})
        result = self.test(model, ctx, monitor, driven.stopped_early, precision_used)
        extras = {"pretext": pretext, "teacher": taught, "word_vectors": vectors, "pretrained": loaded,
                  "averaging": _averaging_record(averages, t)}
        result.extras.update({k: v for k, v in extras.items() if v})
        return result

    @staticmethod
    def _pretrains(cfg: Study) -> bool:
        return cfg.pretrain.task in ("rotation", "supervised")

    @staticmethod
    def _distills(cfg: Study) -> bool:
        return cfg.distill.teacher is not None

    @staticmethod
    def _pretrained(model: nn.Module, cfg: Study) -> dict | None:
        imagenet = cfg.pretrain.task == "imagenet"
        return weights.load_pretrained(model, imagenet=cfg.model.name if imagenet else None)

    def test(self, model: nn.Module, ctx: SeedContext, monitor: train.Monitor, stopped_early: bool,
             precision_used: str) -> SeedResult:
        cfg, ds, device, folder, t = ctx.cfg, ctx.dataset, ctx.device, ctx.seed.path, ctx.cfg.train
        kw = {"device": device, "precision": t.precision, "channels_last": t.channels_last}
        t0 = time.perf_counter()
        logits, y = train.predict(model, ds.batches("test", t.eval_batch_size, device=device), **kw)
        test_seconds = time.perf_counter() - t0
        test = evaluate.classification_metrics(logits.numpy(), y.numpy(), ds.classes)
        evaluate.save_predictions(folder, logits.numpy())
        if ds.kind in ("image", "table", "tokens"):
            explaining.explain_seed(model, ds, cfg, device, folder, logits.argmax(1).numpy(),
                                    on_method=explaining.events(ctx.on_event, ctx.arm, ctx.index, cfg.seeds))
        if "boundary" in cfg.analyses and ctx.index == 0 and ds.input_shape == (2,):
            def proba(q: np.ndarray) -> np.ndarray:
                batches = _data.Batches(torch.from_numpy(q), torch.zeros(len(q), dtype=torch.long), t.eval_batch_size)
                return evaluate.softmax(train.predict(model, batches, **kw)[0].numpy())
            evaluate.save_boundary(folder, ds.x_train.numpy(), ds.y_train.numpy(), ds.x_test.numpy(), ds.y_test.numpy(),
                                   proba)
        idx = torch.from_numpy(evaluate.probe_indices(len(ds.y_train)))
        sub = _data.Batches(ds.x_train[idx], ds.y_train[idx], t.eval_batch_size, transform=ds.transform())
        tr_logits, tr_y = train.predict(model, sub, **kw)
        return evaluate.run_record(
            read_jsonl(ctx.seed.metrics), best_epoch=monitor.best_epoch,
            monitor={"metric": monitor.metric, "best": monitor.best}, stopped_early=stopped_early,
            precision=precision_used, test_seconds=test_seconds,
            train_accuracy=float((tr_logits.argmax(1) == tr_y).float().mean()), test=test)

    def precision_probe(self, cfg: Study, ds: _data.Dataset, device: torch.device) -> ProbeSetup:
        """The arm's model on its first (unshuffled, unaugmented) training batch, with its own loss."""
        x, y = next(iter(ds.batches("train", cfg.train.batch_size, device=device)))
        loss_fn = self.loss(cfg)
        return ProbeSetup(lambda: build(cfg, ds).to(device), x, y, lambda m, x, y: loss_fn(m(x), y),
                          cfg.train.channels_last)

    def size(self, cfg: Study, data_info: dict, ok: list[dict]) -> Size:
        model = build(cfg, data_info)
        _, n_params, macs = models.summarize(model, models.example(cfg.model.name, tuple(data_info["input_shape"])))
        t = cfg.train  # frozen, then fine-tuned: every layer at the end
        trainable = heads.trainable(model, t.freeze_backbone and not t.unfreeze_after, t.freeze_embeddings)
        return Size(n_params, macs, trainable if trainable != n_params else None)

    def lr_range(self, cfg: Study, ds: _data.Dataset, device: torch.device) -> dict:
        return lr_range.sweep(cfg, ds, device, self.loss(cfg))

    def summarize(self, study: Study, cfg: Study, run: RunDir, arm: str, ok: list[dict], data_info: dict) -> dict:
        out = explaining.arm_summary(study, run, arm)
        if "lr-range" in study.analyses and (found := lr_range.summary(run, arm)):
            out["lr_range"] = found
        if any("teacher" in s for s in ok):
            out["teacher"] = {**ok[0]["teacher"], "temperature": cfg.distill.temperature, "alpha": cfg.distill.alpha,
                              "accuracy": evaluate.describe([s["teacher"]["test_accuracy"] for s in ok]),
                              "student_alone": None}  # filled in by study_extras, which sees every arm
        for key in ("word_vectors", "pretrained"):  # what the arm's weights started from
            if any(key in s for s in ok):
                out[key] = next(s[key] for s in ok if key in s)
        if any("pretext" in s for s in ok):
            out["pretext"] = {"task": cfg.pretrain.task, "source": cfg.pretrain.data, "val_accuracy": evaluate.describe(
                [s["pretext"][-1]["val_acc"] for s in ok if s.get("pretext")])}
        return out

    def study_extras(self, study: Study, arms: dict[str, Study], out_arms: dict) -> dict:
        for arm, entry in out_arms.items():  # a distilled student beside the same student trained alone
            if "teacher" in entry:
                entry["teacher"]["student_alone"] = distill.student_alone(arms[arm], arms)
        return {}

    def after_seeds(self, study: Study, arms: dict[str, Study], datasets: dict, run: RunDir, device) -> None:
        explaining.data_randomization(arms, datasets=datasets, run_dir=run.path, seeds=study.seeds, device=device)
        lr_range.after_seeds(study, arms, datasets, run, device, self.loss)


def _averages(model: nn.Module, optimizer: torch.optim.Optimizer, t) -> train.Averages | None:
    """train.ema / train.swa as a train.Averages (None: neither; the loop then runs exactly as without them)."""
    if t.ema:
        return train.Averages(model, ema_decay=t.ema.decay)
    if t.swa:  # the config counts epochs from 1, the loop from 0
        return train.Averages(model, optimizer, swa_start=t.swa.start - 1, swa_lr=t.swa.lr or t.optimizer.lr,
                              swa_anneal_epochs=t.swa.anneal_epochs)
    return None


def _averaging_record(averages: train.Averages | None, t) -> dict | None:
    """What result.json says about the tested weights being an average."""
    if averages is None:
        return None
    if averages.kind == "ema":
        return {"method": "ema", "decay": t.ema.decay, "steps_averaged": int(averages.model.n_averaged)}
    return {"method": "swa", "start_epoch": t.swa.start, "epochs_averaged": int(averages.model.n_averaged),
            "lr": t.swa.lr or t.optimizer.lr, "anneal_epochs": t.swa.anneal_epochs}
