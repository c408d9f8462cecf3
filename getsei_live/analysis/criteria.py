"""When the kinetic model counts as converged: every threshold, with its unit."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..errors import ParameterError, check_fields

__all__ = ["ConvergenceCriteria"]


#: Each threshold in words, with its unit, as a run prints them.
WORDS = {
    "patience": "checks in a row with every condition met and the estimates unchanged",
    "n_pathways": "routes reported and judged",
    "fraction_tol": "largest move of a route share between checks (share of the flux)",
    "timescale_rtol": "largest move of a slow timescale between checks (relative)",
    "min_transitions": "state changes out of every state, each counted once, at least",
    "share_ci_width": "widest route-share interval (share of the flux)",
    "top_route_confidence": "share of the resamples with the top route (or a comparable one) on top, at least",
    "timescale_ci_rwidth": "widest slow-timescale interval (relative to the estimate)",
    "n_timescales": "slowest processes judged",
    "ck_tolerance": "Chapman-Kolmogorov: largest difference of a transition probability",
    "ck_leave_rtol": "Chapman-Kolmogorov: largest difference of a probability of leaving a state (relative)",
    "plateau_rtol": "largest change of a slow timescale at longer lags and at twice the core (relative)",
    "min_slow_events": "events of the slowest process the run had room for, at least",
    "max_population_drift": "largest drift of a state's population between the run's halves (share of the Li)",
    "max_leave_drift": "largest drift of a probability of leaving a state between the halves (relative)",
    "min_blocks": "blocks of time to resample, at least",
    "min_replicas": "runs of an ensemble before whole runs are resampled",
    "min_population": "share of the Li a default source or target holds, at least",
    "max_ood_fraction": "largest share of Li environments outside the state model's training",
    "n_bootstrap": "resamples per scheme",
    "confidence": "coverage of the intervals",
}


@dataclass(frozen=True, slots=True)
class ConvergenceCriteria:
    """When the kinetic model counts as converged; every threshold with its unit.

    A check is converged when all of these hold:

    - ``min_transitions``: every state of the model (active set) has been left
      at least this many times: changes of the core-assigned labels, each
      counted once (events), not the sliding-window pairs the estimator counts
      (each change is in about lag / frame interval of those).
    - ``metastable`` (with core assignment): at the analysis lag, the
      ``n_timescales`` slowest timescales counted at twice the core length agree
      within ``plateau_rtol`` with those at the run's core length
      (``analysis.metastability``); otherwise they are set by the core length,
      and the states are fluctuations of one environment, not sites.
    - ``markovian``: the analysis lag passes the Markov test on point estimates
      (``analysis.markov.markov_test``): the slowest process longer than the
      lag, shorter than the time each Li was observed and seen about
      ``min_slow_events`` times or more (n_Li x observed time / t1); the
      ``n_timescales`` slowest timescales within ``plateau_rtol`` at every
      longer lag that resolves them, and some longer lag resolving t1;
      Chapman-Kolmogorov within ``ck_tolerance`` for every entry and within
      ``ck_leave_rtol`` (relative) for the probability of leaving each state.
    - ``stationary``: the state populations and the probabilities of leaving
      each state at the analysis lag do not drift between the first and the
      second half of the counted time: a drift counts when its block-resampled
      interval excludes zero and it exceeds ``max_population_drift`` (fraction
      of the Li) or ``max_leave_drift`` (relative). Otherwise the run is
      still equilibrating.
    - ``route_interval``: the interval of every reported route share is at most
      ``share_ci_width`` wide (fraction of the reactive flux).
    - ``top_route_resolved``: the top route is still the top route in at least
      ``top_route_confidence`` of the resamples (fraction); or, where routes'
      share intervals overlap the top route's, one of these *comparable* routes
      is on top in that share of the resamples: the answer is then that they
      tie (``Intervals.comparable_routes``).
    - ``timescale_interval``: the intervals of the ``n_timescales`` slowest
      timescales longer than the lag are at most ``timescale_ci_rwidth`` of the
      estimate wide (relative).
    - ``time_blocks``: at least ``min_blocks`` blocks of time exist to resample.
    - ``states_fit`` (where the state model can say): at most ``max_ood_fraction``
      of the Li environments since the last check lie below the 1st
      percentile of the training environments' log-likelihood; otherwise the
      states no longer describe the structure and the model needs retraining.
    - ``unchanged``: for ``patience`` checks in a row every other condition
      held, the same top routes were reported (comparable routes may swap
      places; other routes not), no share moved by
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
    min_transitions : int, default 20 (state changes out of each state, each counted once)
    share_ci_width : float, default 0.05 (share of the flux)
    top_route_confidence : float, default 0.95 (fraction of resamples)
    timescale_ci_rwidth : float, default 0.3 (relative)
    n_timescales : int, default 2 (slowest processes judged)
    ck_tolerance : float, default 0.05 (transition probability)
    ck_leave_rtol : float, default 0.25 (relative difference of the probability of leaving a state)
    plateau_rtol : float, default 0.2 (relative)
    min_slow_events : float, default 100 (events of the slowest process the run had room for)
    max_population_drift : float, default 0.05 (fraction of the Li)
    max_leave_drift : float, default 0.3 (relative)
    min_blocks : int, default 8 (blocks of time)
    min_replicas : int, default 4 (runs of an ensemble before whole runs are resampled)
    min_population : float, default 0.02 (fraction of the Li for a default source or target)
    max_ood_fraction : float, default 0.05 (fraction of the Li outside the state model's training distribution)
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
    ck_leave_rtol: float = 0.25
    plateau_rtol: float = 0.2
    min_slow_events: float = 100.0
    max_population_drift: float = 0.05
    max_leave_drift: float = 0.3
    min_blocks: int = 8
    min_replicas: int = 4
    min_population: float = 0.02
    max_ood_fraction: float = 0.05
    n_bootstrap: int = 200
    confidence: float = 0.9

    def __post_init__(self) -> None:
        check_fields(self, integers={"patience": 1, "n_pathways": 1, "min_transitions": 0, "n_bootstrap": 0,
                                     "n_timescales": 1, "min_blocks": 2, "min_replicas": 2},
                     positive=("fraction_tol", "timescale_rtol", "share_ci_width", "timescale_ci_rwidth",
                               "ck_tolerance", "plateau_rtol", "confidence", "top_route_confidence",
                               "ck_leave_rtol", "max_population_drift", "max_leave_drift"),
                     unit_interval=("confidence", "min_population", "max_ood_fraction"))
        if not self.top_route_confidence <= 1:
            raise ParameterError.of("top_route_confidence", f"must lie in (0, 1]. "
                                 f"Got {self.top_route_confidence!r} instead.")

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self, defaults: ConvergenceCriteria | None = None, changed_by: str = "") -> list[str]:
        """Every threshold in words with its unit and its field name, for the start of a run; those that differ
        from ``defaults`` marked (``changed_by``: whose they are, "the demo's")."""
        defaults = defaults or ConvergenceCriteria()
        out = []
        for f in fields(self):
            value, default = getattr(self, f.name), getattr(defaults, f.name)
            mark = "" if value == default else f"; {changed_by or 'given'}, default {default:g}"
            out.append(f"  {WORDS[f.name]}: {value:g}  ({f.name}{mark})")
        return out

    @classmethod
    def from_dict(cls, data: dict) -> ConvergenceCriteria:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
