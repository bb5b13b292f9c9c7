"""Safe extraction of downloaded archives (tar, tar.gz, zip): nothing lands outside the destination, nothing bigger
than asked for.

A broken or hostile archive can name a member ``../x`` or ``/etc/x``, hold a link that points out of the destination,
or expand a few kilobytes into gigabytes (a zip bomb). Every member is checked before the first byte is written:
regular files and folders only (no links, devices or fifos), relative names without ``..``, each file once, at most
``max_members`` members whose sizes add up to at most ``max_total_bytes``, and (zip) no member compressed more than
MAX_RATIO times. What only writing reveals — a file where another member needs a folder, a corrupt compressed stream —
is refused as well, in the same one line (a full disk stays a disk-full error: the caller says so).
Extraction goes into a temporary folder beside ``dest`` that is renamed into place only when complete, so a refused
or interrupted archive leaves nothing behind.
"""
from __future__ import annotations

import errno
import os
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath, PureWindowsPath

from deepstudy.errors import UserError

_CLASH = (errno.EEXIST, errno.ENOTDIR, errno.EISDIR)  # a member's path runs into another member's file or folder
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


def _once(archive: Path, name: str, seen: set[tuple[str, ...]]) -> None:
    """A file member's name (``./a`` and ``a`` alike) not met before, and not the destination itself (``.``)."""
    parts = tuple(p for p in PurePosixPath(name).parts if p != ".")
    if not parts:
        raise _refuse(archive, f"member '{name}' is a file named as the destination folder itself")
    if parts in seen:
        raise _refuse(archive, f"member '{name}' appears more than once")
    seen.add(parts)


@contextmanager
def _writing(archive: Path, name: str) -> Iterator[None]:
    """Errors while member ``name`` is written, as the one-line refusal: a file where a folder must go (or the
    reverse), a corrupt compressed stream. A full disk (ENOSPC, EDQUOT) goes on up to its own handling."""
    try:
        yield
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise
        clash = ": a file where a folder is needed, or the reverse" if e.errno in _CLASH else ""
        raise _refuse(archive, f"member '{name}' cannot be written ({e.strerror or type(e).__name__}{clash})") from None
    except (zlib.error, EOFError, tarfile.TarError, zipfile.BadZipFile) as e:
        raise _refuse(archive, f"member '{name}' cannot be read ({type(e).__name__}: {e})") from None


def _count(archive: Path, members: int, total: int, max_members: int, max_total_bytes: int) -> None:
    if members > max_members:
        raise _refuse(archive, f"it has more than {max_members} members")
    if total > max_total_bytes:
        raise _refuse(archive, f"its members add up to more than {max_total_bytes} bytes uncompressed")


def _extract_tar(archive: Path, tmp: Path, max_total_bytes: int, max_members: int,
                 keep: Callable[[str], bool]) -> list[str]:
    chosen, total, seen = [], 0, set()
    with tarfile.open(archive, "r:*") as tf:
        for n, member in enumerate(tf, 1):  # headers only: the data is skipped, never written
            _check_name(archive, member.name)
            if not (member.isfile() or member.isdir()):
                kind = "a link" if member.issym() or member.islnk() else "not a regular file"
                raise _refuse(archive, f"member '{member.name}' is {kind}")
            if member.isfile():
                _once(archive, member.name, seen)
            total += member.size
            _count(archive, n, total, max_members, max_total_bytes)
            if member.isfile() and keep(member.name):
                chosen.append(member)
        _to_the_end(archive, tf)
        for member in chosen:  # each checked above; tarfile's 'data' filter (PEP 706) checks again where it exists
            with _writing(archive, member.name):
                if hasattr(tarfile, "data_filter"):
                    tf.extract(member, tmp, filter="data")
                else:  # pragma: no cover - Python < 3.11.4
                    tf.extract(member, tmp)
    return [m.name for m in chosen]


def _to_the_end(archive: Path, tf: tarfile.TarFile) -> None:
    """Read what follows the last header to the end of the file: a compressed tar's checksum (gzip's CRC) is checked
    only there. tarfile ends the archive quietly at the first unreadable header after the first, so a stream damaged
    midway would otherwise give fewer members and no error."""
    try:
        while tf.fileobj.read(1 << 20):
            pass
    except Exception as e:  # noqa: BLE001 — gzip.BadGzipFile, zlib.error, EOFError, bz2's OSError, lzma.LZMAError
        raise _refuse(archive, f"its compressed stream is corrupt ({type(e).__name__}: {e})") from None


def _extract_zip(archive: Path, tmp: Path, max_total_bytes: int, max_members: int,
                 keep: Callable[[str], bool]) -> list[str]:
    chosen, total, seen = [], 0, set()
    with zipfile.ZipFile(archive) as zf:
        for n, info in enumerate(zf.infolist(), 1):
            _check_name(archive, info.filename)
            kind = stat.S_IFMT(info.external_attr >> 16)  # the Unix file type, where the archiver recorded one
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise _refuse(archive, f"member '{info.filename}' is a link or not a regular file")
            if not info.is_dir():
                _once(archive, info.filename, seen)
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
            with _writing(archive, info.filename):
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "xb") as out:  # stops at the declared size, checks the CRC
                    while block := src.read(1 << 20):
                        written += len(block)
                        if written > max_total_bytes:
                            raise _refuse(archive, f"its members add up to more than {max_total_bytes} bytes")
                        out.write(block)
    return [info.filename for info in chosen]
