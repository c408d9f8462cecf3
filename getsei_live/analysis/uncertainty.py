"""Intervals that respect time correlation: resample whole Li atoms, and whole blocks of time, then take both.

A Li atom's consecutive transitions are not independent, and neither are
different Li atoms at one moment (they share a slowly changing interface).
Two resampling schemes each answer one of these:

- ``"li"``: resample Li atoms with replacement, each with its whole
  trajectory (a cluster bootstrap); right when Li atoms move independently.
- ``"time"``: resample blocks of time with replacement, all Li of a block
  together (a block bootstrap); right when blocks are longer than the memory
  of the process, whatever the Li do together. ``"time2"`` does the same with
  blocks twice as long (the next level of the blocking method): when blocks
  are too short the variance still grows with their length, and this catches it.
- ``"replica"``: resample whole independent runs (replicas) of an ensemble;
  right when replicas differ systematically (other starting structures).

In an ensemble the Li atoms and the blocks of time are resampled within each
replica (a stratified bootstrap: every run keeps its share, as it does in the
estimate; pooling them would add the spread of runs that differ to the
interval of an average that does not vary with it). Blocks are paired for
``"time2"`` within a replica. Whole replicas are resampled once there are
``min_replicas`` of them: that catches runs that differ systematically. Three
runs give ten distinct resamples, too few to say anything, so for fewer the
replicas are trusted to be alike.

The reported interval is the envelope of the percentile intervals, so it
is wide enough when one assumption fails. Each is bias-corrected and widened
for the number of units resampled (few blocks); see ``percentile_interval``. (Resampling Li and blocks jointly,
Owen's "pigeonhole" bootstrap, overstates the variance of independent cells
about threefold, which would delay every early stop for nothing.)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri, stdtrit

from ..deprecation import renamed_parameters
from ._result import Result, frozen_array
from .pathways import DIVERSITY_ROUTES, diversities
from .pathways import routes as decompose_routes
from .rates import generators
from .tpt import net_flux_batch

__all__ = ["Resamples", "RouteSamples", "comparable_routes", "endpoints_kept", "envelope", "percentile_interval",
           "resample_counts", "resampling_units", "route_shares"]

#: Ranges of the quantities intervals are formed for.
PROBABILITY, TIME = (0.0, 1.0), (0.0, np.inf)

METHODS = {"li": "Li atoms", "time": "blocks of time", "time2": "blocks of time", "replica": "whole replicas"}


@dataclass(frozen=True, slots=True)
class Resamples(Result):
    """Transition matrices and implied timescales of resampled count matrices.

    Attributes
    ----------
    method : str
        ``"li"`` (whole Li atoms), ``"time"`` (whole blocks of time), ``"time2"`` (blocks twice as long) or
        ``"replica"`` (whole runs of an ensemble).
    n_units : int
        Li atoms or blocks resampled.
    transition_matrices : (n_resamples, n_lags, n, n) ndarray
        Row-normalised counts on the point estimate's active set at each lag;
        NaN outside it and for a resample that left a row of it empty.
    timescales : (n_resamples, n_lags, n - 1) ndarray
        Implied timescales at each lag (unit of the lags), slowest first; NaN where undefined.
    """

    method: str
    n_units: int
    transition_matrices: np.ndarray
    timescales: np.ndarray


def _timescales(K: np.ndarray, lag: float, width: int) -> np.ndarray:
    """(R, width) implied timescales of a stack of (R, m, m) matrices, slowest first; NaN past m - 1."""
    out = np.full((K.shape[0], width), np.nan)
    if K.shape[0] == 0 or K.shape[1] < 2:
        return out
    modulus = -np.sort(-np.abs(np.linalg.eigvals(K)), axis=1)[:, 1:]
    with np.errstate(divide="ignore"):
        log_mod = np.log(np.clip(modulus, 0.0, 1.0))
        ts = np.where(log_mod >= -1e-12, np.inf, -lag / np.where(log_mod >= -1e-12, -1.0, log_mod))
    out[:, : ts.shape[1]] = np.where(modulus == 0.0, 0.0, ts)
    return out


def resampling_units(per_li_counts: np.ndarray, block_counts: np.ndarray | Sequence[np.ndarray], *,
                     min_blocks: int, replica_counts: np.ndarray | None = None, n_li: Sequence[int] | None = None,
                     min_replicas: int = 4) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """The counts of the units of each resampling scheme and the replica each unit belongs to (None for one run),
    by method: ``{method: (unit_counts, strata)}``.

    Parameters
    ----------
    per_li_counts : (n_li, n_lags, n, n) ndarray
        Every Li atom of every replica, replica after replica.
    block_counts : (n_blocks, n_lags, n, n) ndarray, or a sequence of them (one per replica)
    min_blocks : int
        Fewer blocks than this in all: no resampling of time.
    replica_counts : (n_replicas, n_lags, n, n) ndarray, optional
    n_li : sequence of int, optional
        Li atoms of each replica (needed with ``replica_counts``).
    min_replicas : int, default 4
    """
    blocks = [np.asarray(block_counts)] if isinstance(block_counts, np.ndarray) else [np.asarray(b) for b in
                                                                                     block_counts]
    ensemble = replica_counts is not None and len(blocks) > 1

    def strata(sizes: Sequence[int]) -> np.ndarray | None:
        return np.repeat(np.arange(len(sizes)), sizes) if ensemble else None

    schemes = {"li": (np.asarray(per_li_counts), strata(n_li or [len(per_li_counts)]))}
    if sum(b.shape[0] for b in blocks) >= min_blocks:
        # blocks twice as long (the blocking method's next level), paired within each replica
        pairs = [b[: b.shape[0] // 2 * 2].reshape(-1, 2, *b.shape[1:]).sum(axis=1) for b in blocks]
        schemes["time"] = (np.concatenate(blocks), strata([b.shape[0] for b in blocks]))
        schemes["time2"] = (np.concatenate(pairs), strata([p.shape[0] for p in pairs]))
    if ensemble and len(replica_counts) >= max(min_replicas, 2):
        schemes["replica"] = (np.asarray(replica_counts), None)
    return schemes


@renamed_parameters(units="unit_counts", lags="lags_ps")
def resample_counts(unit_counts: np.ndarray, lags_ps: Sequence[float], active_sets: Sequence[np.ndarray], *,
                    n_resamples: int, rng: np.random.Generator, method: str,
                    strata: np.ndarray | None = None) -> Resamples:
    """Resample the units behind a count matrix and estimate each resample's Koopman matrices and timescales.

    Parameters
    ----------
    unit_counts : (n_units, n_lags, n, n) ndarray
        Counts of each resampling unit (a Li atom, a block of time, a run); they sum to the total counts.
    lags_ps : sequence of float
        The lag of each count matrix (ps; the timescales come out in the same unit).
    active_sets : sequence of (m,) int ndarray
        The point estimate's active set at each lag (empty where there is no model).
    n_resamples : int
    rng : numpy.random.Generator
    method : {"li", "time", "time2", "replica"}
    strata : (n_units,) int ndarray, optional
        The replica of each unit: units are then resampled within each
        replica, which keeps its share of the ensemble (a stratified
        bootstrap), and ``n_units`` of the result is reduced by the number of
        replicas less one (the degrees of freedom of the widening).

    Returns
    -------
    Resamples
    """
    unit_counts = np.asarray(unit_counts, dtype=float)
    n_units, n_lags, n = unit_counts.shape[0], unit_counts.shape[1], unit_counts.shape[-1]
    if strata is None:
        weights = rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=n_resamples).astype(float)
        effective = n_units
    else:
        weights = np.zeros((n_resamples, n_units))
        groups = np.unique(strata)
        for group in groups:
            members = np.flatnonzero(strata == group)
            weights[:, members] = rng.multinomial(members.size, np.full(members.size, 1.0 / members.size),
                                                  size=n_resamples)
        effective = n_units - groups.size + 1
    counts = (weights @ unit_counts.reshape(n_units, -1)).reshape(n_resamples, n_lags, n, n)
    matrices = np.full((n_resamples, n_lags, n, n), np.nan)
    timescales = np.full((n_resamples, n_lags, n - 1), np.nan)
    for k, (lag, active) in enumerate(zip(lags_ps, active_sets)):
        if len(active) == 0:
            continue
        c = counts[:, k][:, active][:, :, active]
        rows = c.sum(axis=2)
        ok = np.all(rows > 0, axis=1)
        K = c[ok] / rows[ok][:, :, None]
        full = np.full((K.shape[0], n, n), np.nan)
        full[np.ix_(np.arange(K.shape[0]), active, active)] = K
        matrices[ok, k] = full
        timescales[ok, k] = _timescales(K, lag, n - 1)
    return Resamples(method, effective, frozen_array(matrices), frozen_array(timescales))


def route_shares(resamples: Resamples, lag_index: int, active: np.ndarray, source: tuple[int, ...],
                 target: tuple[int, ...], routes: Sequence[tuple[int, ...]]) -> RouteSamples:
    """Share of the reactive flux of each given route in each resample, which route is the widest path there, and
    the pathway diversity.

    Routes use the original state numbering. A resample in which a source or
    target state drops out, or whose matrix is reducible, gives share 0 to
    every route, no top route and no diversity.

    Returns
    -------
    RouteSamples
    """
    R = resamples.transition_matrices.shape[0]
    shares = np.zeros((R, len(routes)))
    top = np.full(R, -1)
    spread = np.full(R, np.nan)
    position = {int(s): k for k, s in enumerate(active)}
    if not routes or any(s not in position for s in (*source, *target)):
        return RouteSamples(shares, top, spread)
    src, dst = tuple(position[s] for s in source), tuple(position[s] for s in target)
    wanted = {tuple(r): k for k, r in enumerate(routes)}
    K = resamples.transition_matrices[:, lag_index][:, active][:, :, active]
    valid = np.all(np.isfinite(K), axis=(1, 2))
    net = np.full(K.shape, np.nan)
    total = np.full(R, np.nan)
    if valid.any():
        net[valid], total[valid] = net_flux_batch(K[valid], src, dst)
    width = max(len(routes) + 1, DIVERSITY_ROUTES)
    every = np.full((R, width), np.nan)  # the shares of all routes decomposed, for the diversity
    for r in np.flatnonzero(np.isfinite(total)):  # a reducible resample has no flux: share 0, no top
        found = decompose_routes(net[r], total[r], src, dst, k=width)
        for rank, (states, flux) in enumerate(found):
            route = tuple(int(active[s]) for s in states)
            every[r, rank] = flux / total[r]
            if route in wanted:
                shares[r, wanted[route]] = flux / total[r]
                if rank == 0:
                    top[r] = wanted[route]
    done = np.isfinite(total) & np.isfinite(every[:, 0])
    spread[done] = diversities(every[done])
    return RouteSamples(shares, top, spread)


@dataclass(frozen=True, slots=True)
class RouteSamples:
    """The routes of each resample (``route_shares``).

    Attributes
    ----------
    shares : (n_resamples, n_routes) ndarray
        Share of the reactive flux of each given route (0 where absent).
    top : (n_resamples,) int ndarray
        Which given route is the widest path (-1: none of them, or no flux).
    diversity : (n_resamples,) ndarray
        The effective number of routes (``pathways.diversity``; NaN without flux).
    """

    shares: np.ndarray
    top: np.ndarray
    diversity: np.ndarray


def comparable_routes(share_intervals: np.ndarray) -> tuple[int, ...]:
    """The routes that cannot be told from the top route: the top route (index 0) and every route whose share
    interval overlaps its interval. ``share_intervals``: (n_routes, 2), NaN bounds overlap nothing.

    >>> comparable_routes(np.array([[0.46, 0.52], [0.44, 0.50], [0.01, 0.03]]))
    (0, 1)
    """
    ci = np.asarray(share_intervals, dtype=float)
    if ci.size == 0:
        return ()
    if not np.isfinite(ci[0]).all():
        return (0,)
    lo, hi = ci[0]
    return (0, *(k for k in range(1, len(ci)) if np.isfinite(ci[k]).all() and ci[k, 1] >= lo and ci[k, 0] <= hi))


def endpoints_kept(resamples: Resamples, lag_index: int, lag: float, active: np.ndarray,
                   candidates: Sequence[int], source: int | None, target: int | None) -> np.ndarray:
    """Whether each resample would choose the same default source (least mobile) and target (most mobile).

    The default endpoints are an estimate like any other: when two candidate
    states are about as mobile, which of them is the "least mobile" flips from
    resample to resample, and so would the direction of every route. Escape
    rates come from each resample's generator (``rates.generators``), among
    the same ``candidates`` (original numbering) as the point estimate.

    Parameters
    ----------
    source, target : int or None
        The default source and target of the point estimate (original
        numbering); None for one the user chose, which every resample keeps.

    Returns
    -------
    (n_resamples,) bool ndarray
        False also for a resample without a matrix at ``lag_index``.
    """
    R = resamples.transition_matrices.shape[0]
    if source is None and target is None:
        return np.ones(R, dtype=bool)
    position = {int(s): k for k, s in enumerate(active)}
    among = [position[s] for s in candidates if s in position]
    K = resamples.transition_matrices[:, lag_index][:, active][:, :, active]
    valid = np.all(np.isfinite(K), axis=(1, 2))
    kept = np.zeros(R, dtype=bool)
    if not valid.any() or len(among) < 2:
        return valid
    escape = -np.diagonal(generators(K[valid], lag), axis1=1, axis2=2)[:, among]
    ok = np.ones(int(valid.sum()), dtype=bool)
    if source is not None:
        ok &= np.asarray(among)[np.argmin(escape, axis=1)] == position.get(source, -1)
    if target is not None:
        ok &= np.asarray(among)[np.argmax(escape, axis=1)] == position.get(target, -1)
    kept[valid] = ok
    return kept


def _quantile(ordered: np.ndarray, valid: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Linear-interpolated quantile ``p`` (per element) of samples sorted along axis 0 with NaN last."""
    position = p * np.maximum(valid - 1, 0)
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, np.maximum(valid - 1, 0))
    lo = np.take_along_axis(ordered, below[None], axis=0)[0]
    hi = np.take_along_axis(ordered, above[None], axis=0)[0]
    with np.errstate(invalid="ignore"):  # inf - inf where both neighbours are infinite
        value = np.where(lo == hi, lo, lo + (position - below) * (hi - lo))
    return np.where(valid > 0, value, np.nan)


def percentile_interval(samples: np.ndarray, confidence: float, estimate: np.ndarray | None = None,
                        n_units: int | None = None, limits: tuple[float, float] = (-np.inf, np.inf)) -> np.ndarray:
    """(..., 2) equal-tailed interval over the first axis (the resamples), ignoring NaN; NaN where all are.

    With ``estimate`` (the point estimate, shaped like one sample) the
    interval is bias-corrected (Efron's BC percentile interval): when the
    resamples sit mostly on one side of the estimate, as they do for implied
    timescales, whose estimator is biased low, the percentiles shift to undo it.

    With ``n_units`` (the number of resampled units, B) the interval is widened
    about the estimate (or its midpoint) by ``sqrt(B / (B - 1)) t_{B-1} / z``,
    the usual correction for resampling few clusters: it is 1.14 for 12 blocks
    of time and about 1 for a hundred Li atoms. ``limits`` is the quantity's
    range (shares and probabilities lie in [0, 1]); the widened interval stays in it.
    """
    samples = np.asarray(samples, dtype=float)
    shape = samples.shape[1:]
    if samples.shape[0] == 0:
        return np.full((*shape, 2), np.nan)
    ordered = np.sort(samples, axis=0)
    valid = np.sum(~np.isnan(samples), axis=0)
    alpha = (1 - confidence) / 2
    lo_p, hi_p = np.full(shape, alpha), np.full(shape, 1 - alpha)
    if estimate is not None:
        estimate = np.asarray(estimate, dtype=float)
        with np.errstate(invalid="ignore"):
            below = np.sum(samples < estimate, axis=0) + 0.5 * np.sum(samples == estimate, axis=0)
            p0 = np.clip(below / np.maximum(valid, 1), 0.5 / np.maximum(valid, 1), 1 - 0.5 / np.maximum(valid, 1))
        z0 = np.where(np.isfinite(estimate) & (valid > 0), ndtri(p0), 0.0)
        lo_p, hi_p = ndtr(2 * z0 + ndtri(alpha)), ndtr(2 * z0 + ndtri(1 - alpha))
    bounds = np.stack([_quantile(ordered, valid, lo_p), _quantile(ordered, valid, hi_p)], axis=-1)
    if n_units is None or n_units < 2:
        return bounds
    factor = np.sqrt(n_units / (n_units - 1)) * stdtrit(n_units - 1, 1 - alpha) / ndtri(1 - alpha)
    centre = bounds.mean(axis=-1) if estimate is None else np.where(np.isfinite(estimate), estimate,
                                                                   bounds.mean(axis=-1))
    with np.errstate(invalid="ignore"):  # infinite bounds stay infinite
        return np.clip(centre[..., None] + factor * (bounds - centre[..., None]), *limits)


def envelope(intervals: Sequence[np.ndarray]) -> np.ndarray:
    """The union hull of several (..., 2) intervals: the lowest lower and the highest upper bound."""
    stacked = np.stack([np.asarray(i, dtype=float) for i in intervals])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo = np.nanmin(stacked[..., 0], axis=0)
        hi = np.nanmax(stacked[..., 1], axis=0)
    return np.stack([lo, hi], axis=-1)
