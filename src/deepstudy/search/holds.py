"""Which process trains which trial of a search: file locks in the run directory (``search/``).

``ask.lock`` serializes asking Optuna for a trial (two workers never get the same one, the budget is never
exceeded); ``held/<k>.lock`` is held by the process training trial k for as long as it lives. The kernel drops
a dead process's locks, so a trial left RUNNING whose hold is free was trained by a worker that died (on Ray it
is claimed again and continues from its checkpoint); one whose hold is taken is being trained by a live one.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Holds:
    """The trials this process holds, in ``folder`` (a search's ``search/``)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._fds: dict[int, int] = {}  # trial number -> the fd of its hold lock

    def asking(self):
        """The ask lock: one process at a time asks Optuna for a trial (or claims a left-over one)."""
        return file_lock(self.folder / "ask.lock")

    def take(self, number: int) -> bool:
        """Trial ``number`` held by this process (True), or by another that lives (False). The file says who holds
        it (pid, host); it is never deleted, as another process may be opening it."""
        path = self.folder / "held" / f"{number:04d}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
        self._fds[number] = fd
        return True

    def release(self, number: int) -> None:
        """The hold on trial ``number`` dropped (it ended, or this worker stops)."""
        fd = self._fds.pop(number, None)
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created), waited for."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
