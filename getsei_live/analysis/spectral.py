"""Koopman eigenvalues, eigenvectors and implied timescales."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from ..deprecation import renamed_parameters
from ._checks import as_lag, as_transition_matrix
from ._result import Result, frozen_array
from .koopman import TransitionMatrix, fit_by_lag

__all__ = ["ImpliedTimescales", "implied_timescales", "timescales_by_lag"]


@dataclass(frozen=True, slots=True)
class ImpliedTimescales(Result):
    """Spectrum of a Koopman matrix at one lag.

    Attributes
    ----------
    eigenvalues : (n,) ndarray
        Sorted by decreasing modulus; the first is the stationary eigenvalue 1.
        Complex when the matrix has complex eigenvalues (non-reversible chains).
    eigenvectors : (n, n) ndarray
        Right eigenvectors (Koopman eigenfunctions on the states) as columns,
        in the order of ``eigenvalues``.
    timescales : (n - 1,) ndarray
        ``t_k = -lag / ln|lambda_k|`` for k >= 1, in the unit of ``lag``;
        ``inf`` for ``|lambda_k| = 1``, 0 for ``lambda_k = 0``.
    lag : float
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    timescales: np.ndarray
    lag: float


def implied_timescales(K: np.ndarray, lag: float) -> ImpliedTimescales:
    """Eigen-decomposition of ``K`` and the implied timescales of its slow processes.

    Parameters
    ----------
    K : (n, n) ndarray
        Row-stochastic Koopman matrix estimated at lag time ``lag``.
    lag : float
        The lag time; the timescales come out in the same unit (ps throughout getsei-live).

    Returns
    -------
    ImpliedTimescales

    Examples
    --------
    >>> its = implied_timescales([[0.9, 0.1], [0.1, 0.9]], lag=2.0)
    >>> float(its.timescales[0])  # -2 / ln(0.8)
    8.962840235449...
    """
    k = as_transition_matrix(K)
    lag = as_lag(lag)
    values, vectors = scipy.linalg.eig(k)
    order = np.lexsort((-values.real, -np.abs(values)))
    values, vectors = values[order], vectors[:, order]
    if np.all(np.abs(values.imag) < 1e-12):
        values, vectors = values.real, vectors.real
    modulus = np.abs(values[1:])
    with np.errstate(divide="ignore"):
        log_mod = np.log(np.clip(modulus, 0.0, 1.0))
        timescales = np.where(log_mod == 0.0, np.inf, -lag / np.where(log_mod == 0.0, -1.0, log_mod))
    timescales = np.where(modulus == 0.0, 0.0, timescales)
    return ImpliedTimescales(
        eigenvalues=frozen_array(values, values.dtype),
        eigenvectors=frozen_array(vectors, vectors.dtype),
        timescales=frozen_array(timescales),
        lag=lag,
    )


@renamed_parameters(lags="lags_ps")
def timescales_by_lag(counts: np.ndarray, lags_ps: Sequence[float], *, reversible: bool = False,
                      fits: Sequence[TransitionMatrix | None] | None = None) -> list[np.ndarray]:
    """Implied timescales at every counted lag, for the implied-timescale plot and the Markov test.

    Parameters
    ----------
    counts : (n_lags, n, n) array_like
        Count matrices, one per lag.
    lags_ps : sequence of float
        The lag of each count matrix (ps; the timescales come out in the same unit).
    reversible : bool, default False
    fits : sequence of TransitionMatrix or None, optional
        ``fit_by_lag(counts)``, when the caller has it already (then ``reversible`` is not used).

    Returns
    -------
    list of (n_active - 1,) ndarray
        One array per lag; empty where the counts do not yet give a model.
    """
    fits = fit_by_lag(counts, reversible=reversible) if fits is None else fits
    return [np.zeros(0) if fit is None else implied_timescales(fit.transition_matrix, lag).timescales
            for fit, lag in zip(fits, lags_ps)]
