"""Rate matrix R = logm(K)/tau, its validity as a generator, escape rates and mobility."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from ._checks import as_lag, as_transition_matrix
from ._result import Result, frozen_array

__all__ = ["RateMatrix", "generators", "rate_matrix", "nearest_generator"]

log = logging.getLogger(__name__)

#: Relative tolerance (to the largest rate) for calling logm(K)/tau a valid generator.
GENERATOR_RTOL = 1e-9


@dataclass(frozen=True, slots=True)
class RateMatrix(Result):
    """Continuous-time rates from a Koopman matrix, ``K = exp(R tau)``.

    Attributes
    ----------
    rate_matrix : (n, n) ndarray
        ``logm(K) / lag`` in units of 1/lag (ps^-1 for a lag in ps); complex
        when the principal logarithm is complex.
    valid : bool
        True when ``rate_matrix`` is a generator: real, non-negative
        off-diagonal, rows summing to 0 (all to ``GENERATOR_RTOL``).
    problems : tuple of str
        Why it is not a generator (empty when valid).
    generator : (n, n) ndarray
        ``rate_matrix`` when valid, otherwise the nearest valid generator.
    generator_method : str
        ``"logm"`` (valid as is), ``"projection"`` (row-wise Euclidean
        projection of Re logm(K)/lag onto generators; Kreinin and Sidelnikova
        2001) or ``"first-order"`` (``(K - I)/lag`` when K is singular and has no
        logarithm).
    escape_rates : (n,) ndarray
        Total off-diagonal rate out of each state, from ``generator``.
    mobility : (n,) ndarray
        Escape rates divided by the largest one (1 = most mobile state).
    mobility_ranking : (n,) ndarray of int
        States from most to least mobile.
    lag : float
    """

    rate_matrix: np.ndarray
    valid: bool
    problems: tuple[str, ...]
    generator: np.ndarray
    generator_method: str
    escape_rates: np.ndarray
    mobility: np.ndarray
    mobility_ranking: np.ndarray
    lag: float


def _project_row(row: np.ndarray, diagonal: int) -> np.ndarray:
    """Euclidean projection of one row onto {x : sum(x) = 0, x_j >= 0 for j != diagonal}.

    The optimality conditions give ``x_j = max(a_j - mu, 0)`` off the diagonal
    and ``x_d = a_d - mu``, with the unique ``mu`` that makes the row sum to 0;
    ``mu`` is found exactly by walking the sorted off-diagonal entries.
    """
    off = np.delete(row, diagonal)
    ordered = np.sort(off)[::-1]
    total = row[diagonal]
    mu = total
    for k, value in enumerate(ordered, start=1):
        if value <= mu:
            break
        total += value
        mu = total / (k + 1)
    x = np.maximum(row - mu, 0.0)
    x[diagonal] = row[diagonal] - mu
    return x


def nearest_generator(R: np.ndarray) -> np.ndarray:
    """The generator matrix closest, row by row in the Euclidean norm, to the real part of ``R``."""
    real = np.real(np.asarray(R))
    return np.array([_project_row(real[i], i) for i in range(real.shape[0])])


def _generator_problems(R: np.ndarray) -> tuple[str, ...]:
    scale = max(float(np.max(np.abs(R))), np.finfo(float).tiny)
    tol = GENERATOR_RTOL * scale
    problems = []
    if np.max(np.abs(np.imag(R))) > tol:
        problems.append(f"logm(K) is complex (largest imaginary part {np.max(np.abs(np.imag(R))):.3g})")
    real = np.real(R)
    off = real[~np.eye(real.shape[0], dtype=bool)]
    if off.size and off.min() < -tol:
        problems.append(f"negative off-diagonal rates (smallest {off.min():.3g})")
    if np.max(np.abs(real.sum(axis=1))) > tol * real.shape[0]:
        problems.append("rows do not sum to zero")
    return tuple(problems)


def rate_matrix(K: np.ndarray, lag: float) -> RateMatrix:
    """Rate matrix ``R = logm(K) / lag`` with a validity check and escape rates.

    Parameters
    ----------
    K : (n, n) ndarray
        Row-stochastic Koopman matrix at lag time ``lag``.
    lag : float
        Lag time; rates come out per unit of it (ps^-1 for ps).

    Returns
    -------
    RateMatrix

    Examples
    --------
    >>> r = rate_matrix([[0.9, 0.1], [0.1, 0.9]], lag=1.0)
    >>> r.valid, round(float(r.escape_rates[0]), 6)  # -ln(0.8)/2
    (True, 0.111572)
    """
    k = as_transition_matrix(K)
    lag = as_lag(lag)
    n = k.shape[0]
    eigenvalues = np.linalg.eigvals(k)
    if np.min(np.abs(eigenvalues)) < 1e-12:
        R = np.full((n, n), np.nan)
        problems: tuple[str, ...] = ("K is singular (an eigenvalue is 0): it has no matrix logarithm",)
        generator, method = (k - np.eye(n)) / lag, "first-order"
    else:
        R = scipy.linalg.logm(k) / lag
        if np.all(np.abs(np.imag(R)) == 0):
            R = np.real(R)
        problems = _generator_problems(R)
        generator, method = (np.real(R), "logm") if not problems else (nearest_generator(R), "projection")
    if problems:
        log.info("logm(K)/lag is not a valid generator (%s); using the %s generator.", "; ".join(problems), method)
    escape = -np.diag(generator) + 0.0  # + 0.0: a state never left escapes at 0, not at -0
    top = escape.max()
    mobility = escape / top if top > 0 else np.zeros_like(escape)
    ranking = np.argsort(-escape, kind="stable")
    return RateMatrix(
        rate_matrix=frozen_array(R, R.dtype),
        valid=not problems,
        problems=problems,
        generator=frozen_array(generator),
        generator_method=method,
        escape_rates=frozen_array(escape),
        mobility=frozen_array(mobility),
        mobility_ranking=frozen_array(ranking, int),
        lag=lag,
    )


def generators(K: np.ndarray, lag: float) -> np.ndarray:
    """``rate_matrix(K[r], lag).generator`` for a stack of (R, n, n) Koopman matrices, at once.

    The logarithm comes from one batched eigendecomposition, ``V log(w) V^-1``,
    which is the principal logarithm wherever no eigenvalue lies on the
    negative real axis or at 0; those matrices, and those whose eigenvectors
    are ill-conditioned, go through ``rate_matrix`` one by one. A hundred times
    faster than ``scipy.linalg.logm`` per matrix for the resamples of an interval.
    """
    K = np.asarray(K, dtype=float)
    out = np.empty_like(K)
    if K.shape[0] == 0:
        return out
    w, V = np.linalg.eig(K)
    with np.errstate(all="ignore"):
        on_axis = (np.abs(w.imag) <= 1e-12) & (w.real <= 0)
        conditioned = np.linalg.cond(V) < 1e8
        fast = conditioned & ~np.any(on_axis | (np.abs(w) < 1e-12), axis=1)
        L = V[fast] @ (np.log(w[fast])[:, :, None] * np.linalg.inv(V[fast])) / lag
    for r, R in zip(np.flatnonzero(fast), L):
        out[r] = np.real(R) if not _generator_problems(R) else nearest_generator(R)
    for r in np.flatnonzero(~fast):
        out[r] = rate_matrix(K[r], lag).generator
    return out
