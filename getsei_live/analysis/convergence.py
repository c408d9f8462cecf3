"""Analysis snapshots with time-correlated intervals and a Markov-lag test, and the verdict that decides early stop.

"Converged" means: this answer will not change with more MD, within the
intervals shown. A check passes only when the answer is statistically resolved
(narrow intervals, a top route that stays on top under resampling, enough
transitions), the lag is Markovian (implied-timescale plateau and
Chapman-Kolmogorov test), and the point estimates have stopped moving for
``patience`` checks.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields

import numpy as np

from ..errors import ParameterError, check_fields
from .markov import fit_by_lag, markov_test
from .model import kinetic_model
from .spectral import implied_timescales
from .uncertainty import (
    METHODS,
    PROBABILITY,
    TIME,
    envelope,
    percentile_interval,
    resample_counts,
    resampling_units,
    route_shares,
)

__all__ = ["ConvergenceCriteria", "ConvergenceMonitor", "explain", "snapshot"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConvergenceCriteria:
    """When the kinetic model counts as converged; every threshold with its unit.

    A check is converged when all of these hold:

    - ``min_transitions``: every state of the model (active set) has at least
      this many observed transitions out of it at the analysis lag (count).
    - ``markovian``: the analysis lag passes the Markov test (slowest process
      longer than the lag; the ``n_timescales`` slowest timescales on a plateau
      within ``plateau_rtol`` or their intervals; Chapman-Kolmogorov within
      ``ck_tolerance``).
    - ``route_interval``: the interval of every reported route share is at most
      ``share_ci_width`` wide (fraction of the reactive flux).
    - ``top_route_resolved``: the top route is still the top route in at least
      ``top_route_confidence`` of the resamples (fraction).
    - ``timescale_interval``: the intervals of the ``n_timescales`` slowest
      timescales longer than the lag are at most ``timescale_ci_rwidth`` of the
      estimate wide (relative).
    - ``time_blocks``: at least ``min_blocks`` blocks of time exist to resample.
    - ``unchanged``: for ``patience`` checks in a row every other condition
      held, the ordered top routes stayed the same, no share moved by
      ``fraction_tol`` or more (fraction) and no timescale at the analysis lag
      by ``timescale_rtol`` or more (relative).

    Intervals: ``n_bootstrap`` resamples each of whole Li atoms, of whole blocks
    of time, and of blocks twice as long (and of whole replicas of an ensemble,
    once there are ``min_replicas``); the reported interval (``confidence``
    coverage) is the envelope of them.

    Attributes
    ----------
    patience : int, default 3 (checks)
    n_pathways : int, default 5 (routes reported and judged)
    fraction_tol : float, default 0.05 (share of the flux)
    timescale_rtol : float, default 0.2 (relative)
    min_transitions : int, default 20 (transitions out of each state)
    share_ci_width : float, default 0.05 (share of the flux)
    top_route_confidence : float, default 0.95 (fraction of resamples)
    timescale_ci_rwidth : float, default 0.3 (relative)
    n_timescales : int, default 2 (slowest processes judged)
    ck_tolerance : float, default 0.05 (transition probability)
    plateau_rtol : float, default 0.2 (relative)
    min_blocks : int, default 8 (blocks of time)
    min_replicas : int, default 4 (runs of an ensemble before whole runs are resampled)
    min_population : float, default 0.02 (fraction of the Li for a default source or target)
    n_bootstrap : int, default 200 (resamples per scheme; 0 disables intervals, and convergence)
    confidence : float, default 0.9 (interval coverage)
    """

    patience: int = 3
    n_pathways: int = 5
    fraction_tol: float = 0.05
    timescale_rtol: float = 0.2
    min_transitions: int = 20
    share_ci_width: float = 0.05
    top_route_confidence: float = 0.95
    timescale_ci_rwidth: float = 0.3
    n_timescales: int = 2
    ck_tolerance: float = 0.05
    plateau_rtol: float = 0.2
    min_blocks: int = 8
    min_replicas: int = 4
    min_population: float = 0.02
    n_bootstrap: int = 200
    confidence: float = 0.9

    def __post_init__(self) -> None:
        check_fields(self, integers={"patience": 1, "n_pathways": 1, "min_transitions": 0, "n_bootstrap": 0,
                                     "n_timescales": 1, "min_blocks": 2, "min_replicas": 2},
                     positive=("fraction_tol", "timescale_rtol", "share_ci_width", "timescale_ci_rwidth",
                               "ck_tolerance", "plateau_rtol", "confidence", "top_route_confidence"),
                     unit_interval=("confidence", "min_population"))
        if not self.top_route_confidence <= 1:
            raise ParameterError(f"The 'top_route_confidence' parameter must lie in (0, 1]. "
                                 f"Got {self.top_route_confidence!r} instead.")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ConvergenceCriteria:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _listed(values: np.ndarray) -> list:
    """JSON-ready nested lists with None for non-finite numbers."""
    array = np.asarray(values, dtype=float)
    out = array.astype(object)
    out[~np.isfinite(array)] = None
    return out.tolist()


def _full(values: np.ndarray, active: np.ndarray, n: int) -> list[float]:
    full = np.zeros(n)
    full[active] = values
    return full.tolist()


def snapshot(counts: np.ndarray, per_li_counts: np.ndarray, block_counts: np.ndarray | list[np.ndarray], *,
             lags_ps: tuple[float, ...], lag_index: int | None, source: tuple[int, ...] | None,
             target: tuple[int, ...] | None, criteria: ConvergenceCriteria, rng: np.random.Generator,
             block_ps: float | None = None, replica_counts: np.ndarray | None = None,
             n_li: list[int] | None = None) -> dict:
    """The kinetic model, its intervals and the Markov test at every lag, as a JSON-ready dict.

    Parameters
    ----------
    counts : (n_lags, n, n) ndarray
    per_li_counts : (n_li, n_lags, n, n) ndarray
    block_counts : (n_blocks, n_lags, n, n) ndarray, or a list of them (one per replica of an ensemble)
        Counts per block of time (``TransitionCounter.block_counts``).
    lags_ps : tuple of float
    lag_index : int or None
        Which lag the model, rates and pathways use; None picks the shortest
        lag that passes the Markov test (the longest lag when none does).
    source, target : tuple of int or None
        TPT sets; None for the least / most mobile state that holds a real share of the Li.
    block_ps : float, optional
        Length of a block of time, for the record.
    replica_counts : (n_replicas, n_lags, n, n) ndarray, optional
        The counts of each run of an ensemble (``counts`` is their sum).
    n_li : list of int, optional
        Li atoms of each run of an ensemble (``per_li_counts`` holds them run after run).
    """
    n = counts.shape[-1]
    c = criteria
    fits = fit_by_lag(counts)
    active_sets = [np.zeros(0, dtype=int) if fit is None else fit.active_set for fit in fits]
    units = resampling_units(per_li_counts, block_counts, min_blocks=c.min_blocks, replica_counts=replica_counts,
                             n_li=n_li, min_replicas=c.min_replicas)
    n_blocks = sum(len(b) for b in ([block_counts] if isinstance(block_counts, np.ndarray) else block_counts))
    resamples = [resample_counts(u, lags_ps, active_sets, n_resamples=c.n_bootstrap, rng=rng, method=m, strata=s)
                 for m, (u, s) in units.items()] if c.n_bootstrap else []
    markov = markov_test(counts, lags_ps, resamples, confidence=c.confidence, ck_tolerance=c.ck_tolerance,
                         timescale_rtol=c.plateau_rtol, n_timescales=c.n_timescales, fits=fits)
    auto = lag_index is None
    if auto:
        suggested = markov.suggested_lag
        usable = [k for k in range(len(lags_ps)) if counts[k].sum() > 0]
        lag_index = lags_ps.index(suggested) if suggested is not None else usable[-1]
    lag = lags_ps[lag_index]
    counts_at = counts[lag_index]
    model = kinetic_model(counts_at, lag, source=source, target=target, n_pathways=c.n_pathways,
                          min_population=c.min_population, min_transitions_out=c.min_transitions)
    tm, rates, active = model.transition, model.rates, model.transition.active_set
    routes = [tuple(p.states) for p in model.pathways]
    by_lag = [np.full(n - 1, np.nan) for _ in lags_ps]
    for t, fit, lag_k in zip(by_lag, fits, lags_ps):
        if fit is not None:
            ts = implied_timescales(fit.transition_matrix, lag_k).timescales
            t[: ts.size] = ts
    intervals: dict = {}
    if resamples:
        shares, tops = zip(*(route_shares(r, lag_index, active, model.source, model.target, routes)
                             for r in resamples))
        fractions = np.array([p.fraction for p in model.pathways])
        ts_by_lag = envelope([percentile_interval(r.timescales, c.confidence, estimate=np.stack(by_lag),
                                                  n_units=r.n_units, limits=TIME) for r in resamples])
        intervals = {
            "n_bootstrap": c.n_bootstrap,
            "interval_method": " and ".join(dict.fromkeys(METHODS[r.method] for r in resamples)),
            "confidence": c.confidence,
            "pathway_fraction_ci": _listed(envelope([percentile_interval(s, c.confidence, estimate=fractions,
                                                                         n_units=r.n_units, limits=PROBABILITY)
                                                     for s, r in zip(shares, resamples)])),
            "top_route_resolved": float(min(t.mean() for t in tops)) if routes else 0.0,
            "timescales_ci": _listed(ts_by_lag[lag_index]),
            "timescales_by_lag_ci": _listed(ts_by_lag),
            "transition_matrix_ci": _listed(envelope(
                [percentile_interval(r.transition_matrices[:, lag_index], c.confidence, n_units=r.n_units,
                                     limits=PROBABILITY) for r in resamples])),
        }
    generator = np.zeros((n, n))
    generator[np.ix_(active, active)] = rates.generator
    K = np.zeros((n, n))
    K[np.ix_(active, active)] = tm.transition_matrix
    off_diagonal = counts_at.sum(axis=1) - np.diag(counts_at)
    return {
        "lag_ps": lag,
        "lag_auto": auto,
        "n_transitions": int(counts_at.sum()),
        "transitions_out": off_diagonal.astype(int).tolist(),
        "active_set": active.tolist(),
        "excluded_states": tm.excluded_states.tolist(),
        "stationary_distribution": _full(tm.stationary_distribution, active, n),
        "transition_matrix": K.tolist(),
        "lags_ps": list(lags_ps),
        "timescales_by_lag": [_listed(t) for t in by_lag],
        "timescales": _listed(by_lag[lag_index]),
        "rate_matrix": generator.tolist(),
        "rates_valid": rates.valid,
        "rate_problems": list(rates.problems),
        "escape_rates": _full(rates.escape_rates, active, n),
        "mobility": _full(rates.mobility, active, n),
        "mobility_ranking": list(model.mobility_ranking),
        "source": list(model.source),
        "target": list(model.target),
        "endpoint_candidates": list(model.endpoint_candidates),
        "endpoint_notes": list(model.notes),
        "total_flux": model.flux.total_flux if model.flux is not None else 0.0,
        "tpt_rate_per_ps": model.flux.rate if model.flux is not None else 0.0,
        "pathways": [{"states": list(p.states), "flux": p.flux, "fraction": p.fraction} for p in model.pathways],
        "n_blocks": int(n_blocks),
        "n_replicas": 1 if replica_counts is None else len(replica_counts),
        "block_ps": block_ps,
        "markov": markov.record(lag),
        **intervals,
    }


def _condition(name: str, passed: bool, value, threshold, unit: str, detail: str) -> dict:
    return {"name": name, "passed": bool(passed), "value": value, "threshold": threshold, "unit": unit,
            "detail": detail}


def _slow(snap: dict, n_timescales: int) -> list[int]:
    """Indices of the slowest timescales at the analysis lag that are longer than the lag."""
    return [k for k, t in enumerate(snap["timescales"][:n_timescales]) if t is not None and t > snap["lag_ps"]]


def conditions(snap: dict, criteria: ConvergenceCriteria) -> list[dict]:
    """The convergence conditions of one snapshot (all but ``unchanged``, which needs the history): passed or
    not, by how much."""
    c = criteria
    out = []
    active = set(snap["active_set"])
    exits = {s: k for s, k in enumerate(snap["transitions_out"]) if s in active}
    fewest = min(exits.values(), default=0)
    scarce = [f"S{s}" for s, k in exits.items() if k < c.min_transitions]
    out.append(_condition("min_transitions", not scarce, fewest, c.min_transitions, "transitions",
                          f"fewer than {c.min_transitions} transitions out of {', '.join(scarce)}" if scarce
                          else f"at least {fewest} transitions out of every state"))
    markov = snap["markov"]
    at = markov["lags_ps"].index(snap["lag_ps"])
    suggestion = markov["suggested_lag_ps"]
    why = "; ".join(markov["reasons"][at])
    if markov["markovian"][at]:
        detail = f"CK test passed at lag {snap['lag_ps']:g} ps"
    else:
        shortest = (f"the shortest stored lag that passes is {suggestion:g} ps" if suggestion is not None
                    else "no stored lag passes (count longer lags)")
        detail = f"lag {snap['lag_ps']:g} ps is not Markovian: {why}; {shortest}"
    out.append(_condition("markovian", markov["markovian"][at], why or "passed", "plateau and CK", "", detail))
    n_blocks = snap.get("n_blocks", 0)
    out.append(_condition("time_blocks", n_blocks >= c.min_blocks, n_blocks, c.min_blocks, "blocks",
                          f"{n_blocks} blocks of time to resample (need {c.min_blocks})"))
    ci = snap.get("pathway_fraction_ci")
    if not snap["pathways"] or not ci:
        out.append(_condition("route_interval", False, None, c.share_ci_width, "share",
                              "no pathway intervals yet"))
        out.append(_condition("top_route_resolved", False, None, c.top_route_confidence, "fraction of resamples",
                              "no pathway intervals yet"))
    else:
        widths = [np.inf if None in w else w[1] - w[0] for w in ci]
        widest = float(max(widths))
        out.append(_condition("route_interval", widest <= c.share_ci_width, widest, c.share_ci_width, "share",
                              f"widest route-share interval {100 * widest:.1f} points "
                              f"(at most {100 * c.share_ci_width:g})"))
        resolved = snap.get("top_route_resolved", 0.0)
        out.append(_condition("top_route_resolved", resolved >= c.top_route_confidence, resolved,
                              c.top_route_confidence, "fraction of resamples",
                              f"top route on top in {100 * resolved:.0f}% of resamples "
                              f"(need {100 * c.top_route_confidence:g}%)"))
    slow = _slow(snap, c.n_timescales)
    ts_ci = snap.get("timescales_ci") or []
    rel = [np.inf if k >= len(ts_ci) or ts_ci[k] is None or None in ts_ci[k]
           else (ts_ci[k][1] - ts_ci[k][0]) / snap["timescales"][k] for k in slow]
    worst = float(max(rel)) if rel else np.inf
    out.append(_condition("timescale_interval", bool(rel) and worst <= c.timescale_ci_rwidth,
                          worst if np.isfinite(worst) else None, c.timescale_ci_rwidth, "relative",
                          f"widest slow-timescale interval {100 * worst:.0f}% of the estimate "
                          f"(at most {100 * c.timescale_ci_rwidth:g}%)" if rel
                          else "no timescale longer than the lag"))
    return out


def _unchanged(streak: int, patience: int) -> dict:
    return _condition("unchanged", streak >= patience, streak, patience, "checks",
                      f"estimates unchanged, with every other condition met, for {streak} of {patience} checks")


def _moved(snap: dict, prev: dict | None, criteria: ConvergenceCriteria) -> list[str]:
    """Why the point estimates differ from the previous check (empty: unchanged)."""
    if prev is None:
        return ["first check"]
    if snap["lag_ps"] != prev["lag_ps"]:
        return ["the analysis lag changed"]
    reasons = []
    if [p["states"] for p in snap["pathways"]] != [p["states"] for p in prev["pathways"]]:
        reasons.append("top pathways changed")
    else:
        moved = max((abs(a["fraction"] - b["fraction"]) for a, b in zip(snap["pathways"], prev["pathways"])),
                    default=0.0)
        if moved >= criteria.fraction_tol:
            reasons.append(f"a pathway share moved by {moved:.3f}")
    now, before = snap["timescales"], prev["timescales"]
    changes = [abs(a - b) / abs(b) for a, b in zip(now, before) if a is not None and b is not None and b != 0]
    if len(now) != len(before) or [a is None for a in now] != [b is None for b in before]:
        reasons.append("the set of finite timescales changed")
    elif changes and max(changes) >= criteria.timescale_rtol:
        reasons.append(f"a timescale moved by {100 * max(changes):.0f}%")
    return reasons


class ConvergenceMonitor:
    """Judges each snapshot against the criteria and the previous snapshot.

    Parameters
    ----------
    criteria : ConvergenceCriteria
    """

    def __init__(self, criteria: ConvergenceCriteria) -> None:
        self.criteria = criteria
        self.previous: dict | None = None
        self.streak = 0
        self.converged = False

    def restore(self, history: list[dict]) -> None:
        """Continue from the stored snapshot history."""
        if history:
            self.previous = history[-1]
            self.streak = int(history[-1].get("stable_streak", 0))
            self.converged = bool(history[-1].get("converged", False))

    def judge(self, snap: dict) -> dict:
        """Add ``stable`` (unchanged since the last check), ``stable_streak`` (checks in a row that were
        unchanged with every other condition met), ``conditions`` (each with its value and threshold), ``failed``
        (their names), ``reasons`` (what failed, in words) and ``converged``.

        Counting only checks where everything held means one check whose noisy
        interval happens to be narrow cannot end a run.
        """
        moved = _moved(snap, self.previous, self.criteria)
        self.previous = snap
        checks = conditions(snap, self.criteria)
        held = not moved and all(c["passed"] for c in checks)
        self.streak = self.streak + 1 if held else 0
        checks.append(_unchanged(self.streak, self.criteria.patience))
        failed = [c for c in checks if not c["passed"]]
        self.converged = not failed
        reasons = [c["detail"] for c in failed if c["name"] != "unchanged"] + moved
        if held and self.streak < self.criteria.patience:
            reasons.append(f"every condition held for {self.streak} of {self.criteria.patience} checks")
        return {**snap, "stable": not moved, "stable_streak": self.streak, "conditions": checks,
                "failed": [c["name"] for c in failed], "converged": self.converged, "reasons": reasons}


def explain(snap: dict) -> str:
    """Why a judged snapshot is, or is not, converged, in a user's words."""
    if not snap.get("converged"):
        return "not converged: " + "; ".join(snap.get("reasons") or ["no analysis yet"])
    parts = []
    if snap["pathways"]:
        top = snap["pathways"][0]
        ci = (snap.get("pathway_fraction_ci") or [None])[0]
        half = f" +/- {50 * (ci[1] - ci[0]):.0f}" if ci and None not in ci else ""
        parts.append(f"top route {' -> '.join(f'S{s}' for s in top['states'])} resolved in "
                     f"{100 * snap.get('top_route_resolved', 0):.0f}% of resamples, share "
                     f"{100 * top['fraction']:.0f}%{half}")
    ts = [f"t{k + 1} = {t:.3g} ps" for k, t in enumerate(snap["timescales"][:2]) if t is not None]
    if ts:
        parts.append(", ".join(ts))
    parts.append(f"CK test passed at lag {snap['lag_ps']:g} ps")
    runs = snap.get("n_replicas", 1)
    return f"converged{f' ({runs} runs together)' if runs > 1 else ''}: " + "; ".join(parts)
