"""The replay pipeline: frames read on the caller's thread, labelled on a thread ahead of it, recorded behind."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from ..errors import StructureError
from ..states.labeller import EnvironmentLabeller
from ..units import LI
from .frames import Frame
from .monitor import LiveMonitor
from .worker import worker_start

__all__ = ["StageTimes", "can_pipeline", "run_pipeline"]

log = logging.getLogger(__name__)

#: Frames labelled ahead of the recorder when a pipeline is asked for: enough to keep the labeller busy through a
#: check, few enough to keep memory small (each waiting frame holds its labels and its Li environments). Not the
#: default of ``replay``: on CPUs the two threads share Python's GIL (graph building, the analysis) and OpenMP's
#: spinning threads, and ``benchmarks/bench_replay.py`` measured the pipeline slower than one thread on 2 cores.
DEPTH = 8


@dataclass
class StageTimes:
    """Seconds each stage of a replay spent working: reading frames (the caller's iterator), labelling them (the
    labeller thread) and recording them (counting, storing, checking, on the caller's thread), and the wall time.
    With a pipeline the wall time approaches the slowest stage; without one it is their sum."""

    read_s: float = 0.0
    label_s: float = 0.0
    record_s: float = 0.0
    wall_s: float = 0.0
    frames: int = 0

    def __str__(self) -> str:
        rate = self.frames / self.wall_s if self.wall_s else float("nan")
        return (f"{self.frames} frames in {self.wall_s:.2f} s ({rate:.1f} frames/s): reading {self.read_s:.2f} s, "
                f"labelling {self.label_s:.2f} s, recording {self.record_s:.2f} s")


def can_pipeline(monitor: LiveMonitor) -> bool:
    """A synchronous monitor with its state model (not warming up) whose labeller gives labels, fits and Li
    environments from one graph build (``StateModel.label_with_environments``)."""
    return (not monitor.asynchronous and monitor.warming is None
            and isinstance(monitor.state_model, EnvironmentLabeller))


def run_pipeline(monitor: LiveMonitor, frames: Iterable[Atoms], *, first_step: int, interval_steps: int,
                 times: StageTimes | None = None, depth: int = DEPTH) -> StageTimes:
    """Record ``frames`` (frame k at MD step ``first_step + k * interval_steps``) into ``monitor``, each labelled on
    a labeller thread up to ``depth`` frames ahead of the recording (1: no overlap, each frame labelled, then
    recorded; for measuring the stages). The store is the one a serial replay writes,
    byte for byte: the labels, fits and environments are the same numbers, recorded in the same order through
    ``LiveMonitor.record`` (the path Dask workers' labels take). Frames the store holds already are not labelled.
    Stops reading once the monitor stops (early stop); a failure in either thread is raised here."""
    times = times if times is not None else StageTimes()
    model, li = monitor.state_model, np.asarray(monitor.spec.li_indices)
    waiting: deque[tuple[int, Future]] = deque()

    def label(frame: Frame):
        start = time.perf_counter()
        atoms = frame.atoms()
        if not np.array_equal(np.flatnonzero(atoms.numbers == LI), li):
            raise StructureError(f"The frame at step {frame.step} has other Li atoms than the run's {li.size}; the "
                                 f"atoms of a run must not change.")
        result = model.label_with_environments(atoms)
        times.label_s += time.perf_counter() - start
        return (*result, frame.positions[li], frame.cell if np.all(frame.pbc) else None)

    def record_next() -> None:
        step, future = waiting.popleft()
        labels, fit, environments, positions, cell = future.result()
        start = time.perf_counter()
        monitor.record(step, labels, fit, environments, positions=positions, cell=cell)
        times.record_s += time.perf_counter() - start
        times.frames += 1

    began = time.perf_counter()
    last = monitor.last_step
    # the labeller's torch threads are the monitor's worker's (``threads``, default 1): two OpenMP pools of all
    # the cores, one per thread, spin against each other (measured 0.7x of one thread on 2 cores)
    with ThreadPoolExecutor(1, thread_name_prefix="getsei-label",
                            initializer=worker_start(monitor.settings.threads, 0)) as labeller:
        try:
            iterator, k = iter(frames), 0
            while monitor.stop_reason is None:
                start = time.perf_counter()
                atoms = next(iterator, None)
                times.read_s += time.perf_counter() - start
                if atoms is None:
                    break
                step = first_step + k * interval_steps
                k += 1
                if last is not None and step <= last:
                    continue  # committed already: skipped without labelling, as the serial replay skips it
                waiting.append((step, labeller.submit(label, Frame.capture(atoms, step))))
                if len(waiting) >= depth:
                    record_next()
            while waiting and monitor.stop_reason is None:
                record_next()
        finally:
            for _, future in waiting:
                future.cancel()
    times.wall_s += time.perf_counter() - began
    return times
