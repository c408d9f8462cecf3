"""What every write of a run store goes through: the writer still holds the directory its path names, the first
write records the writer (and removes the lock file of stores before 0.2) and makes the space reserve, Ctrl-C and
SIGTERM wait until the write is done, a full disk becomes one clear error with the status recorded; and the removal of
a store whose creation failed."""

from __future__ import annotations

import contextlib
import errno
import functools
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StoreFullError, StoreMovedError
from .lock import LEGACY_HOLDER_FILE, holder
from .reserve import SpaceReserve

if TYPE_CHECKING:
    from .run_store import RunStore

__all__ = ["FULL", "remove_half_made", "writing"]


def remove_half_made(path: Path) -> None:
    """Remove a half-made store. zarr writes some files concurrently, and the writes still in flight when one failed
    finish afterwards (re-creating their folders), so remove until nothing comes back."""
    for _ in range(50):
        shutil.rmtree(path, ignore_errors=True)
        time.sleep(0.02)
        if not path.exists():
            return


#: What a full disk or quota raises from a write.
FULL = (errno.ENOSPC, errno.EDQUOT)

#: The signals that stop a run (Ctrl-C, a batch system's time limit): held back while the store is written.
STOPPING = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back until the block is done, then deliver them as they came.

    A signal's handler raises in the main thread wherever it is, also while it waits for zarr's I/O thread, whose
    write then lands after the exception: a commit interrupted so landed on disk while the writer believed it had
    not, and the writer's last flush counted those frames twice ("The counts cover 35 frames, not the 70 being
    committed", seen once in tests/cli/test_signals.py). Off the main thread (where no handler runs) nothing is held.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    # a handler set outside Python (getsignal gives None) could not be put back: such a signal is left as it is
    held = [number for number in STOPPING if signal.getsignal(number) is not None]
    previous = {number: signal.signal(number, lambda number, frame: came.append(number)) for number in held}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(came):
            # delivered to the handler as it was, before this returns (raise_signal runs the Python handler at once;
            # os.kill to the process may reach the handler only some bytecodes later): the stop follows the write
            signal.raise_signal(number)


def writing(method: Callable) -> Callable:
    """A full disk met by a write becomes a ``StoreFullError`` that says what is committed; the writer records the
    interruption in the store's status when that small write still fits."""

    @functools.wraps(method)
    def wrapper(self: RunStore, *args: Any, **kwargs: Any) -> Any:
        with signals_held():
            return _guarded(method, self, *args, **kwargs)

    return wrapper


def _guarded(method: Callable, self: RunStore, *args: Any, **kwargs: Any) -> Any:
    """``writing``'s checks around ``method(self, ...)``."""
    if self._lock is not None and not self._lock.still_names_it():
        raise StoreMovedError(f"{self.path} is no longer the directory this run locked: it was moved or "
                              f"replaced while the run wrote it. Stopping here, so as not to write into a "
                              f"directory another writer may hold; the frames committed before are in the "
                              f"moved directory.")
    try:
        if not self.wrote and self._lock is not None:  # who writes now goes to disk with the first write
            self._staged = {**(self._staged or {}), "writer": holder()}
            (self.path / LEGACY_HOLDER_FILE).unlink(missing_ok=True)
        if not self._reserved and self._lock is not None:  # room for the status on a full disk
            self._reserved = SpaceReserve(self.path).make()
        if self._staged:  # what a resume changes goes to disk with its first write, not before
            staged, self._staged = self._staged, None
            self._update_attrs(staged)
        self.wrote = True
        return method(self, *args, **kwargs)
    except BaseException as error:
        self._arrays.clear()  # zarr changes an array's metadata in memory before writing it: read them afresh
        if not isinstance(error, OSError) or error.errno not in FULL:
            raise
        committed = self._committed_on_disk()
        recorded = "; not even its status fitted on the disk (it still says running)"
        if method.__name__ != "set_status":
            try:
                SpaceReserve(self.path).release()  # the writer's reserve makes room for the status
                self.set_status("interrupted", f"the disk is full ({error.strerror})")
                recorded = "; the store says so in its status"
            except Exception:
                pass
        self._full = True
        raise StoreFullError(
            f"No space left for {self.path} ({error.strerror}): {committed} frames are committed and intact"
            f"{recorded}. Free some space and run the same command again to resume."
        ) from None
