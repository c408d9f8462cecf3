"""The single-writer lock of a run store: an OS lock on the store directory that dies with its process."""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import StoreLockedError

__all__ = ["LEGACY_HOLDER_FILE", "WriterLock", "holder"]

#: Where getsei-live before 0.2 wrote who held the lock, inside the store; zarr warns of it as a stray object when
#: it lists the store's members (xarray.open_datatree), so the next writer removes it.
LEGACY_HOLDER_FILE = ".writer.lock"


def holder() -> str:
    """Who this process is, for the message a refused second writer gets."""
    return f"pid {os.getpid()} on {socket.gethostname()} since {time.ctime()}"


class WriterLock:
    """An exclusive advisory lock (flock) on the store directory itself.

    The operating system drops it when the process ends, however it ends, so a
    killed writer never leaves the store locked. Nothing in the directory is the
    lock: who holds it is only information (``holder_of()`` reads what the store
    recorded, for the refusal's message) and editing it lets nobody in.
    """

    def __init__(self, root: Path, holder_of: Callable[[], str | None] | None = None) -> None:
        self.root = root
        self._holder_of = holder_of
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock; StoreLockedError, naming the holder where known, if another process holds it."""
        fd = os.open(self.root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            try:
                name = self._holder_of() if self._holder_of is not None else None
            except Exception:  # who holds it is information; a store being written may not say yet
                name = None
            raise StoreLockedError(
                f"{self.root} is being written by {name or 'another process'}; only one writer at a time. "
                f"Readers (watch, analyze) work meanwhile."
            ) from None
        self._fd = fd

    def still_names_it(self) -> bool:
        """Whether the store's path still names the directory this lock holds: a writer whose directory was moved
        or replaced under it (``mv run.zarr old.zarr && cp -r old.zarr run.zarr``) would write, by path, into a
        directory another writer may lock."""
        if self._fd is None:
            return False
        try:
            now, held = os.stat(self.root), os.fstat(self._fd)
        except OSError:
            return False
        return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
