"""The live monitor: label Li atoms at MD frames, count, store, analyse, judge convergence, stop early."""

from __future__ import annotations

import atexit
import logging
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms, units
from threadpoolctl import ThreadpoolController

from ..errors import ParameterError, StoreError, StructureError
from ..store import RunSpec, RunStore
from ..units import LI, steps_to_ps
from ..analysis.convergence import ConvergenceCriteria, ConvergenceMonitor, explain, snapshot
from ..counting import committed_counter, recount
from .frames import Frame
from .worker import FrameWorker

__all__ = ["LiveMonitor", "attach", "committed_counter", "frames_from_ps", "recount", "replay"]  # recount helpers: aliases

log = logging.getLogger(__name__)

_BLAS = ThreadpoolController()


def frames_from_ps(lags_ps: Sequence[float], frame_dt_ps: float) -> tuple[int, ...]:
    """Lags in frames; each lag must be a positive whole multiple of the frame spacing."""
    lags = []
    for lag in lags_ps:
        ratio = float(lag) / frame_dt_ps
        if not lag > 0 or abs(ratio - round(ratio)) > 1e-6 * max(1.0, ratio):
            raise ParameterError(
                f"The 'lag_ps' parameter must be a positive multiple of the frame interval ({frame_dt_ps:g} ps). "
                f"Got {lag!r} instead."
            )
        lags.append(int(round(ratio)))
    if len(set(lags)) != len(lags) or not lags:
        raise ParameterError(f"The 'lags_ps' parameter must hold distinct lags. Got {tuple(lags_ps)!r}.")
    return tuple(lags)


class LiveMonitor:
    """Counts, stores and analyses the Li states of each observed frame; see ``attach`` and ``replay``.

    Every frame goes through one driver, ``_process``: label, count, buffer,
    then the one place that decides whether to flush, check or stop. With
    ``asynchronous=True`` that driver runs on a worker thread and the ASE
    observer only copies the frame (``Frame.capture``) and queues it.

    Attributes
    ----------
    latest : dict or None
        The last analysis snapshot (also in the store).
    converged : bool
    stop_reason : str or None
        "converged" once the run was stopped early; ``stop_explanation`` says why in words.
    store : RunStore
    """

    def __init__(self, state_model, store: RunStore, *, lag_index: int | None, source: tuple[int, ...] | None,
                 target: tuple[int, ...] | None, check_every: int, criteria: ConvergenceCriteria,
                 stop_when_stable: bool, asynchronous: bool = False, max_queue: int = 4, threads: int | None = 1,
                 flush_frames: int = 64, flush_seconds: float = 30.0, seed: int = 0,
                 on_check: Callable[[dict], None] | None = None) -> None:
        spec = store.spec
        self.state_model = state_model
        self.store = store
        self.spec = spec
        self._li_indices = np.asarray(spec.li_indices)
        self.lag_index = lag_index
        self.source, self.target = source, target
        self.check_every = check_every
        self.criteria = criteria
        self.stop_when_stable = stop_when_stable
        self.flush_frames = flush_frames
        self.flush_seconds = flush_seconds
        self.on_check = on_check
        self.stop_reason: str | None = None
        self.stop_explanation: str | None = None
        self._rng = np.random.default_rng(seed)
        self._dyn: weakref.ReferenceType | None = None
        self._step_offset = 0
        self._since_check = 0
        self._last_flush = time.monotonic()
        self._last_frame: Frame | None = None
        self.convergence = ConvergenceMonitor(criteria)
        self._restore()
        if store.mode == "a":
            store.set_analysis({"lag_ps": "auto" if lag_index is None else spec.lags_ps[lag_index],
                                "source": source, "target": target,
                                "check_every": check_every, "criteria": criteria.to_dict(),
                                "stop_when_stable": stop_when_stable})
        self._closed = False
        self._worker = (FrameWorker(self._process, max_queue=max_queue, on_start=_thread_limits(threads),
                                    on_error=self._commit_before_failure) if asynchronous else None)
        _close_at_exit(self)

    # ---------------------------------------------------------------- state
    def _restore(self) -> None:
        """Continue from what the store has committed; rebuild counts from states when they disagree."""
        n = self.store.committed_frames
        history = self.store.snapshots()
        self.convergence.restore(history)
        self.latest: dict | None = history[-1] if history else None
        self.last_step = int(self.store.steps()[-1]) if n else None
        self.counter, rebuilt = committed_counter(self.store)
        if n == 0:
            return
        if rebuilt:
            self.store.rewrite_counts(self.counter.counts(), self.counter.per_li_counts(), self._blocks(), n)
        log.info("Resuming %s at frame %d (step %d).", self.store.path, n, self.last_step)

    def _blocks(self) -> tuple[np.ndarray, int]:
        return self.counter.block_counts(), self.counter.block_frames

    @property
    def converged(self) -> bool:
        return self.convergence.converged

    @property
    def asynchronous(self) -> bool:
        return self._worker is not None

    @property
    def n_frames(self) -> int:
        return self.counter.n_frames

    # ---------------------------------------------------------------- the MD side
    def bind(self, dyn) -> None:
        """Observe ``dyn``: its step 0 is the store's last committed step (0 for a new store)."""
        self._dyn = weakref.ref(dyn)
        self._step_offset = self.last_step or 0
        self.timestep_check(dyn.dt / units.fs)

    def timestep_check(self, timestep_fs: float) -> None:
        if not np.isclose(timestep_fs, self.spec.timestep_fs, rtol=1e-9):
            raise ParameterError(f"The dynamics has a time step of {timestep_fs:g} fs but the store was made for "
                                 f"{self.spec.timestep_fs:g} fs.")

    def __call__(self) -> None:
        """ASE observer: hand the current frame of the bound dynamics over; end the run once converged."""
        dyn = self._dyn() if self._dyn is not None else None
        if dyn is None:
            return
        self.submit(Frame.capture(dyn.atoms, self._step_offset + dyn.nsteps))
        if self.stop_reason is not None and dyn.max_steps > dyn.nsteps:
            dyn.max_steps = dyn.nsteps  # ends ASE's run() cleanly after this step
            step = self._step_offset + dyn.nsteps
            log.warning("getsei-live: stopping the MD early at step %d (%.2f ps); %s.",
                        step, steps_to_ps(step, self.spec.timestep_fs), self.stop_explanation)

    def submit(self, frame: Frame) -> None:
        """Process ``frame`` now (synchronous) or queue it for the worker (asynchronous)."""
        if self._closed:
            raise StoreError(f"The monitor of {self.store.path} is closed.")
        if self._worker is None:
            self._process(frame)
        else:
            self._worker.put(frame)

    def observe(self, atoms: Atoms, step: int) -> bool:
        """Label, count and store one frame at absolute MD ``step`` on this thread; False when the step was seen
        already. (With an asynchronous monitor use ``submit``.)"""
        if self._worker is not None:
            raise ParameterError("observe() labels on the calling thread; an asynchronous monitor takes frames "
                                 "through submit().")
        return self._process(Frame.capture(atoms, step))

    def wait(self) -> None:
        """Return when every frame submitted so far is processed (at once when synchronous)."""
        if self._worker is not None:
            self._worker.join()

    # ---------------------------------------------------------------- the driver
    def _accept(self, frame: Frame) -> bool:
        step = frame.step
        if self.last_step is not None and step <= self.last_step:
            log.debug("Step %d is already in the store (last %d); not counted again.", step, self.last_step)
            return False
        if self.last_step is not None and step - self.last_step != self.spec.interval:
            raise ParameterError(f"Frames must be {self.spec.interval} MD steps apart; got step {step} after "
                                 f"{self.last_step}.")
        li = np.flatnonzero(frame.numbers == LI)
        if li.size != self.spec.n_li or not np.array_equal(li, self._li_indices):
            raise StructureError(f"The frame at step {step} has {li.size} Li atoms at other indices than the run's "
                                 f"{self.spec.n_li}; the atoms of a run must not change.")
        return True

    def _process(self, frame: Frame) -> bool:
        """Label, count and buffer one frame, then flush, check or stop as due; False for a frame seen already."""
        if not self._accept(frame):
            return False
        with _BLAS.limit(limits=1, user_api="blas"):
            labels = self.state_model.assign(frame.atoms())
        self.counter.update(labels)
        self.store.append(frame.step, steps_to_ps(frame.step, self.spec.timestep_fs), labels)
        self.last_step = frame.step
        self._last_frame = frame
        self._since_check += 1
        if self._since_check >= self.check_every:
            self.check()
        elif (self.store.pending_frames >= self.flush_frames
              or time.monotonic() - self._last_flush > self.flush_seconds):
            self.flush()
        if self.stop_when_stable and self.converged and self.stop_reason is None:
            self.stop_reason = "converged"
            self.stop_explanation = explain(self.latest) if self.latest is not None else "converged"
            self._finish("stopped", self.stop_explanation)
        return True

    def flush(self) -> None:
        if self.store.pending_frames:
            checkpoint = self._last_frame.checkpoint() if self._last_frame is not None else None
            self.store.flush(self.counter.counts(), self.counter.per_li_counts(), self._blocks(),
                             checkpoint=checkpoint)
        self._last_flush = time.monotonic()

    def check(self, *, only_if_new: bool = False) -> dict | None:
        """Flush, take an analysis snapshot, judge it, store it; returns it (None while there is too little data,
        or with ``only_if_new`` when no frame came since the last check)."""
        if only_if_new and not self._since_check:
            return None
        self._since_check = 0
        self.flush()
        counts = self.counter.counts()
        if counts[0 if self.lag_index is None else self.lag_index].sum() == 0:
            return None
        with _BLAS.limit(limits=1, user_api="blas"):
            snap = snapshot(counts, self.counter.per_li_counts(), self.counter.block_counts(),
                            lags_ps=self.spec.lags_ps, lag_index=self.lag_index, source=self.source,
                            target=self.target, criteria=self.criteria, rng=self._rng,
                            block_ps=self.counter.block_frames * self.spec.frame_dt_ps)
        n = self.counter.n_frames
        snap = {"frame": n, "step": self.last_step, "time_ps": steps_to_ps(self.last_step, self.spec.timestep_fs),
                **self.convergence.judge(snap)}
        self.store.add_snapshot(snap)
        self.latest = snap
        log.info("frame %d (%.1f ps): %s", n, snap["time_ps"], explain(snap))
        if self.on_check is not None:
            self.on_check(snap)
        return snap

    def _commit_before_failure(self, error: BaseException) -> None:
        """On the worker, after a failure: commit the frames before it, as the synchronous path does."""
        log.error("getsei-live: the analysis failed at a frame after step %s (%s: %s); the frames before it are "
                  "committed.", self.last_step, type(error).__name__, error)
        if self.store.writable:
            self.flush()

    def _finish(self, status: str, reason: str | None) -> None:
        self.flush()
        self.store.set_status(status, reason)

    # ---------------------------------------------------------------- closing
    def close(self, status: str = "finished", reason: str | None = None) -> None:
        """Process what is queued, write what is buffered, record the final status, release the store.

        Raises a worker failure not yet raised. Safe to call twice.
        """
        if self._closed:
            return
        self._closed = True
        failure = self._worker.close() if self._worker is not None else None
        if failure is not None and status == "finished":
            status, reason = "interrupted", f"{type(failure).__name__}: {failure}"
        try:
            if self.store.writable:
                if self.stop_reason is None:
                    self._finish(status, reason)
                else:
                    self.flush()
        finally:
            self.store.close()
        if failure is not None:
            raise failure

    def __enter__(self) -> LiveMonitor:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.close("interrupted", f"{exc_type.__name__}: {exc}")


def _close_at_exit(monitor: LiveMonitor) -> None:
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


def _thread_limits(threads: int | None) -> Callable[[], None] | None:
    """Set the worker thread's own torch thread count (OpenMP's is per thread); the MD keeps its own."""
    if threads is None:
        return None

    def limit() -> None:
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.set_num_threads(int(threads))

    return limit


def _check_sampling(every: object, timestep_fs: object) -> None:
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ParameterError(f"The 'every' parameter must be a positive number of MD steps. Got {every!r} instead.")
    if not isinstance(timestep_fs, (int, float)) or not timestep_fs > 0:
        raise ParameterError(f"The time step must be positive. Got {timestep_fs!r} fs.")


def _open_store(store: str | Path | RunStore, spec: RunSpec, state_model, elements: list[str]) -> RunStore:
    if isinstance(store, RunStore):
        differences = spec.differences(store.spec)
        if differences:
            raise ParameterError("The store given belongs to another run: " + "; ".join(differences))
        return store
    path = Path(store)
    if path.exists():
        opened = RunStore.open(path, "a", spec=spec)
        opened.set_status("running", None)
        return opened
    config = {"fingerprint": state_model.fingerprint, "feature_schema": state_model.schema.to_dict(),
              "states": [s.to_dict() for s in state_model.states], "silhouette": state_model.silhouette}
    return RunStore.create(path, spec, state_model_config=config, elements=elements)


def _monitor(state_model, atoms: Atoms, store, *, timestep_fs: float, every: int, lags_ps: Sequence[float],
             lag_ps: float | None, source, target, check_every: int, criteria: ConvergenceCriteria | None,
             stop_when_stable: bool, **options) -> LiveMonitor:
    _check_sampling(every, timestep_fs)
    if isinstance(check_every, bool) or not isinstance(check_every, (int, np.integer)) or check_every < 1:
        raise ParameterError(f"The 'check_every' parameter must be a positive number of frames. Got {check_every!r}.")
    frame_dt_ps = every * timestep_fs / 1000.0
    lags = frames_from_ps(lags_ps, frame_dt_ps)
    lag_ps = max(lags_ps) if lag_ps is None else lag_ps
    if lag_ps == "auto":
        lag_index = None
    else:
        analysis_lag = frames_from_ps([lag_ps], frame_dt_ps)[0]
        if analysis_lag not in lags:
            raise ParameterError(f"The analysis lag ({lag_ps} ps) must be one of 'lags_ps' {tuple(lags_ps)}.")
        lag_index = lags.index(analysis_lag)
    state_model.builder.arrays(atoms)  # every structure problem surfaces here, before a store is touched
    li = np.flatnonzero(atoms.numbers == LI)
    spec = RunSpec(fingerprint=state_model.fingerprint, n_states=state_model.n_states, timestep_fs=float(timestep_fs),
                   interval=int(every), lags=lags, li_indices=tuple(li))
    opened = _open_store(store, spec, state_model, atoms.get_chemical_symbols())

    def as_set(states: int | Iterable[int] | None) -> tuple[int, ...] | None:
        if states is None:
            return None
        return (int(states),) if isinstance(states, (int, np.integer)) else tuple(int(s) for s in states)

    try:
        return LiveMonitor(state_model, opened, lag_index=lag_index, source=as_set(source),
                           target=as_set(target), check_every=int(check_every),
                           criteria=criteria or ConvergenceCriteria(), stop_when_stable=stop_when_stable, **options)
    except BaseException:
        opened.close()
        raise


def attach(dyn, state_model, store: str | Path | RunStore = "run.zarr", every: int = 50,
           lags_ps: Sequence[float] = (1.0, 2.0, 5.0, 10.0), *, lag_ps: float | str | None = None,
           source: int | Iterable[int] | None = None, target: int | Iterable[int] | None = None,
           check_every: int = 20, criteria: ConvergenceCriteria | None = None, stop_when_stable: bool = True,
           asynchronous: bool = True, **options) -> LiveMonitor:
    """Attach the live analysis to an ASE dynamics object; then run it as usual with ``dyn.run(n)``.

    Parameters
    ----------
    dyn : ase.md.md.MolecularDynamics
        Any ASE MD (Langevin, VelocityVerlet, NPT ...) with any calculator.
    state_model : StateModel
    store : path or RunStore, default "run.zarr"
        Created when missing; an existing store is resumed (its settings must match).
    every : int, default 50
        MD steps between observed frames.
    lags_ps : sequence of float
        Lag times in ps at which transitions are counted; each a multiple of
        the frame spacing ``every * timestep``.
    lag_ps : float or "auto", optional
        The lag of the rates and pathways; default the longest of ``lags_ps``.
        ``"auto"``: at each check, the shortest stored lag that passes the
        Markov test (implied-timescale plateau and Chapman-Kolmogorov).
    source, target : state(s), optional
        TPT sets; default the least and the most mobile state among those that
        hold a real share of the Li (``criteria.min_population``).
    check_every : int, default 20
        Frames between analysis snapshots.
    criteria : ConvergenceCriteria, optional
    stop_when_stable : bool, default True
        End ``dyn.run`` cleanly once converged. Asynchronous monitors end it
        at the first observation after the verdict (at most ``max_queue``
        frames later; those frames are stored too).
    asynchronous : bool, default True
        Label, count, store and analyse on a worker thread; the MD thread only
        copies the frame (tens of microseconds). False: all of it on the MD
        thread, between steps. Either way a failure (a broken structure, a full
        disk) is raised to the caller, at the next observation or at
        ``close()``, with the frames before it committed.
    **options
        ``max_queue`` (frames waiting for the worker before the MD waits, 4),
        ``threads`` (torch threads of the worker, 1; None leaves torch's),
        ``flush_frames`` (64), ``flush_seconds`` (30), ``seed``, ``on_check``.

    Returns
    -------
    LiveMonitor
    """
    monitor = _monitor(state_model, dyn.atoms, store, timestep_fs=dyn.dt / units.fs, every=every, lags_ps=lags_ps,
                       lag_ps=lag_ps, source=source, target=target, check_every=check_every, criteria=criteria,
                       stop_when_stable=stop_when_stable, asynchronous=asynchronous, **options)
    monitor.bind(dyn)
    dyn.attach(monitor, interval=every)
    return monitor


def replay(frames: Iterable[Atoms], state_model, store: str | Path | RunStore, *, timestep_fs: float, interval: int,
           lags_ps: Sequence[float], first_step: int = 0, **kwargs) -> LiveMonitor:
    """Feed a finished trajectory through the same observer: frame k is MD step ``first_step + k * interval``.

    Frames the store has committed already are skipped, so running it again
    after an interruption continues where the store ends. Returns the closed
    monitor (its ``latest`` snapshot and ``store`` path stay available).
    """
    _check_sampling(interval, timestep_fs)
    if isinstance(frames, Sequence):
        frame_dt_ps = interval * timestep_fs / 1000.0
        longest = max(frames_from_ps(lags_ps, frame_dt_ps))
        if longest >= len(frames):
            raise ParameterError(
                f"The longest lag ({longest * frame_dt_ps:g} ps) is not shorter than the trajectory "
                f"({len(frames)} frames, {(len(frames) - 1) * frame_dt_ps:g} ps): no transition could be counted."
            )
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise ParameterError("The trajectory has no frames to replay.")
    monitor = _monitor(state_model, first, store, timestep_fs=timestep_fs, every=interval, lags_ps=lags_ps,
                       stop_when_stable=kwargs.pop("stop_when_stable", False), lag_ps=kwargs.pop("lag_ps", None),
                       source=kwargs.pop("source", None), target=kwargs.pop("target", None),
                       check_every=kwargs.pop("check_every", 20), criteria=kwargs.pop("criteria", None), **kwargs)
    with monitor:
        monitor.submit(Frame.capture(first, first_step))
        for k, atoms in enumerate(iterator, start=1):
            if monitor.stop_reason is not None:
                break
            monitor.submit(Frame.capture(atoms, first_step + k * interval))
        monitor.check(only_if_new=True)
    return monitor
