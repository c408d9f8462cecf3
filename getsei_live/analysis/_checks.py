"""Validation of the arrays and state sets handed to the analysis functions."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..errors import ParameterError

STOCHASTIC_TOL = 1e-10


def as_count_matrix(counts: object) -> np.ndarray:
    """A float64 copy of a square, finite, non-negative count matrix."""
    c = np.array(counts, dtype=float, copy=True)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] == 0:
        raise ParameterError.of("counts", f"must be a square (n_states, n_states) matrix. Got shape {c.shape}.")
    if not np.all(np.isfinite(c)) or np.any(c < 0):
        raise ParameterError.of("counts", "must hold finite, non-negative numbers.")
    if c.sum() == 0:
        raise ParameterError("The 'counts' matrix is all zeros: no transition has been observed yet.")
    return c


def as_transition_matrix(K: object) -> np.ndarray:
    """A float64 copy of a row-stochastic matrix, checked to ``STOCHASTIC_TOL``."""
    k = np.array(K, dtype=float, copy=True)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] == 0:
        raise ParameterError(f"The transition matrix must be square (n_states, n_states). Got shape {k.shape}.")
    if not np.all(np.isfinite(k)):
        raise ParameterError("The transition matrix holds NaN or infinite entries.")
    if np.any(k < -STOCHASTIC_TOL):
        raise ParameterError(f"The transition matrix has negative entries (smallest {k.min():.3g}); it is not stochastic.")
    row_sums = k.sum(axis=1)
    worst = int(np.argmax(np.abs(row_sums - 1.0)))
    if abs(row_sums[worst] - 1.0) > STOCHASTIC_TOL * k.shape[0]:
        raise ParameterError(
            f"The transition matrix is not row-stochastic: row {worst} sums to {row_sums[worst]:.12g}, not 1."
        )
    return np.clip(k, 0.0, None)


def as_lag(lag: object, name: str = "lag") -> float:
    try:
        value = float(lag)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ParameterError.of(name, f"must be a positive number. Got {lag!r} instead.") from None
    if not np.isfinite(value) or value <= 0:
        raise ParameterError.of(name, f"must be a positive number. Got {lag!r} instead.")
    return value


def as_state_set(states: int | Iterable[int], n_states: int, name: str) -> tuple[int, ...]:
    """Sorted unique state indices, each in ``range(n_states)``; never empty."""
    items = [states] if isinstance(states, (int, np.integer)) else list(states)
    out = set()
    for s in items:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 0 <= s < n_states:
            raise ParameterError.of(name, f"must hold state indices between 0 and {n_states - 1}. Got {s!r} instead.")
        out.add(int(s))
    if not out:
        raise ParameterError.of(name, "holds no state; give at least one.")
    return tuple(sorted(out))

