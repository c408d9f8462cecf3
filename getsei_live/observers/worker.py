"""A background thread that processes frames in order, with a bounded queue and errors that reach the caller."""

from __future__ import annotations

import atexit
import logging
import os
import queue
import sys
import threading
import time
import weakref
from collections.abc import Callable

__all__ = ["FrameWorker", "close_at_exit", "worker_start"]

log = logging.getLogger(__name__)

_STOP = object()


class FrameWorker:
    """Run ``process(item)`` for every item ``put``, in order, on one daemon thread.

    Parameters
    ----------
    process : callable(item)
    max_queue : int, default 4
        Items waiting at most; a ``put`` beyond that blocks until the worker
        catches up (back-pressure: the producer, the MD, waits rather than
        memory growing), and the log says so once.
    on_start : callable(), optional
        Run first on the worker thread (to set its thread pools).
    on_error : callable(exception), optional
        Run on the worker thread after ``process`` raised (to commit what came
        before); later items are dropped.

    The first exception of ``process`` is raised again, once, by the next
    ``put``, ``join`` or ``close`` on the caller's thread.
    """

    def __init__(self, process: Callable[[object], None], *, max_queue: int = 4, name: str = "getsei-live worker",
                 on_start: Callable[[], None] | None = None,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 1:
            raise ValueError(f"max_queue must be a positive number of items, not {max_queue!r}")
        self._process = process
        self._on_start = on_start
        self._on_error = on_error
        self._queue: queue.Queue = queue.Queue(max_queue)
        self._error: BaseException | None = None
        self._reported = False
        self._warned = False
        self.waited_s = 0.0  # total time producers were held up by a full queue
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        if self._on_start is not None:
            self._on_start()
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                if self._error is None:
                    self._process(item)
            except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
                self._error = error
                if self._on_error is not None:
                    try:
                        self._on_error(error)
                    except Exception:  # the first error is the one to report
                        log.exception("While handling a worker failure:")
            finally:
                self._queue.task_done()

    def raise_error(self) -> None:
        """Raise the worker's failure on this thread (once)."""
        if self._error is not None and not self._reported:
            self._reported = True
            raise self._error

    def put(self, item: object) -> None:
        self.raise_error()
        try:
            self._queue.put_nowait(item)
            return
        except queue.Full:
            pass
        if not self._warned:
            self._warned = True
            log.warning("getsei-live: the analysis is %d frames behind the MD, which now waits for it. Observe "
                        "less often (a larger 'interval_steps'), check less often, or label on a GPU.",
                        self._queue.maxsize)
        start = time.perf_counter()
        self._queue.put(item)
        self.waited_s += time.perf_counter() - start

    def join(self) -> None:
        """Wait until every item put so far is processed; raise the worker's failure if there was one."""
        self._queue.join()
        self.raise_error()

    def close(self) -> BaseException | None:
        """Process what is queued, stop the thread; returns a failure not yet raised (and marks it raised)."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        if self._error is not None and not self._reported:
            self._reported = True
            return self._error
        return None


def close_at_exit(monitor) -> None:
    """Close ``monitor`` when the interpreter exits, if the caller did not. Registered with threading's exit hooks,
    which run before the thread pools that zarr writes through shut down (``atexit`` runs after them)."""
    ref = weakref.ref(monitor)

    def close() -> None:
        alive = ref()
        if alive is not None and not alive._closed:
            alive.close()

    register = getattr(threading, "_register_atexit", None)
    try:
        (register or atexit.register)(close)
    except RuntimeError:  # the interpreter is shutting down already
        pass


def worker_start(threads: int | None, nice: int) -> Callable[[], None]:
    """Settings of the worker thread, made on it: its own torch thread count (OpenMP's is per thread; the MD keeps
    its own), and on Linux a lower scheduling priority, so that where the MD keeps every core busy (MACE on the CPU)
    the labelling takes the idle moments rather than a core from the MD's threads."""

    def start() -> None:
        torch = sys.modules.get("torch")
        if threads is not None and torch is not None:
            torch.set_num_threads(int(threads))
        if nice and sys.platform.startswith("linux"):
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + nice)
            except OSError:  # not permitted here: run at the MD's priority
                log.debug("Could not lower the worker thread's priority.")

    return start
