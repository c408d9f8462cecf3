"""EDMD Koopman matrix of discrete states: the row-normalised count matrix on the largest connected set.

With the one-hot dictionary of states (paper, eqs. 6-8) the EDMD estimate
``K = (G_t^T G_t)^-1 G_t^T G_{t+tau}`` reduces to the count matrix divided by
its row sums, which is what is computed here, restricted to the largest
strongly connected set of states so that nothing is divided by zero.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import connected_components

from ..errors import GetseiError, ParameterError
from ._checks import as_count_matrix, as_transition_matrix
from ._result import Result, frozen_array

__all__ = ["TransitionMatrix", "fit_by_lag", "transition_matrix", "stationary_distribution", "largest_connected_set"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TransitionMatrix(Result):
    """Koopman (transition) matrix estimated from counts.

    Attributes
    ----------
    transition_matrix : (n_active, n_active) ndarray
        Row-stochastic matrix on the active set.
    stationary_distribution : (n_active,) ndarray
        Left eigenvector for eigenvalue 1, summing to 1.
    active_set : (n_active,) ndarray of int
        Indices, in the original numbering, of the states kept.
    excluded_states : (n_excluded,) ndarray of int
        States never visited or outside the largest strongly connected set.
    unvisited_states : (n_unvisited,) ndarray of int
        The excluded states that have no count at all.
    counts : (n_active, n_active) ndarray
        The counts restricted to the active set.
    n_states : int
        Number of states in the input count matrix.
    reversible : bool
        Whether the detailed-balance maximum-likelihood estimate was used.
    """

    transition_matrix: np.ndarray
    stationary_distribution: np.ndarray
    active_set: np.ndarray
    excluded_states: np.ndarray
    unvisited_states: np.ndarray
    counts: np.ndarray
    n_states: int
    reversible: bool

    def to_active(self, states: tuple[int, ...], name: str = "states") -> tuple[int, ...]:
        """Map state indices in the original numbering to indices into the active set."""
        position = {int(s): k for k, s in enumerate(self.active_set)}
        missing = [s for s in states if s not in position]
        if missing:
            why = ", ".join(
                f"S{s} ({'never visited' if s in self.unvisited_states else 'not in the largest connected set'})"
                for s in missing
            )
            raise ParameterError(f"The '{name}' set names states the model excludes: {why}.")
        return tuple(position[s] for s in states)


def largest_connected_set(counts: np.ndarray) -> np.ndarray:
    """Indices of the largest strongly connected set of the count graph.

    Ties between sets of equal size go to the one with more counts, then to the
    one holding the lowest state index, so the choice is deterministic.
    """
    c = as_count_matrix(counts)
    n_sets, labels = connected_components(c > 0, directed=True, connection="strong")
    best = max(
        range(n_sets),
        key=lambda k: (np.sum(labels == k), c[np.ix_(labels == k, labels == k)].sum(), -np.argmax(labels == k)),
    )
    return np.flatnonzero(labels == best)


def stationary_distribution(K: np.ndarray) -> np.ndarray:
    """Stationary distribution of an irreducible row-stochastic matrix.

    Solves ``pi (K - I) = 0`` with ``sum(pi) = 1`` as one linear system.

    Parameters
    ----------
    K : (n, n) ndarray

    Returns
    -------
    (n,) ndarray
    """
    k = as_transition_matrix(K)
    n = k.shape[0]
    a = k.T - np.eye(n)
    a[-1, :] = 1.0
    b = np.zeros(n)
    b[-1] = 1.0
    try:
        pi = np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        raise ParameterError("The transition matrix is reducible: it has no unique stationary distribution.") from None
    if np.any(pi < -1e-12):
        raise ParameterError("The transition matrix is reducible: its stationary vector has negative entries.")
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


def _reversible_mle(c: np.ndarray, *, tol: float, max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """Detailed-balance maximum-likelihood transition matrix and its stationary vector.

    Fixed-point iteration on the stationary vector (Bowman et al. 2009; Prinz et
    al. 2011, eq. 21): ``pi_i <- sum_j (c_ij + c_ji) / (c_i/pi_i + c_j/pi_j)``.
    """
    c_sym = c + c.T
    c_row = c.sum(axis=1)
    pi = c_row / c_row.sum()
    for _ in range(max_iter):
        x = c_sym / (c_row[:, None] / pi[:, None] + c_row[None, :] / pi[None, :])
        new = x.sum(axis=1)
        new /= new.sum()
        if np.max(np.abs(new - pi)) < tol:
            pi = new
            break
        pi = new
    else:
        log.warning("Reversible estimate did not reach tolerance %.1e in %d iterations.", tol, max_iter)
    x = c_sym / (c_row[:, None] / pi[:, None] + c_row[None, :] / pi[None, :])
    K = x / x.sum(axis=1, keepdims=True)
    return K, pi


def transition_matrix(
    counts: np.ndarray, reversible: bool = False, *, tol: float = 1e-14, max_iter: int = 1_000_000
) -> TransitionMatrix:
    """Estimate the Koopman matrix from a transition count matrix.

    Parameters
    ----------
    counts : (n_states, n_states) array_like
        ``counts[i, j]`` is the number of observed i -> j transitions at one lag.
    reversible : bool, default False
        False gives the paper's EDMD estimate (row-normalised counts); True the
        maximum-likelihood estimate under detailed balance.
    tol, max_iter
        Convergence settings of the reversible estimator.

    Returns
    -------
    TransitionMatrix

    Examples
    --------
    >>> tm = transition_matrix([[8, 2], [1, 9]])
    >>> tm.transition_matrix
    array([[0.8, 0.2],
           [0.1, 0.9]])
    """
    c = as_count_matrix(counts)
    n = c.shape[0]
    active = largest_connected_set(c)
    excluded = np.setdiff1d(np.arange(n), active)
    unvisited = np.flatnonzero((c.sum(axis=0) + c.sum(axis=1)) == 0)
    if excluded.size:  # reported in the result; resamples call this many times, so only at debug level
        log.debug(
            "States %s excluded from the model (%d never visited); %d of %d states kept.",
            [int(s) for s in excluded], unvisited.size, active.size, n,
        )
    c_active = c[np.ix_(active, active)]
    if reversible:
        K, pi = _reversible_mle(c_active, tol=tol, max_iter=max_iter)
    else:
        K = c_active / c_active.sum(axis=1, keepdims=True)
        pi = stationary_distribution(K)
    return TransitionMatrix(
        transition_matrix=frozen_array(K),
        stationary_distribution=frozen_array(pi),
        active_set=frozen_array(active, int),
        excluded_states=frozen_array(excluded, int),
        unvisited_states=frozen_array(unvisited, int),
        counts=frozen_array(c_active),
        n_states=n,
        reversible=bool(reversible),
    )


def fit_by_lag(counts: np.ndarray, *, reversible: bool = False) -> list[TransitionMatrix | None]:
    """The Koopman matrix at every lag of ``(n_lags, n, n)`` counts; None where the counts do not give one yet."""
    fits: list[TransitionMatrix | None] = []
    for c in counts:
        try:
            fits.append(transition_matrix(c, reversible=reversible))
        except GetseiError:
            fits.append(None)
    return fits
