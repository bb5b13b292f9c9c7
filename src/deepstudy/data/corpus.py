"""A plain-text corpus as a stream of character ids (task: language-model), split by position."""
from __future__ import annotations

from pathlib import Path

import torch

from deepstudy.errors import UserError

CORPUS_SPLIT = (0.90, 0.05, 0.05)  # train / validation / test, by position


def read(folder: Path, train_limit: int | None = None) -> tuple[dict[str, torch.Tensor], list[str], list[str], str]:
    """One plain-text file (``folder`` itself or folder/input.txt) as character ids split by position — no
    shuffling: the validation and test text follows the training text, as a model meets new text. Returns
    ({split: ids (N,)}, id -> character, notes, file name)."""
    path = folder if folder.is_file() else folder / "input.txt"
    try:
        raw = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise UserError(f"cannot read the text corpus {path} ({e.strerror or e}); data.path must be a UTF-8 .txt file "
                        "or a folder holding input.txt") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{path} is not UTF-8 text (byte {e.start}); convert it, e.g. `iconv -t utf-8`") from None
    if len(raw) < 1000:
        raise UserError(f"{path} has {len(raw)} characters; a language model needs at least 1,000 (validation and test "
                        "take 5 % each)")
    n_train, n_val = int(len(raw) * CORPUS_SPLIT[0]), int(len(raw) * CORPUS_SPLIT[1])
    parts = {"train": raw[:n_train], "val": raw[n_train:n_train + n_val], "test": raw[n_train + n_val:]}
    notes = [f"split by position: the first {CORPUS_SPLIT[0]:.0%} of the characters train, "
             f"the next {CORPUS_SPLIT[1]:.0%} validate, the last {CORPUS_SPLIT[2]:.0%} test"]
    if train_limit is not None and train_limit < n_train:
        parts["train"] = parts["train"][:train_limit]
        notes.append(f"data.train_limit: only the first {train_limit:,} training characters are used")
    chars = sorted(set(parts["train"]))
    unseen = set(parts["val"] + parts["test"]) - set(chars)
    if unseen:  # one shared id for characters the training text never shows
        notes.append(f"{len(unseen)} character(s) appear only after the training text; they share the id of '\\ufffd'")
        chars.append("\ufffd")
    index = {c: i for i, c in enumerate(chars)}
    unk = index.get("\ufffd", 0)
    ids = {k: torch.tensor([index.get(c, unk) for c in v], dtype=torch.long) for k, v in parts.items()}
    return ids, chars, notes, path.name
