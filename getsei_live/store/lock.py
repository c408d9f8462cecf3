"""The single-writer lock of a run store: an OS lock on the store directory that dies with its process."""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

from ..errors import StoreLockedError

__all__ = ["LOCK_NAME", "WriterLock"]

LOCK_NAME = ".writer.lock"


class WriterLock:
    """An exclusive advisory lock (flock) on the store directory itself, with ``run.zarr/.writer.lock`` saying who
    holds it.

    The operating system drops it when the process ends, however it ends, so a
    killed writer never leaves the store locked. The lock is on the directory,
    not on the file: deleting or replacing ``.writer.lock`` (it stays after every
    run and can look stale) does not let a second writer in.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, *, record: bool = True) -> None:
        """Take the lock (StoreLockedError if another process holds it); ``record``: say who holds it now (else
        with ``record_holder``, e.g. at the first write, so that a writer that writes nothing changes nothing)."""
        fd = os.open(self.root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            try:
                holder = self.path.read_text(errors="replace").strip()
            except OSError:
                holder = ""
            raise StoreLockedError(
                f"{self.root} is being written by {holder or 'another process'}; only one writer at a time. "
                f"Readers (watch, analyze) work meanwhile."
            ) from None
        self._fd = fd
        if record:
            self.record_holder()

    def record_holder(self) -> None:
        """Write who holds the lock into ``.writer.lock`` (information for a refused second writer)."""
        try:
            self.path.write_text(f"pid {os.getpid()} on {socket.gethostname()} since {time.ctime()}")
        except OSError:  # who holds it is information; the lock holds without it
            pass

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
