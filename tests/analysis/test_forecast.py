"""The forecast of when a run converges: closed forms for values that scale as a power of the simulated time,
the prior while there are few checks, and the conditions more data does not close."""

from __future__ import annotations

import numpy as np
import pytest

from getsei_live.analysis.criteria import ConvergenceCriteria
from getsei_live.analysis.forecast import Forecast, forecast
from getsei_live.analysis.records import Condition, Snapshot, Verdict
from getsei_live.analysis.stationarity import Stationarity

CRITERIA = ConvergenceCriteria(patience=3)


def judged(time_ps: float, conditions: dict[str, float], failing: tuple[str, ...] = ()) -> Snapshot:
    """A judged check at ``time_ps`` whose conditions have these values (each failing unless met)."""
    thresholds = {"route_interval": CRITERIA.share_ci_width, "min_transitions": CRITERIA.min_transitions,
                  "timescale_interval": CRITERIA.timescale_ci_rwidth}
    made = [Condition(name, bool(value <= thresholds[name]) if name != "min_transitions"
                      else bool(value >= thresholds[name]), value, thresholds[name], "", "")
            for name, value in conditions.items()]
    made += [Condition(name, False, "judged: fails", "", "", name) for name in failing]
    failed = tuple(c.name for c in made if not c.passed) + ("unchanged",)
    return Snapshot(lag_ps=0.1, time_ps=time_ps, verdict=Verdict(False, 0, tuple(made), failed, False, ()))


def test_a_width_that_narrows_as_one_over_the_root_of_the_time_is_forecast_exactly():
    times = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    checks = [judged(t, {"route_interval": 0.2 / np.sqrt(t), "min_transitions": 3 * t}) for t in times]
    ahead = forecast(checks[:-1], checks[-1], CRITERIA, check_every_ps=1.0)
    # closed forms: 0.2 t^-1/2 = 0.05 at t = 16 ps; 3 t = 20 at t = 6.67 ps; then 3 checks of 1 ps
    route = next(c for c in ahead.conditions if c.name == "route_interval")
    events = next(c for c in ahead.conditions if c.name == "min_transitions")
    assert route.at_ps == pytest.approx(16.0, rel=1e-6) and route.exponent == pytest.approx(-0.5, abs=1e-6)
    assert events.at_ps == pytest.approx(20 / 3, rel=1e-6) and events.exponent == pytest.approx(1.0, abs=1e-6)
    assert ahead.converged_ps == pytest.approx(16.0 + 3.0, rel=1e-6)
    assert route.low_ps < 16.0 < route.high_ps and ahead.finite
    assert ahead.text() == f"converged at ~19 ps [{ahead.low_ps:.3g}, {ahead.high_ps:.3g}], 13 ps from now"
    assert Forecast.from_dict(ahead.to_dict()) == ahead


def test_the_run_s_own_scaling_outweighs_the_prior_once_it_has_the_checks():
    """Widths that narrow as t^-1 (faster than the square root): with 2 checks the prior decides; with 8 the fit
    moves the exponent most of the way."""
    checks = [judged(t, {"route_interval": 0.5 / t}) for t in np.arange(1.0, 9.0)]
    early = forecast(checks[:1], checks[1], CRITERIA, check_every_ps=1.0).conditions[0]
    late = forecast(checks[:-1], checks[-1], CRITERIA, check_every_ps=1.0).conditions[0]
    assert early.points == 0 and early.exponent == -0.5
    assert late.points == 8 and late.exponent < -0.9
    assert late.at_ps == pytest.approx(10.0, rel=0.1)  # 0.5 / t = 0.05 at 10 ps


@pytest.mark.parametrize("name", ["metastable", "states_fit"])
def test_conditions_more_data_does_not_close_make_it_infinite_with_the_reason(name):
    checks = [judged(t, {"route_interval": 0.2 / np.sqrt(t)}, failing=(name,)) for t in (1.0, 2.0)]
    ahead = forecast(checks[:1], checks[1], CRITERIA, check_every_ps=1.0)
    assert not ahead.finite and ahead.converged_ps == np.inf and ahead.reason
    assert ahead.text().startswith("not forecast to converge: ")


def drifting(time_ps: float, drift: float) -> Snapshot:
    """A check whose only open condition is stationarity: S0 holds 50 % of the Li in the first half of the run and
    50 % + ``drift`` in the second."""
    populations = np.array([[0.5, 0.5], [0.5 + drift, 0.5 - drift]])
    steady = Stationarity(populations, np.full((2, 2), 0.1), np.zeros((2, 2)), np.zeros((2, 2)),
                          ("S0 drifts",), 12)
    condition = Condition("stationary", False, "drift", "no drift", "", "S0 drifts")
    return Snapshot(lag_ps=0.1, time_ps=time_ps, stationarity=steady,
                    verdict=Verdict(False, 0, (condition,), ("stationary", "unchanged"), False, ()))


def test_a_drift_that_more_time_dilutes_is_forecast_and_one_that_persists_is_never():
    """A run that starts away from equilibrium: its halves differ by a transient that the growing first half
    dilutes as 1/t (0.5 / t of the Li: 0.05, the threshold, at 10 ps, then 3 checks of 1 ps). A drift that stays
    (the interface keeps reacting) is never."""
    times = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    transient = [drifting(t, 0.5 / t) for t in times]
    ahead = forecast(transient[:-1], transient[-1], CRITERIA, check_every_ps=1.0)
    steady = next(c for c in ahead.conditions if c.name == "stationary")
    assert steady.exponent == pytest.approx(-1.0, abs=1e-6) and steady.at_ps == pytest.approx(10.0, rel=1e-6)
    assert ahead.converged_ps == pytest.approx(13.0, rel=1e-6)
    persisting = [drifting(t, 0.1) for t in times]
    never = forecast(persisting[:-1], persisting[-1], CRITERIA, check_every_ps=1.0)
    assert never.never and "has not shrunk" in never.reason and "S0 drifts" in never.reason
    first = forecast([], transient[0], CRITERIA, check_every_ps=1.0)  # one check: transient or lasting, not known yet
    assert np.isnan(first.converged_ps) and "too few checks" in first.reason


def test_a_condition_not_judged_yet_is_not_a_never():
    """Stationarity that cannot be judged yet (too few blocks of time) is no drift: the forecast is the time the
    other conditions close (the demo's first checks warned 'drift' when there were too few blocks to judge it)."""
    checks = [judged(t, {"route_interval": 0.2 / np.sqrt(t)}) for t in (1.0, 2.0)]
    not_yet = Condition("stationary", False, None, "no drift", "", "too few blocks of time to judge drift yet")
    last = checks[-1]
    verdict = last.verdict
    last = Snapshot(lag_ps=0.1, time_ps=2.0, verdict=Verdict(False, 0, (*verdict.conditions, not_yet),
                                                             ("stationary", *verdict.failed), False, ()))
    ahead = forecast(checks[:1], last, CRITERIA, check_every_ps=1.0)
    assert ahead.finite and ahead.converged_ps == pytest.approx(16.0 + 3.0, rel=0.05)


def test_a_converged_check_forecasts_its_own_time():
    snap = Snapshot(lag_ps=0.1, time_ps=5.0, verdict=Verdict(True, 3, (), (), True, ()))
    assert forecast([], snap, CRITERIA, check_every_ps=1.0).text() == "converged"


def test_a_condition_without_a_value_yet_gives_no_forecast_rather_than_never():
    """Early in a run (nothing to analyse yet, or no interval to extrapolate) the forecast says it cannot tell: not
    infinity, which is kept for what more data does not close."""
    checks = [judged(1.0, {}, failing=("analysable",))]
    ahead = forecast([], checks[0], CRITERIA, check_every_ps=1.0)
    assert np.isnan(ahead.converged_ps) and not ahead.never and not ahead.finite
    assert ahead.text() == "no forecast yet: fewer than two states hold a real share of the Li yet"
    both = forecast([], judged(1.0, {}, failing=("analysable", "states_fit")), CRITERIA, check_every_ps=1.0)
    assert both.never  # a state model that does not fit is never, whatever else is not known yet


def test_never_and_not_yet_survive_the_store():
    """JSON has no inf nor NaN: 'never' (inf) and 'no forecast yet' (NaN) must still read back as themselves."""
    never = Forecast(2.0, np.inf, np.inf, np.inf, (), "drift")
    not_yet = Forecast(2.0, np.nan, np.nan, np.nan, (), "no value yet")
    assert Forecast.from_dict(never.to_dict()).converged_ps == np.inf
    assert np.isnan(Forecast.from_dict(not_yet.to_dict()).converged_ps)
    assert Forecast.from_dict(not_yet.to_dict()).text() == not_yet.text()


def test_a_core_test_with_no_slow_process_yet_is_no_forecast_not_never():
    """At a run's first check no timescale may be longer than the lag: the core test is not judged, and with no t1
    there is nothing to scale the wait from. That is 'no forecast yet' (the demo's first check said 'never')."""
    from getsei_live.analysis.metastability import CoreTest

    waiting = CoreTest(0.2, 0.3, 0.6, np.array([np.nan]), np.array([np.nan]), 0.2, False,
                       ("cannot be judged at lag 0.2 ps: no timescale longer than the lag",), judged=False)
    condition = Condition("metastable", False, None, "within 20%", "", waiting.reasons[0])
    snap = Snapshot(lag_ps=0.2, time_ps=1.0, core_test=waiting, observed_ps=0.5,
                    verdict=Verdict(False, 0, (condition,), ("metastable", "unchanged"), False, ()))
    ahead = forecast([], snap, CRITERIA, check_every_ps=0.5)
    assert not ahead.never and np.isnan(ahead.converged_ps)
    assert ahead.text() == "no forecast yet: the core test: no slow process resolved yet to extrapolate from"
