"""Replay on a Dask cluster: workers label chunks of frames in parallel; this process counts, stores and analyses
them, frame by frame in order, through the same driver as ``replay``.

Labelling is the work (graphs, encoder, mixture: tens of milliseconds a frame
on a core); counting and storing are microseconds. So the frames of every
trajectory are cut into chunks that Dask workers label, anywhere Dask runs,
and this process records each chunk's labels as soon as every chunk before it
(in that store) is in. The result is the serial replay's, byte for byte, in
``states``, counts and analysis snapshots. The stored per-Li log-likelihoods
agree to float32 rounding only: torch rounds the last bit of an embedding
differently with another thread count (a Dask task uses ``threads``, the serial
replay the caller's), so a state could differ only where an environment lies on
a tie between two states to that rounding.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
from ase import Atoms
from threadpoolctl import threadpool_limits

from ..errors import ParameterError, StructureError
from ..units import LI
from .live import check_sampling, make_monitor, replay_settings
from .monitor import LiveMonitor
from .settings import MonitorSettings

__all__ = ["WORKER_ENVIRONMENT", "local_cluster", "replay_distributed"]

#: Set in every worker process of a local cluster, on top of Dask's own ``distributed.nanny.pre-spawn-environ``.
#: Dask sets ``MALLOC_TRIM_THRESHOLD_`` for its workers, and glibc then stops raising its mmap threshold: every
#: array over 128 KiB (a frame's graphs, the encoder's activations) is mapped and unmapped afresh, page faults
#: and all, which made labelling 1.6-1.7x slower in a worker than in-process (0.92 against 0.56 s for 60 frames
#: of the 416-atom AIMD run, one thread each). A fixed 32 MiB mmap threshold gives the in-process speed back
#: and keeps Dask's trimming of the heap.
WORKER_ENVIRONMENT = {"MALLOC_MMAP_THRESHOLD_": 32 * 2**20}


def local_cluster(workers: int, *, profile: bool = False):
    """A local Dask cluster of ``workers`` single-threaded worker processes, with ``WORKER_ENVIRONMENT``.

    ``profile``: keep Dask's statistical profiler in the workers (for a performance report). It samples each
    worker's stack every 10 ms and took 10 % of the workers' CPU in labelling (2.9 against 2.6 CPU-s for 280 frames
    of the 416-atom AIMD run on 2 workers), so it is off by default."""
    import dask
    from dask.distributed import LocalCluster

    environ = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **WORKER_ENVIRONMENT}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ,
                          "distributed.worker.profile.enabled": bool(profile)}):
        # no dashboard; the scheduler's small HTTP server (health checks) on a free port, not on 8787, which
        # another cluster may hold
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                            scheduler_kwargs={"dashboard_address": ":0"}, silence_logs=logging.WARNING)

log = logging.getLogger(__name__)

_MODELS: dict = {}


def _state_model(path: str, device: str):
    """The state model, loaded once per worker process."""
    from ..states.model import StateModel

    key = (path, os.path.getmtime(path), device)
    if key not in _MODELS:
        _MODELS.clear()
        _MODELS[key] = StateModel.load(path, device=device)
    return _MODELS[key]


def _labelled(frames: Iterable[Atoms], model_path: str, device: str, threads: int | None, li_indices: np.ndarray,
              where: str, first: int) -> tuple[np.ndarray, np.ndarray, list[dict], np.ndarray, np.ndarray | None]:
    """(frames, n_li) int8 labels, float64 log-likelihoods, the Li environments of each state (one dict per
    frame, ``StateModel.environments``), the Li positions (frames, n_li, 3) and the cells (frames, 3, 3; None
    unless periodic) of ``frames``, frame ``first`` of ``where`` onwards; runs on a Dask worker."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    model = _state_model(model_path, device)
    frames = list(frames)
    labels = np.empty((len(frames), li_indices.size), dtype=np.int8)
    fit = np.empty((len(frames), li_indices.size))
    positions = np.empty((len(frames), li_indices.size, 3))
    cells = np.empty((len(frames), 3, 3))
    environments = []
    for k, atoms in enumerate(frames):
        if not np.array_equal(np.flatnonzero(atoms.numbers == LI), li_indices):
            raise StructureError(f"{where}: frame {first + k} has other Li atoms than the run's "
                                 f"{li_indices.size}; the atoms of a run must not change.")
        labels[k], fit[k], measured = model.label_with_environments(atoms)
        environments.append(measured)
        positions[k], cells[k] = atoms.positions[li_indices], atoms.cell.array
    periodic = all(np.all(atoms.pbc) for atoms in frames)
    return labels, fit, environments, positions, cells if periodic else None


def _label_file(path: str, file_format: str | None, *labelling) -> tuple:
    """``_labelled`` of every frame of one trajectory file, read on the worker."""
    from ..structures.trajectory import read_trajectory

    return _labelled(read_trajectory(path, format=file_format), *labelling, where=path, first=0)


def _label_frames(numbers: np.ndarray, cells: np.ndarray, positions: np.ndarray, pbc: np.ndarray, *labelling,
                  where: str, first: int) -> tuple:
    """``_labelled`` of frames sent as arrays (``cells`` (k, 3, 3), ``positions`` (k, n, 3)): a chunk of a file this
    process read once."""
    from ase import Atoms

    frames = (Atoms(numbers=numbers, positions=xyz, cell=cell, pbc=pbc) for cell, xyz in zip(cells, positions))
    return _labelled(frames, *labelling, where=where, first=first)


@contextmanager
def _dask_client(client, workers: int, scheduler: str | None):
    """``client`` as is; else a client of the cluster at ``scheduler`` or of a new local cluster of ``workers``
    processes, closed (with a cluster it made) on the way out."""
    if client is not None:
        yield client
        return
    from dask.distributed import Client

    if scheduler is not None:
        made = Client(scheduler)
    elif isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ParameterError.of("workers", f"must be a positive number of processes. Got {workers!r}.")
    else:
        made = Client(local_cluster(workers))
    try:
        yield made
    finally:
        cluster = made.cluster
        made.close()
        if cluster is not None and scheduler is None:
            cluster.close()


def _checked_jobs(jobs: Mapping[str | Path, Sequence[str | Path]], chunk_frames: int | None) -> dict[str, list[str]]:
    """The jobs as store -> trajectory paths, each store with at least one trajectory; a valid ``chunk_frames``."""
    if chunk_frames is not None and (isinstance(chunk_frames, bool) or not isinstance(chunk_frames, int)
                                     or chunk_frames < 1):
        raise ParameterError.of("chunk_frames", f"must be a positive integer. Got {chunk_frames!r}.")
    jobs = {str(store): [str(p) for p in paths] for store, paths in jobs.items()}
    if not jobs or any(not paths for paths in jobs.values()):
        raise ParameterError("Every store needs at least one trajectory to replay.")
    return jobs


def replay_distributed(jobs: Mapping[str | Path, Sequence[str | Path]], state_model: str | Path, *,
                       timestep_fs: float, interval_steps: int | None = None,
                       lags_ps: Sequence[float] | None = None, workers: int = 2, scheduler: str | None = None,
                       client=None, chunk_frames: int | None = 20, file_format: str | None = None,
                       device: str = "cpu", threads: int | None = 1, first_step: int = 0,
                       settings: MonitorSettings | None = None, **options) -> dict[str, LiveMonitor]:
    """Replay trajectories into stores, labelling on a Dask cluster; the serial ``replay``'s result.

    Parameters
    ----------
    jobs : mapping of store path -> sequence of trajectory paths
        Each store gets the frames of its trajectories, in order (frame k is
        MD step ``first_step + k * interval_steps``). One store per trajectory for
        replicas; several trajectories for one store to join the pieces of
        one run. Stores that exist are resumed after their committed frames.
    state_model : path
        A saved ``StateModel``: each worker loads it once.
    timestep_fs, interval_steps, lags_ps
        As for ``replay``.
    workers : int, default 2
        Processes of the local cluster made when neither ``scheduler`` nor ``client`` is given.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); its
        workers need getsei-live and access to the files.
    client : dask.distributed.Client, optional
        Use this client (and its cluster) as is.
    chunk_frames : int or None, default 20
        Frames per task: this process reads each file once (one at a time) and sends the workers chunks of frames,
        a few per worker ahead of the recording, so a few long files spread over many workers, the recording
        overlaps the labelling, and the workers need no access to the files. None (or 0): one task per trajectory
        file, read by its worker (the files must be where the workers are).
    file_format : str, optional
    device : str, default "cpu"
        Where workers label ("auto": CUDA where the worker sees it).
    threads : int or None, default 1
        torch threads per task (one per worker process is what a local cluster of N workers on N cores wants).
    settings, **options
        ``replay``'s: the fields of ``MonitorSettings`` (``lag_ps``, ``source``, ``target``,
        ``check_every_frames``, ``criteria``, ``stop_when_stable``, ``temperature_K``, ``seed``, ``on_check``, ...).
        The stores are written on this process, so ``asynchronous`` is always False here.

    Returns
    -------
    dict of store path -> LiveMonitor (closed)
    """
    from ..states.model import StateModel

    settings = dataclasses.replace(replay_settings(settings, options, interval_steps=interval_steps,
                                                   lags_ps=lags_ps), asynchronous=False)
    interval = settings.interval_steps
    check_sampling(interval, timestep_fs)
    chunk_frames = None if chunk_frames == 0 and not isinstance(chunk_frames, bool) else chunk_frames
    jobs = _checked_jobs(jobs, chunk_frames)
    model = StateModel.load(state_model, device="cpu")  # a bad file fails here, before a cluster starts
    model_path = str(Path(state_model).resolve())
    with _dask_client(client, workers, scheduler) as client, ExitStack() as stack:
        # the recording here shares the cores with the workers: one BLAS thread (a second one spins, 0.1 CPU-s)
        stack.enter_context(threadpool_limits(limits=1, user_api="blas"))
        monitors = _Monitors(stack, model, settings, timestep_fs)
        _run(client, jobs, monitors, model_path=model_path, chunk_frames=chunk_frames, file_format=file_format,
             device=device, threads=threads, interval=interval, first_step=first_step)
        for monitor in monitors.values():
            monitor.check(only_if_new=True)
    return dict(monitors)


class _Monitors(dict):
    """store -> its LiveMonitor, each made just after the first task of its store is out: the workers start
    labelling while this process opens the stores."""

    def __init__(self, stack: ExitStack, state_model, settings: MonitorSettings, timestep_fs: float):
        super().__init__()
        self._stack, self._model, self._settings, self._timestep_fs = stack, state_model, settings, timestep_fs

    def open(self, store: str, first: Atoms) -> LiveMonitor:
        """The monitor of ``store``, whose first frame is ``first``, made on first use (a store that exists must
        hold a run of the same Li atoms: ``make_monitor`` compares the specs)."""
        if store not in self:
            self[store] = self._stack.enter_context(make_monitor(self._model, first, store, self._settings,
                                                                 timestep_fs=self._timestep_fs, live=False))
        return self[store]

    def stopped(self, store: str) -> bool:
        return store in self and self[store].stop_reason is not None


def _tasks(client, jobs: dict[str, list[str]], monitors: _Monitors, *, chunk_frames: int | None,
           file_format: str | None, labelling: tuple):
    """(store, future) of every task, submitted as they are asked for: one per file (its worker reads it), or one
    per chunk of ``chunk_frames`` frames of a file this process reads once, one file at a time. A store's monitor
    is opened after its first task is submitted; a store that has stopped gets no more."""
    from ase.io import read

    from ..structures.trajectory import read_trajectory

    for store, paths in jobs.items():
        for path in paths:
            if monitors.stopped(store):
                break
            if chunk_frames is None:
                first = read(path, index=0, format=file_format)
                li = np.flatnonzero(first.numbers == LI)
                future = client.submit(_label_file, path, file_format, *labelling, li, pure=False)
                monitors.open(store, first)
                yield store, future
                continue
            frames = read_trajectory(path, format=file_format)
            li = np.flatnonzero(frames[0].numbers == LI)
            for start in range(0, len(frames), chunk_frames):
                chunk = frames[start:start + chunk_frames]
                if monitors.stopped(store):
                    break
                changed = next((start + k for k, a in enumerate(chunk) if not np.array_equal(a.numbers,
                                                                                           chunk[0].numbers)), None)
                if changed is not None:
                    raise StructureError(f"{path}: frame {changed} has other atoms than frame {start}; the atoms of "
                                         f"a run must not change.")
                future = client.submit(_label_frames, chunk[0].numbers, np.stack([a.cell.array for a in chunk]),
                                       np.stack([a.positions for a in chunk]), chunk[0].pbc, *labelling, li,
                                       where=path, first=start, pure=False)
                monitors.open(store, frames[0])
                yield store, future


def _run(client, jobs: dict[str, list[str]], monitors: _Monitors, *, model_path: str,
         chunk_frames: int | None, file_format: str | None, device: str, threads: int | None, interval: int,
         first_step: int) -> None:
    """Submit the tasks of every store, a few per worker ahead of the recording; record each store's chunks in
    order as they finish."""
    from dask.distributed import as_completed

    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    tasks = _tasks(client, jobs, monitors, chunk_frames=chunk_frames, file_format=file_format,
                   labelling=(model_path, device, threads))
    ahead = None if chunk_frames is None else 3 * n_workers  # chunks in flight: the workers never wait for them
    pending, plan, inflight, submitted = as_completed(), {}, {}, dict.fromkeys(jobs, 0)

    def submit(limit: int | None) -> None:
        while limit is None or pending.count() < limit:
            task = next(tasks, None)
            if task is None:
                return
            store, future = task
            plan[future.key], inflight[future.key] = (store, submitted[store]), future
            submitted[store] += 1
            pending.add(future)

    log.info("Labelling on %d Dask workers%s.", n_workers,
             "" if chunk_frames is None else f", chunks of {chunk_frames} frames read here")
    submit(ahead)
    waiting: dict[str, dict[int, tuple]] = {store: {} for store in jobs}
    following = dict.fromkeys(jobs, 0)
    frame = dict.fromkeys(jobs, 0)  # index of the next frame of each store, for its step
    for future in pending:
        store, k = plan.pop(future.key)
        del inflight[future.key]
        monitor = monitors[store]
        if monitor.stop_reason is None:  # stopped early: its remaining chunks are cancelled
            waiting[store][k] = future.result()
            while following[store] in waiting[store]:
                labels, fit, environments, positions, cells = waiting[store].pop(following[store])
                following[store] += 1
                for k, (row, row_fit, measured) in enumerate(zip(labels, fit, environments)):
                    if monitor.stop_reason is None:  # frames committed already are skipped by record
                        monitor.record(first_step + frame[store] * interval, row, row_fit, measured,
                                       positions=positions[k], cell=None if cells is None else cells[k])
                    frame[store] += 1
            if monitor.stop_reason is not None:
                client.cancel([f for key, f in inflight.items() if plan[key][0] == store])
        submit(ahead)
