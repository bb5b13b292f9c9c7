"""The orchestrator: config -> data -> arms x seeds -> train -> evaluate -> results.json -> report.

The only module that imports all the others. Order matters for "nothing half-written": the
config, the model arguments and the data are all checked before the run directory exists.

Run directory::

    runs/<study>/<timestamp>/
      config.yaml  env.json  data.json  samples.npz  results.json  report.html  report.md  figures/
      arms/<arm>/seed-<i>/  metrics.jsonl  checkpoint/  best.safetensors  predictions.npy  result.json
                            explain.json  explain.npz  (with explanation analyses, see study_explain)
                            (task: scratch keeps checkpoint.npz and best.npz instead)
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from deepstudy import config as _config
from deepstudy import data as _data
from deepstudy import (evaluate, models, repro, study_anomaly, study_classical, study_distill, study_explain, study_forecast,
                       study_gan, study_lm, study_pretext, study_results, study_scratch, study_som, train, weights)
from deepstudy.models import heads
from deepstudy.config import Study
from deepstudy.data import augment as _augment
from deepstudy.errors import UserError
from deepstudy.fileio import append_jsonl, atomic_write_text, keep_jsonl, read_json, read_jsonl, write_json

Event = Callable[[dict], None]


def _quiet(event: dict) -> None:
    pass


def check(study: Study) -> dict[str, Study]:
    """Every arm's config, validated down to model arguments and augmentation names."""
    arms = study.arm_configs()
    test_sets = {(c.data.name, c.data.path, c.data.format, c.data.test_fraction) for c in arms.values()}
    if len(test_sets) > 1:
        raise UserError("arms must share one test set (data.name, data.path, data.format, data.test_fraction) so "
                        "their scores can be compared; run each dataset as its own study (--set data.name=...)")
    # a deterministic learner may repeat its seeds beside arms that vary with the seed: its spread is then a true 0
    varies = any(c.task != "classical" or c.data.cv_folds or c.data.resample != "none" for c in arms.values())
    for arm, cfg in arms.items():
        if cfg.train.device != study.train.device:
            raise UserError(f"arm '{arm}' changes train.device; one run uses one device — set it for the whole study (--device)")
        if cfg.task != "classical" and (cfg.data.cv_folds or cfg.data.resample != "none"):
            raise UserError(f"arm '{arm}': data.cv_folds and data.resample apply to task: classical only; remove them")
        explaining = set(cfg.analyses) & {*_config.EXPLANATIONS, "feature-maps", "gradient-flow", "attention"}
        if cfg.task == "forecast":  # input attributions over (lag, variable) of the forecast (study_explain)
            explaining -= set(_config.EXPLANATIONS) | {"gradient-flow"}
        if explaining and cfg.task != "classify":
            raise UserError(f"arm '{arm}': analyses {', '.join(sorted(explaining))} explain torch models (task: classify); "
                            f"remove them for task: {cfg.task}")
        if cfg.train.unfreeze_after and not (cfg.train.freeze_backbone and cfg.train.unfreeze_after < cfg.train.epochs):
            raise UserError(f"arm '{arm}': train.unfreeze_after needs train.freeze_backbone: true and fewer epochs than train.epochs={cfg.train.epochs} (the head learns alone first)")
        if cfg.task != "classify" and (cfg.train.freeze_backbone or cfg.pretrain.task != "none" or cfg.train.init != "default"):
            raise UserError(f"arm '{arm}': train.freeze_backbone, train.init and pretrain apply to task: classify; remove them for task: {cfg.task}")
        study_distill.check(arm, cfg)
        if cfg.task == "scratch":
            study_scratch.check(arm, cfg)
        elif cfg.task == "som":
            study_som.check(arm, cfg)
        elif cfg.task == "reconstruct":
            study_anomaly.check(arm, cfg)
        elif cfg.task == "generate":
            study_gan.check(arm, cfg)
        elif cfg.task == "language-model":
            study_lm.check(arm, cfg)
        elif cfg.task == "classical":
            study_classical.check(arm, cfg, study.seeds, beside_varying=varies)
        else:
            models.check_kwargs(cfg.model.name, cfg.model.kwargs())
        _augment.parse(cfg.data.augment)
        if cfg.train.precision == "fp16" and repro.resolve_device(cfg.train.device).type != "cuda":
            raise UserError(f"arm '{arm}': precision fp16 needs a CUDA device; on CPU use train.precision=bf16 or fp32")
        if cfg.train.early_stopping.monitor == "last" and cfg.train.early_stopping.patience:
            raise UserError(f"arm '{arm}': early_stopping.monitor=last keeps every epoch, so patience cannot stop it; remove one of them")
        if cfg.train.freeze_embeddings and not cfg.data.word_vectors:
            raise UserError(f"arm '{arm}': train.freeze_embeddings keeps pretrained word vectors fixed; set data.word_vectors "
                            "(minilm or a GloVe-format file) or remove it")
        if cfg.train.optimizer.nesterov and cfg.train.optimizer.momentum <= 0:
            raise UserError(f"arm '{arm}': train.optimizer.nesterov needs train.optimizer.momentum > 0 (e.g. 0.9)")
    return arms


def _writable_run_dir(out_root: Path, name: str) -> Path:
    try:
        out_root.mkdir(parents=True, exist_ok=True)
        probe = out_root / f".deepstudy-write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise UserError(f"cannot write to output folder '{out_root}' ({e.strerror or e}); choose a writable one with --out DIR") from None
    base = out_root / name / repro.run_dir_name()
    run_dir, k = base, 1
    while run_dir.exists():
        run_dir, k = base.with_name(f"{base.name}-{k}"), k + 1
    run_dir.mkdir(parents=True)
    return run_dir


def run(study: Study, out_root: str | Path = "runs", on_event: Event = _quiet) -> Path:
    """Run a study in a new run directory; returns its path."""
    arms = check(study)
    datasets = _load_data(arms)
    run_dir = _writable_run_dir(Path(out_root), study.name)
    (run_dir / "config.yaml").write_text(_config.to_yaml(study))
    return _execute(study, arms, datasets, run_dir, on_event)


def resume(run_dir: str | Path, on_event: Event = _quiet) -> Path:
    """Continue a killed run: finished arm/seeds are kept, unfinished ones resume from their checkpoint."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise UserError(f"'{run_dir}' is not a run directory (no config.yaml); pass runs/<study>/<timestamp>")
    study = _config.validate(_config.read_yaml(run_dir / "config.yaml"), source=str(run_dir / "config.yaml"))
    arms = check(study)
    return _execute(study, arms, _load_data(arms), run_dir, on_event)


def _data_key(cfg: Study) -> str:
    key = cfg.data.model_copy(update={"augment": (), "permute_labels": False, "word_vectors": None}).model_dump_json()
    key += "|tokens" if cfg.task == "classify" and _data.is_text(cfg.data) else ""  # torch models read ids
    return key + ("|permuted" if cfg.data.permute_labels else "")


def _load_data(arms: dict[str, Study]) -> dict[str, _data.Dataset]:
    cache: dict[str, _data.Dataset] = {}
    for arm, cfg in arms.items():
        key = _data_key(cfg)
        if key not in cache:
            plain = key.removesuffix("|permuted")
            if plain not in cache:
                raw_key = plain.removesuffix("|tokens")
                raw = cache.get(raw_key) or _data.load(cfg.data, split_seed=repro.derive_seed(cfg.seed, "data"))
                cache[plain] = _data.tokenize(raw, cfg.data) if plain.endswith("|tokens") else raw
            if key != plain:
                cache[key] = _data.permute_labels(cache[plain], repro.derive_seed(cfg.seed, "permute-labels"))
        ds = cache[key]
        ds.transform(cfg.data.augment)  # checks that data and model fit (e.g. no augmentation of a table) before writing
        study_forecast.check(arm, cfg, ds)
        study_anomaly.check_data(arm, cfg, ds)
        study_pretext.check(arm, cfg, ds)
        if cfg.task == "classical":
            study_classical.check_data(arm, cfg, ds)
        elif cfg.task == "language-model":
            study_lm.check_data(arm, cfg, ds)
        elif ds.kind == "corpus":
            raise UserError(f"arm '{arm}': '{ds.name}' is a text corpus (a stream of characters without labels); "
                            "set task: language-model")
        elif ds.kind == "text":
            raise UserError(f"dataset '{ds.name}' is text: the NumPy engine has no text models; use task: classify "
                            "(rnn, conv1d, transformer) or task: classical (naive-bayes, logistic-regression)")
        elif cfg.task == "scratch":
            study_scratch.build(cfg, ds.input_shape, ds.num_classes, 0)
        elif cfg.task == "som":
            study_som.check_data(arm, ds)
        elif cfg.task == "reconstruct":
            pass  # checked above, with the data
        elif cfg.task == "generate":
            study_gan.check_data(arm, ds)
        else:
            model = models.build(cfg.model.name, ds.input_shape, ds.num_classes, vocab_size=ds.vocab_size, **cfg.model.kwargs())
            study_explain.check_layer(arm, cfg, model)
            if cfg.train.init == "numpy-engine":  # the NumPy twin pairs up with this model layer by layer
                study_scratch.copy_initial_weights(model, cfg, ds.input_shape, ds.num_classes, 0)
            study_distill.check_data(arm, cfg, ds)
            if getattr(model, "pretrained_weights", None) == "minilm" and cfg.data.tokenizer != "wordpiece":
                raise UserError(f"arm '{arm}': model minilm reads MiniLM's WordPiece ids; set data.tokenizer: wordpiece")
            if cfg.data.word_vectors:  # reads (and caches) the vectors: a wrong size stops here, before the run directory
                weights.load_word_vectors(model, cfg.data.word_vectors, ds.vocab or [], cfg.train.freeze_embeddings)
    return cache


def _execute(study: Study, arms: dict[str, Study], datasets: dict[str, _data.Dataset], run_dir: Path,
             on_event: Event) -> Path:
    device = repro.resolve_device(study.train.device)
    determinism = repro.set_deterministic(device)
    first = datasets[_data_key(next(iter(arms.values())))]
    info = first.summary()
    folds = next((c.data.cv_folds for c in arms.values() if c.data.cv_folds), None)
    if folds:
        info["notes"].append(f"{folds}-fold stratified cross-validation over all {sum(info['sizes'].values())} labelled rows "
                             "(fixed folds): seed i is tested on fold i and trained on the others — the sizes above "
                             "describe the default split, which cross-validation does not use")
    write_json(run_dir / "data.json", info)
    np.save(run_dir / "test_labels.npy", np.asarray(first.y_test))
    if first.kind == "image":
        _save_samples(first, run_dir / "samples.npz")
    nondeterministic: set[str] = set()
    seeds_used: dict[str, dict[str, int]] = {}
    failures = []
    t_start = time.perf_counter()
    for arm, cfg in arms.items():
        dataset = datasets[_data_key(cfg)]
        for i in range(study.seeds):
            run_seed = repro.derive_seed(study.seed, "seed", i)
            seeds_used.setdefault(arm, {})[str(i)] = run_seed
            folder = run_dir / "arms" / arm / f"seed-{i}"
            if (folder / "result.json").is_file():  # finished before a resume
                previous = read_json(folder / "result.json")
                if previous["status"] != "ok":
                    failures.append(f"arm '{arm}' seed {i}: {previous.get('message')}")
                continue
            on_event({"kind": "start", "arm": arm, "seed": i, "seeds": study.seeds, "epochs": cfg.train.epochs})
            with repro.record_nondeterminism(nondeterministic):
                try:
                    result = _train_one(cfg, dataset, device, run_seed, folder, arm, i, on_event)
                except train.NonFiniteLoss as e:
                    result = {"status": "diverged", "message": str(e)}
                    failures.append(f"arm '{arm}' seed {i}: {e}")
            write_json(folder / "result.json", result)
    write_json(run_dir / "env.json", {
        **repro.environment(device), "data_sha256": {d.name: d.source.get("sha256") for d in datasets.values()},
        "determinism": {**determinism, "seeds": {
            "study": study.seed, "data_split": repro.derive_seed(study.seed, "data"), "per_arm_seed": seeds_used,
            "derivation": {"run seed i": "derive_seed(study, 'seed', i)", "init": "derive_seed(run, 'init')",
                           "dropout/global stream, epoch e": "derive_seed(run, 'epoch', e)",
                           "batch order + augmentation, epoch e": "derive_seed(run, 'batches', e)",
                           "validation split": "derive_seed(data_split, 'val-split')"}},
                        "nondeterministic_ops_hit": sorted(nondeterministic)},
        "wall_seconds_this_session": time.perf_counter() - t_start,
    })
    study_explain.data_randomization(arms, datasets={a: datasets[_data_key(c)] for a, c in arms.items()},
                                     run_dir=run_dir, seeds=study.seeds, device=device)
    write_json(run_dir / "results.json", study_results.aggregate(study, arms, run_dir))
    from deepstudy import report

    report.write(run_dir)
    if failures:
        raise UserError(f"{len(failures)} run(s) stopped on a non-finite loss ({failures[0]}); the last good checkpoint "
                        f"is kept and the report is at {run_dir / 'report.html'}; lower train.optimizer.lr or set train.grad_clip")
    return run_dir


def _save_samples(dataset: _data.Dataset, path: Path, per_class: int = 8) -> None:
    picks = [torch.nonzero(dataset.y_test == c).flatten()[:per_class] for c in range(dataset.num_classes)]
    idx = torch.cat(picks)
    np.savez_compressed(path, images=dataset.x_test[idx].numpy(), labels=dataset.y_test[idx].numpy())


def _train_one(cfg: Study, dataset: _data.Dataset, device: torch.device, run_seed: int, folder: Path,
               arm: str, seed_index: int, on_event: Event) -> dict:
    t = cfg.train
    if t.threads:
        torch.set_num_threads(t.threads)
    if cfg.task == "scratch":
        return study_scratch.train_one(cfg, dataset, run_seed, folder, arm, seed_index, on_event)
    if cfg.task == "classical":
        return study_classical.train_one(cfg, dataset, run_seed, folder, seed_index)
    if cfg.task == "som":
        return study_som.train_one(cfg, dataset, device, run_seed, folder, arm, seed_index, on_event)
    if cfg.task == "reconstruct":
        return study_anomaly.train_one(cfg, dataset, device, run_seed, folder, arm, seed_index, on_event)
    if cfg.task == "generate":
        return study_gan.train_one(cfg, dataset, device, run_seed, folder, arm, seed_index, on_event)
    if cfg.task == "language-model":
        return study_lm.train_one(cfg, dataset, device, run_seed, folder, arm, seed_index, on_event)
    repro.seed_torch(repro.derive_seed(run_seed, "init"))
    model = models.build(cfg.model.name, dataset.input_shape, dataset.num_classes, vocab_size=dataset.vocab_size,
                         **cfg.model.kwargs()).to(device)
    vectors = (weights.load_word_vectors(model, cfg.data.word_vectors, dataset.vocab, t.freeze_embeddings)
               if cfg.data.word_vectors else None)
    loaded = (study_scratch.copy_initial_weights(model, cfg, dataset.input_shape, dataset.num_classes, run_seed)
              if t.init == "numpy-engine" else weights.load_pretrained(model, imagenet=cfg.model.name if cfg.pretrain.task == "imagenet" else None))
    pretext = (study_pretext.pretrain(model, dataset, cfg, device, run_seed, folder.parents[2], seed_index, on_event)
               if cfg.pretrain.task in ("rotation", "supervised") else None)
    teacher, taught = (study_distill.trained_teacher(cfg, dataset, device, run_seed, folder.parents[2], arm, seed_index,
                                                     on_event, _train_one) if cfg.distill.teacher else (None, None))
    if t.channels_last:
        model = model.to(memory_format=torch.channels_last)
    train_batches = dataset.batches("train", t.batch_size, train=True, augment=cfg.data.augment, seed=run_seed, device=device)
    val_batches = dataset.batches("val", t.eval_batch_size, device=device)
    if t.freeze_backbone and not t.unfreeze_after:
        heads.freeze_backbone(model)  # before the optimizer: a linear probe's optimizer holds the head alone
    optimizer, scheduler = train.from_settings(model, t, len(train_batches))
    learnable = {id(p) for g in optimizer.param_groups for p in g["params"]}
    if t.unfreeze_after:  # the optimizer holds the backbone too; it skips parameters without gradients until then
        heads.freeze_backbone(model)
    scaler = train.grad_scaler(t.precision, device)
    _, precision_used = train.autocast(t.precision, device)
    monitor = train.Monitor(t.early_stopping.monitor, t.early_stopping.patience, t.early_stopping.min_delta)
    ckpt_dir, metrics_path = folder / "checkpoint", folder / "metrics.jsonl"
    folder.mkdir(parents=True, exist_ok=True)
    start = 0
    if train.checkpoint.exists(ckpt_dir):
        state = train.checkpoint.load(ckpt_dir, model, optimizer, scheduler, scaler)
        monitor.load_state_dict(state["extra"]["monitor"])
        start = state["epoch"] + 1
        keep_jsonl(metrics_path, state["epoch"])
        on_event({"kind": "resumed", "arm": arm, "seed": seed_index, "epoch": start})
        if t.unfreeze_after and start >= t.unfreeze_after:
            heads.unfreeze(model, learnable)
    else:
        metrics_path.write_text("")
    loss_fn = (nn.MSELoss() if cfg.task == "forecast" else nn.CrossEntropyLoss(label_smoothing=t.label_smoothing) if teacher is None
               else study_distill.DistillationLoss(cfg.distill.temperature, cfg.distill.alpha, t.label_smoothing))
    if "gradient-flow" in cfg.analyses and start == 0:  # at initialization, on the first validation batch (no update)
        x0, y0 = next(iter(dataset.batches("val", t.batch_size, device=device)))
        write_json(folder / "grad_init.json", train.gradient_norms(model, x0, y0, loss_fn))
    stopped_early = monitor.should_stop
    if not stopped_early:
        for r in train.fit(model, train_batches.epoch, val_batches, optimizer=optimizer, scheduler=scheduler,
                           loss_fn=loss_fn, epochs=t.epochs, device=device, seed=run_seed, start_epoch=start,
                           precision=t.precision, channels_last=t.channels_last, grad_clip=t.grad_clip, scaler=scaler,
                           grad_norms="gradient-flow" in cfg.analyses, teacher=teacher):
            row = {"epoch": r.epoch, "train_loss": r.train_loss, "train_acc": r.train_acc, "val_loss": r.val_loss,
                   "val_acc": r.val_acc, "lr": r.lr, "seconds": r.seconds, "eval_seconds": r.eval_seconds, "steps": r.steps}
            if r.grad_norms:
                row["grad_norms"] = r.grad_norms
            if monitor.update(row.get(monitor.metric), r.epoch):
                train.checkpoint.save_weights(model, folder / "best.safetensors")
            append_jsonl(metrics_path, row)
            train.checkpoint.save(ckpt_dir, r.epoch, model, optimizer, scheduler, scaler, {"monitor": monitor.state_dict()})
            on_event({"kind": "epoch", "arm": arm, "seed": seed_index, "epochs": t.epochs, **row})
            repro.fault_point(r.epoch)
            if t.unfreeze_after and r.epoch + 1 == t.unfreeze_after:  # the next epoch fine-tunes every layer
                heads.unfreeze(model, learnable)
            if monitor.should_stop:
                stopped_early = True
                break
    train.checkpoint.load_weights(model, folder / "best.safetensors")
    result = _test(model, dataset, cfg, device, folder, monitor, stopped_early, precision_used)
    extras = {"pretext": pretext, "teacher": taught, "word_vectors": vectors, "pretrained": loaded}
    return {**result, **{k: v for k, v in extras.items() if v}}


def _test(model: nn.Module, dataset: _data.Dataset, cfg: Study, device: torch.device, folder: Path,
          monitor: train.Monitor, stopped_early: bool, precision_used: str) -> dict:
    if cfg.task == "forecast":
        return study_forecast.test(model, dataset, cfg, device, folder, monitor, stopped_early, precision_used)
    t = cfg.train
    kw = {"device": device, "precision": t.precision, "channels_last": t.channels_last}
    t0 = time.perf_counter()
    logits, y = train.predict(model, dataset.batches("test", t.eval_batch_size, device=device), **kw)
    test_seconds = time.perf_counter() - t0
    test = evaluate.classification_metrics(logits.numpy(), y.numpy(), dataset.classes)
    evaluate.save_predictions(folder, logits.numpy())
    if dataset.kind in ("image", "table", "tokens"):
        study_explain.explain_seed(model, dataset, cfg, device, folder, logits.argmax(1).numpy())
    if "boundary" in cfg.analyses and folder.name == "seed-0" and dataset.input_shape == (2,):
        def proba(q: np.ndarray) -> np.ndarray:
            batches = _data.Batches(torch.from_numpy(q), torch.zeros(len(q), dtype=torch.long), t.eval_batch_size)
            return evaluate.softmax(train.predict(model, batches, **kw)[0].numpy())
        evaluate.save_boundary(folder, dataset.x_train.numpy(), dataset.y_train.numpy(), dataset.x_test.numpy(),
                               dataset.y_test.numpy(), proba)
    idx = torch.from_numpy(evaluate.probe_indices(len(dataset.y_train)))
    sub = _data.Batches(dataset.x_train[idx], dataset.y_train[idx], t.eval_batch_size, transform=dataset.transform())
    tr_logits, tr_y = train.predict(model, sub, **kw)
    return evaluate.run_record(
        read_jsonl(folder / "metrics.jsonl"), best_epoch=monitor.best_epoch,
        monitor={"metric": monitor.metric, "best": monitor.best}, stopped_early=stopped_early, precision=precision_used,
        test_seconds=test_seconds, train_accuracy=float((tr_logits.argmax(1) == tr_y).float().mean()), test=test)


def explain_run(run_dir: str | Path, methods: list[str], examples: int | None = None, layer: str | None = None) -> Path:
    """Add explanations to a finished run: every arm and seed's best weights explain the same kind of
    test examples; config.yaml and results.json gain the methods; the report is re-rendered."""
    run_dir = Path(run_dir)
    if not (run_dir / "results.json").is_file() or not (run_dir / "config.yaml").is_file():
        raise UserError(f"'{run_dir}' is not a finished run directory (no results.json); finish it with `deepstudy run --resume`")
    raw = _config.read_yaml(run_dir / "config.yaml")
    extra = {"analyses": list(dict.fromkeys([*raw.get("analyses", ()), *methods]))}
    if examples is not None:
        extra["explain.examples"] = examples
    if layer is not None:
        extra["explain.layer"] = layer
    study = _config.validate(_config.apply_overrides(raw, extra), source=f"{run_dir / 'config.yaml'} with --method")
    arms = check(study)
    datasets = _load_data(arms)
    device = repro.resolve_device(study.train.device)
    info = read_json(run_dir / "data.json")
    shape, n_classes = tuple(info["input_shape"]), len(info["classes"])
    for arm, cfg in arms.items():
        for i in range(study.seeds):
            folder = run_dir / "arms" / arm / f"seed-{i}"
            if read_json(folder / "result.json")["status"] != "ok":
                continue
            model = models.build(cfg.model.name, shape, n_classes, vocab_size=info.get("vocab_size"),
                                 **cfg.model.kwargs()).to(device)
            train.checkpoint.load_weights(model, folder / "best.safetensors")
            study_explain.explain_seed(model, datasets[_data_key(cfg)], cfg, device, folder,
                                       np.load(folder / "predictions.npy"), methods=study_explain.wanted(study))
    study_explain.data_randomization(arms, datasets={a: datasets[_data_key(c)] for a, c in arms.items()},
                                     run_dir=run_dir, seeds=study.seeds, device=device)
    atomic_write_text(run_dir / "config.yaml", _config.to_yaml(study))
    write_json(run_dir / "results.json", study_results.aggregate(study, arms, run_dir))
    from deepstudy import report

    return report.write(run_dir)

