"""The orchestrator's data step: each arm's dataset as its task reads it, checked before anything is written."""
from __future__ import annotations

from deepstudy import data as _data
from deepstudy import repro, tasks
from deepstudy.config import Study
from deepstudy.errors import UserError

# data that only one task can read, and the task that reads it
_OWNER = {"series": ("forecast", "time-series data goes with task: forecast"),
          "nab": ("reconstruct", "NAB series go with task: reconstruct (anomaly detection)"),
          "corpus": ("language-model", "a text corpus (a stream of characters without labels) goes with task: "
                                       "language-model")}



def load(arms: dict[str, Study]) -> dict[str, _data.Dataset]:
    """Each arm's dataset as its task reads it; arms with the same data share one object (loaded once)."""
    raw: dict[str, _data.Dataset] = {}
    prepared: dict[str, _data.Dataset] = {}
    out = {}
    for arm, cfg in arms.items():
        task = tasks.get(cfg.task)
        plain = f"{cfg.task}|{task.data_key(cfg)}"
        permuted = getattr(cfg.data, "permute_labels", False)  # the data-randomization control: it can only memorize
        key = plain + ("|permuted" if permuted else "")
        if plain not in prepared:
            raw_key = _raw_key(cfg)
            if raw_key not in raw:
                raw[raw_key] = _data.load(cfg.data, split_seed=repro.derive_seed(cfg.seed, "data"))
            prepared[plain] = task.prepare(raw[raw_key], cfg)
        if key not in prepared:
            prepared[key] = _data.permute_labels(prepared[plain], repro.derive_seed(cfg.seed, "permute-labels"))
        ds = out[arm] = prepared[key]
        ds.transform(cfg.data.augment)  # data and augmentation fit (e.g. no augmentation of a table), before writing
        owner = _OWNER.get(ds.kind)
        if owner and cfg.task != owner[0]:
            raise UserError(f"arm '{arm}': dataset '{ds.name}' is {ds.kind}: {owner[1]}, not task: {cfg.task}")
        task.check_data(arm, cfg, ds)
    return out


def _raw_key(cfg: Study) -> str:
    """The data as read from disk: what a task adds on top of it (augmentation, permuted labels, vectors) aside."""
    unread = {"augment": (), "permute_labels": False, "word_vectors": None}
    return cfg.data.model_copy(update={k: v for k,
                                       v in unread.items() if k in type(cfg.data).model_fields}).model_dump_json()
