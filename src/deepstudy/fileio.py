"""Atomic file writes and JSON-lines helpers (no torch: the report uses them too)."""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once at import (setting it is process-wide, so not from threads later)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename: readers see old or new."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; a plain open() would honour the umask
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _clean(obj: Any) -> Any:
    """JSON has no NaN/Infinity: write them as null so every reader can parse the file."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def dumps(obj: Any) -> str:
    return json.dumps(_clean(obj), indent=2, sort_keys=False)


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, dumps(obj) + "\n")


class DamagedFile(ValueError):
    """A file that is there but is not the JSON (lines) deepstudy wrote: damaged on disk or edited. The run's readers
    (report, resume) say which file and what to do; the CLI prints any other as one line."""

    def __init__(self, path: Path, why: str):
        super().__init__(f"{path} is damaged ({why}); restore it from a backup, or delete it and run the study again")
        self.path, self.why = Path(path), why


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DamagedFile(path, f"not JSON: {e}") from None


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(_clean(record)) + "\n")
        f.flush()
        os.fsync(f.fileno())


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    """All records at once, atomically, in append_jsonl's format."""
    atomic_write_text(path, "".join(json.dumps(_clean(r)) + "\n" for r in records))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as e:
        raise DamagedFile(path, f"not text: {e}") from None
    rows = []
    for i, line in enumerate(lines):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break  # the last line cut by a kill: everything before it is good
            raise DamagedFile(path, f"line {i + 1} is not JSON: {line[:40]!r}") from None
        if not isinstance(row, dict):
            raise DamagedFile(path, f"line {i + 1} is not a JSON object: {line[:40]!r}")
        rows.append(row)
    return rows


def keep_jsonl(path: Path, last_epoch: int) -> None:
    """On resume: keep the rows up to the checkpoint's epoch (a kill may have left one more)."""
    rows = [r for r in read_jsonl(path) if r["epoch"] <= last_epoch]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))
