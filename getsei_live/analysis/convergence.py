"""Analysis snapshots with time-correlated intervals and a Markov-lag test, and the verdict that decides early stop.

"Converged" means: this answer will not change with more MD, within the
intervals shown. A check passes only when the answer is statistically resolved
(narrow intervals, a top route that stays on top under resampling, enough
transitions), the lag is Markovian (implied-timescale plateau and
Chapman-Kolmogorov test), and the point estimates have stopped moving for
``patience`` checks.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, NamedTuple

import numpy as np

from ..errors import GetseiError
from ._result import nan_padded
from .criteria import ConvergenceCriteria
from .koopman import fit_by_lag
from .markov import markov_test
from .metastability import core_test
from .transport import Transport
from .model import KineticModel, kinetic_model
from .rates import generators
from .records import Intervals, Snapshot
from .spectral import timescales_by_lag
from .stationarity import stationarity
from .tpt import mfpt_batch
from .uncertainty import (
    METHODS,
    PROBABILITY,
    TIME,
    Resamples,
    comparable_routes,
    endpoints_kept,
    envelope,
    percentile_interval,
    resample_counts,
    resampling_units,
    route_shares,
)

# the criteria and the verdict live in .criteria and .verdict; imported here for the old names
__all__ = ["Check", "check", "snapshot"]

log = logging.getLogger(__name__)


def _intervals(model: KineticModel, resamples: list[Resamples], timescales_by_lag: np.ndarray, lag_index: int,
               criteria: ConvergenceCriteria, *, default_source: bool, default_target: bool) -> Intervals:
    """The resampling intervals of the model's pathway shares, timescales and Koopman matrix.

    A resample keeps the top route on top only if it also picks the same
    default source and target: a route whose direction flips with the
    resampling is not resolved, however clear its share is. Routes whose share
    intervals overlap the top route's are *comparable*: the resamples whose top
    route is any of them resolve the answer that they tie.
    """
    c, active = criteria, model.transition.active_set
    routes = [tuple(p.states) for p in model.pathways]
    samples = [route_shares(r, lag_index, active, model.source, model.target, routes) for r in resamples]
    kept = [endpoints_kept(r, lag_index, model.lag_ps, active, model.endpoint_candidates,
                           model.source[0] if default_source else None,
                           model.target[0] if default_target else None) for r in resamples]
    fractions = np.array([p.fraction for p in model.pathways])
    shares_ci = envelope([percentile_interval(s.shares, c.confidence, estimate=fractions, n_units=r.n_units,
                                              limits=PROBABILITY) for s, r in zip(samples, resamples)])
    comparable = comparable_routes(shares_ci) if routes else ()

    def resolved(tops: tuple[int, ...]) -> float:
        return float(min(((np.isin(s.top, tops)) & k).mean() for s, k in zip(samples, kept))) if routes else 0.0

    mfpts, bottlenecks = zip(*(_passage_samples(model, r, lag_index) for r in resamples))
    by_lag = envelope([percentile_interval(r.timescales, c.confidence, estimate=timescales_by_lag,
                                           n_units=r.n_units, limits=TIME) for r in resamples])
    return Intervals(
        n_bootstrap=c.n_bootstrap, confidence=c.confidence,
        interval_method=" and ".join(dict.fromkeys(METHODS[r.method] for r in resamples)),
        pathway_fraction_ci=shares_ci, top_route_resolved=resolved((0,)),
        endpoints_resolved=float(min(k.mean() for k in kept)),
        timescales_ci=by_lag[lag_index], timescales_by_lag_ci=by_lag,
        transition_matrix_ci=envelope([percentile_interval(r.transition_matrices[:, lag_index], c.confidence,
                                                           n_units=r.n_units, limits=PROBABILITY) for r in resamples]),
        mfpt_ci=envelope([percentile_interval(m, c.confidence, estimate=np.float64(model.mfpt_ps), n_units=r.n_units,
                                              limits=TIME) for m, r in zip(mfpts, resamples)]),
        bottleneck_rate_ci=envelope([percentile_interval(b, c.confidence, n_units=r.n_units, limits=TIME,
                                                         estimate=np.array([p.bottleneck_rate for p in model.pathways]))
                                     for b, r in zip(bottlenecks, resamples)]),
        comparable_routes=comparable, comparable_resolved=resolved(comparable),
        pathway_diversity_ci=envelope([percentile_interval(s.diversity, c.confidence,
                                                           estimate=np.float64(model.pathway_diversity),
                                                           n_units=r.n_units, limits=(1.0, np.inf))
                                       for s, r in zip(samples, resamples)]))


def _passage_samples(model: KineticModel, resamples: Resamples, lag_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Each resample's mean first-passage time from the model's source to its target (ps) and the rate of each
    pathway's rate-limiting step (1/ps); NaN where a resample lacks a state or its matrix is reducible."""
    active = model.transition.active_set
    position = {int(s): k for k, s in enumerate(active)}
    R = resamples.transition_matrices.shape[0]
    mfpts, rates = np.full(R, np.nan), np.full((R, len(model.pathways)), np.nan)
    if model.flux is None or any(s not in position for s in (*model.source, *model.target)):
        return mfpts, rates
    K = resamples.transition_matrices[:, lag_index][:, active][:, :, active]
    valid = np.all(np.isfinite(K), axis=(1, 2))
    if valid.any():
        mfpts[valid] = mfpt_batch(K[valid], tuple(position[s] for s in model.source),
                                  tuple(position[s] for s in model.target), lag=model.lag_ps)
        if model.pathways:
            generator = generators(K[valid], model.lag_ps)
            i, j = np.array([[position[s] for s in p.bottleneck] for p in model.pathways]).T
            rates[valid] = generator[:, i, j]
    return mfpts, rates


class Check(NamedTuple):
    """What one check computes: the kinetic model at the analysis lag, and the snapshot that records it."""

    model: KineticModel
    snapshot: Snapshot


def check(counts: np.ndarray, per_li_counts: np.ndarray, block_counts: np.ndarray | list[np.ndarray], *,
             lags_ps: tuple[float, ...], lag_index: int | None, source: tuple[int, ...] | None,
             target: tuple[int, ...] | None, criteria: ConvergenceCriteria, rng: np.random.Generator,
             block_ps: float | None = None, replica_counts: np.ndarray | None = None,
             n_li: list[int] | None = None, observed_ps: float | None = None, core_ps: float = 0.0,
             label_changes_removed: float | None = None, events: np.ndarray | None = None,
             block_events: np.ndarray | list[np.ndarray] | None = None, probe_counts: np.ndarray | None = None,
             probe_core_ps: float | None = None, transport: Transport | None = None) -> Check:
    """The kinetic model, its intervals, the Markov test at every lag, the core test and the stationarity of the run.

    Parameters
    ----------
    counts : (n_lags, n, n) ndarray
    per_li_counts : (n_li, n_lags, n, n) ndarray
    block_counts : (n_blocks, n_lags, n, n) ndarray, or a list of them (one per replica of an ensemble)
        Counts per block of time (``TransitionCounter.block_counts``).
    lags_ps : tuple of float
    lag_index : int or None
        Which lag the model, rates and pathways use; None picks the shortest
        lag that passes the Markov test (while none does, the longest lag that has a stored multiple to be
        tested against: the longest of all has none and could never pass).
    source, target : tuple of int or None
        TPT sets; None for the least / most mobile state that holds a real share of the Li.
    block_ps : float, optional
        Length of a block of time, for the record.
    replica_counts : (n_replicas, n_lags, n, n) ndarray, optional
        The counts of each run of an ensemble (``counts`` is their sum).
    n_li : list of int, optional
        Li atoms of each run of an ensemble (``per_li_counts`` holds them run after run).
    observed_ps : float, optional
        Counted time per Li (ps): a slower process has not been seen (see ``markov_test``).
    core_ps, label_changes_removed : float, float or None
        The core length of the counted labels and the share of raw label changes it removed, for the record.
    events : (n, n) ndarray, optional
        State changes i -> j of the counted labels, each once (``TransitionCounter.events``): what
        ``min_transitions`` counts (without them, the sliding-window pairs at the lag, as before 0.3).
    block_events : (n_blocks, n, n) ndarray, or a list of them, optional
        State changes per block of time, for the stationarity test.
    probe_counts : (n_lags, n, n) ndarray, optional
        Counts of the raw labels cored with ``probe_core_ps`` (twice ``core_ps``): the core test
        (``metastability.core_test``); None without core assignment.
    transport : Transport, optional
        How the Li moved, from their positions (``transport.summarise``), for the record and the verdict's notes.
    """
    c, lags_ps = criteria, tuple(lags_ps)
    fits = fit_by_lag(counts)
    active_sets = [np.zeros(0, dtype=int) if fit is None else fit.active_set for fit in fits]
    schemes = resampling_units(per_li_counts, block_counts, min_blocks=c.min_blocks, replica_counts=replica_counts,
                               n_li=n_li, min_replicas=c.min_replicas)
    n_blocks = sum(len(b) for b in ([block_counts] if isinstance(block_counts, np.ndarray) else block_counts))
    resamples = [resample_counts(u, lags_ps, active_sets, n_resamples=c.n_bootstrap, rng=rng, method=m, strata=s)
                 for m, (u, s) in schemes.items()] if c.n_bootstrap else []
    markov = markov_test(counts, lags_ps, resamples, confidence=c.confidence, ck_tolerance=c.ck_tolerance,
                         leave_rtol=c.ck_leave_rtol, plateau_rtol=c.plateau_rtol, n_timescales=c.n_timescales,
                         fits=fits, observed_ps=observed_ps, n_li=per_li_counts.shape[0],
                         min_slow_events=c.min_slow_events)
    auto = lag_index is None
    if auto:
        usable = [k for k in range(len(lags_ps)) if counts[k].sum() > 0]
        if not usable:
            raise GetseiError("No lag has counted transitions yet.")
        suggested = markov.suggested_lag
        # while no lag passes, the longest that can be tested (one with a stored multiple): the longest of all has
        # none, so falling back to it could never pass
        testable = [k for k in usable if any(abs(lags_ps[j] / lags_ps[k] - round(lags_ps[j] / lags_ps[k])) < 1e-6
                                             and lags_ps[j] > lags_ps[k] for j in range(len(lags_ps)))]
        lag_index = lags_ps.index(suggested) if suggested is not None else (testable or usable)[-1]
    events_out = None if events is None else events.sum(axis=1) - np.diag(events)
    model = kinetic_model(counts[lag_index], lags_ps[lag_index], source=source, target=target,
                          n_pathways=c.n_pathways, min_population=c.min_population,
                          min_transitions=c.min_transitions, events_out=events_out)
    by_lag = nan_padded(timescales_by_lag(counts, lags_ps, fits=fits), counts.shape[-1] - 1)
    intervals = (_intervals(model, resamples, by_lag, lag_index, c, default_source=source is None,
                            default_target=target is None) if resamples else None)
    steady = stationarity(block_counts, lag_index, rng=rng, n_resamples=max(c.n_bootstrap, 50),
                          confidence=c.confidence, max_population_drift=c.max_population_drift,
                          max_leave_drift=c.max_leave_drift, min_transitions=c.min_transitions,
                          block_events=block_events) if c.n_bootstrap else None
    cores = None
    if probe_counts is not None and probe_core_ps is not None:
        cores = core_test(counts[lag_index], probe_counts[lag_index], lag_ps=lags_ps[lag_index], core_ps=core_ps,
                          probe_core_ps=probe_core_ps, n_timescales=c.n_timescales, rtol=c.plateau_rtol,
                          observed_ps=observed_ps, n_li=per_li_counts.shape[0], min_events=c.min_slow_events)
    li_ps = (per_li_counts.shape[0] * observed_ps) if observed_ps else 0.0
    snap = Snapshot.of(model, counts[lag_index], lags_ps=lags_ps, timescales_by_lag=by_lag,
                       markov=markov.record(model.lag_ps), intervals=intervals, lag_auto=auto, n_blocks=int(n_blocks),
                       n_replicas=1 if replica_counts is None else len(replica_counts), block_ps=block_ps,
                       core_ps=float(core_ps), label_changes_removed=label_changes_removed, observed_ps=observed_ps,
                       stationarity=steady, events=events,
                       events_per_li_ps=float(events.sum()) / li_ps if events is not None and li_ps else np.nan,
                       core_test=cores, transport=transport)
    return Check(model, snap)


def snapshot(*args: Any, **kwargs: Any) -> Snapshot:
    """The snapshot of a check: ``check(...).snapshot``, with the same parameters."""
    return check(*args, **kwargs).snapshot


snapshot.__signature__ = inspect.signature(check).replace(return_annotation="Snapshot")  # type: ignore[attr-defined]
