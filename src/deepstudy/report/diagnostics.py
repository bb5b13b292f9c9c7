"""Problems a run's learning curves show, named in words with their evidence.

``diagnose(rows)`` reads one (arm, seed)'s metrics.jsonl rows; ``for_run(run_dir, results)`` diagnoses every seed
of every arm and says it across seeds: the "Training curves" paragraph under the learning curves and the bullets
of the report's conclusions. Report time, from the files: results.json and the per-seed numbers stay as they were,
and an older run gains the diagnosis when it is re-rendered.

The rules (epochs counted from 0 as metrics.jsonl and result.json's ``best_epoch`` count them; the sentences count
from 1, as the report's tables do):

non-finite
    a training or validation loss that is NaN or infinite in a row — metrics.jsonl writes them as null (JSON has no
    NaN), so a null where another row of the run has a number — or a seed that stopped on a non-finite training
    loss (``failed``: its result.json message; the loop never writes that epoch, so it is the one after the last
    row).
diverged
    the training loss ends more than 50 % above its first epoch's (``RISE``: the run ended worse than it started),
    or each of its last 3 epochs (``SUSTAINED``: not one noisy epoch) is more than 50 % above the run's minimum. In
    both cases the rise must exceed 5 % of the first epoch's loss (``RISE_FLOOR``), so a loss wandering near zero
    (0.001 to 0.002 is +100 %) is no divergence. With K classes, also a training loss that ends more than 1.5 × ln K
    (worse than a uniform guess by half: the weights blew up, often within the first epoch, and never came back;
    its epoch is the loss's peak). A learning rate too large makes the loss oscillate, climb or explode; a sound
    run's training loss falls, with noise well under 50 %, and below a uniform guess.
plateau
    over the first 5 epochs (``PLATEAU_EPOCHS``; the whole run if shorter, and at least 3) the training loss falls
    by less than 2 % of its first value (``FLAT``) while the model is still near chance: its best validation accuracy
    there is below 1.5 × chance (1/K, ``NEAR_CHANCE``), or its lowest training loss there is at least 90 % of ln K
    (the cross-entropy of a uniform guess over K classes, ``NEAR_UNIFORM``). The second condition keeps a run that
    learned everything in its first epoch (a flat loss near 0, a high accuracy) from being called stuck; without K
    no plateau is named, since a flat loss alone cannot tell the two apart. 2 % over 5 epochs: a learning model's
    loss falls by tens of percent in its first epochs; at lr 1e-7 it moves by less than 0.01 %.
overfitting
    the validation loss is lowest at epoch m with at least 3 epochs after it, each of the last 3 epochs'
    validation loss is more than 10 % above that minimum (``OVERFIT_RISE``) and by more than 2 % of the first
    validation loss (``OVERFIT_FLOOR``: noise near zero is not a rise), and the training loss at the end is below its
    value at epoch m (it kept falling: a rising training loss is divergence instead). Overfitting begins after epoch
    m; the finding says whether the tested weights (``best_epoch``, the best checkpoint) come from before the rise.
    10 % and 3 epochs: on the small validation splits of quick studies (tens to hundreds of examples) the
    validation loss moves by a few percent from epoch to epoch without a trend; a single bad epoch is no onset.
"""
from __future__ import annotations

import math
from pathlib import Path

from deepstudy.fileio import read_jsonl
from deepstudy.rundir import RunDir

RISE, SUSTAINED, RISE_FLOOR = 1.5, 3, 0.05
PLATEAU_EPOCHS, MIN_EPOCHS, FLAT, NEAR_CHANCE, NEAR_UNIFORM = 5, 3, 0.02, 1.5, 0.9
OVERFIT_AFTER, OVERFIT_RISE, OVERFIT_FLOOR = 3, 1.10, 0.02
KINDS = ("non-finite", "diverged", "plateau", "overfitting")  # the order the report names them in
_LABELS = {"non-finite": "a NaN or infinite loss", "diverged": "divergence", "plateau": "a plateau from the start",
           "overfitting": "overfitting"}


def _finite(x) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def _series(rows: list[dict], key: str) -> tuple[list[int], list[float]]:
    """(epochs, values) of the rows whose ``key`` is a finite number."""
    kept = [(r["epoch"], float(r[key])) for r in rows if _finite(r.get(key))]
    return [e for e, _ in kept], [v for _, v in kept]


def _lr_words(lr: float | None) -> str:
    return f"the learning rate ({lr:g})" if _finite(lr) else "the learning rate"


def _non_finite(rows: list[dict], failed: str | None) -> dict | None:
    for key, what in (("train_loss", "training"), ("val_loss", "validation")):
        if not any(_finite(r.get(key)) for r in rows):
            continue  # a loss the run never records (no validation split, a one-shot learner)
        bad = next((r for r in rows if not _finite(r.get(key))), None)
        if bad is not None:
            return {"kind": "non-finite", "epoch": bad["epoch"], "evidence": {"loss": key, "value": bad.get(key)},
                    "text": f"the {what} loss became NaN or infinite in epoch {bad['epoch'] + 1}"}
    if failed is not None:
        epoch = rows[-1]["epoch"] + 1 if rows else 0
        return {"kind": "non-finite", "epoch": epoch, "evidence": {"loss": "train_loss", "message": failed},
                "text": f"the training loss became NaN or infinite in epoch {epoch + 1} ({failed}); the seed "
                        "stopped there"}
    return None


def _diverged(epochs: list[int], loss: list[float], lr: float | None, classes: int | None) -> dict | None:
    if len(loss) < 2:
        return None
    low = min(range(len(loss)), key=loss.__getitem__)
    top = max(range(len(loss)), key=loss.__getitem__)
    floor = RISE_FLOOR * abs(loss[0])
    ended_worse = loss[-1] > RISE * loss[0] and loss[-1] - loss[0] > floor
    climbed = (len(loss) - 1 - low >= SUSTAINED
               and all(v > RISE * loss[low] and v - loss[low] > floor for v in loss[-SUSTAINED:]))
    uniform = math.log(classes) if classes and classes >= 2 else None
    above_guess = uniform is not None and loss[-1] > RISE * uniform
    evidence = {"first": loss[0], "min": loss[low], "min_epoch": epochs[low], "max": loss[top],
                "max_epoch": epochs[top], "last": loss[-1], "last_epoch": epochs[-1], "uniform_loss": uniform, "lr": lr}
    if ended_worse or climbed:
        return {"kind": "diverged", "epoch": epochs[low], "evidence": evidence,
                "text": f"the training loss rose from {loss[low]:.3g} (epoch {epochs[low] + 1}) to {loss[-1]:.3g} "
                        f"(epoch {epochs[-1] + 1}): {_lr_words(lr)} is probably too high"}
    if above_guess:  # it blew up early (often within the first epoch) and never came back below a uniform guess
        return {"kind": "diverged", "epoch": epochs[top], "evidence": evidence,
                "text": f"the training loss reached {loss[top]:.3g} in epoch {epochs[top] + 1} and still ends at "
                        f"{loss[-1]:.3g} (epoch {epochs[-1] + 1}), {loss[-1] / uniform:.1f} × the {uniform:.3g} of "
                        f"a uniform guess over {classes} classes: {_lr_words(lr)} is probably too high"}
    return None


def _plateau(rows: list[dict], epochs: list[int], loss: list[float], lr: float | None,
             classes: int | None) -> dict | None:
    w = min(PLATEAU_EPOCHS, len(loss))
    if w < MIN_EPOCHS or not classes or classes < 2:
        return None
    drop = loss[0] - min(loss[:w])
    if drop >= FLAT * abs(loss[0]):
        return None
    window = set(epochs[:w])
    accs = [float(r["val_acc"]) for r in rows if r["epoch"] in window and _finite(r.get("val_acc"))]
    chance = 1 / classes
    near_chance = bool(accs) and max(accs) < NEAR_CHANCE * chance
    near_uniform = min(loss[:w]) >= NEAR_UNIFORM * math.log(classes)
    if not (near_chance or near_uniform):
        return None
    acc = f", validation accuracy at most {max(accs):.1%} (chance {chance:.1%})" if accs else ""
    return {"kind": "plateau", "epoch": epochs[0],
            "evidence": {"epochs": w, "first": loss[0], "lowest": min(loss[:w]), "drop": drop / abs(loss[0] or 1),
                         "val_acc": max(accs) if accs else None, "chance": chance, "uniform_loss": math.log(classes),
                         "lr": lr},
            "text": f"the training loss barely moved in the first {w} epochs ({loss[0]:.3g} to {min(loss[:w]):.3g}, "
                    f"{drop / abs(loss[0] or 1):.1%} lower; a uniform guess scores {math.log(classes):.3g}{acc}): "
                    f"{_lr_words(lr)} is probably too low, or the model cannot learn this data"}


def _overfitting(rows: list[dict], best_epoch: int | None) -> dict | None:
    both = [r for r in rows if _finite(r.get("val_loss")) and _finite(r.get("train_loss"))]
    if len(both) < OVERFIT_AFTER + 1:
        return None
    val = [float(r["val_loss"]) for r in both]
    m = min(range(len(val)), key=val.__getitem__)
    tail = val[-OVERFIT_AFTER:]
    if (len(val) - 1 - m < OVERFIT_AFTER
            or not all(v > OVERFIT_RISE * val[m] and v - val[m] > OVERFIT_FLOOR * abs(val[0]) for v in tail)
            or not both[-1]["train_loss"] < both[m]["train_loss"]):
        return None
    start, end = both[m], both[-1]
    caught = None if best_epoch is None else best_epoch <= start["epoch"]
    tested = ("" if best_epoch is None else
              f"; the tested weights (the best checkpoint) are epoch {best_epoch + 1}'s, from before the rise" if caught
              else f"; the tested weights (the best checkpoint) are epoch {best_epoch + 1}'s, "
                   f"{best_epoch - start['epoch']} epoch(s) into the rise")
    return {"kind": "overfitting", "epoch": start["epoch"],
            "evidence": {"val_min": start["val_loss"], "val_last": end["val_loss"], "train_at_min": start["train_loss"],
                         "train_last": end["train_loss"], "last_epoch": end["epoch"], "best_epoch": best_epoch,
                         "caught": caught},
            "text": f"the validation loss is lowest at epoch {start['epoch'] + 1} ({start['val_loss']:.3g}) and rises "
                    f"to {end['val_loss']:.3g} by epoch {end['epoch'] + 1} while the training loss falls from "
                    f"{start['train_loss']:.3g} to {end['train_loss']:.3g} (overfitting){tested}"}


def diagnose(rows: list[dict], *, lr: float | None = None, classes: int | None = None,
             best_epoch: int | None = None, failed: str | None = None) -> list[dict]:
    """The problems one seed's metrics.jsonl ``rows`` show (the module's docstring gives the rules), in ``KINDS``
    order: each ``{"kind", "epoch" (the first epoch concerned, from 0), "evidence" (the numbers), "text" (one
    sentence, epochs from 1)}``; ``[]`` for a sound run.

    ``lr``: the learning rate the sentences name (default: the first row's ``lr``); ``classes``: K, for the
    plateau's chance level; ``best_epoch``: the epoch whose weights were tested (does overfitting reach them?);
    ``failed``: the message of a seed that stopped on a non-finite loss.

    Example:
        >>> rows = [{"epoch": e, "train_loss": 1 / (e + 1), "val_loss": v}
        ...         for e, v in enumerate([0.9, 0.6, 0.5, 0.57, 0.62, 0.7])]
        >>> [(f["kind"], f["epoch"]) for f in diagnose(rows, best_epoch=2)]
        [('overfitting', 2)]
    """
    rows = sorted(rows, key=lambda r: r["epoch"])
    if lr is None and rows:
        lr = rows[0].get("lr")
    epochs, loss = _series(rows, "train_loss")
    found = [_non_finite(rows, failed), _diverged(epochs, loss, lr, classes), _plateau(rows, epochs, loss, lr, classes),
             _overfitting(rows, best_epoch)]
    return [f for f in found if f is not None]


def _epochs(values: list[int]) -> str:
    """'epoch 7' or 'epochs 5–8' (from 0-based epochs, said from 1)."""
    lo, hi = min(values) + 1, max(values) + 1
    return f"epoch {lo}" if lo == hi else f"epochs {lo}–{hi}"


def _count(k: int, n: int) -> str:
    return f"{k} of {n} seeds" if n > 1 else "its only seed"


def _why_later(found: list[dict]) -> str:
    names = sorted({f.get("monitor") or "?" for f in found if not f["evidence"]["caught"]})
    return f"train.early_stopping.monitor {' / '.join(names)} chose a later epoch"


def _summary(arm: str, kind: str, found: list[dict], n: int, lr: float | None) -> str:
    """One conclusions bullet: what ``found`` (the seeds' findings of one kind) say together."""
    k = _count(len(found), n)
    if kind == "non-finite":
        return (f"{arm}: the loss became NaN or infinite in {k}, in {_epochs([f['epoch'] for f in found])}: "
                f"{_lr_words(lr)} is probably too high — lower train.optimizer.lr or set train.grad_clip")
    if kind == "diverged":
        first = found[0]
        return f"{arm}: {first['text']}" if n == 1 else f"{arm}: the training loss diverges in {k}; in seed " \
            f"{first['seed']}, {first['text']}"
    if kind == "plateau":
        return (f"{arm}: the training loss barely moves from the start in {k} and the model stays near chance: "
                f"{_lr_words(lr)} is probably too low, or the model cannot learn this data")
    caught = [f for f in found if f["evidence"]["caught"]]
    bests = sorted({f["evidence"]["best_epoch"] for f in caught})
    kept = f"epoch {bests[0] + 1}'s weights" if len(bests) == 1 else "weights"
    late = sum(f["evidence"]["caught"] is False for f in found)
    tested = ("" if all(f["evidence"]["caught"] is None for f in found)
              else f"; the best checkpoint kept {kept} from before the rise" if not late
              else f"; the tested weights come from after the rise ({_why_later(found)})" if not caught
              else f"; in {late} of them the tested weights come from after the rise ({_why_later(found)})")
    return (f"{arm}: the validation loss rises after {_epochs([f['epoch'] for f in found])} in {k} while the "
            f"training loss keeps falling (overfitting){tested}")


def for_run(run_dir: Path, results: dict) -> dict:
    """Every seed of every arm of a finished run diagnosed: ``{"lines": conclusions bullets, one per arm and kind,
    "notes": the "Training curves" paragraph (each bullet, then each seed's sentence), "findings": {arm: [finding +
    "seed"]}, "curves": {arm: each seed's metrics.jsonl rows, as read}}``; without a finding, ``notes`` is the one
    line that says so. K is the dataset's number of classes, except for a distilled arm (its training loss is the
    distillation loss: no chance level, no ln K)."""
    run, classes = RunDir(Path(run_dir)), len(results["dataset"].get("classes") or []) or None
    lines, notes, findings, curves = [], [], {}, {}
    for arm, info in results["arms"].items():
        per_seed, lr = [], None
        k = None if info.get("teacher") else classes  # a distilled arm: its training loss is not on ln K's scale
        curves[arm] = []
        for s in info["seeds"]:
            rows = read_jsonl(run.seed(arm, s["seed"]).metrics)
            curves[arm].append(rows)
            lr = lr if lr is not None else next((r.get("lr") for r in rows if _finite(r.get("lr"))), None)
            failed = s.get("message") if s.get("status", "ok") != "ok" else None
            for f in diagnose(rows, classes=k, best_epoch=s.get("best_epoch"), failed=failed):
                per_seed.append({**f, "seed": s["seed"], "monitor": (s.get("monitor") or {}).get("metric")})
        findings[arm] = per_seed
        for kind in KINDS:
            found = [f for f in per_seed if f["kind"] == kind]
            if found:
                line = _summary(arm, kind, found, len(info["seeds"]), lr)
                lines.append(line)
                notes.append(f"{arm}, {_LABELS[kind]} in {_count(len(found), len(info['seeds']))}. "
                             + " ".join(f"Seed {f['seed']}: {f['text']}." for f in found))
    clean = [arm for arm, found in findings.items() if not found]
    if not notes:
        notes = ["No divergence, plateau, non-finite loss or overfitting in any seed's curves."]
    elif clean:
        notes.append(f"{', '.join(clean)}: no divergence, plateau, non-finite loss or overfitting in any seed.")
    return {"lines": lines, "notes": notes, "findings": findings, "curves": curves}

