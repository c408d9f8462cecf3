"""The single-writer lock of a run store: an OS file lock that dies with its process."""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

from .errors import StoreLockedError

__all__ = ["LOCK_NAME", "WriterLock"]

LOCK_NAME = ".writer.lock"


class WriterLock:
    """An exclusive advisory lock (flock) on ``run.zarr/.writer.lock``.

    The operating system drops it when the process ends, however it ends, so a
    killed writer never leaves the store locked.
    """

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise StoreLockedError(
                f"{self.path.parent} is being written by {holder}; only one writer at a time. "
                f"Readers (watch, analyze) work meanwhile."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.ctime()}".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
