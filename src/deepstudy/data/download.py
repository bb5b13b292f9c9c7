"""Downloads: stream to a temporary file, verify sha256, then rename. Mirrors tried in order.

A dataset whose files have no URL of their own is made from its published archive (``DatasetSpec.made_from``, or a
file's own ``FileSpec.made_from`` where a dataset has several): downloaded into a work folder beside the dataset's,
checked against the published digests, extracted safely (``data/archives.py``), converted (``data/convert.py``), and
each made file is checked against the registry's sha256 before it is moved into place. A file with no published
sha256 (AG News's train split) is trusted on first verified fetch: its download must match every published digest
(git blob id, MD5), and the sha256 of the file made from it is recorded beside it (``registry.record_sha256``) and
checked on every later load.

Bounded on every side, so a wrong or hostile server cannot fill the disk or hang a run: a file never grows past its
expected size (the registry knows it), a transfer slower than MIN_RATE on average (after a grace period) or longer
than its deadline is abandoned, and the free disk space is checked before the first byte.
"""
from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from deepstudy.data import convert, registry
from deepstudy.data.archives import safe_extract
from deepstudy.data.checksums import published_mismatch
from deepstudy.data.published import digests_in_words
from deepstudy.data.published import Archive
from deepstudy.data.registry import DatasetSpec, FileSpec, sha256_of
from deepstudy.errors import UserError


class DownloadError(Exception):
    pass


MIN_RATE = 16 * 1024  # bytes/s averaged over the transfer; slower than a poor mobile link means something is wrong
GRACE = 20.0  # seconds before the average rate is judged (a slow start, a redirect, a cold mirror)
UNKNOWN_SIZE_CAP = 4 << 30  # a file whose size the registry does not know never grows past 4 GiB


def deadline_for(size: int | None, timeout: float) -> float:
    """Seconds a whole transfer may take: the size at MIN_RATE, plus the connection timeout and the grace period."""
    return timeout + GRACE + (size if size else UNKNOWN_SIZE_CAP) / MIN_RATE


def download_file(url: str, dest: Path, sha256: str | None, *, timeout: float = 60.0, size: int | None = None,
                  min_rate: float | None = None, deadline: float | None = None,
                  on_progress: Callable[[int, int | None], None] | None = None,
                  git_blob: str | None = None, md5: str | None = None) -> None:
    """Fetch ``url`` into ``dest``; on any failure nothing is left at ``dest``.

    ``size``: the expected size in bytes (the registry's); the transfer stops as soon as the server sends more, or
    announces more. ``sha256`` None: no digest is known (the caller checks what is made from the file). ``git_blob``,
    ``md5``: published digests checked as well, where no sha256 is published (``Archive``). ``timeout``
    bounds each connect/read; ``min_rate`` (bytes/s, default MIN_RATE) the average
    rate after GRACE seconds; ``deadline`` (seconds, default ``deadline_for``) the whole transfer.
    """
    min_rate = MIN_RATE if min_rate is None else min_rate
    dest.parent.mkdir(parents=True, exist_ok=True)
    cap = size if size else UNKNOWN_SIZE_CAP
    free = shutil.disk_usage(dest.parent).free
    if size and free < size + (16 << 20):  # 16 MiB headroom for everything else writing there
        raise UserError(f"not enough disk space for {dest.name}: it needs {size / 2**20:.0f} MiB and {dest.parent} has "
                        f"{free / 2**20:.0f} MiB free; free some space or set DEEPSTUDY_DATA to a bigger disk")
    tmp = dest.with_name(f".{dest.name}.part-{os.getpid()}")
    try:
        started = time.monotonic()
        deadline = deadline_for(size, timeout) if deadline is None else deadline
        with urllib.request.urlopen(url, timeout=timeout) as response:
            total = response.headers.get("Content-Length")
            total = int(total) if total is not None else None
            if total is not None and total > cap:
                raise DownloadError(f"the server announces {total} bytes, more than the expected {cap}")
            h, got = hashlib.sha256(), 0
            with open(tmp, "wb") as f:
                while block := response.read(1 << 16):
                    got += len(block)
                    if got > cap:
                        raise DownloadError(f"the server sent more than the expected {cap} bytes")
                    f.write(block)
                    h.update(block)
                    if on_progress:
                        on_progress(got, total)
                    elapsed = time.monotonic() - started
                    if elapsed > deadline:
                        raise DownloadError(f"too slow: the transfer took longer than its {deadline:.0f} s deadline")
                    if elapsed > GRACE and got / elapsed < min_rate:
                        raise DownloadError(f"too slow ({got / elapsed / 1024:.1f} KiB/s on average, "
                                            f"below {min_rate / 1024:g} KiB/s; see --min-rate)")
        if total is not None and got != total:
            raise DownloadError(f"transfer interrupted: {got} of {total} bytes")
        # a full digest, or torch.hub's >= 8-hex prefix
        if sha256 is not None and (len(sha256) < 8 or not h.hexdigest().startswith(sha256)):
            raise DownloadError(f"checksum mismatch: expected sha256 {sha256[:12]}…, got {h.hexdigest()[:12]}…")
        if mismatch := published_mismatch(tmp, git_blob, md5):
            raise DownloadError(f"checksum mismatch: {mismatch}")
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            raise UserError(f"the disk filled up while downloading {dest.name} into {dest.parent} (nothing was kept); "
                            "free some space or set DEEPSTUDY_DATA to a bigger disk") from None
        raise DownloadError(f"{type(e).__name__}: {getattr(e, 'reason', e)}") from None
    except Exception as e:  # http.client.IncompleteRead and friends
        if isinstance(e, (DownloadError, UserError)):
            raise
        raise DownloadError(f"transfer interrupted ({type(e).__name__})") from None
    finally:
        tmp.unlink(missing_ok=True)


def fetch(spec: DatasetSpec, folder: Path, *, timeout: float = 60.0, min_rate: float | None = None,
          deadline: float | None = None, log: Callable[[str], None] = print,
          archive: Path | None = None) -> dict[str, str]:
    """Make ``folder`` hold every file of ``spec``, verified; returns {file: status}. ``min_rate``, ``deadline``: as
    for :func:`download_file` (per file). ``archive``: a local copy of a published file the dataset is made from
    (``spec.archives``; named as published where there are several), used instead of downloading it."""
    if not spec.files:
        log(f"{spec.name}: bundled with its package, nothing to fetch")
        return {}
    if archive is not None and not spec.archives:
        raise UserError(f"--from: {spec.name} is not made from a published archive; its files download one by one")
    local = None if archive is None else _given_archive(spec, Path(archive))
    limits = {"min_rate": min_rate, "deadline": deadline}
    status, to_make = {}, {}
    for f in spec.files:
        path = folder / f.name
        if path.is_file() and f.accepts(sha256_of(path), registry.recorded_sha256(folder, f)):
            status[f.name] = "present"
        elif not f.urls and spec.source_of(f) is None:
            raise UserError(f"{spec.name}: {f.name} has no published download URL; {spec.how_to_get}, and put it "
                            f"in {folder}/ (sha256 {f.sha256})")
        elif not f.urls:
            to_make.setdefault(spec.source_of(f), []).append(f)
    if to_make:  # first, so that a refused archive leaves the folder as it was
        status.update(_make(spec, to_make, folder, (local, archive), timeout, log, limits))
    for f in spec.files:
        if f.name not in status:
            status[f.name] = _fetch_one(spec, f, folder / f.name, timeout, log, **limits)
    return {f.name: status[f.name] for f in spec.files}


def _given_archive(spec: DatasetSpec, given: Path) -> Archive:
    """Which published file ``--from`` gives: the dataset's only one, else the one of the same name."""
    if len(spec.archives) == 1:
        return spec.archives[0]
    named = [a for a in spec.archives if a.name == given.name]
    if not named:
        raise UserError(f"--from {given}: {spec.name} is made from {' and '.join(a.name for a in spec.archives)}; "
                        "give one of them under its published name")
    return named[0]


def _fetch_one(spec: DatasetSpec, f: FileSpec, dest: Path, timeout: float, log: Callable[[str], None],
               **limits: float | None) -> str:
    _download_any(f"{spec.name}/{f.name}", f.urls, dest, f.sha256, f.size, timeout, log,
                  f"copy it to {dest}, or set DEEPSTUDY_DATA to a folder holding {spec.folder}/", **limits)
    return "downloaded"


def _download_any(what: str, urls: tuple[str, ...], dest: Path, sha256: str | None, size: int, timeout: float,
                  log: Callable[[str], None], then: str, *, git_blob: str | None = None, md5: str | None = None,
                  **limits: float | None) -> None:
    errors = []
    for url in urls:
        try:
            log(f"  fetching {url}")
            download_file(url, dest, sha256, timeout=timeout, size=size, git_blob=git_blob, md5=md5, **limits)
            return
        except DownloadError as e:
            errors.append(f"{url}: {e}")
    reasons = "; ".join(errors)
    offline = all(("URLError" in e or "gaierror" in e or "timed out" in e or "Connection" in e) for e in errors)
    digest = digests_in_words(sha256, git_blob, md5) or "no published sha256"
    advice = (f"this machine seems to be offline: on a machine with internet download {urls[0]} ({digest}) and {then}"
              if offline else "retry later, or copy a verified copy of the file there by hand")
    raise UserError(f"could not download {what} ({reasons}); {advice}")


def _make(spec: DatasetSpec, to_make: dict[Archive, list[FileSpec]], folder: Path,
          given: tuple[Archive | None, Path | None], timeout: float, log: Callable[[str], None],
          limits: dict) -> dict[str, str]:
    """Make the files of ``to_make`` from their published files in a work folder beside ``folder``; each is checked,
    and only when all are made are they moved in (with the sha256 recorded of those that have no published one).
    ``given``: (the archive ``--from`` gives, its local path)."""
    new_folders = [p for p in (folder, *folder.parents) if not p.exists()]  # removed again when nothing is made
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{spec.name}-fetch-", dir=folder.parent))
    try:
        ready, made = {}, {}
        for n, (src, files) in enumerate(to_make.items()):
            local = given[1] if src == given[0] else None
            ready.update(_made_from(spec, src, tuple(files), work / f"{n}", local, timeout, log, limits))
            made.update({f.name: (f, src) for f in files})
        folder.mkdir(parents=True, exist_ok=True)
        status = {}
        for name, data in ready.items():
            (work / name).write_bytes(data)
            os.replace(work / name, folder / name)
            f, src = made[name]
            status[name] = f"made from {src.name}"
            if f.sha256 is None:  # trust on first verified fetch: the download matched the published digests
                registry.record_sha256(folder, name, hashlib.sha256(data).hexdigest())
                status[name] += f" (its sha256 recorded in {name}{registry.RECORD}, checked on every load)"
        return status
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise UserError(f"the disk filled up while making {spec.name} in {folder.parent} (nothing was kept); "
                            "free some space or set DEEPSTUDY_DATA to a bigger disk") from None
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for p in new_folders:  # deepest first; a folder that now holds something stays
            if p.is_dir() and not any(p.iterdir()):
                p.rmdir()


def _made_from(spec: DatasetSpec, src: Archive, files: tuple[FileSpec, ...], work: Path, local: Path | None,
               timeout: float, log: Callable[[str], None], limits: dict) -> dict[str, bytes]:
    """{file name: bytes} of ``files``, made from ``src`` (downloaded, or copied from ``local``) in ``work``."""
    published = work / "published" / src.name
    published.parent.mkdir(parents=True)
    if local is None:
        _download_any(f"{spec.name}'s {src.name}", src.urls, published, src.sha256, src.max_bytes, timeout, log,
                      f"run `deepstudy data fetch {spec.name} --from {src.name}`", git_blob=src.git_blob,
                      md5=src.md5, **limits)
    else:
        _copy_local(spec, src, local.expanduser(), published)
    root = published.parent
    if src.max_members:  # an archive: extracted safely, only the members the converter reads
        log(f"  extracting {src.name}")
        root = work / "tree"
        safe_extract(published, root, max_total_bytes=src.max_unpacked, max_members=src.max_members,
                     keep=convert.keep(src.convert))
    contents = convert.CONVERTERS[src.convert](root)
    return {f.name: _checked(spec, src, f, contents) for f in files}


def _copy_local(spec: DatasetSpec, src: Archive, given: Path, dest: Path) -> None:
    if not given.is_file():
        raise UserError(f"--from {given}: no such file; give the path of a downloaded {src.name}")
    if given.stat().st_size > src.max_bytes:
        raise UserError(f"--from {given}: {given.stat().st_size} bytes, more than {src.name} can be "
                        f"({src.max_bytes}); it is another file")
    if src.sha256 and sha256_of(given) != src.sha256:
        raise UserError(f"--from {given}: sha256 {sha256_of(given)[:12]}…, not the published {src.name}'s "
                        f"{src.sha256[:12]}…; it is damaged or another version — download {src.urls[0]} again")
    if mismatch := published_mismatch(given, src.git_blob, src.md5):
        raise UserError(f"--from {given}: {mismatch} (the published {src.name}'s); it is damaged or another version "
                        f"— download {src.urls[0]} again")
    shutil.copyfile(given, dest)


def _checked(spec: DatasetSpec, src: Archive, f: FileSpec, contents: dict[str, bytes]) -> bytes:
    """The bytes of ``f`` from the converter's ``contents`` (gzipped when ``f`` is .gz), if its sha256 is accepted."""
    if f.name in contents:
        candidates = [contents[f.name]]
    elif f.name.endswith(".gz") and f.name[:-3] in contents:
        candidates = convert.gzip_candidates(contents[f.name[:-3]])
    else:
        raise UserError(f"{src.name} gave no {f.name}; it is not the published file — delete it and fetch again")
    if f.sha256 is None:  # no registered digest: the first conversion is recorded, once the download is vouched for
        if not src.verified:
            raise UserError(f"{spec.name}: {f.name} has no registered sha256 and {src.name} no published digest; "
                            f"nothing vouches for it — {spec.how_to_get}")
        return next(iter(candidates))
    digest = ""
    for data in candidates:
        digest = hashlib.sha256(data).hexdigest()
        if f.accepts(digest):
            return data
    raise UserError(f"{spec.name}: {f.name} made from {src.name} has sha256 {digest[:12]}…, not the registered "
                    f"{f.sha256[:12]}…; the published file differs from the one the registry was built from (a new "
                    f"version?) — {spec.how_to_get}, and put it in the {spec.folder}/ folder")
