"""Is the run still equilibrating? State populations and leaving probabilities in the first and second half of the
counted time, with block-resampled intervals of their drift.

A Markov model assumes one stationary process. A run that starts from an
unrelaxed interface, or whose interface still reorganises (on an LLZO/Li MD one
state went from 59 % to 0.4 % of the Li within 1 ps), is not one. Its blocks of
time (``TransitionCounter.block_counts``) are split into the earlier and the
later half; a drift counts when the interval of the difference, from
resampling blocks within each half, excludes zero *and* the difference is
larger than a practical tolerance (with enough data any drift is significant).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..deprecation import renamed_parameters
from ._result import Result, frozen_array, nan_array, strict_json
from .uncertainty import percentile_interval

__all__ = ["Stationarity", "stationarity"]


@dataclass(frozen=True, slots=True)
class Stationarity(Result):
    """Populations and leaving probabilities at one lag in the two halves of the counted time, and their drift.

    Attributes
    ----------
    populations : (2, n) ndarray
        Share of the Li in each state (row sums of the counts) in the earlier and the later half.
    leaving : (2, n) ndarray
        Probability of leaving each state within the lag in each half (NaN where a half never saw it).
    population_drift_ci : (n, 2) ndarray
        Interval of the later minus the earlier population.
    leaving_drift_ci : (n, 2) ndarray
        Interval of the later minus the earlier leaving probability, relative to their mean.
    reasons : tuple of str
        Each drift that counts, in words (empty: stationary).
    n_blocks : int
        Blocks of time with counts, over all runs.
    """

    populations: np.ndarray
    leaving: np.ndarray
    population_drift_ci: np.ndarray
    leaving_drift_ci: np.ndarray
    reasons: tuple[str, ...]
    n_blocks: int

    @property
    def stationary(self) -> bool:
        return not self.reasons

    def to_dict(self) -> dict:
        return strict_json({"populations": self.populations.tolist(), "leaving": self.leaving.tolist(),
                            "population_drift_ci": self.population_drift_ci.tolist(),
                            "leaving_drift_ci": self.leaving_drift_ci.tolist(), "reasons": list(self.reasons),
                            "n_blocks": self.n_blocks})

    @classmethod
    def from_dict(cls, data: dict) -> Stationarity:
        return cls(*(frozen_array(nan_array(data[k])) for k in ("populations", "leaving", "population_drift_ci",
                                                                 "leaving_drift_ci")),
                   tuple(data.get("reasons", ())), int(data.get("n_blocks", 0)))


def _halves(block_counts: Sequence[np.ndarray], block_events: Sequence[np.ndarray] | None
            ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    """The (m, n, n) blocks with counts of all runs (and their events), whether each is in its run's later half,
    and its run."""
    blocks, events, later, run = [], [], [], []
    for r, b in enumerate(block_counts):
        b = np.asarray(b, dtype=float)
        with_counts = b.reshape(b.shape[0], -1).sum(axis=1) > 0  # blocks of equilibration count nothing
        b = b[with_counts]
        half = b.shape[0] // 2
        blocks.append(b)
        if block_events is not None:
            events.append(np.asarray(block_events[r], dtype=float)[with_counts])
        later.append(np.arange(b.shape[0]) >= half)
        run.append(np.full(b.shape[0], r))
    return (np.concatenate(blocks), np.concatenate(events) if block_events is not None else None,
            np.concatenate(later), np.concatenate(run))


def _populations_and_leaving(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., n) populations and leaving probabilities of (..., n, n) counts."""
    rows = counts.sum(axis=-1)
    total = rows.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        populations = rows / total
        leaving = 1.0 - np.diagonal(counts, axis1=-2, axis2=-1) / rows
    return populations, np.where(rows > 0, leaving, np.nan)


def leave_drift(leaving: np.ndarray) -> np.ndarray:
    """The later minus the earlier half's probability of leaving each state, relative to their mean; ``leaving`` is
    (..., 2, n), the halves on the second-last axis (NaN where a half never saw the state)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (leaving[..., 1, :] - leaving[..., 0, :]) / ((leaving[..., 1, :] + leaving[..., 0, :]) / 2)


@renamed_parameters(min_exits="min_transitions")
def stationarity(block_counts: np.ndarray | Sequence[np.ndarray], lag_index: int, *, rng: np.random.Generator,
                 n_resamples: int = 200, confidence: float = 0.9, max_population_drift: float = 0.05,
                 max_leave_drift: float = 0.3, min_transitions: int = 20,
                 block_events: np.ndarray | Sequence[np.ndarray] | None = None) -> Stationarity | None:
    """Judge whether populations and leaving probabilities drift between the halves of the counted time.

    Parameters
    ----------
    block_counts : (n_blocks, n_lags, n, n) ndarray, or one per run of an ensemble
        Counts per block of time; each run is split into its own halves.
    lag_index : int
        Which lag's counts to judge.
    rng : numpy.random.Generator
    n_resamples : int, default 200
        Resamples of the blocks within each half of each run.
    confidence : float, default 0.9
    max_population_drift : float, default 0.05
        Drift of a state's population (fraction of the Li) that counts, when significant.
    max_leave_drift : float, default 0.3
        Relative drift of a leaving probability that counts, when significant.
    min_transitions : int, default 20
        A leaving probability is judged only for states left at least this often in each half: state changes
        (``block_events``) where given, else sliding-window pairs at the lag.
    block_events : (n_blocks, n, n) ndarray, or one per run, optional
        State changes per block of time, each once (``TransitionCounter.block_events``), shaped like
        ``block_counts`` without the lags.

    Returns
    -------
    Stationarity, or None when there are fewer than two blocks with counts in some half.
    """
    runs = [block_counts] if isinstance(block_counts, np.ndarray) else list(block_counts)
    events = None if block_events is None else (
        [block_events] if isinstance(block_events, np.ndarray) else list(block_events))
    kept = [r for r, b in enumerate(runs) if np.asarray(b).size]
    blocks, event_blocks, later, run = _halves([np.asarray(runs[r])[:, lag_index] for r in kept],
                                               None if events is None else [events[r] for r in kept])
    groups = [np.flatnonzero((run == r) & (later == h)) for r in np.unique(run) for h in (False, True)]
    if not groups or min(g.size for g in groups) < 2:
        return None
    weights = np.zeros((n_resamples + 1, blocks.shape[0]))
    weights[0] = 1.0  # the estimate itself
    for g in groups:
        weights[1:, g] = rng.multinomial(g.size, np.full(g.size, 1.0 / g.size), size=n_resamples)
    flat = blocks.reshape(blocks.shape[0], -1)
    n = blocks.shape[-1]
    early = (weights * ~later) @ flat
    late = (weights * later) @ flat
    pop, leave = _populations_and_leaving(np.stack([early, late], axis=1).reshape(-1, 2, n, n))
    d_pop = pop[:, 1] - pop[:, 0]
    d_leave = leave_drift(leave)
    if event_blocks is not None:
        halves = np.stack([event_blocks[~later].sum(axis=0), event_blocks[later].sum(axis=0)])
    else:
        halves = np.stack([early[0], late[0]]).reshape(2, n, n)
    judged = np.all(halves.sum(axis=-1) - np.diagonal(halves, axis1=1, axis2=2) >= min_transitions, axis=0)
    pop_ci = percentile_interval(d_pop[1:], confidence)
    leave_ci = percentile_interval(d_leave[1:], confidence)
    reasons = []
    for s in range(n):
        if abs(d_pop[0, s]) > max_population_drift and (pop_ci[s, 0] > 0 or pop_ci[s, 1] < 0):
            reasons.append(f"S{s} holds {100 * pop[0, 0, s]:.1f}% of the Li in the first half of the run and "
                           f"{100 * pop[0, 1, s]:.1f}% in the second")
        elif judged[s] and abs(d_leave[0, s]) > max_leave_drift \
                and (leave_ci[s, 0] > 0 or leave_ci[s, 1] < 0):
            reasons.append(f"S{s} is left with probability {leave[0, 0, s]:.3g} per lag in the first half and "
                           f"{leave[0, 1, s]:.3g} in the second")
    return Stationarity(frozen_array(pop[0]), frozen_array(leave[0]), frozen_array(pop_ci), frozen_array(leave_ci),
                        tuple(reasons), int(blocks.shape[0]))
