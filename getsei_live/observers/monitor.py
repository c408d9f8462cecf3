"""The live monitor: one driver that labels, counts and stores each frame and decides when to flush, check and stop,
on the MD thread or a worker."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from ase import Atoms, units

from ..analysis.records import Environments, Snapshot
from ..analysis.verdict import explain
from ..errors import ParameterError, StoreError, StructureError, failure_text
from ..states.labeller import EnvironmentLabeller, Labeller
from ..store.counts import committed_counter
from ..store.run_store import RunStore
from ..units import LI, steps_to_ps
from .analyst import Analyst
from .drift import DriftGuard
from .frames import CheckpointCapture, DynamicsBinding, Frame
from .settings import MonitorSettings
from .warmup import WarmupPlan, WarmupRecorder, train_on_warmup
from .worker import FrameWorker, close_at_exit, worker_start

__all__ = ["LiveMonitor"]

log = logging.getLogger(__name__)


def _cell(cell: np.ndarray, pbc) -> np.ndarray | None:
    """The cell for the minimum image of Li steps between frames; None unless periodic in all three directions."""
    return np.asarray(cell, dtype=float) if np.all(pbc) else None


class LiveMonitor:
    """Counts, stores and analyses the Li states of each observed frame; see ``attach`` and ``replay``.

    Every frame goes through one driver, as MDAnalysis's ``AnalysisBase.run``
    does: ``_process`` labels it, ``_record`` counts and buffers it and is the
    one place that decides to flush, check or stop. ``attach`` (the ASE observer,
    ``__call__``), ``replay`` and ``replay_distributed`` (``record``) all feed
    it. With ``asynchronous=True`` it runs on a worker thread and the ASE
    observer only copies the frame and queues it. Its parts, each with one job:
    ``DynamicsBinding`` (the ASE dynamics), ``WarmupRecorder`` (a run still
    training its state model), ``CheckpointCapture`` (the restart point),
    ``DriftGuard`` (how well the states fit), ``Analyst`` (the snapshot, the
    verdict and the companions), ``FrameWorker`` (the thread).

    Parameters
    ----------
    state_model : Labeller
    store : RunStore
    settings : MonitorSettings
        Every setting, as ``make_monitor`` resolves them (``MonitorSettings.resolved``).
    lag_index : int or None
        The analysis lag, an index into ``store.spec.lags_frames``; None: "auto".
    warmup : WarmupPlan, optional
        The warm-up of a run that trains its state model; a resumed run goes on in its warm-up or with the model
        it trained.

    Attributes
    ----------
    latest : Snapshot or None
        The last analysis snapshot (also in the store).
    converged : bool
    stop_reason : str or None
        "converged" once the run was stopped early; ``stop_explanation`` says why in words.
    store : RunStore
    companions : tuple of Path
        The other replicas' stores, read at every check (never written): the
        analysis, the verdict and the early stop are the ensemble's. A
        companion that does not exist yet joins once its run has committed frames.
    """

    def __init__(self, state_model: Labeller | None, store: RunStore, settings: MonitorSettings, *,
                 lag_index: int | None, warmup: WarmupPlan | None = None) -> None:
        self.store = store
        self.settings = settings
        self.lag_index = lag_index
        self.check_every_frames = settings.check_every_frames
        self.criteria = settings.criteria
        self.stop_when_stable = bool(settings.stop_when_stable)
        self.flush_frames = settings.flush_frames
        self.flush_seconds = settings.flush_seconds
        self.stop_reason: str | None = None
        self.stop_explanation: str | None = None
        #: The simulated time (ps) the run is planned to reach; None: that of the bound dynamics' ``run``.
        self.budget_ps: float | None = None
        self._warned_budget, self._beyond = False, 0
        self._binding: DynamicsBinding | None = None
        self._since_check = 0
        self._last_flush = time.monotonic()
        self.checkpoints = CheckpointCapture()
        self.warmup = warmup
        self.analyst: Analyst | None = None
        self.state_model, self.spec, self.counter, self.warming = None, None, None, None
        if store.spec is None:  # warming up: the state model comes from these frames
            if warmup is None:
                raise ParameterError(f"{store.path} is warming up; resume it with state_model=None and its warm-up.")
            self.warming = WarmupRecorder(store, warmup)
            self.last_step = self.warming.last_step
        else:
            self._go_live(state_model)
        self._closed = False
        self._closers: list = []  # what closes with the monitor (the MD's trajectory and log)
        self._worker = (FrameWorker(self._process, max_queue=settings.max_queue,
                                    on_start=worker_start(settings.threads, settings.nice),
                                    on_error=self._commit_before_failure) if settings.asynchronous else None)
        close_at_exit(self)

    def _go_live(self, state_model: Labeller) -> None:
        """Label from now on with ``state_model``: restore what the store committed, then record the warm-up frames
        of a model trained in the run that are not recorded yet."""
        self.state_model = state_model
        self.spec = spec = self.store.spec
        self.warming = None
        self._li_indices = np.asarray(spec.li_indices)
        self.drift = DriftGuard.of(state_model, self.criteria)
        settings = self.settings
        self.analyst = Analyst(self.store, lag_index=self.lag_index, source=settings.source, target=settings.target,
                               criteria=settings.criteria, drift=self.drift, companions=settings.companions,
                               seed=settings.seed, on_check=settings.on_check,
                               check_every_frames=self.check_every_frames)
        # counts rebuilt from states reach the disk with the next flush (which writes the whole tally and its
        # digest), so a refused resume changes nothing
        self.counter, _ = committed_counter(self.store)
        n = self.store.committed_frames
        self.last_step = int(self.store.steps()[-1]) if n else None
        if n:
            log.info("Resuming %s at frame %d (step %d).", self.store.path, n, self.last_step)
        if self.store.mode == "a":
            lag_index = self.lag_index
            self.store.stage({"analysis": {"lag_ps": "auto" if lag_index is None else spec.lags_ps[lag_index],
                                     "source": self.settings.source, "target": self.settings.target,
                                     "check_every_frames": self.check_every_frames, "criteria": self.criteria.to_dict(),
                                     "stop_when_stable": self.stop_when_stable}})
        if self.store.warmup.committed and self.store.writable:
            for step, atoms in self.store.warmup.atoms():
                if self.last_step is None or step > self.last_step:
                    labels, log_likelihood = self._label(atoms)
                    self._record(step, labels, None, log_likelihood,
                                 positions=atoms.positions[self._li_indices], cell=_cell(atoms.cell.array, atoms.pbc))

    # ---------------------------------------------------------------- what the parts know
    @property
    def latest(self) -> Snapshot | None:
        return self.analyst.latest if self.analyst is not None else None

    @property
    def converged(self) -> bool:
        return self.analyst is not None and self.analyst.converged

    @property
    def companions(self) -> tuple[Path, ...]:
        return self.analyst.companions if self.analyst is not None else ()

    @property
    def asynchronous(self) -> bool:
        return self._worker is not None

    @property
    def n_frames(self) -> int:
        """Frames labelled (while warming up: frames kept)."""
        return self.warming.n_frames if self.warming is not None else self.counter.n_frames

    # ---------------------------------------------------------------- the MD side
    def bind(self, dyn) -> None:
        """Observe ``dyn``: its step 0 is the store's last committed step (0 for a new store)."""
        self.timestep_check(dyn.dt / units.fs)
        self._binding = DynamicsBinding(dyn, self.last_step or 0)

    def timestep_check(self, timestep_fs: float) -> None:
        expected = (self.spec or self.warmup).timestep_fs
        if not np.isclose(timestep_fs, expected, rtol=1e-9):
            raise ParameterError(f"The dynamics has a time step of {timestep_fs:g} fs but the store was made for "
                                 f"{expected:g} fs.")

    def __call__(self) -> None:
        """ASE observer: hand the current frame of the bound dynamics over; end the run once converged."""
        frame = self._binding.capture() if self._binding is not None else None
        if frame is None:
            return
        self.submit(frame)
        if self.stop_reason is not None and (step := self._binding.stop()) is not None:
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
    def _accept(self, step: int) -> bool:
        if self.last_step is not None and step <= self.last_step:
            log.debug("Step %d is already in the store (last %d); not counted again.", step, self.last_step)
            return False
        if self.last_step is not None and step - self.last_step != self.spec.interval_steps:
            raise ParameterError(f"Frames must be {self.spec.interval_steps} MD steps apart; got step {step} after "
                                 f"{self.last_step}.")
        return True

    def _check_atoms(self, frame: Frame) -> None:
        li = np.flatnonzero(frame.numbers == LI)
        if li.size != self.spec.n_li or not np.array_equal(li, self._li_indices):
            raise StructureError(f"The frame at step {frame.step} has {li.size} Li atoms at other indices than the "
                                 f"run's {self.spec.n_li}; the atoms of a run must not change.")

    def _process(self, frame: Frame) -> bool:
        """Label one frame and record it (keep it, while warming up); False for a frame seen already."""
        if self.warming is not None:
            return self._warm(frame)
        if not self._accept(frame.step):
            return False
        self._check_atoms(frame)
        labels, log_likelihood = self._label(frame.atoms())  # torch, the worker's threads
        return self._record(frame.step, labels, frame, log_likelihood, positions=frame.positions[self._li_indices],
                            cell=_cell(frame.cell, frame.pbc))

    def record(self, step: int, labels: np.ndarray, log_likelihood: np.ndarray | None = None,
               environments: Mapping | None = None, *, positions: np.ndarray | None = None,
               cell: np.ndarray | None = None) -> bool:
        """Record the labels (and the state model's log-likelihoods, the Li environments of each state, as
        ``StateModel.environments`` gives them, and the Li positions (n_li, 3) with the periodic cell, or None) of
        the frame at absolute MD ``step`` that were assigned elsewhere (by Dask workers in
        ``replay_distributed``), on this thread; False when the step was seen already. No checkpoint is kept; a
        frame without positions ends the run's transport analysis."""
        labels = np.asarray(labels)
        n = self.spec.n_states
        if labels.shape != (self.spec.n_li,) or labels.min(initial=0) < 0 or labels.max(initial=0) >= n:
            raise ParameterError(f"Expected {self.spec.n_li} labels in [0, {self.spec.n_states}) for step {step}. "
                                 f"Got shape {labels.shape}.")
        if not self._accept(step):
            return False
        self.drift.observe(log_likelihood)
        return self._record(step, labels, None, log_likelihood, environments, positions=positions, cell=cell)

    def _record(self, step: int, labels: np.ndarray, frame: Frame | None,
                log_likelihood: np.ndarray | None = None, environments: Mapping | None = None, *,
                positions: np.ndarray | None = None, cell: np.ndarray | None = None) -> bool:
        """Count and buffer one labelled frame, then the one place that decides to flush, check or stop."""
        unwrapped = self.counter.update(labels, positions, cell)
        self.store.append(step, steps_to_ps(step, self.spec.timestep_fs), labels, log_likelihood,
                          None if unwrapped is None else unwrapped[0])
        self.last_step = step
        self.checkpoints.keep(frame)
        self._since_check += 1
        if self.counter.n_frames % self.check_every_frames == 0:  # at the same frames whatever the interruptions
            self.check(environments=self._environments(frame, labels, environments))
        elif self._flush_due(self.store.pending_frames):
            self.flush()
        if self.stop_when_stable and self.converged and self.stop_reason is None:
            self.stop_reason = "converged"
            self.stop_explanation = explain(self.latest) if self.latest is not None else "converged"
            self._finish("stopped", self.stop_explanation)
        return True

    def _label(self, atoms) -> tuple[np.ndarray, np.ndarray | None]:
        """The state model's labels of ``atoms`` and, for a ``FitLabeller`` (guarded), the log-likelihood of each Li
        environment, which the drift guard observes."""
        if not self.drift.guarded:
            return self.state_model.assign(atoms), None
        labels, log_likelihood = self.state_model.assign_with_fit(atoms)
        self.drift.observe(log_likelihood)
        return labels, log_likelihood

    def _environments(self, frame: Frame | None, labels: np.ndarray,
                      measured: Mapping | None) -> Environments | None:
        """The mean environment of each state's Li in the frame of a check: as measured elsewhere, or measured
        here where the labeller can say (an ``EnvironmentLabeller``)."""
        if measured is None and frame is not None and isinstance(self.state_model, EnvironmentLabeller):
            measured = self.state_model.environments(frame.atoms(), labels)
        return None if measured is None else Environments(**measured)

    def _flush_due(self, pending: int) -> bool:
        return pending >= self.flush_frames or time.monotonic() - self._last_flush > self.flush_seconds

    def _warm(self, frame: Frame) -> bool:
        """Keep a warm-up frame; once there are enough, train the state model on them and go live."""
        if not self.warming.keep(frame):
            return False
        self.last_step = frame.step
        self.checkpoints.keep(frame)
        done = self.warming.done
        if done or self._flush_due(self.warming.pending):
            self.flush()
        if done:
            self._go_live(train_on_warmup(self.store, self.warmup))
        return True

    def flush(self) -> None:
        """Commit what is buffered: frames (or warm-up frames), counts, the checkpoint."""
        if self.warming is not None:
            self.warming.flush()
        elif self.store.pending_frames:
            self.store.flush(self.counter.tally(), checkpoint=self.checkpoints.record())
        self._last_flush = time.monotonic()

    def check(self, *, only_if_new: bool = False, environments: Environments | None = None) -> Snapshot | None:
        """Flush, take an analysis snapshot, judge it, store it; returns it (None while there is too little data,
        or with ``only_if_new`` when no frame came since the last check). ``environments``: the Li environments of
        the frame checked, recorded with the snapshot."""
        if self.warming is not None:
            self.flush()
            return None
        if only_if_new and not self._since_check:
            return None
        self._since_check = 0
        self.flush()
        snap = self.analyst.check(self.counter, self.last_step, environments=environments)
        if snap is not None:
            self._warn_beyond_budget(snap)
        return snap

    def planned_ps(self) -> float | None:
        """The simulated time the run is planned to reach (``budget_ps``, else the bound dynamics' planned end)."""
        if self.budget_ps is not None:
            return self.budget_ps
        end = self._binding.planned_end() if self._binding is not None else None
        return None if end is None else steps_to_ps(end, self.spec.timestep_fs)

    def _warn_beyond_budget(self, snap: Snapshot) -> None:
        """One warning, once the forecast has passed the planned budget at ``patience`` checks in a row (one early
        check's forecast is too uncertain to warn of)."""
        ahead, budget = snap.forecast, self.planned_ps()
        beyond = (ahead is not None and budget is not None and not snap.converged
                  and not np.isnan(ahead.converged_ps) and ahead.converged_ps > budget)
        self._beyond = self._beyond + 1 if beyond else 0
        if self._warned_budget or self._beyond < self.criteria.patience:
            return
        self._warned_budget = True
        if ahead.finite:
            bounds = f" [{ahead.low_ps:.3g}, {ahead.high_ps:.3g}]" if np.isfinite(ahead.high_ps) else ""
            log.warning("getsei-live: at this rate the run converges at ~%.3g ps%s, beyond its budget of %.3g ps: "
                        "extend the run, add replicas (--companion) or run hotter.", ahead.converged_ps, bounds, budget)
        else:
            log.warning("getsei-live: the run is not forecast to converge within its budget of %.3g ps: %s.", budget,
                        ahead.reason)

    def _commit_before_failure(self, error: BaseException) -> None:
        """On the worker, after a failure: commit the frames before it, as the synchronous path does."""
        log.error("getsei-live: the analysis failed at a frame after step %s (%s: %s); the frames before it are "
                  "committed.", self.last_step, type(error).__name__, error)
        if self.store.writable:
            self.flush()

    def _finish(self, status: str, reason: str | None) -> None:
        self.flush()
        if self.store.wrote or (status == "finished" and self.store.status not in ("finished", "stopped")):
            self.store.set_status(status, reason)  # a refused resume, which wrote nothing, leaves the store as it was

    # ---------------------------------------------------------------- closing
    def close(self, status: str = "finished", reason: str | None = None) -> None:
        """Process what is queued, check the frames since the last check (a run that finished), write what is
        buffered, record the final status, release the store.

        Raises a worker failure not yet raised. Safe to call twice.
        """
        if self._closed:
            return
        self._closed = True
        failure = self._worker.close() if self._worker is not None else None
        if failure is not None and status == "finished":
            status, reason = "interrupted", failure_text(failure)
        try:
            if self.store.writable:
                if self.stop_reason is None:
                    if status == "finished" and self.warming is None and self.analyst is not None:
                        self.check(only_if_new=True)  # the last word of a run is a check of its last frame
                    self._finish(status, reason)
                else:
                    self.flush()
        finally:
            self.store.close()
            for closer in self._closers:
                closer()
        if failure is not None:
            raise failure

    def close_with(self, closer) -> None:
        """Call ``closer()`` when the monitor closes (after the store)."""
        self._closers.append(closer)

    def __enter__(self) -> LiveMonitor:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.close("interrupted", failure_text(exc if exc is not None else exc_type()))
