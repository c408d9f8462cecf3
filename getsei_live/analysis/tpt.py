"""Transition path theory on a Koopman matrix: committors and reactive fluxes from source to target."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from ._checks import as_lag, as_state_set, as_transition_matrix
from ._result import Result, frozen_array
from .koopman import stationary_distribution

__all__ = ["ReactiveFlux", "reactive_flux", "committor", "mfpt", "mfpt_batch", "net_flux_batch"]


@dataclass(frozen=True, slots=True)
class ReactiveFlux(Result):
    """Reactive flux from a source set A to a target set B.

    Attributes
    ----------
    source, target : tuple of int
        The sets A and B (indices into the matrix given).
    stationary_distribution : (n,) ndarray
    forward_committor : (n,) ndarray
        q+_i, the probability of reaching B before A from i (0 on A, 1 on B).
    backward_committor : (n,) ndarray
        q-_i, the probability of having come from A rather than B, computed on
        the time-reversed chain so it holds for non-reversible K too.
    gross_flux : (n, n) ndarray
        ``f_ij = pi_i q-_i K_ij q+_j`` for i != j, 0 on the diagonal (per lag).
    net_flux : (n, n) ndarray
        ``max(f_ij - f_ji, 0)``.
    equilibrium_flux : (n, n) ndarray
        ``pi_i K_ij`` for i != j, 0 on the diagonal: the total flow between
        states regardless of where it comes from.
    total_flux : float
        Net flux out of A (per lag).
    rate : float
        ``total_flux / sum_i pi_i q-_i`` divided by ``lag``: A -> B transitions
        per unit time (per lag step when ``lag`` is 1).
    lag : float
    """

    source: tuple[int, ...]
    target: tuple[int, ...]
    stationary_distribution: np.ndarray
    forward_committor: np.ndarray
    backward_committor: np.ndarray
    gross_flux: np.ndarray
    net_flux: np.ndarray
    equilibrium_flux: np.ndarray
    total_flux: float
    rate: float
    lag: float


def committor(K: np.ndarray, source: tuple[int, ...], target: tuple[int, ...]) -> np.ndarray:
    """Probability of reaching ``target`` before ``source``: ``q = K q`` off both sets, 0 on source, 1 on target.

    The backward committor is this function on the time-reversed chain with
    the two sets swapped.
    """
    n = K.shape[0]
    q = np.zeros(n)
    q[list(target)] = 1.0
    rest = np.setdiff1d(np.arange(n), np.concatenate([source, target]).astype(int))
    if rest.size:
        a = np.eye(rest.size) - K[np.ix_(rest, rest)]
        b = K[np.ix_(rest, np.asarray(target))].sum(axis=1)
        try:
            q[rest] = np.linalg.solve(a, b)
        except np.linalg.LinAlgError:
            raise ParameterError(
                "The committor is undefined: some states cannot reach the source or the target set (K is reducible)."
            ) from None
    return np.clip(q, 0.0, 1.0)


def reactive_flux(
    K: np.ndarray, source: int | Iterable[int], target: int | Iterable[int], *, lag: float = 1.0
) -> ReactiveFlux:
    """Committors and reactive fluxes of transition path theory between ``source`` and ``target``.

    Parameters
    ----------
    K : (n, n) ndarray
        Irreducible row-stochastic Koopman matrix.
    source, target : int or iterable of int
        Disjoint, non-empty sets of states (indices into ``K``).
    lag : float, default 1.0
        Lag time of ``K``; only ``rate`` depends on it.

    Returns
    -------
    ReactiveFlux

    Examples
    --------
    >>> flux = reactive_flux([[0.8, 0.2, 0.0], [0.1, 0.8, 0.1], [0.0, 0.2, 0.8]], 0, 2)
    >>> flux.forward_committor
    array([0. , 0.5, 1. ])
    """
    k = as_transition_matrix(K)
    n = k.shape[0]
    a = as_state_set(source, n, "source")
    b = as_state_set(target, n, "target")
    overlap = sorted(set(a) & set(b))
    if overlap:
        raise ParameterError(f"The source and target sets overlap in states {overlap}; they must be disjoint.")
    lag = as_lag(lag)
    pi = stationary_distribution(k)
    if np.any(pi <= 0):
        raise ParameterError("K is reducible: some states have zero stationary probability.")
    q_plus = committor(k, a, b)
    k_reversed = (k.T * pi[None, :]) / pi[:, None]
    q_minus = committor(k_reversed, b, a)
    gross = pi[:, None] * q_minus[:, None] * k * q_plus[None, :]
    np.fill_diagonal(gross, 0.0)
    net = np.maximum(gross - gross.T, 0.0)
    equilibrium = pi[:, None] * k
    np.fill_diagonal(equilibrium, 0.0)
    not_a = np.setdiff1d(np.arange(n), a)
    total = float(net[np.ix_(a, not_a)].sum())
    rate = total / float(pi @ q_minus) / lag
    return ReactiveFlux(
        source=a,
        target=b,
        stationary_distribution=frozen_array(pi),
        forward_committor=frozen_array(q_plus),
        backward_committor=frozen_array(q_minus),
        gross_flux=frozen_array(gross),
        net_flux=frozen_array(net),
        equilibrium_flux=frozen_array(equilibrium),
        total_flux=total,
        rate=rate,
        lag=lag,
    )


def mfpt(K: np.ndarray, source: int | Iterable[int], target: int | Iterable[int], *, lag: float = 1.0) -> float:
    """Mean first-passage time from ``source`` to ``target`` (in the units of ``lag``).

    Starting in the source set with the stationary distribution restricted to it, the expected time until the
    chain first enters the target set: ``m_i = lag + sum_j K_ij m_j`` outside the target, 0 in it (as deeptime's
    ``MarkovStateModel.mfpt``).

    Examples
    --------
    >>> round(mfpt([[0.9, 0.1], [0.2, 0.8]], 0, 1, lag=2.0), 9)   # geometric: lag / 0.1
    20.0
    """
    k = as_transition_matrix(K)
    n = k.shape[0]
    a, b = as_state_set(source, n, "source"), as_state_set(target, n, "target")
    if overlap := sorted(set(a) & set(b)):
        raise ParameterError(f"The source and target sets overlap in states {overlap}; they must be disjoint.")
    return float(mfpt_batch(k[None], a, b, lag=as_lag(lag))[0])


def mfpt_batch(K: np.ndarray, source: tuple[int, ...], target: tuple[int, ...], *, lag: float) -> np.ndarray:
    """``mfpt`` of a stack of (R, n, n) row-stochastic matrices, without checks; NaN where a system is singular or
    the chain has no unique positive stationary distribution."""
    R, n = K.shape[0], K.shape[1]
    pi = _stationary_batch(K)
    rest = np.setdiff1d(np.arange(n), list(target))
    a = np.eye(rest.size) - K[:, rest][:, :, rest]
    out = np.full(R, np.nan)
    ok = np.all(np.isfinite(pi), axis=1) & (np.abs(np.linalg.det(a)) > 1e-300)
    if ok.any():
        m = np.zeros((int(ok.sum()), n))
        m[:, rest] = np.linalg.solve(a[ok], np.full((int(ok.sum()), rest.size, 1), float(lag)))[:, :, 0]
        weights = pi[ok][:, list(source)]
        out[ok] = (weights * m[:, list(source)]).sum(axis=1) / weights.sum(axis=1)
    return out


def _stationary_batch(K: np.ndarray) -> np.ndarray:
    """Stationary distributions of a stack of (R, n, n) matrices; NaN rows where none is unique and positive."""
    R, n = K.shape[0], K.shape[1]
    a = np.swapaxes(K, 1, 2) - np.eye(n)
    a[:, -1, :] = 1.0
    rhs = np.zeros((R, n, 1))
    rhs[:, -1] = 1.0
    pi = np.full((R, n), np.nan)
    ok = np.abs(np.linalg.det(a)) > 1e-300
    if ok.any():
        pi[ok] = np.linalg.solve(a[ok], rhs[ok])[:, :, 0]
    pi[~np.all(pi > 0, axis=1)] = np.nan
    return pi


def _committor_batch(K: np.ndarray, source: tuple[int, ...], target: tuple[int, ...]) -> np.ndarray:
    """``committor`` for a stack of (R, n, n) matrices; NaN rows where a system is singular."""
    R, n = K.shape[0], K.shape[1]
    q = np.zeros((R, n))
    q[:, list(target)] = 1.0
    rest = np.setdiff1d(np.arange(n), np.concatenate([source, target]).astype(int))
    if rest.size:
        a = np.eye(rest.size) - K[:, rest][:, :, rest]
        b = K[:, rest][:, :, list(target)].sum(axis=2)
        ok = np.abs(np.linalg.det(a)) > 1e-300
        q[~ok] = np.nan
        if ok.any():
            q[np.ix_(ok, rest)] = np.linalg.solve(a[ok], b[ok][:, :, None])[:, :, 0]
    return np.clip(q, 0.0, 1.0)


def net_flux_batch(K: np.ndarray, source: tuple[int, ...], target: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Net reactive flux and total flux of a stack of row-stochastic matrices, as ``reactive_flux`` computes them.

    For the many resampled matrices of an interval estimate, without the
    per-matrix checks: a matrix that is reducible (no unique positive
    stationary distribution, or a singular committor system) gets NaN.

    Parameters
    ----------
    K : (R, n, n) ndarray
    source, target : tuple of int
        Disjoint state sets (indices into each matrix).

    Returns
    -------
    net : (R, n, n) ndarray
    total : (R,) ndarray
    """
    n = K.shape[1]
    pi = _stationary_batch(K)
    ok = np.all(np.isfinite(pi), axis=1)
    safe = np.where(ok[:, None], pi, 1.0)
    q_plus = _committor_batch(K, source, target)
    reversed_ = np.swapaxes(K, 1, 2) * safe[:, None, :] / safe[:, :, None]
    q_minus = _committor_batch(reversed_, target, source)
    gross = pi[:, :, None] * q_minus[:, :, None] * K * q_plus[:, None, :]
    gross[:, np.arange(n), np.arange(n)] = 0.0
    net = np.maximum(gross - np.swapaxes(gross, 1, 2), 0.0)
    not_a = np.setdiff1d(np.arange(n), source)
    total = net[:, list(source)][:, :, not_a].sum(axis=(1, 2))
    bad = ~ok | ~np.isfinite(total)
    net[bad], total[bad] = np.nan, np.nan
    return net, total
