"""Checksums of a dataset's files: sha256 against the registry's, or, for a file with no published sha256, against
the one recorded beside it at its first verified fetch (trust on first verified fetch). Re-exported by
deepstudy.data.registry, where the datasets and their digests are."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from deepstudy.errors import UserError

if TYPE_CHECKING:
    from deepstudy.data.registry import DatasetSpec, FileSpec

_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_of(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _HASH_CACHE[key] = h.hexdigest()
    return _HASH_CACHE[key]


RECORD = ".sha256"  # <file>.sha256 beside a file with no published sha256: `sha256sum -c` reads it too


def recorded_sha256(folder: Path, f: FileSpec) -> str | None:
    """The sha256 recorded for ``f`` in ``folder`` at its first verified fetch; None when there is none."""
    path = folder / (f.name + RECORD)
    if not path.is_file():
        return None
    digest = path.read_text(encoding="ascii", errors="replace").split(maxsplit=1)[:1]
    return digest[0].lower() if digest and len(digest[0]) == 64 else None


def record_sha256(folder: Path, name: str, digest: str) -> None:
    """Record ``digest`` as the sha256 of ``folder/name`` (made from a download checked against the published
    digests): the file is trusted from this first verified fetch on, and checked against it on every load."""
    tmp = folder / f".{name}{RECORD}.part-{os.getpid()}"
    tmp.write_text(f"{digest}  {name}\n", encoding="ascii")
    os.replace(tmp, folder / (name + RECORD))


def _check_recorded(spec: DatasetSpec, f: FileSpec, folder: Path, digest: str, given_path: bool) -> None:
    """``f`` has no published sha256: ``digest`` must be the one recorded at its first verified fetch."""
    recorded = recorded_sha256(folder, f)
    path, fetch = folder / f.name, f"`deepstudy data fetch {spec.name}`"
    where = " (data.path)" if given_path else ""
    if recorded is None:
        raise UserError(f"{path}{where} has no recorded sha256 ({f.name}{RECORD} beside it): no sha256 of it is "
                        f"published, so only a file made by {fetch} (which checks the download against the "
                        f"published digests and records it) is trusted; run {fetch}, or add --from with your copy of "
                        f"{spec.source_of(f).name}")
    if digest != recorded:
        fix = (f"if it is a damaged copy, {fetch} makes a verified one in the data directory (your folder is left "
               "alone)" if given_path else f"delete it and run {fetch}")
        raise UserError(f"checksum mismatch for {path}{where}: sha256 {digest[:12]}…, not the {recorded[:12]}… "
                        f"recorded at its first verified fetch; the file is damaged or was replaced — {fix}")


def verify(spec: DatasetSpec, folder: Path, given_path: bool = False) -> dict[str, str]:
    """sha256 of every file, checked against the registry (or, for a file with no published sha256, against the one
    recorded at its first verified fetch); returns {file: sha256}. ``given_path``: the folder is the study's
    data.path — files of the user's own, never to be deleted on our advice."""
    out = {}
    for f in spec.files:
        digest = sha256_of(folder / f.name)
        if f.sha256 is None:
            _check_recorded(spec, f, folder, digest, given_path)
            out[f.name] = digest
            continue
        if not f.accepts(digest) and given_path:
            raise UserError(
                f"checksum mismatch for {folder / f.name} (data.path): sha256 {digest[:12]}…, the registered "
                f"'{spec.name}' file has {f.sha256[:12]}…; if it is other data, set data.format: {spec.format} beside "
                f"data.path to read it as a new dataset of your own; if it is a damaged copy, `deepstudy data fetch "
                f"{spec.name}` downloads the registered one into the data directory (your folder is left alone)")
        if not f.accepts(digest):
            raise UserError(f"checksum mismatch for {folder / f.name}: expected sha256 {f.sha256[:12]}…, "
                            f"got {digest[:12]}…; the file is damaged or another version — delete it and run "
                            f"`deepstudy data fetch {spec.name}`")
        out[f.name] = digest
    return out


# a published file's other digests (a pinned commit's git blob id, an MD5), checked where no sha256 is published
def git_blob_id(path: Path) -> str:
    """The id git gives a file's contents (what a pinned commit serves): SHA-1 of b"blob <size>\\0" + the bytes."""
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode("ascii"))
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def md5_of(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)  # a published digest to compare with, not a security primitive alone
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def published_mismatch(path: Path, git_blob: str | None, md5: str | None) -> str:
    """'' when ``path`` matches each published digest given (the git blob id, the MD5), else which one differs."""
    for kind, expected, actual in (("git blob id", git_blob, git_blob_id), ("md5", md5, md5_of)):
        if expected is not None and (got := actual(path)) != expected.lower():
            return f"{kind} {got[:12]}…, expected {expected[:12]}…"
    return ""
