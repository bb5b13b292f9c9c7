"""The orchestrator's data step: each arm's dataset as its task reads it, checked before anything is written."""
from __future__ import annotations

from deepstudy import data as _data
from deepstudy import repro, tasks
from deepstudy.config import Study
from deepstudy.errors import UserError




def load(arms: dict[str, Study]) -> dict[str, _data.Dataset]:
    """Each arm's dataset as its task reads it; arms with the same data share one object (loaded once)."""
    raw: dict[str, _data.Dataset] = {}
    prepared: dict[str, _data.Dataset] = {}
    out = {}
    for arm, cfg in arms.items():
        task = tasks.get(cfg.task)
        plain = f"{cfg.task}|{task.data_key(cfg)}"
        permuted = cfg.data.permute_labels  # the data-randomization control: it can only memorize
        key = plain + ("|permuted" if permuted else "")
        if plain not in prepared:
            raw_key = _raw_key(cfg)
            if raw_key not in raw:
                raw[raw_key] = _data.load(cfg.data, split_seed=repro.derive_seed(cfg.seed, "data"),
                                           series_csv=task.series_csv)
            prepared[plain] = task.prepare(raw[raw_key], cfg)
        if key not in prepared:
            prepared[key] = _data.permute_labels(prepared[plain], repro.derive_seed(cfg.seed, "permute-labels"))
        ds = out[arm] = prepared[key]
        ds.transform(cfg.data.augment)  # data and augmentation fit (e.g. no augmentation of a table), before writing
        found = tasks.owner(ds.kind)  # data only one task reads (series, NAB, a corpus)
        if found is not None and found[0] is not task:
            raise UserError(f"arm '{arm}': dataset '{ds.name}' is {ds.kind}: {found[1]}, not task: {cfg.task}")
        task.check_data(arm, cfg, ds)
    return out


def _raw_key(cfg: Study) -> str:
    """The data as read from disk: what a task adds on top of it (augmentation, permuted labels, vectors) aside."""
    unread = {"augment": (), "permute_labels": False, "word_vectors": None}
    return cfg.task + "|" + cfg.data.model_copy(update={k: v for k, v in unread.items()
                                                        if k in type(cfg.data).model_fields}).model_dump_json()
