"""The parts of an analysis snapshot (``records.Snapshot``): its resampling intervals, the state model's fit, and
the verdict with each condition."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._result import frozen_array, listed, nan_array

__all__ = ["INTERVAL_KEYS", "Condition", "FlatRecord", "FrozenRecord", "Intervals", "StateFit", "Verdict",
           "empty_array", "int_tuple"]


def int_tuple(values: Any) -> tuple[int, ...]:
    return () if values is None else tuple(int(v) for v in values)


def empty_array() -> np.ndarray:
    return frozen_array(np.zeros(0))


class FrozenRecord:
    """Read-only arrays after construction, with every non-finite number as NaN (as the store reads it back)."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                if value.dtype.kind == "f" and np.isinf(value).any():
                    value = np.where(np.isfinite(value), value, np.nan)
                    object.__setattr__(self, f.name, value)
                value.flags.writeable = False


class FlatRecord(FrozenRecord):
    """A record whose stored form is its fields."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: Mapping):
        return cls(**{f.name: data.get(f.name) for f in dataclasses.fields(cls)})  # type: ignore[arg-type]


@dataclass(frozen=True, eq=False)
class StateFit(FlatRecord):
    """How well the state model describes the frames since the previous check (``DriftGuard``).

    Attributes
    ----------
    ood_fraction : float
        Share of Li environments below the training distribution's 1st-percentile log-likelihood.
    mean_log_likelihood : float
    threshold : float
    """

    ood_fraction: float
    mean_log_likelihood: float
    threshold: float


#: Stored key of each ``Intervals`` field.
INTERVAL_KEYS = {"n_bootstrap": "n_bootstrap", "method": "interval_method", "confidence": "confidence",
                  "pathway_fractions": "pathway_fraction_ci", "top_route_resolved": "top_route_resolved",
                  "timescales": "timescales_ci", "timescales_by_lag": "timescales_by_lag_ci",
                  "transition_matrix": "transition_matrix_ci"}


@dataclass(frozen=True, eq=False)
class Intervals(FrozenRecord):
    """Resampling intervals of a snapshot: (lower, upper) pairs, NaN where a resample had no value.

    Attributes
    ----------
    n_bootstrap : int
    method : str
        What was resampled, in words ("Li atoms and blocks of time").
    confidence : float
    pathway_fractions : (n_pathways, 2) ndarray
    top_route_resolved : float
        Share of the resamples in which the top route stays on top.
    timescales : (n - 1, 2) ndarray
        At the analysis lag.
    timescales_by_lag : (n_lags, n - 1, 2) ndarray
    transition_matrix : (n, n, 2) ndarray
    """

    n_bootstrap: int = 0
    method: str = ""
    confidence: float = float("nan")
    pathway_fractions: np.ndarray = field(default_factory=empty_array)
    top_route_resolved: float = 0.0
    timescales: np.ndarray = field(default_factory=empty_array)
    timescales_by_lag: np.ndarray = field(default_factory=empty_array)
    transition_matrix: np.ndarray = field(default_factory=empty_array)

    def to_dict(self) -> dict:
        out = {}
        for name, key in INTERVAL_KEYS.items():
            value = getattr(self, name)
            out[key] = listed(value) if isinstance(value, np.ndarray) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> Intervals | None:
        """The intervals among a snapshot's stored keys; None when it has none."""
        if not any(key in data for key in ("pathway_fraction_ci", "timescales_ci", "confidence")):
            return None
        values = {name: data[key] for name, key in INTERVAL_KEYS.items() if data.get(key) is not None}
        arrays = {name: nan_array(values[name]) for name in ("pathway_fractions", "timescales", "timescales_by_lag",
                                                              "transition_matrix") if name in values}
        return cls(**{**values, **arrays})


@dataclass(frozen=True, eq=False)
class Condition(FlatRecord):
    """One convergence condition: passed or not, its value against its threshold, and why in words."""

    name: str
    passed: bool
    value: Any
    threshold: Any
    unit: str
    detail: str


@dataclass(frozen=True, eq=False)
class Verdict:
    """The judgement of one snapshot (``ConvergenceMonitor.judge``).

    Attributes
    ----------
    stable : bool
        The point estimates did not move since the previous check.
    stable_streak : int
        Checks in a row that were unchanged with every other condition met.
    conditions : tuple of Condition
    failed : tuple of str
        Names of the conditions that failed.
    converged : bool
    reasons : tuple of str
        What failed, in words.
    """

    stable: bool
    stable_streak: int
    conditions: tuple[Condition, ...]
    failed: tuple[str, ...]
    converged: bool
    reasons: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"stable": self.stable, "stable_streak": self.stable_streak,
                "conditions": [c.to_dict() for c in self.conditions], "failed": list(self.failed),
                "converged": self.converged, "reasons": list(self.reasons)}

    @classmethod
    def from_dict(cls, data: Mapping) -> Verdict | None:
        """The verdict among a snapshot's stored keys; None for a snapshot not judged."""
        if "converged" not in data:
            return None
        return cls(bool(data.get("stable", False)), int(data.get("stable_streak", 0)),
                   tuple(Condition.from_dict(c) for c in data.get("conditions", ())), tuple(data.get("failed", ())),
                   bool(data["converged"]), tuple(data.get("reasons", ())))


