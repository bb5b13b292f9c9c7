"""Downloads: stream to a temporary file, verify sha256, then rename. Mirrors tried in order."""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from deepstudy.data.registry import DatasetSpec, FileSpec, sha256_of
from deepstudy.errors import UserError


class DownloadError(Exception):
    pass


def download_file(url: str, dest: Path, sha256: str, *, timeout: float = 60.0,
                  on_progress: Callable[[int, int | None], None] | None = None) -> None:
    """Fetch ``url`` into ``dest``; on any failure nothing is left at ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part-{os.getpid()}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            total = response.headers.get("Content-Length")
            total = int(total) if total is not None else None
            h, got = hashlib.sha256(), 0
            with open(tmp, "wb") as f:
                while block := response.read(1 << 16):
                    f.write(block)
                    h.update(block)
                    got += len(block)
                    if on_progress:
                        on_progress(got, total)
        if total is not None and got != total:
            raise DownloadError(f"transfer interrupted: {got} of {total} bytes")
        if len(sha256) < 8 or not h.hexdigest().startswith(sha256):  # a full digest, or torch.hub's >= 8-hex prefix
            raise DownloadError(f"checksum mismatch: expected sha256 {sha256[:12]}…, got {h.hexdigest()[:12]}…")
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        raise DownloadError(f"{type(e).__name__}: {getattr(e, 'reason', e)}") from None
    except Exception as e:  # http.client.IncompleteRead and friends
        if isinstance(e, DownloadError):
            raise
        raise DownloadError(f"transfer interrupted ({type(e).__name__})") from None
    finally:
        tmp.unlink(missing_ok=True)


def fetch(spec: DatasetSpec, folder: Path, *, timeout: float = 60.0,
          log: Callable[[str], None] = print) -> dict[str, str]:
    """Make ``folder`` hold every file of ``spec``, verified; returns {file: status}."""
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
        status[f.name] = _fetch_one(spec, f, dest, timeout, log)
    return status


def _fetch_one(spec: DatasetSpec, f: FileSpec, dest: Path, timeout: float, log: Callable[[str], None]) -> str:
    errors = []
    for url in f.urls:
        try:
            log(f"  fetching {url}")
            download_file(url, dest, f.sha256, timeout=timeout)
            return "downloaded"
        except DownloadError as e:
            errors.append(f"{url}: {e}")
    reasons = "; ".join(errors)
    offline = all(("URLError" in e or "gaierror" in e or "timed out" in e or "Connection" in e) for e in errors)
    advice = (f"this machine seems to be offline: on a machine with internet download {f.urls[0]} "
              f"(sha256 {f.sha256}) and copy it to {dest}, or set DEEPSTUDY_DATA to a folder holding {spec.folder}/"
              if offline else "retry later, or copy a verified copy of the file there by hand")
    raise UserError(f"could not download {spec.name}/{f.name} ({reasons}); {advice}")
