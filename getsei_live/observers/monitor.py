"""The live monitor: one driver that labels, counts, stores and analyses each frame, on the MD thread or a worker."""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms, units
from threadpoolctl import ThreadpoolController

from ..analysis.convergence import ConvergenceCriteria, ConvergenceMonitor, explain, snapshot
from ..counting import committed_counter
from ..ensemble import Ensemble, RunCounts, ensemble_problems, run_counts
from ..errors import ParameterError, StoreError, StructureError
from ..labeller import Labeller
from ..store import RunStore
from ..units import LI, steps_to_ps
from .drift import DriftGuard
from .frames import Frame
from .warmup import WarmupPlan, train_on_warmup
from .worker import FrameWorker, close_at_exit, worker_start

__all__ = ["LiveMonitor"]

log = logging.getLogger(__name__)

_BLAS = ThreadpoolController()


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
    companions : tuple of Path
        The other replicas' stores, read at every check (never written): the
        analysis, the verdict and the early stop are the ensemble's. A
        companion that does not exist yet joins once its run has committed frames.
    """

    def __init__(self, state_model: Labeller, store: RunStore, *, lag_index: int | None, source: tuple[int, ...] | None,
                 target: tuple[int, ...] | None, check_every: int, criteria: ConvergenceCriteria,
                 stop_when_stable: bool, asynchronous: bool = False, max_queue: int = 4, threads: int | None = 1,
                 nice: int = 10, flush_frames: int = 64, flush_seconds: float = 30.0, seed: int = 0,
                 on_check: Callable[[dict], None] | None = None, companions: Sequence[str | Path] = (),
                 warmup: WarmupPlan | None = None) -> None:
        self.store = store
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
        self._companion_paths, self.warmup = companions, warmup
        self._warm_frames: list[Frame] = []  # warm-up frames not yet written
        if store.spec is None:  # warming up: the state model comes from these frames
            if warmup is None:
                raise ParameterError(f"{store.path} is warming up; resume it with state_model=None and its warm-up.")
            self.state_model, self.spec, self.counter, self.latest = None, None, None, None
            steps = store.warmup.steps()
            self.last_step = int(steps[-1]) if steps.size else None
            self._warm_committed = steps.size
        else:
            self._go_live(state_model)
        self._closed = False
        self._worker = (FrameWorker(self._process, max_queue=max_queue, on_start=worker_start(threads, nice),
                                    on_error=self._commit_before_failure) if asynchronous else None)
        close_at_exit(self)

    def _go_live(self, state_model: Labeller) -> None:
        """Label from now on with ``state_model``: restore what the store committed, then record the warm-up frames
        of a model trained in the run that are not recorded yet."""
        self.state_model = state_model
        self.spec = spec = self.store.spec
        self._li_indices = np.asarray(spec.li_indices)
        self.companions = self._check_companions(self._companion_paths)
        self.drift = DriftGuard.of(state_model, self.criteria)
        self._restore()
        if self.store.mode == "a":
            self.store.set_analysis({"lag_ps": "auto" if self.lag_index is None else spec.lags_ps[self.lag_index],
                                     "source": self.source, "target": self.target, "check_every": self.check_every,
                                     "criteria": self.criteria.to_dict(), "stop_when_stable": self.stop_when_stable})
        if self.store.warmup.committed and self.store.writable:
            last, frame = self.last_step, self._last_frame
            for step, atoms in self.store.warmup.atoms():
                if last is None or step > last:
                    labels, log_likelihood = self.drift.label(state_model, atoms)
                    self._record(step, labels, None, log_likelihood)
            self._last_frame = frame or self._last_frame

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

    def _check_companions(self, companions: Sequence[str | Path]) -> tuple[Path, ...]:
        paths = tuple(Path(p) for p in ([companions] if isinstance(companions, (str, Path)) else companions))
        for path in paths:
            if path.resolve() == Path(self.store.path).resolve():
                raise ParameterError(f"{path} is this run's own store; companions are the other replicas' stores.")
            if (path / "zarr.json").is_file():
                problems = ensemble_problems(self.spec, RunStore.open(path, "r").spec)
                if problems:
                    raise ParameterError(f"The companion {path} cannot join this run's ensemble: "
                                         + "; ".join(problems) + ".")
        return paths

    def _ensemble(self) -> Ensemble:
        """This run's counts and those its companions have committed so far."""
        own = RunCounts(str(self.store.path), self.spec, self.counter.counts(), self.counter.per_li_counts(),
                        self.counter.block_counts(), self.counter.block_frames, self.counter.n_frames, "running",
                        None, steps_to_ps(self.last_step or 0, self.spec.timestep_fs))
        others = []
        for path in self.companions:
            try:
                run = run_counts(path)
            except StoreError as error:  # not there yet, or being created
                log.debug("Companion %s is not readable yet: %s", path, error)
                continue
            if run.committed_frames:
                others.append(run)
        return Ensemble((own, *others))

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
        """Frames labelled (while warming up: frames kept)."""
        if self.counter is None:
            return self._warm_committed + len(self._warm_frames)
        return self.counter.n_frames

    # ---------------------------------------------------------------- the MD side
    def bind(self, dyn) -> None:
        """Observe ``dyn``: its step 0 is the store's last committed step (0 for a new store)."""
        self._dyn = weakref.ref(dyn)
        self._step_offset = self.last_step or 0
        self.timestep_check(dyn.dt / units.fs)

    def timestep_check(self, timestep_fs: float) -> None:
        expected = (self.spec or self.warmup).timestep_fs
        if not np.isclose(timestep_fs, expected, rtol=1e-9):
            raise ParameterError(f"The dynamics has a time step of {timestep_fs:g} fs but the store was made for "
                                 f"{expected:g} fs.")

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
    def _accept(self, step: int) -> bool:
        if self.last_step is not None and step <= self.last_step:
            log.debug("Step %d is already in the store (last %d); not counted again.", step, self.last_step)
            return False
        if self.last_step is not None and step - self.last_step != self.spec.interval:
            raise ParameterError(f"Frames must be {self.spec.interval} MD steps apart; got step {step} after "
                                 f"{self.last_step}.")
        return True

    def _check_atoms(self, frame: Frame) -> None:
        li = np.flatnonzero(frame.numbers == LI)
        if li.size != self.spec.n_li or not np.array_equal(li, self._li_indices):
            raise StructureError(f"The frame at step {frame.step} has {li.size} Li atoms at other indices than the "
                                 f"run's {self.spec.n_li}; the atoms of a run must not change.")

    def _process(self, frame: Frame) -> bool:
        """Label one frame and record it (keep it, while warming up); False for a frame seen already."""
        if self.spec is None:
            return self._warm(frame)
        if not self._accept(frame.step):
            return False
        self._check_atoms(frame)
        labels, log_likelihood = self.drift.label(self.state_model, frame.atoms())  # torch, the worker's threads
        return self._record(frame.step, labels, frame, log_likelihood)

    def record(self, step: int, labels: np.ndarray, log_likelihood: np.ndarray | None = None) -> bool:
        """Record the labels (and the state model's log-likelihoods) of the frame at absolute MD ``step`` that
        were assigned elsewhere (by Dask workers in ``replay_distributed``), on this thread; False when the step
        was seen already. No checkpoint is kept."""
        labels = np.asarray(labels)
        n = self.spec.n_states
        if labels.shape != (self.spec.n_li,) or labels.min(initial=0) < 0 or labels.max(initial=0) >= n:
            raise ParameterError(f"Expected {self.spec.n_li} labels in [0, {self.spec.n_states}) for step {step}. "
                                 f"Got shape {labels.shape}.")
        if not self._accept(step):
            return False
        self.drift.observe(log_likelihood)
        return self._record(step, labels, None, log_likelihood)

    def _record(self, step: int, labels: np.ndarray, frame: Frame | None,
                log_likelihood: np.ndarray | None = None) -> bool:
        """Count and buffer one labelled frame, then the one place that decides to flush, check or stop."""
        self.counter.update(labels)
        self.store.append(step, steps_to_ps(step, self.spec.timestep_fs), labels, log_likelihood)
        self.last_step = step
        if frame is not None:
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

    def _warm(self, frame: Frame) -> bool:
        """Keep a warm-up frame; once there are enough, train the state model on them and go live."""
        if self.last_step is not None and frame.step <= self.last_step:
            return False
        if self.last_step is not None and frame.step - self.last_step != self.warmup.interval:
            raise ParameterError(f"Frames must be {self.warmup.interval} MD steps apart; got step {frame.step} after "
                                 f"{self.last_step}.")
        if not np.array_equal(np.flatnonzero(frame.numbers == LI), self.warmup.li_indices):
            raise StructureError(f"The frame at step {frame.step} has other Li atoms than the run's first frame; "
                                 f"the atoms of a run must not change.")
        self._warm_frames.append(frame)
        self.last_step, self._last_frame = frame.step, frame
        done = self._warm_committed + len(self._warm_frames) >= self.warmup.n_frames
        if done or len(self._warm_frames) >= self.flush_frames or \
                time.monotonic() - self._last_flush > self.flush_seconds:
            self.flush()
        if done:
            self._go_live(train_on_warmup(self.store, self.warmup))
        return True

    def flush(self) -> None:
        if self.spec is None:  # warming up: rows, then the checkpoint, then the count of committed rows
            if self._warm_frames:
                last = self._warm_frames[-1]
                self._warm_committed = self.store.warmup.write(self._warm_frames,
                                                               lambda: self.store.save_checkpoint(last.checkpoint()))
                self._warm_frames = []
            self._last_flush = time.monotonic()
            return
        if self.store.pending_frames:
            checkpoint = self._last_frame.checkpoint() if self._last_frame is not None else None
            self.store.flush(self.counter.counts(), self.counter.per_li_counts(), self._blocks(),
                             checkpoint=checkpoint)
        self._last_flush = time.monotonic()

    def check(self, *, only_if_new: bool = False) -> dict | None:
        """Flush, take an analysis snapshot, judge it, store it; returns it (None while there is too little data,
        or with ``only_if_new`` when no frame came since the last check)."""
        if (only_if_new and not self._since_check) or self.spec is None:
            if self.spec is None:
                self.flush()
            return None
        self._since_check = 0
        self.flush()
        ensemble = self._ensemble()
        counts = ensemble.counts
        if counts[0 if self.lag_index is None else self.lag_index].sum() == 0:
            return None
        with _BLAS.limit(limits=1, user_api="blas"):
            snap = snapshot(counts, ensemble.per_li_counts, ensemble.block_counts, lags_ps=self.spec.lags_ps,
                            lag_index=self.lag_index, source=self.source, target=self.target,
                            criteria=self.criteria, rng=self._rng, block_ps=ensemble.block_ps,
                            replica_counts=ensemble.replica_counts, n_li=ensemble.n_li)
        n = self.counter.n_frames
        snap = {"frame": n, "step": self.last_step, "time_ps": steps_to_ps(self.last_step, self.spec.timestep_fs),
                **({"ensemble": [run.path for run in ensemble.runs]} if ensemble.n_runs > 1 else {}),
                **self.drift.record(), **snap}
        snap = self.convergence.judge(snap)
        self.drift.warn(snap)
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
