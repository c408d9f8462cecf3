"""Analysis snapshots with bootstrap intervals, and the stability verdict that decides early stopping."""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from ..analysis import (implied_timescales, kinetic_model, pathways, reactive_flux, timescales_by_lag,
                        transition_matrix)
from ..errors import GetseiError, ParameterError, check_fields

__all__ = ["ConvergenceCriteria", "ConvergenceMonitor", "bootstrap_intervals", "snapshot"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConvergenceCriteria:
    """When the kinetic model counts as converged.

    A check is *stable* when, against the previous check, the ordered top
    ``n_pathways`` pathways are the same routes, no pathway's flux share moved
    by more than ``fraction_tol`` (absolute), no implied timescale at the
    analysis lag moved by more than ``timescale_rtol`` (relative), and every
    state of the model (the active set: visited and connected) has at least
    ``min_transitions`` observed transitions out of it (to another state, at
    the analysis lag). ``patience`` stable checks in a row mean converged.

    Attributes
    ----------
    patience : int, default 3
    n_pathways : int, default 5
    fraction_tol : float, default 0.05
    timescale_rtol : float, default 0.2
    min_transitions : int, default 20
    n_bootstrap : int, default 50
        Resamples of the Li atoms for the confidence intervals (0 disables them).
    confidence : float, default 0.9
        Coverage of the intervals.
    """

    patience: int = 3
    n_pathways: int = 5
    fraction_tol: float = 0.05
    timescale_rtol: float = 0.2
    min_transitions: int = 20
    n_bootstrap: int = 50
    confidence: float = 0.9

    def __post_init__(self) -> None:
        check_fields(self, integers={"patience": 1, "n_pathways": 1, "min_transitions": 0, "n_bootstrap": 0},
                     positive=("fraction_tol", "timescale_rtol"), unit_interval=("confidence",))
        if self.confidence == 0:
            raise ParameterError("The 'confidence' parameter must lie in (0, 1). Got 0 instead.")

    def to_dict(self) -> dict:
        return asdict(self)


def _padded(values: np.ndarray, length: int) -> list[float | None]:
    out: list[float | None] = [float(v) if np.isfinite(v) else None for v in values]
    return out + [None] * (length - len(out))


def _full(values: np.ndarray, active: np.ndarray, n: int) -> list[float]:
    full = np.zeros(n)
    full[active] = values
    return full.tolist()


def bootstrap_intervals(per_li: np.ndarray, lag: float, source: tuple[int, ...], target: tuple[int, ...], routes: list,
               n_states: int, criteria: ConvergenceCriteria, rng: np.random.Generator) -> dict:
    """Percentile intervals from resampling Li atoms: pathway shares, timescales, transition matrix."""
    n_li = per_li.shape[0]
    shares, timescales, matrices = [], [], []
    for _ in range(criteria.n_bootstrap):
        counts = per_li[rng.integers(0, n_li, n_li)].sum(axis=0)
        try:
            tm = transition_matrix(counts)
            K = np.full((n_states, n_states), np.nan)
            K[np.ix_(tm.active_set, tm.active_set)] = tm.transition_matrix
            matrices.append(K)
            timescales.append(_padded(implied_timescales(tm.transition_matrix, lag).timescales, n_states - 1))
            flux = reactive_flux(tm.transition_matrix, tm.to_active(source), tm.to_active(target))
            found = {tuple(int(tm.active_set[s]) for s in p.states): p.fraction
                     for p in pathways(flux, k=2 * criteria.n_pathways)}
            shares.append([found.get(tuple(r), 0.0) for r in routes])
        except GetseiError:
            continue  # a resample that lost a state or connectivity says nothing about these numbers
    lo, hi = 50 * (1 - criteria.confidence), 50 * (1 + criteria.confidence)

    def interval(samples: list) -> list | None:
        if not samples:
            return None
        array = np.array(samples, dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: states absent from every resample
            bounds = np.nanpercentile(array, [lo, hi], axis=0)
        bounds = np.moveaxis(bounds, 0, -1)
        cleaned = bounds.astype(object)
        cleaned[~np.isfinite(bounds)] = None
        return cleaned.tolist()

    return {"n_bootstrap": len(matrices), "confidence": criteria.confidence, "pathway_fraction_ci": interval(shares) if routes else [],
            "timescales_ci": interval(timescales), "transition_matrix_ci": interval(matrices)}


def snapshot(counts: np.ndarray, per_li_counts: np.ndarray, *, lags_ps: tuple[float, ...], lag_index: int,
             source: tuple[int, ...] | None, target: tuple[int, ...] | None, criteria: ConvergenceCriteria,
             rng: np.random.Generator) -> dict:
    """The kinetic model at the analysis lag, timescales at every lag, and bootstrap intervals, as a JSON-ready dict.

    Parameters
    ----------
    counts : (n_lags, n, n) ndarray
    per_li_counts : (n_li, n_lags, n, n) ndarray
    lags_ps : tuple of float
    lag_index : int
        Which lag the model, rates and pathways use.
    source, target : tuple of int or None
        TPT sets; None for the least / most mobile state.
    """
    n = counts.shape[-1]
    lag = lags_ps[lag_index]
    c = counts[lag_index]
    off_diagonal = c.sum(axis=1) - np.diag(c)
    model = kinetic_model(c, lag, source=source, target=target, n_pathways=criteria.n_pathways)
    tm, rates, active = model.transition, model.rates, model.transition.active_set
    by_lag = [_padded(t, n - 1) for t in timescales_by_lag(counts, lags_ps)]
    routes = [list(p.states) for p in model.pathways]
    intervals = (bootstrap_intervals(per_li_counts[:, lag_index], lag, model.source, model.target, routes, n, criteria, rng)
                 if criteria.n_bootstrap and model.flux is not None else {})
    generator = np.zeros((n, n))
    generator[np.ix_(active, active)] = rates.generator
    K = np.zeros((n, n))
    K[np.ix_(active, active)] = tm.transition_matrix
    return {
        "lag_ps": lag,
        "n_transitions": int(c.sum()),
        "transitions_out": off_diagonal.astype(int).tolist(),
        "active_set": active.tolist(),
        "excluded_states": tm.excluded_states.tolist(),
        "stationary_distribution": _full(tm.stationary_distribution, active, n),
        "transition_matrix": K.tolist(),
        "lags_ps": list(lags_ps),
        "timescales_by_lag": by_lag,
        "timescales": by_lag[lag_index],
        "rate_matrix": generator.tolist(),
        "rates_valid": rates.valid,
        "rate_problems": list(rates.problems),
        "escape_rates": _full(rates.escape_rates, active, n),
        "mobility": _full(rates.mobility, active, n),
        "mobility_ranking": list(model.mobility_ranking),
        "source": list(model.source),
        "target": list(model.target),
        "total_flux": model.flux.total_flux if model.flux is not None else 0.0,
        "tpt_rate_per_ps": model.flux.rate if model.flux is not None else 0.0,
        "pathways": [{"states": list(p.states), "flux": p.flux, "fraction": p.fraction} for p in model.pathways],
        **intervals,
    }


class ConvergenceMonitor:
    """Compares each snapshot with the previous one and counts stable checks in a row.

    Parameters
    ----------
    criteria : ConvergenceCriteria
    """

    def __init__(self, criteria: ConvergenceCriteria) -> None:
        self.criteria = criteria
        self.previous: dict | None = None
        self.streak = 0

    @property
    def converged(self) -> bool:
        return self.streak >= self.criteria.patience

    def restore(self, history: list[dict]) -> None:
        """Continue from the stored snapshot history."""
        if history:
            self.previous = history[-1]
            self.streak = int(history[-1].get("stable_streak", 0))

    def judge(self, snap: dict) -> dict:
        """Add ``stable``, ``stable_streak``, ``converged`` and ``reasons`` (why not stable) to a snapshot."""
        c = self.criteria
        reasons = []
        # States outside the model (never visited, or not connected) cannot hold up convergence: an interface
        # need not visit every state a shared state model knows.
        active = set(snap["active_set"])
        scarce = [f"S{s}" for s, k in enumerate(snap["transitions_out"]) if s in active and k < c.min_transitions]
        if scarce:
            reasons.append(f"fewer than {c.min_transitions} transitions out of {', '.join(scarce)}")
        prev = self.previous
        if prev is None:
            reasons.append("first check")
        else:
            routes = [p["states"] for p in snap["pathways"]]
            if routes != [p["states"] for p in prev["pathways"]]:
                reasons.append("top pathways changed")
            else:
                moved = max((abs(a["fraction"] - b["fraction"]) for a, b in zip(snap["pathways"], prev["pathways"])),
                            default=0.0)
                if moved >= c.fraction_tol:
                    reasons.append(f"a pathway share moved by {moved:.3f}")
            now, before = snap["timescales"], prev["timescales"]
            changes = [abs(a - b) / abs(b) for a, b in zip(now, before) if a is not None and b is not None and b != 0]
            if len(now) != len(before) or [a is None for a in now] != [b is None for b in before]:
                reasons.append("the set of finite timescales changed")
            elif changes and max(changes) >= c.timescale_rtol:
                reasons.append(f"a timescale moved by {100 * max(changes):.0f}%")
        stable = not reasons
        self.streak = self.streak + 1 if stable else 0
        self.previous = snap
        return {**snap, "stable": stable, "stable_streak": self.streak, "converged": self.converged,
                "reasons": reasons}
