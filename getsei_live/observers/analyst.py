"""What the live monitor does at a check: this run's and its companions' counts, the snapshot, the verdict, the
store's history."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from threadpoolctl import ThreadpoolController

from ..analysis.counting import RunCounter
from ..analysis.criteria import ConvergenceCriteria
from ..analysis.forecast import MAX_POINTS, forecast
from ..analysis.records import Environments, Snapshot
from ..analysis.verdict import ConvergenceMonitor, explain
from ..errors import ParameterError, StoreError
from ..store.ensemble import Ensemble, RunCounts, ensemble_problems, run_counts
from ..store.run_store import RunStore
from ..units import steps_to_ps
from .drift import DriftGuard

__all__ = ["Analyst"]

log = logging.getLogger(__name__)

_BLAS = ThreadpoolController()


def companion_paths(store: RunStore, companions: str | Path | Sequence[str | Path]) -> tuple[Path, ...]:
    """The other replicas' stores; refuses this run's own store and companions of another kind of run."""
    paths = tuple(Path(p) for p in ([companions] if isinstance(companions, (str, Path)) else companions))
    for path in paths:
        if path.resolve() == Path(store.path).resolve():
            raise ParameterError(f"{path} is this run's own store; companions are the other replicas' stores.")
        if (path / "zarr.json").is_file():
            problems = ensemble_problems(store.spec, RunStore.open(path, "r").spec)
            if problems:
                raise ParameterError(f"The companion {path} cannot join this run's ensemble: "
                                     + "; ".join(problems) + ".")
    return paths


class Analyst:
    """Takes, judges and stores the analysis snapshot of a check.

    Parameters
    ----------
    store : RunStore
        The run's store (written), whose history the verdict continues.
    lag_index : int or None
        The analysis lag among the spec's lags; None chooses it by the Markov test.
    source, target : tuple of int or None
    criteria : ConvergenceCriteria
    drift : DriftGuard
        Its summary of the frames since the last check goes into the snapshot.
    companions : sequence of path
        The other replicas' stores, read at every check (never written).
    seed : int
        Of the resampling (with the frame of each check).
    on_check : callable, optional
        Called with every judged snapshot.
    """

    def __init__(self, store: RunStore, *, lag_index: int | None, source: tuple[int, ...] | None,
                 target: tuple[int, ...] | None, criteria: ConvergenceCriteria, drift: DriftGuard,
                 companions: Sequence[str | Path] = (), seed: int = 0,
                 on_check: Callable[[Snapshot], None] | None = None, check_every_frames: int = 1) -> None:
        self.store, self.spec = store, store.spec
        self.lag_index, self.source, self.target = lag_index, source, target
        self.criteria, self.drift, self.on_check = criteria, drift, on_check
        self.companions = companion_paths(store, companions)
        self.convergence = ConvergenceMonitor(criteria)
        self.check_every_ps = check_every_frames * store.spec.frame_dt_ps
        history = store.snapshots()
        self.convergence.restore(history)
        self.latest: Snapshot | None = history[-1] if history else None
        self._recent = history[-MAX_POINTS:]  # what the forecast fits: the last checks, not the whole history
        self._seed = int(seed)

    @property
    def converged(self) -> bool:
        return self.convergence.converged

    def _rng(self, frame: int) -> np.random.Generator:
        """The resampling of the check at ``frame``: from the seed and the frame alone, so that a resumed run draws
        what an uninterrupted one draws."""
        return np.random.default_rng([self._seed, int(frame)])

    def ensemble(self, counter: RunCounter, last_step: int | None) -> Ensemble:
        """This run's counts and those its companions have committed so far."""
        own = RunCounts.of(self.store.path, counter, self.store, steps_to_ps(last_step or 0, self.spec.timestep_fs),
                           status="running")
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

    def check(self, counter: RunCounter, last_step: int, *,
              environments: Environments | None = None) -> Snapshot | None:
        """The judged snapshot of the committed counts, also stored; None while the lag has no transition."""
        ensemble = self.ensemble(counter, last_step)
        counts = ensemble.counts
        if counts[0 if self.lag_index is None else self.lag_index].sum() == 0:
            return None
        with _BLAS.limit(limits=1, user_api="blas"):
            snap = ensemble.snapshot(lag_index=self.lag_index, source=self.source, target=self.target,
                                     criteria=self.criteria, rng=self._rng(counter.n_frames))
        snap = snap.at(frame=counter.n_frames, step=last_step, time_ps=steps_to_ps(last_step, self.spec.timestep_fs),
                       ensemble=tuple(run.path for run in ensemble.runs) if ensemble.n_runs > 1 else (),
                       fit=self.drift.summary(), environments=environments)
        snap = self.convergence.judge(snap)
        snap = dataclasses.replace(snap, forecast=forecast(self._recent, snap, self.criteria,
                                                           check_every_ps=self.check_every_ps))
        self._recent = [*self._recent[1 - MAX_POINTS:], snap]
        self.drift.warn(snap)
        self.store.add_snapshot(snap)
        self.latest = snap
        log.info("frame %d (%.1f ps): %s", snap.frame, snap.time_ps, explain(snap))
        if self.on_check is not None:
            self.on_check(snap)
        return snap
