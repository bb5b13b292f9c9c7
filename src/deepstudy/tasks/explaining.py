"""Explanations inside a study: per seed after testing, summarized over seeds, or later for a finished run.

Files, per arm and seed (next to predictions.npy):
  explain.json   layer, per-method scores (deletion/insertion AUCs and their random baselines, the
                 randomization test), methods skipped and why, the test indices explained
  explain.npz    images (as stored), labels, predictions, one map per method; filters and feature
                 maps with the feature-maps analysis
"""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from deepstudy import data as _data
from deepstudy import evaluate, explain
from deepstudy.config import EXPLANATIONS, Study
from deepstudy.errors import UserError, closest
from deepstudy.fileio import read_json, read_jsonl, write_json
from deepstudy.rundir import RunDir
from deepstudy.tasks import build_model
from deepstudy.train.units import UNITS, dead_fraction

SCORES = ("deletion_auc", "deletion_auc_random", "insertion_auc", "insertion_auc_random")


def wanted(cfg: Study) -> list[str]:
    return [a for a in cfg.analyses if a in EXPLANATIONS]


def check_layer(arm: str, cfg: Study, model: nn.Module) -> None:
    """A misnamed explain.layer stops the study before training, not after the first seed."""
    layer = cfg.explain.layer
    if layer and set(wanted(cfg)) & {"gradcam", "gradcam++"} and layer not in dict(model.named_modules()):
        convs = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))]
        raise UserError(f"arm '{arm}': explain.layer '{layer}' is not a layer of "
                        f"{cfg.model.name}{closest(layer, convs)}; "
                        f"its convolutions: {', '.join(convs) or 'none'} (see `deepstudy summary {cfg.model.name}`)")


def pick_examples(predictions: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Wrongly classified test examples first (up to half of ``n``), then correct ones, in test order."""
    wrong = np.flatnonzero(predictions != labels)[: n // 2]
    right = np.flatnonzero(predictions == labels)[: n - len(wrong)]
    return np.sort(np.r_[wrong, right]).astype(np.int64)


def explain_seed(model: nn.Module, dataset: _data.Dataset, cfg: Study, device: torch.device, folder,
                 predictions: np.ndarray,
                 methods: list[str] | None = None, on_method: Callable[[str, int, int], None] | None = None) -> None:
    """Explain ``cfg.explain.examples`` test predictions of a trained model; writes explain.json/.npz.
    ``on_method``: told each method as it starts (``events``)."""
    methods = wanted(cfg) if methods is None else methods
    features, attention = "feature-maps" in cfg.analyses, "attention" in cfg.analyses
    if not methods and not features and not attention:
        return
    idx = pick_examples(predictions, dataset.y_test.numpy(), cfg.explain.examples)
    raw = dataset.x_test[idx]
    transform = dataset.transform()
    x = transform(raw, torch.Generator()) if transform is not None else raw
    e = cfg.explain
    try:
        found = explain.explain_examples(model, x.to(device), dataset.y_test[idx].to(device), methods, layer=e.layer,
                                         features=features, attention=attention, sanity_n=e.sanity_examples,
                                         steps=e.steps, seed=cfg.seed, on_method=on_method)
    except ValueError as err:  # e.g. a named layer without a spatial output
        raise UserError(f"explain: {err}") from None
    arrays = {"images": raw.numpy(), "labels": found["labels"], "preds": found["preds"], "indices": idx,
              **{f"map:{m}": v for m, v in found["maps"].items()}}
    for key in ("filters", "feature_maps", "attention"):
        if key in found:
            arrays[key] = found[key]
    np.savez_compressed(folder / "explain.npz", **arrays)
    write_json(folder / "explain.json", {"layer": found["layer"], "filters_layer": found.get("filters_layer"),
                                         "scores": found["scores"], "skipped": found["skipped"],
                                         "examples": len(idx), "wrong": int((found["preds"] != found["labels"]).sum()),
                                         **({"words": [[dataset.vocab[i] for i in row if i] for row in raw.tolist()]}
                                            if dataset.vocab else {})})


class ForecastOutput(nn.Module):
    """A forecaster as a one-output model for attribution: the mean of its (horizon x targets) forecasts, in
    scaled units — 'what moves the forecast up' (a single target or step would explain one column only). Its
    input is time-major (N, T, F), so attributions keep both axes (explain.methods)."""

    time_major = True

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, T, F) -> (N, 1)
        return self.model(x).mean(1, keepdim=True)


def events(on_event: Callable[[dict], None], arm: str, seed: int, seeds: int) -> Callable[[str, int, int], None]:
    """An ``on_method`` that sends the "explain" progress event of (arm, seed) before each method."""
    def on_method(method: str, index: int, methods: int) -> None:
        on_event({"kind": "explain", "arm": arm, "seed": seed, "seeds": seeds, "method": method, "index": index,
                  "methods": methods})
    return on_method


def explain_forecast(model: nn.Module, dataset: _data.Dataset, cfg: Study, device: torch.device, folder,
                     on_method: Callable[[str, int, int], None] | None = None) -> None:
    """Attributions over (lag, variable) of the mean forecast for ``explain.examples`` test windows spread evenly
    over the test period, with the same randomization test and deletion/insertion scores as for classes."""
    methods = [m for m in wanted(cfg) if m not in ("gradcam", "gradcam++")]
    skipped = {m: "no convolution over an image: input attributions only" for m in wanted(cfg) if m not in methods}
    if not methods and not skipped:
        return
    idx = np.linspace(0, len(dataset.x_test) - 1,
                      min(cfg.explain.examples, len(dataset.x_test))).round().astype(np.int64)
    x = dataset.x_test[idx].float().to(device)
    e = cfg.explain
    found = explain.explain_examples(ForecastOutput(model).eval(), x,
                                     torch.zeros(len(idx), dtype=torch.long, device=device),
                                     methods, sanity_n=e.sanity_examples, steps=e.steps, seed=cfg.seed, regression=True,
                                     on_method=on_method)
    found["skipped"].update(skipped)
    np.savez_compressed(folder / "explain.npz", windows=x.cpu().numpy(), indices=idx,
                        **{f"map:{m}": v for m, v in found["maps"].items()})
    write_json(folder / "explain.json", {"layer": None, "scores": found["scores"], "skipped": found["skipped"],
                                         "examples": len(idx),
                                         "explained": "the mean of the forecast outputs (scaled units)",
                                         "features": dataset.feature_names})


def data_randomization(arms: dict[str, Study], datasets: dict, run_dir, seeds: int, device: torch.device) -> None:
    """Adebayo et al.'s data-randomization test: for each arm trained on permuted labels and the arm with
    the same model and data but true labels (training settings may differ: the control usually keeps its
    last, memorizing weights), explain the same first test examples (true class) with both models, seed
    by seed; rank correlations go to the *reference* arm's data_randomization.json."""
    from deepstudy import train
    from deepstudy.explain.sanity import rank_correlation

    def plain(cfg: Study) -> tuple[str, str]:
        return cfg.model.model_dump_json(), cfg.data.model_copy(update={"permute_labels": False}).model_dump_json()

    def permuted(cfg: Study) -> bool:
        return cfg.task == "classify" and cfg.data.permute_labels

    for arm, cfg in arms.items():
        reference = next((a for a,
                          c in arms.items() if c.task == "classify" and not permuted(c) and plain(c) == plain(cfg)),
                         None)
        if not permuted(cfg) or reference is None or not wanted(cfg):
            continue
        ds = datasets[arm]
        n = cfg.explain.sanity_examples
        raw, y = ds.x_test[:n], torch.as_tensor(ds.y_test[:n]).to(device)
        transform = ds.transform()
        x = (transform(raw, torch.Generator()) if transform is not None else raw).to(device)
        for i in range(seeds):
            folders = [RunDir(run_dir).seed(a, i).path for a in (reference, arm)]
            if not all((f / "best.safetensors").is_file() for f in folders):
                continue
            nets = []
            for f in folders:
                net = build_model(cfg.model, ds).to(device)
                train.checkpoint.load_weights(net, f / "best.safetensors")
                nets.append(net.eval())
            layer = cfg.explain.layer or explain.target_layer(nets[0], x)
            rho, flat = {}, {}
            for m in wanted(cfg):
                if m in ("gradcam", "gradcam++") and layer is None or m == "smoothgrad" and not x.is_floating_point():
                    continue
                maps = [explain.attribute(net, x, y, m, layer=layer, steps=cfg.explain.steps,
                                          seed=cfg.seed) for net in nets]
                rho[m] = rank_correlation(*maps, None if x.is_floating_point() else x != 0)
                flat[m] = bool((maps[1].flatten(1).std(1) == 0).all())  # a control that learned nothing: no ranking
            write_json(folders[0] / "data_randomization.json",
                       {"control_arm": arm, "examples": n, "spearman": rho, "control_constant": flat})


def arm_summary(study: Study, run: RunDir, arm: str) -> dict:
    """The explanation keys of an arm in results.json: "explain" and "gradient_flow", where analysed."""
    out = {}
    if wanted(study) or "attention" in study.analyses:
        out["explain"] = summarize(run, arm, study.seeds)
    if "gradient-flow" in study.analyses:
        out["gradient_flow"] = gradient_flow(run, arm, study.seeds)
    return out


def summarize(run: RunDir, arm: str, seeds: int) -> dict | None:
    """Per method, mean ± std over seeds of each AUC and of the randomization correlations."""
    runs = [read_json(p) for i in range(seeds) if (p := run.seed(arm, i) / "explain.json").is_file()]
    if not runs:
        return None
    out = {"layer": runs[0]["layer"], "skipped": runs[0]["skipped"], "flag_at": explain.FLAG_AT, "methods": {}}
    controls = [read_json(p) for i in range(seeds)
                if (p := run.seed(arm, i) / "data_randomization.json").is_file()]
    for method in runs[0]["scores"]:
        rows = [r["scores"][method] for r in runs if method in r["scores"]]
        m = {k: evaluate.describe([r[k] for r in rows]) for k in SCORES}
        m["spearman_top"] = evaluate.describe([r["sanity"]["spearman_top"] for r in rows])
        m["spearman_all"] = evaluate.describe([r["sanity"]["spearman_all"] for r in rows])
        m["sanity_passed"] = sum(r["sanity"]["passed"] for r in rows)
        m["deletion_beats_random"] = sum(r["deletion_auc"] < r["deletion_auc_random"] for r in rows)
        m["insertion_beats_random"] = sum(r["insertion_auc"] > r["insertion_auc_random"] for r in rows)
        m["seconds"] = evaluate.describe([r["seconds"] for r in rows])
        m["cascade"] = [[c["spearman"] for c in r["sanity"]["cascade"]] for r in rows]
        m["cascade_layers"] = [c["down_to"] for c in rows[0]["sanity"]["cascade"]]
        m["curves"] = {k: np.mean([r[k] for r in rows], 0).tolist() for k in ("deletion_curve", "insertion_curve")}
        m["n"] = len(rows)
        rhos = [c["spearman"][method] for c in controls if method in c["spearman"]]
        if rhos:
            m["spearman_labels"] = evaluate.describe(rhos)
            m["control_arm"] = controls[0]["control_arm"]
            m["control_constant"] = any(c.get("control_constant", {}).get(method) for c in controls)
        out["methods"][method] = m
    return out


def gradient_flow(run: RunDir, arm: str, seeds: int) -> dict | None:
    """Per weight (in the model's order), the mean over seeds of ||dL/dW|| at initialization (one batch) and in
    the first and last epoch; and per stage, over seeds, the first layer's norm and the first-to-last ratio
    ||dL/dW_first layer|| / ||dL/dW_last layer|| (seed 003 reads 1e-8 for a plain deep net against 1e-2 for a
    ResNet)."""
    runs, inits = [], []
    for i in range(seeds):
        p = run.seed(arm, i).metrics
        rows = [r for r in read_jsonl(p) if r.get("grad_norms")] if p.is_file() else []
        if rows:
            runs.append(rows)
            init = run.seed(arm, i) / "grad_init.json"
            if init.is_file():
                inits.append(read_json(init))
    if not runs:
        return None
    names = list(runs[0][0]["grad_norms"])
    stages = {"first": [r[0]["grad_norms"] for r in runs], "last": [r[-1]["grad_norms"] for r in runs]}
    if len(inits) == len(runs):
        stages["init"] = inits
    out = {"layers": names, **{k: np.mean([[g[n] for n in names] for g in v], 0).tolist() for k, v in stages.items()}}
    out["ratio"] = {k: evaluate.describe([g[names[0]] / max(g[names[-1]], 1e-30) for g in v]) for k,
                    v in stages.items()}
    out["first_layer"] = {k: evaluate.describe([g[names[0]] for g in v]) for k, v in stages.items()}
    units = [read_json(p) for i in range(seeds) if (p := run.seed(arm, i) / UNITS).is_file()]
    if units:  # the fraction of dead hidden units (deepstudy.train.units), at initialization and as tested
        stages = [k for k in ("init", "trained") if all(k in u for u in units)]
        out["dead_units"] = {k: evaluate.describe([dead_fraction(u[k]) for u in units]) for k in stages}
        out["dead_units"]["per_layer"] = {n: {k: float(np.mean([u[k][n]["dead"] for u in units])) for k in stages}
                                          for n in units[0]["init"]}
    return out


def with_methods(run: RunDir, methods: list[str], examples: int | None, layer: str | None) -> Study:
    """The finished run's study with explanation ``methods`` (and settings) added."""
    from deepstudy import config

    raw = config.read_yaml(run.config)
    extra = {"analyses": list(dict.fromkeys([*raw.get("analyses", ()), *methods]))}
    if examples is not None:
        extra["explain.examples"] = examples
    if layer is not None:
        extra["explain.layer"] = layer
    return config.validate(config.apply_overrides(raw, extra), source=f"{run.config} with --method")


def explain_run(run: RunDir, study: Study, arms: dict[str, Study], datasets: dict, device: torch.device,
                on_event: Callable[[dict], None]) -> None:
    """Explain every finished seed's best weights (``deepstudy explain``); config.yaml gains the methods.
    Progress: study_start (its runs: the seeds to explain), "explain" per method, "explained" per seed."""
    from deepstudy import config, train
    from deepstudy.fileio import atomic_write_text

    info = read_json(run.data)
    todo = [(arm, i) for arm in arms for i in range(study.seeds)
            if read_json(run.seed(arm, i).result)["status"] == "ok"]
    on_event({"kind": "study_start", "name": study.name, "arms": list(arms), "seeds": study.seeds, "trials": 0,
              "runs": len(todo), "epochs": 0})
    for arm, i in todo:
        t0, cfg, seed = time.perf_counter(), arms[arm], run.seed(arm, i)
        model = build_model(cfg.model, info).to(device)
        train.checkpoint.load_weights(model, seed.best)
        explain_seed(model, datasets[arm], cfg, device, seed.path, np.load(seed / "predictions.npy"),
                     methods=wanted(study), on_method=events(on_event, arm, i, study.seeds))
        on_event({"kind": "explained", "arm": arm, "seed": i, "seeds": study.seeds,
                  "seconds": time.perf_counter() - t0})
    data_randomization(arms, datasets=datasets, run_dir=run.path, seeds=study.seeds, device=device)
    atomic_write_text(run.config, config.to_yaml(study))
