"""Safe extraction of downloaded archives (tar, tar.gz, zip): nothing lands outside the destination, nothing bigger
than asked for.

A broken or hostile archive can name a member ``../x`` or ``/etc/x``, hold a link that points out of the destination,
or expand a few kilobytes into gigabytes (a zip bomb). Every member is checked before the first byte is written:
regular files and folders only (no links, devices or fifos), relative names without ``..``, at most ``max_members``
members whose sizes add up to at most ``max_total_bytes``, and (zip) no member compressed more than MAX_RATIO times.
Extraction goes into a temporary folder beside ``dest`` that is renamed into place only when complete, so a refused
or interrupted archive leaves nothing behind.
"""
from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath

from deepstudy.errors import UserError

MAX_RATIO = 200  # text and tables deflate 3-20x; a run of zeros ~1000x: a member past this is a bomb, not data


def safe_extract(archive: Path, dest: Path, *, max_total_bytes: int, max_members: int,
                 keep: Callable[[str], bool] = lambda name: True) -> list[str]:
    """Extract the members of ``archive`` that ``keep`` selects (by their name) into ``dest`` (which must not exist);
    returns their names. Every member is checked, kept or not; a bad one raises UserError and nothing is written."""
    archive, dest = Path(archive), Path(dest)
    if dest.exists():
        raise UserError(f"cannot extract {archive.name} into {dest}: it exists already")
    tmp = dest.with_name(f".{dest.name}.part-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        if zipfile.is_zipfile(archive):
            names = _extract_zip(archive, tmp, max_total_bytes, max_members, keep)
        elif tarfile.is_tarfile(archive):
            names = _extract_tar(archive, tmp, max_total_bytes, max_members, keep)
        else:
            raise UserError(f"{archive.name} is neither a tar nor a zip archive; the download is damaged or another "
                            "file — delete it and fetch again")
        os.replace(tmp, dest)
        return names
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
        raise UserError(f"{archive.name} is a damaged archive ({type(e).__name__}: {e}); delete it and fetch "
                        "again") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _refuse(archive: Path, why: str) -> UserError:
    return UserError(f"refusing to extract {archive.name}: {why}; the archive is damaged or malicious, nothing was "
                     "extracted")


def _check_name(archive: Path, name: str) -> None:
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or name.startswith(("/", "\\")):
        raise _refuse(archive, f"member '{name}' has an absolute path")
    if ".." in posix.parts or ".." in windows.parts:
        raise _refuse(archive, f"member '{name}' climbs out of the destination ('..')")


def _count(archive: Path, members: int, total: int, max_members: int, max_total_bytes: int) -> None:
    if members > max_members:
        raise _refuse(archive, f"it has more than {max_members} members")
    if total > max_total_bytes:
        raise _refuse(archive, f"its members add up to more than {max_total_bytes} bytes uncompressed")


def _extract_tar(archive: Path, tmp: Path, max_total_bytes: int, max_members: int,
                 keep: Callable[[str], bool]) -> list[str]:
    chosen, total = [], 0
    with tarfile.open(archive, "r:*") as tf:
        for n, member in enumerate(tf, 1):  # headers only: the data is skipped, never written
            _check_name(archive, member.name)
            if not (member.isfile() or member.isdir()):
                kind = "a link" if member.issym() or member.islnk() else "not a regular file"
                raise _refuse(archive, f"member '{member.name}' is {kind}")
            total += member.size
            _count(archive, n, total, max_members, max_total_bytes)
            if member.isfile() and keep(member.name):
                chosen.append(member)
        for member in chosen:  # each checked above; tarfile's 'data' filter (PEP 706) checks again where it exists
            if hasattr(tarfile, "data_filter"):
                tf.extract(member, tmp, filter="data")
            else:  # pragma: no cover - Python < 3.11.4
                tf.extract(member, tmp)
    return [m.name for m in chosen]


def _extract_zip(archive: Path, tmp: Path, max_total_bytes: int, max_members: int,
                 keep: Callable[[str], bool]) -> list[str]:
    chosen, total = [], 0
    with zipfile.ZipFile(archive) as zf:
        for n, info in enumerate(zf.infolist(), 1):
            _check_name(archive, info.filename)
            kind = stat.S_IFMT(info.external_attr >> 16)  # the Unix file type, where the archiver recorded one
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise _refuse(archive, f"member '{info.filename}' is a link or not a regular file")
            total += info.file_size
            _count(archive, n, total, max_members, max_total_bytes)
            ratio = info.file_size // max(info.compress_size, 1)
            if ratio > MAX_RATIO and info.file_size > 1 << 20:  # small files may compress far (a run of spaces)
                raise _refuse(archive, f"member '{info.filename}' expands {ratio} times (a zip bomb?)")
            if not info.is_dir() and keep(info.filename):
                chosen.append(info)
        written = 0
        for info in chosen:
            target = tmp.joinpath(*PurePosixPath(info.filename).parts)
            if not target.resolve().is_relative_to(tmp.resolve()):
                raise _refuse(archive, f"member '{info.filename}' lands outside the destination")
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "xb") as out:  # zipfile stops at the declared size, checks CRC
                while block := src.read(1 << 20):
                    written += len(block)
                    if written > max_total_bytes:
                        raise _refuse(archive, f"its members add up to more than {max_total_bytes} bytes")
                    out.write(block)
    return [info.filename for info in chosen]
