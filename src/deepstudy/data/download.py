"""Downloads: stream to a temporary file, verify sha256, then rename. Mirrors tried in order.

Bounded on every side, so a wrong or hostile server cannot fill the disk or hang a run: a file never grows past its
expected size (the registry knows it), a transfer slower than MIN_RATE on average (after a grace period) or longer
than its deadline is abandoned, and the free disk space is checked before the first byte.
"""
from __future__ import annotations

import errno
import hashlib
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

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


def download_file(url: str, dest: Path, sha256: str, *, timeout: float = 60.0, size: int | None = None,
                  min_rate: float | None = None, deadline: float | None = None,
                  on_progress: Callable[[int, int | None], None] | None = None) -> None:
    """Fetch ``url`` into ``dest``; on any failure nothing is left at ``dest``.

    ``size``: the expected size in bytes (the registry's); the transfer stops as soon as the server sends more, or
    announces more. ``timeout`` bounds each connect/read; ``min_rate`` (bytes/s, default MIN_RATE) the average
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
        if len(sha256) < 8 or not h.hexdigest().startswith(sha256):  # a full digest, or torch.hub's >= 8-hex prefix
            raise DownloadError(f"checksum mismatch: expected sha256 {sha256[:12]}…, got {h.hexdigest()[:12]}…")
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
          deadline: float | None = None, log: Callable[[str], None] = print) -> dict[str, str]:
    """Make ``folder`` hold every file of ``spec``, verified; returns {file: status}. ``min_rate``, ``deadline``: as
    for :func:`download_file` (per file)."""
    if not spec.files:
        log(f"{spec.name}: bundled with its package, nothing to fetch")
        return {}
    status = {}
    for f in spec.files:
        dest = folder / f.name
        if dest.is_file() and sha256_of(dest) == f.sha256:
            status[f.name] = "present"
            continue
        if not f.urls:
            raise UserError(f"{spec.name}: {f.name} has no published download URL; {spec.how_to_get} "
                            f"and put it in {folder}/")
        status[f.name] = _fetch_one(spec, f, dest, timeout, log, min_rate=min_rate, deadline=deadline)
    return status


def _fetch_one(spec: DatasetSpec, f: FileSpec, dest: Path, timeout: float, log: Callable[[str], None],
               **limits: float | None) -> str:
    errors = []
    for url in f.urls:
        try:
            log(f"  fetching {url}")
            download_file(url, dest, f.sha256, timeout=timeout, size=f.size, **limits)
            return "downloaded"
        except DownloadError as e:
            errors.append(f"{url}: {e}")
    reasons = "; ".join(errors)
    offline = all(("URLError" in e or "gaierror" in e or "timed out" in e or "Connection" in e) for e in errors)
    advice = (f"this machine seems to be offline: on a machine with internet download {f.urls[0]} "
              f"(sha256 {f.sha256}) and copy it to {dest}, or set DEEPSTUDY_DATA to a folder holding {spec.folder}/"
              if offline else "retry later, or copy a verified copy of the file there by hand")
    raise UserError(f"could not download {spec.name}/{f.name} ({reasons}); {advice}")
