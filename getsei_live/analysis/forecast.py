"""How much longer? When each open condition that more data closes is forecast to hold, from the run's own checks.

An interval from resampling narrows roughly as the inverse square root of the
data, and counts of events and of blocks of time grow in proportion to it; the
checks a run has made so far show how its own numbers actually scale. For each
open condition the forecast fits a power of the simulated time to the values
of the recent checks, ``value = a t^b``, with the expected power as a prior
(``b = -1/2`` for interval widths, ``b = 1`` for counts) that the checks
outweigh as they accumulate, and solves for the time at which the value meets
its threshold; the range comes from the fit's uncertainty in ``b``.
``converged_ps`` is when the last of them holds, plus ``patience`` checks for
the answer to be seen unchanged.

Some conditions more data will not close, and then the forecast says so instead
of a number: a drift across the run that the checks have not shrunk (it is not
stationary), states that are not metastable, a state model that no longer fits,
and a Chapman-Kolmogorov test that fails by a difference the checks have not
shrunk. A drift that shrinks (a start away from equilibrium, which the growing
first half dilutes about as ``1/t``) is forecast like the intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import theilslopes

from ._result import Result, strict_json
from .criteria import ConvergenceCriteria
from .stationarity import leave_drift

__all__ = ["ConditionForecast", "Forecast", "forecast"]

#: Exponents expected of each forecast condition's value against simulated time (the prior).
PRIORS = {"route_interval": -0.5, "timescale_interval": -0.5, "top_route_resolved": -0.5,
          "min_transitions": 1.0, "time_blocks": 1.0, "markovian": -0.5, "stationary": -1.0}

#: How strongly the prior holds: its standard deviation, in units of the exponent.
PRIOR_SD = 0.3

#: Scatter of a condition's value between checks (log units) assumed until there are checks to measure it.
PRIOR_SCATTER = 0.15

#: Checks used for a fit (the most recent), and the fewest for one.
MAX_POINTS, MIN_POINTS = 8, 4

#: Conditions that more data does not close, and why, in words.
NOT_BY_DATA = {
    "stationary": "populations or leaving probabilities drift across the run by a difference that more data has not "
                  "shrunk: more of a drifting run does not make it stationary (equilibrate it, or wait until the "
                  "interface stops changing)",
    "metastable": "the slow timescales depend on the core length: these states are not metastable, and more data "
                  "does not make them so",
    "states_fit": "the state model no longer fits the frames: retrain it on this run's frames",
}

#: Conditions whose value cannot be extrapolated yet: no forecast, neither a time nor never.
NOT_YET = {"analysable": "fewer than two states hold a real share of the Li yet"}


def _never(value):
    """JSON keeps 'never' (inf) apart from 'no forecast yet' (NaN, stored as null): inf is the string "inf"."""
    return "inf" if isinstance(value, float) and value == np.inf else value


def _time(value) -> float:
    return float("nan") if value is None else float(value)  # float("inf") reads "inf"


@dataclass(frozen=True, slots=True)
class ConditionForecast(Result):
    """When one open condition is forecast to hold.

    Attributes
    ----------
    name : str
    value, threshold : float
        Its value at the check, and what it must reach.
    at_ps, low_ps, high_ps : float
        Simulated time (ps) at which it is forecast to hold, and the range from the fit's uncertainty
        (inf where more data does not close it).
    exponent : float
        The power of the simulated time used (the prior, or the fit to the checks pulled toward it).
    points : int
        Checks the exponent was fitted to (0: the prior alone).
    reason : str
        Why it is not forecast to close ("" when it is).
    """

    name: str
    value: float
    threshold: float
    at_ps: float
    low_ps: float
    high_ps: float
    exponent: float
    points: int
    reason: str = ""

    def to_dict(self) -> dict:
        return strict_json({f: _never(getattr(self, f)) for f in self.__dataclass_fields__})

    @classmethod
    def from_dict(cls, data: dict) -> ConditionForecast:
        def number(key: str) -> float:
            return _time(data.get(key))

        return cls(str(data["name"]), number("value"), number("threshold"), number("at_ps"), number("low_ps"),
                   number("high_ps"), number("exponent"), int(data.get("points", 0)), str(data.get("reason", "")))


@dataclass(frozen=True, slots=True)
class Forecast(Result):
    """When the run is forecast to have converged.

    Attributes
    ----------
    time_ps : float
        The simulated time of the check the forecast was made at.
    converged_ps : float
        When every open condition is forecast to hold and the answer has been seen unchanged for ``patience``
        checks (inf when a condition more data does not close is open; NaN while a condition's value cannot be
        extrapolated yet; ``time_ps`` when converged).
    low_ps, high_ps : float
        The range of ``converged_ps`` from the fits' uncertainty.
    conditions : tuple of ConditionForecast
        One per open condition.
    reason : str
        Why ``converged_ps`` is infinite or not known yet ("" otherwise).
    """

    time_ps: float
    converged_ps: float
    low_ps: float
    high_ps: float
    conditions: tuple[ConditionForecast, ...] = ()
    reason: str = ""

    @property
    def finite(self) -> bool:
        return bool(np.isfinite(self.converged_ps))

    @property
    def never(self) -> bool:
        """A condition more data does not close is open: the run is not forecast to converge."""
        return self.converged_ps == np.inf

    def to_dict(self) -> dict:
        return strict_json({"time_ps": self.time_ps, "converged_ps": _never(self.converged_ps),
                            "low_ps": _never(self.low_ps), "high_ps": _never(self.high_ps),
                            "conditions": [c.to_dict() for c in self.conditions], "reason": self.reason})

    @classmethod
    def from_dict(cls, data: dict) -> Forecast:
        def time(key: str) -> float:
            return _time(data.get(key))

        return cls(float(data["time_ps"]), time("converged_ps"), time("low_ps"), time("high_ps"),
                   tuple(ConditionForecast.from_dict(c) for c in data.get("conditions", ())),
                   str(data.get("reason", "")))

    def text(self, budget_ps: float | None = None) -> str:
        """"converged at ~41 ps [35, 50], 28 ps from now", or why it will not converge."""
        if self.never:
            return f"not forecast to converge: {self.reason}"
        if not self.finite:
            return f"no forecast yet: {self.reason}"
        if self.converged_ps <= self.time_ps:
            return "converged"
        bounds = f" [{self.low_ps:.3g}, {self.high_ps:.3g}]" if np.isfinite(self.high_ps) else \
            f" [{self.low_ps:.3g}, ?]"
        beyond = (f", beyond the budget of {budget_ps:g} ps" if budget_ps is not None
                  and self.converged_ps > budget_ps else "")
        return (f"converged at ~{self.converged_ps:.3g} ps{bounds}, {self.converged_ps - self.time_ps:.3g} ps from "
                f"now{beyond}")


def _fit(times: np.ndarray, values: np.ndarray, prior: float) -> tuple[float, float, float, float, int]:
    """``values ~ a times^b`` on the recent checks: the exponent (pulled toward ``prior``), its standard error, the
    value the fit gives at the last check (less noisy than that check's own), the scatter of the values about the
    fit (log units), and the points used."""
    ok = np.isfinite(times) & np.isfinite(values) & (times > 0) & (values > 0)
    t, v = np.log(times[ok][-MAX_POINTS:]), np.log(values[ok][-MAX_POINTS:])
    if t.size < MIN_POINTS or np.ptp(t) < 1e-9:
        return prior, PRIOR_SD, float(values[ok][-1]) if t.size else float("nan"), PRIOR_SCATTER, 0
    # Theil-Sen (the median of the pairwise slopes): one check whose interval happens to be wide does not tilt it
    slope, intercept, low, high = theilslopes(v, t, alpha=0.68)
    residual = v - (slope * t + intercept)
    # the scatter pooled with the prior's, worth two checks: a few points that happen to line up are no evidence
    # of a smooth run
    scatter = float(np.sqrt((np.sum(residual ** 2) + 2 * PRIOR_SCATTER ** 2) / t.size))
    se = max((high - low) / 2, scatter / np.sqrt(np.sum((t - t.mean()) ** 2)))
    weight_fit, weight_prior = 1 / se ** 2, 1 / PRIOR_SD ** 2
    b = (slope * weight_fit + prior * weight_prior) / (weight_fit + weight_prior)
    fitted = float(np.exp(np.median(v - b * t) + b * t[-1]))  # the line of exponent b through the points
    return float(b), float(1 / np.sqrt(weight_fit + weight_prior)), fitted, scatter, int(t.size)


def _when(now_ps: float, value: float, threshold: float, b: float, se: float, scatter: float,
          rising: bool) -> tuple[float, float, float]:
    """When ``value`` (at ``now_ps``, scaling as t^b, scattered by ``scatter`` in log units) reaches
    ``threshold``: the estimate and its range (one standard deviation of the exponent and of the scatter)."""
    if (value >= threshold) if rising else (value <= threshold):
        return now_ps, now_ps, now_ps
    if (b > 0) != rising or abs(b) < 1e-6:
        return float("inf"), float("inf"), float("inf")  # the value does not move toward the threshold
    distance = np.log(threshold / value)
    spread = np.hypot(scatter / b, distance * se / b ** 2)
    with np.errstate(over="ignore"):  # a forecast beyond any budget is infinite, not an error
        at = now_ps * np.exp(distance / b)
        return float(at), float(max(now_ps, at * np.exp(-spread))), float(at * np.exp(spread))


def _values(history: Sequence, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Simulated time and numeric value of condition ``name`` at each judged check of ``history``."""
    times, values = [], []
    for snap in history:
        if snap.verdict is None or snap.time_ps is None:
            continue
        found = next((c for c in snap.verdict.conditions if c.name == name), None)
        value = found.value if found is not None else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            times.append(snap.time_ps)
            values.append(float(value))
    return np.array(times, dtype=float), np.array(values, dtype=float)


def _ck_values(history: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Simulated time and the largest Chapman-Kolmogorov deviation at the analysis lag of each check."""
    times, values = [], []
    for snap in history:
        ck = snap.markov.ck if snap.markov is not None else None
        if ck is not None and snap.time_ps is not None and ck.max_deviation.size:
            times.append(snap.time_ps)
            values.append(float(np.nanmax(ck.max_deviation)))
    return np.array(times, dtype=float), np.array(values, dtype=float)


def _markovian(history: Sequence, snap, c: ConvergenceCriteria) -> ConditionForecast:
    """The Markov test: closed by data when its slow process needs more events, or when its Chapman-Kolmogorov
    deviation shrinks with the data; else not by data."""
    now = float(snap.time_ps)
    reasons = " ".join(snap.markov.reasons[snap.markov.lags_ps.index(snap.lag_ps)]) if snap.markov else ""
    if "such events" in reasons or "longer than each Li was observed" in reasons:
        return _events_forecast("markovian", "the Markov test", snap, c)
    times, values = _ck_values(history)
    if values.size and "Chapman-Kolmogorov" in reasons:
        b, se, fitted, scatter, points = _fit(times, values, PRIORS["markovian"])
        if points and b + se > -0.1:
            return ConditionForecast("markovian", values[-1], c.ck_tolerance, np.inf, np.inf, np.inf, b, points,
                                     "the Chapman-Kolmogorov test fails by a difference that more data has not "
                                     "shrunk (count longer lags, or other states)")
        return ConditionForecast("markovian", values[-1], c.ck_tolerance,
                                 *_when(now, fitted, c.ck_tolerance, b, se, scatter, rising=False), b, points)
    if "not resolved" in reasons or "no longer stored lag" in reasons or "moves from" in reasons:
        return ConditionForecast("markovian", np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, 0,
                                 "no stored lag gives a Markov model yet, and how that changes with more data "
                                 "cannot be extrapolated")
    return ConditionForecast("markovian", np.nan, np.nan, now, now, now, np.nan, 0)


def _drift_values(history: Sequence, c: ConvergenceCriteria) -> tuple[np.ndarray, np.ndarray]:
    """Simulated time and the largest drift between the halves of the run at each check, over what counts (1: at
    the threshold): population drifts over ``max_population_drift``, leaving drifts over ``max_leave_drift``."""
    times, values = [], []
    for snap in history:
        steady = snap.stationarity
        if steady is None or snap.time_ps is None:
            continue
        pop = np.abs(np.diff(np.asarray(steady.populations, dtype=float), axis=0)).ravel() / c.max_population_drift
        rel = np.abs(leave_drift(np.asarray(steady.leaving, dtype=float))) / c.max_leave_drift
        both = np.concatenate([pop, rel[np.isfinite(rel)]]) if steady.reasons else pop
        times.append(snap.time_ps)
        values.append(float(np.nanmax(both)) if both.size else np.nan)
    keep = np.isfinite(values)
    return np.array(times, dtype=float)[keep], np.array(values, dtype=float)[keep]


def _stationary(history: Sequence, snap, c: ConvergenceCriteria, detail: str) -> ConditionForecast:
    """The stationarity test: closed by data when the drift between the halves shrinks as the run grows (a start
    away from equilibrium that more time dilutes, about as 1/t); else not by data (a drift that persists)."""
    times, values = _drift_values([*history, snap], c)
    if values.size < MIN_POINTS:  # too few checks to tell a start that more time dilutes from a drift that stays
        return ConditionForecast("stationary", values[-1] if values.size else np.nan, 1.0, np.nan, np.nan, np.nan,
                                 np.nan, 0, f"populations or leaving probabilities drift across the run ({detail}); "
                                 f"too few checks yet to tell whether more data shrinks the drift")
    b, se, fitted, scatter, points = _fit(times, values, PRIORS["stationary"])
    if b + se > -0.1:
        return ConditionForecast("stationary", values[-1], 1.0, np.inf, np.inf, np.inf, b, points,
                                 NOT_BY_DATA["stationary"] + f" ({detail})")
    return ConditionForecast("stationary", values[-1], 1.0,
                             *_when(float(snap.time_ps), fitted, 1.0, b, se, scatter, rising=False), b, points)


def _events_forecast(name: str, test: str, snap, c: ConvergenceCriteria) -> ConditionForecast:
    """A condition that the slow process's events close (the Markov test, an unjudged core test): when the run
    will have seen them, or no forecast yet where no slow process is resolved."""
    when = _when_events(snap, c)
    return ConditionForecast(name, np.nan, np.nan, *when, 1.0, 0, "" if np.isfinite(when[0]) else
                             f"{test}: no slow process resolved yet to extrapolate from")


def _when_events(snap, c: ConvergenceCriteria) -> tuple[float, float, float]:
    """When the slowest process will have fitted into the observed time and been seen ``min_slow_events`` times:
    both grow in proportion to the observed time; the range comes from the interval of t1."""
    now = float(snap.time_ps)
    t1 = float(snap.timescales[0]) if len(snap.timescales) else np.nan
    observed = snap.observed_ps or 0.0
    if not (np.isfinite(t1) and t1 > 0 and observed > 0):  # no slow process resolved yet: nothing to scale from,
        return np.nan, np.nan, np.nan  # which is no forecast yet, not never (the demo's first check said never)
    reasons = [*snap.markov.reasons[snap.markov.lags_ps.index(snap.lag_ps)],
               *(snap.core_test.reasons if snap.core_test is not None else ())]
    room = next((float(r.split("room for only about ")[1].split(" ")[0]) for r in reasons
                 if "room for only about" in r), None)
    ratio = max(t1 / observed, c.min_slow_events / room if room else 0.0, 1.0)
    ci = snap.intervals.timescales_ci[0] if snap.intervals is not None and len(snap.intervals.timescales_ci) else None
    lo, hi = (ci if ci is not None and np.isfinite(ci).all() and ci[0] > 0 else (t1, t1))
    at = now * ratio  # both needs scale with t1: so does their range
    return at, max(now, at * lo / t1), at * hi / t1


def forecast(history: Sequence, snap, criteria: ConvergenceCriteria, *, check_every_ps: float) -> Forecast:
    """When the run of ``snap`` (judged; ``history``: the earlier judged checks, oldest first) is forecast to
    converge.

    Parameters
    ----------
    history : sequence of Snapshot
    snap : Snapshot
        The check the forecast is made at (judged, with ``time_ps``).
    criteria : ConvergenceCriteria
    check_every_ps : float
        Simulated time between checks, for the ``patience`` checks the answer must be seen unchanged.

    Returns
    -------
    Forecast
    """
    now = float(snap.time_ps)
    verdict = snap.verdict
    if verdict is None or verdict.converged:
        return Forecast(now, now, now, now)
    everything = [*history, snap]
    c = criteria
    failed = set(verdict.failed)
    found: list[ConditionForecast] = []
    if "metastable" in failed and snap.core_test is not None and not snap.core_test.judged:
        failed.discard("metastable")  # not judged yet: the data that judges it is the data the Markov test needs
        found.append(_events_forecast("metastable", "the core test", snap, c))
    for name in [n for n in verdict.failed if n in NOT_BY_DATA and n in failed]:
        condition = next(x for x in verdict.conditions if x.name == name)
        if condition.value is None:  # not judged yet (too few blocks of time, no state change yet): the data that
            continue  # judges it is what time_blocks and min_transitions forecast; a verdict of never needs a judgement
        if name == "stationary":
            found.append(_stationary(history, snap, c, condition.detail))
            continue
        found.append(ConditionForecast(name, np.nan, np.nan, np.inf, np.inf, np.inf, np.nan, 0,
                                       NOT_BY_DATA[name] + (f" ({condition.detail})" if name != "metastable" else "")))
    for name in [n for n in verdict.failed if n in NOT_YET]:
        found.append(ConditionForecast(name, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, 0, NOT_YET[name]))
    if "markovian" in failed:
        found.append(_markovian(history, snap, c))
    thresholds = {"route_interval": c.share_ci_width, "timescale_interval": c.timescale_ci_rwidth,
                  "min_transitions": c.min_transitions, "time_blocks": c.min_blocks}
    for name, threshold in thresholds.items():
        if name not in failed:
            continue
        times, values = _values(everything, name)
        if not values.size or not np.isfinite(values[-1]):
            found.append(ConditionForecast(name, np.nan, threshold, np.nan, np.nan, np.nan, np.nan, 0,
                                           f"{name}: no value to extrapolate yet"))
            continue
        rising = PRIORS[name] > 0
        b, se, fitted, scatter, points = _fit(times, values, PRIORS[name])
        met = (values[-1] >= threshold) if rising else (values[-1] <= threshold)
        at, low, high = _when(now, values[-1] if met else fitted, threshold, b, se, scatter, rising)
        if (rising and values[-1] <= 0) or not np.isfinite(at):  # the checks so far show no way to the threshold
            at = low = high = np.nan
        found.append(ConditionForecast(name, values[-1], threshold, at, low, high, b, points,
                                       "" if np.isfinite(at) else f"{name}: its value has not moved toward its "
                                                                  f"threshold over the checks so far"))
    if "top_route_resolved" in failed:
        route = next((f for f in found if f.name == "route_interval"), None)
        at = route.at_ps if route is not None else now
        # the top route is resolved, or found comparable, once the share intervals are narrow: no later
        found.append(ConditionForecast("top_route_resolved", np.nan, c.top_route_confidence, at,
                                       route.low_ps if route is not None else now,
                                       route.high_ps if route is not None else now, np.nan, 0))
    blocked = [f for f in found if f.at_ps == np.inf]
    if blocked:
        return Forecast(now, np.inf, np.inf, np.inf, tuple(found), "; ".join(f.reason for f in blocked if f.reason))
    unknown = [f for f in found if np.isnan(f.at_ps)]
    if unknown:
        return Forecast(now, np.nan, np.nan, np.nan, tuple(found), "; ".join(f.reason for f in unknown if f.reason))
    wait = c.patience * check_every_ps
    last = max([f.at_ps for f in found], default=now)
    low = max([f.low_ps for f in found], default=now)
    high = max([f.high_ps for f in found], default=now)
    return Forecast(now, last + wait, low + wait, high + wait, tuple(found))
