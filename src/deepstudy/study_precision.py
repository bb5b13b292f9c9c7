"""``train.precision: auto``, resolved once per arm by the driver before its seeds train.

Why once, here, and recorded: a timing probe is not reproducible (two runs on one machine may time differently),
so it must not be asked again per seed, per worker process or on resume — a seed would then train in a precision
another seed of the same arm did not. The driver (deepstudy.study.execute, before any executor hands out seeds)
decides for every arm that asks for auto, writes the choice and the probe's timings to the run's precision.json,
and gives the seeds the arm's config with the precision it chose (fp32 or bf16); a resume reads precision.json
instead of probing again. What auto chooses (deepstudy.train.precision.choose_auto): on CUDA, bf16 where the GPU
supports it; on a CPU without native bf16, fp32 without a probe; on a CPU with it, bf16 only if the probe finds
a bf16 training step at least ``AUTO_SPEEDUP`` times faster.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from deepstudy import tasks, train
from deepstudy.config import Study
from deepstudy.fileio import read_json, write_json
from deepstudy.rundir import RunDir
from deepstudy.train import precision as _precision

Event = Callable[[dict], None]
SEARCH = "search trials"  # precision.json's entry for a search's trials (one choice for all of them)


def native_bf16() -> bool:
    """Whether this CPU has native bf16, as auto sees it (tests pin it; an explicit bf16 asks the CPU itself)."""
    return train.cpu_supports_bf16()


def asks_auto(cfg: Study) -> bool:
    """The arm's task trains in a precision it reads from ``train.precision`` and that precision is auto."""
    return "precision" in type(cfg.train).model_fields and cfg.train.precision == "auto"


def decide(cfg: Study, dataset: Callable[[], object], device: torch.device) -> dict:
    """The choice for one arm (``dataset``: its data, read only when a probe runs), with what it asked and where."""
    task = tasks.get(cfg.task)

    def probe() -> dict | None:
        setup = task.precision_probe(cfg, dataset(), device)
        return None if setup is None else _precision.probe_speed(setup, device)
    return {"asked": "auto", **_precision.choose_auto(device, native_bf16(), probe), "device": str(device)}


def with_precision(cfg: Study, used: str) -> Study:
    return cfg.model_copy(update={"train": cfg.train.model_copy(update={"precision": used})})


def resolve(arms: dict[str, Study], datasets: Mapping[str, object] | Callable[[str], object], run: RunDir | None,
            device: torch.device, on_event: Event) -> dict[str, Study]:
    """``arms`` with every auto precision replaced by its choice: the one in ``run``'s precision.json where it is
    recorded, else decided now (and recorded there; ``run`` None: not recorded, e.g. ``deepstudy lr-find``).
    Says once what auto chose (a note event)."""
    recorded = read(run)
    load = datasets if callable(datasets) else datasets.__getitem__
    chosen, out = {}, dict(arms)
    for arm, cfg in arms.items():
        if asks_auto(cfg):
            chosen[arm] = recorded.get(arm) or decide(cfg, lambda arm=arm: load(arm), device)
    chosen = _as_rank_zero_chose(chosen, device)
    for arm in chosen:
        out[arm] = with_precision(arms[arm], chosen[arm]["used"])
    if run is not None and any(a not in recorded for a in chosen):
        write_json(run.precision, {"arms": {**recorded, **chosen}})
    for text in notes(chosen):
        on_event({"kind": "note", "text": text})
    return out


def resolve_study(study: Study, base: Study, dataset: Callable[[], object], run: RunDir, device: torch.device,
                  on_event: Event) -> Study:
    """A search's study with auto resolved once for all its trials (on ``base``, the study's own arm config), so
    every trial, worker and resume trains in the same precision."""
    if not asks_auto(base):
        return study
    recorded = read(run)
    choice = recorded.get(SEARCH) or decide(base, dataset, device)
    if SEARCH not in recorded:
        write_json(run.precision, {"arms": {**recorded, SEARCH: choice}})
    for text in notes({SEARCH: choice}):
        on_event({"kind": "note", "text": text})
    return with_precision(study, choice["used"])


def as_recorded(study: Study, run: RunDir) -> Study:
    """A search's study as its trials train it: auto replaced by the choice recorded for them (if any)."""
    choice = read(run).get(SEARCH)
    return with_precision(study, choice["used"]) if choice and asks_auto(study) else study


def _as_rank_zero_chose(chosen: dict, device: torch.device) -> dict:
    """One rank of several (DDP, deepstudy run --nproc): rank 0's choices, so that every rank trains in one
    precision whatever its own probe timed. On CUDA the choice asks the GPU, not a clock: nothing to agree on."""
    if device.type != "cpu" or not train.distributed.active():
        return chosen
    shared = [chosen]
    torch.distributed.broadcast_object_list(shared, src=0)
    return shared[0]


def read(run: RunDir | None) -> dict[str, dict]:
    """precision.json's choices (arm -> record), or none."""
    return read_json(run.precision)["arms"] if run is not None and run.precision.is_file() else {}


def notes(chosen: dict[str, dict]) -> list[str]:
    """One line per distinct choice, e.g. "precision auto → fp32 (this CPU has no native bf16): arm(s) a, b"."""
    groups: dict[str, list[str]] = {}
    for arm, c in chosen.items():
        groups.setdefault(f"precision auto → {c['used']} ({c['why']})", []).append(arm)
    return [f"{text}: {'arm(s) ' if SEARCH not in names else ''}{', '.join(names)}" for text, names in groups.items()]
