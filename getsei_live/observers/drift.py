"""The drift guard: how well the state model describes each observed frame, and one warning when it stops."""

from __future__ import annotations

import logging

import numpy as np

from ..analysis.criteria import ConvergenceCriteria
from ..analysis.records import Snapshot, StateFit
from ..states.labeller import FitLabeller

__all__ = ["DriftGuard"]

log = logging.getLogger(__name__)


class DriftGuard:
    """Collects, per frame, the share of Li environments below the state model's ``fit_threshold`` (the 1st
    percentile of the training environments' log-likelihood) and their mean log-likelihood; summarises them at
    every check; warns once when the ``states_fit`` condition has failed for ``patience`` checks in a row.

    A labeller that is not a ``FitLabeller`` (no ``assign_with_fit`` and ``fit_threshold``) is not guarded.
    """

    def __init__(self, threshold: float | None, criteria: ConvergenceCriteria) -> None:
        self.threshold = threshold
        self.criteria = criteria
        self._frames: list[tuple[float, float]] = []  # (OOD fraction, mean log-likelihood) since the last check
        self._failing = 0

    @classmethod
    def of(cls, labeller, criteria: ConvergenceCriteria) -> DriftGuard:
        return cls(float(labeller.fit_threshold) if isinstance(labeller, FitLabeller) else None, criteria)

    @property
    def guarded(self) -> bool:
        """Whether the labeller scores its environments (a ``FitLabeller``), so that frames are observed."""
        return self.threshold is not None

    def observe(self, log_likelihood: np.ndarray | None) -> None:
        if log_likelihood is not None and self.threshold is not None:
            self._frames.append((float(np.mean(log_likelihood < self.threshold)), float(np.mean(log_likelihood))))

    def summary(self) -> StateFit | None:
        """The frames since the last check, for the snapshot (None when none were scored); starts afresh."""
        if not self._frames:
            return None
        ood, mean = np.mean(self._frames, axis=0)
        self._frames = []
        # To a micro-nat (the store keeps each log-likelihood as float16): torch's float32 ELU rounds the last bit
        # of some embeddings differently with another thread count (a Dask task's 1 against the caller's), which
        # moves this mean by ~1e-9. An ELU in float64 removes that at the source but doubles the encoder's time.
        return StateFit(float(ood), round(float(mean), 6), float(self.threshold))

    def warn(self, snap: Snapshot) -> None:
        """Warn once when the states have failed to describe the structure for ``patience`` checks in a row."""
        self._failing = self._failing + 1 if snap.verdict is not None and "states_fit" in snap.verdict.failed else 0
        if self._failing == self.criteria.patience:
            log.warning("getsei-live: for %d checks in a row %.0f%% of the Li environments lie outside what the "
                        "state model saw in training (at most %.0f%% expected); the states no longer describe the "
                        "structure. Retrain the state model on frames of this run: 'getsei-live train "
                        "md.traj --n-states auto --frame-ps <ps between frames>' on a trajectory the run writes "
                        "(--trajectory md.traj), then 'getsei-live replay' it; or start with --states auto "
                        "--warmup-ps 2, which trains on the run's first 2 ps.",
                        self._failing, 100 * snap.fit.ood_fraction, 100 * self.criteria.max_ood_fraction)
