"""Dominant pathways: greedy decomposition of the net reactive flux into max-bottleneck paths."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from ._result import Result
from .tpt import ReactiveFlux

__all__ = ["DIVERSITY_ROUTES", "Pathway", "decompose", "diversities", "diversity", "pathways", "routes"]

#: Residual flux below this fraction of the total counts as exhausted.
RESIDUAL_RTOL = 1e-12

#: Routes decomposed for the pathway diversity (the 5 reported and one more); the flux they leave is counted as one
#: more route. Decomposing every route of every resample made a check of an 8-state network 2.4x slower.
DIVERSITY_ROUTES = 6


@dataclass(frozen=True, slots=True)
class Pathway(Result):
    """One source-to-target route.

    Attributes
    ----------
    states : tuple of int
        The states visited, from a source state to a target state.
    flux : float
        The path's bottleneck capacity, subtracted from the residual network.
    fraction : float
        ``flux / total_flux``.
    bottleneck : tuple of (int, int)
        The path's rate-limiting step: the transition along it that carries the least net reactive flux.
    bottleneck_rate : float
        That transition's rate (1/ps) from the rate matrix; NaN where the path was decomposed without one.
    """

    states: tuple[int, ...]
    flux: float
    fraction: float
    bottleneck: tuple[int, ...] = ()
    bottleneck_rate: float = float("nan")


def _widest_path(capacity: np.ndarray, source: tuple[int, ...], target: set[int]) -> tuple[list[int], float]:
    """Max-bottleneck path from any source to any target (Dijkstra with min-capacity widths).

    Returns ``([], 0.0)`` when no target is reachable. Ties go to lower state
    indices so the answer is deterministic.
    """
    n = capacity.shape[0]
    width = np.zeros(n)
    previous = np.full(n, -1)
    done = np.zeros(n, dtype=bool)
    heap = [(-np.inf, s) for s in source]
    width[list(source)] = np.inf
    while heap:
        w, i = heapq.heappop(heap)
        if done[i]:
            continue
        done[i] = True
        if i in target:
            path = [i]
            while previous[path[-1]] >= 0:
                path.append(int(previous[path[-1]]))
            return path[::-1], -w
        for j in np.flatnonzero(capacity[i] > 0):
            candidate = min(-w, capacity[i, j])
            if not done[j] and candidate > width[j]:
                width[j] = candidate
                previous[j] = i
                heapq.heappush(heap, (-candidate, int(j)))
    return [], 0.0


def pathways(flux: ReactiveFlux, k: int | None = 5, *, fraction: float | None = None) -> tuple[Pathway, ...]:
    """Decompose the net flux into source-to-target pathways, widest bottleneck first.

    Repeatedly takes the path with the largest bottleneck in the residual net
    flux network, records it and subtracts its bottleneck from every edge on it
    (paper, Methods), until ``k`` paths, the cumulative ``fraction`` of the total
    flux, or no residual path remains.

    Parameters
    ----------
    flux : ReactiveFlux
    k : int or None, default 5
        Largest number of paths; None for no limit.
    fraction : float or None
        Stop once the paths found carry at least this fraction of the total flux.

    Returns
    -------
    tuple of Pathway
    """
    if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1):
        raise ParameterError.of("k", f"must be a positive integer or None. Got {k!r} instead.")
    if fraction is not None and not 0 < fraction <= 1:
        raise ParameterError.of("fraction", f"must lie in (0, 1]. Got {fraction!r} instead.")
    return decompose(flux.net_flux, flux.total_flux, flux.source, flux.target, k=k, fraction=fraction)


def decompose(net_flux: np.ndarray, total: float, source: tuple[int, ...], target: tuple[int, ...], *,
              k: int | None = 5, fraction: float | None = None) -> tuple[Pathway, ...]:
    """``pathways`` on a bare net-flux matrix (no checks): for the many resamples of an interval estimate."""
    original = np.asarray(net_flux, dtype=float)
    found = []
    for path, flux in routes(original, total, source, target, k=k, fraction=fraction):
        edges = (np.array(path[:-1]), np.array(path[1:]))
        weakest = int(np.argmin(original[edges]))
        found.append(Pathway(states=tuple(path), flux=float(flux), fraction=float(flux / total),
                             bottleneck=(int(path[weakest]), int(path[weakest + 1]))))
    return tuple(found)


def routes(net_flux: np.ndarray, total: float, source: tuple[int, ...], target: tuple[int, ...], *,
           k: int | None = 5, fraction: float | None = None) -> list[tuple[tuple[int, ...], float]]:
    """The decomposition as plain ``(states, flux)`` pairs, widest bottleneck first (``decompose`` without the
    records, for the thousands of resamples of a check)."""
    if not total > 0:
        return []
    residual = np.asarray(net_flux, dtype=float).copy()
    residual[residual <= RESIDUAL_RTOL * total] = 0.0
    target = set(target)
    found: list[tuple[tuple[int, ...], float]] = []
    carried = 0.0
    while k is None or len(found) < k:
        path, bottleneck = _widest_path(residual, source, target)
        if not path or bottleneck <= RESIDUAL_RTOL * total:
            break
        residual[np.array(path[:-1]), np.array(path[1:])] -= bottleneck
        residual[residual <= RESIDUAL_RTOL * total] = 0.0
        carried += bottleneck
        found.append((tuple(path), float(bottleneck)))
        if fraction is not None and carried >= fraction * total * (1 - 1e-12):
            break
    return found


def diversity(fractions) -> float:
    """The effective number of routes: the exponential of the Shannon entropy of the route shares.

    1 for one route that carries all the flux, 2 for two routes of equal share, and so on. Flux that the
    routes given leave unaccounted for counts as one more route (the decomposition is cut at
    ``DIVERSITY_ROUTES``); NaN without routes.

    >>> round(diversity([0.5, 0.5]), 6), round(diversity([1.0]), 6)
    (2.0, 1.0)
    """
    f = np.asarray(fractions, dtype=float)
    if f.size == 0 or not np.isfinite(f).all():
        return float("nan")
    return float(diversities(f[None, :])[0])


def diversities(fractions: np.ndarray) -> np.ndarray:
    """``diversity`` of each row of (n, k) route shares (NaN rows, and rows of zeros, give NaN)."""
    given = np.nan_to_num(np.asarray(fractions, dtype=float), nan=0.0)
    rest = 1.0 - given.sum(axis=1, keepdims=True)
    f = np.concatenate([given, np.where(rest > 1e-9, rest, 0.0)], axis=1)
    entropy = -np.sum(np.where(f > 0, f * np.log(np.where(f > 0, f, 1.0)), 0.0), axis=1)
    return np.where(given.sum(axis=1) > 0, np.exp(entropy), np.nan)
