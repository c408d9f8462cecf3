"""Early stop calibrated on a Markov chain with a known answer, through the real observer on real ASE dynamics.

The chain's Li share one environment that switches slowly between two regimes, as Li at a changing interface do:
their transitions are correlated across atoms, which intervals from resampling Li atoms alone cannot see. The old
criterion (point estimates unchanged for 3 checks, Li-only intervals) is read off the same runs.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from _chains import chains, judge_replica, run_replica  # noqa: E402

from getsei_live.analysis.criteria import ConvergenceCriteria  # noqa: E402
from getsei_live.analysis.verdict import explain  # noqa: E402


@pytest.mark.slow
def test_new_criterion_covers_the_truth_where_the_old_one_does_not(tmp_path):
    """4 replicas of 1,500 frames, a check every 100 (``bench_early_stop.py`` has the 20-replica table): the old
    criterion stops early and its intervals miss t1 (0 of 4 here); the new one's cover it (4 of 4)."""
    chain = replace(next(c for c in chains() if c.regimes), n_li=48, budget_frames=1500)
    truth = chain.truth()
    criteria = ConvergenceCriteria()
    logging.disable(logging.WARNING)
    try:
        rows = [judge_replica(chain, run_replica(chain, seed, criteria, check_every=100, workdir=tmp_path), truth,
                              patience=criteria.patience, seed=seed) for seed in range(4)]
    finally:
        logging.disable(logging.NOTSET)
    new = np.mean([r["new"]["t1_cover"] for r in rows])
    old = np.mean([r["old"]["t1_cover"] for r in rows])
    print(f"\nslowest-timescale coverage by 90% intervals at the stop: new {new:.2f}, old {old:.2f}; "
          f"old stops at {np.median([r['old']['stop'] for r in rows]):.2f} of the budget, new at "
          f"{np.median([r['new']['stop'] for r in rows]):.2f}")
    assert new >= old + 0.4


def _chain(name: str, **changes):
    return replace(next(c for c in chains() if c.name == name), **changes)


@pytest.mark.slow
def test_equal_routes_stop_as_comparable_and_a_75_25_split_names_its_top_route(tmp_path):
    """Two routes of exactly equal flux swap places in half of the resamples, so the top route is never resolved;
    the run stops once both shares are narrow, saying that they tie, with 50 % inside both intervals. The same
    chain split 75/25 stops naming its top route alone."""
    criteria = ConvergenceCriteria()
    logging.disable(logging.WARNING)
    try:
        equal = _chain("4 states, two equal routes", budget_frames=2000)
        tied = run_replica(equal, 7, criteria, workdir=tmp_path)
        split = replace(equal, name="4 states, 75/25", P=np.array(
            [[0.90, 0.075, 0.025, 0], [0.05, 0.85, 0, 0.10], [0.05, 0, 0.85, 0.10], [0, 0.05, 0.05, 0.90]]))
        clear = run_replica(split, 7, criteria, workdir=tmp_path)
    finally:
        logging.disable(logging.NOTSET)
    assert tied["stopped"] and clear["stopped"]
    stop = next(s for s in tied["snapshots"] if s.converged)
    assert stop.intervals.comparable_routes == (0, 1)
    assert {p.states for p in stop.pathways[:2]} == {(0, 1, 3), (0, 2, 3)}
    assert all(lo <= 0.5 <= hi for lo, hi in stop.intervals.pathway_fraction_ci[:2])
    assert "comparable" in explain(stop)
    top = next(s for s in clear["snapshots"] if s.converged)
    assert top.pathways[0].states == (0, 1, 3) and top.intervals.comparable_routes == (0,)
    assert top.intervals.pathway_fraction_ci[0][0] <= split.truth()["shares"][(0, 1, 3)] \
        <= top.intervals.pathway_fraction_ci[0][1]
    assert explain(top).startswith("converged: top route S0 -> S1 -> S3")


@pytest.mark.slow
def test_states_cut_from_one_variable_never_converge_and_the_verdict_says_why(tmp_path):
    """Labels of a continuous variable cut into thirds, with flicker, cored over 3 frames: every lag test can be
    met, but t1 grows when the core doubles, and the verdict names it."""
    chain = _chain("3 'states' of one variable", budget_frames=1500)
    logging.disable(logging.WARNING)
    try:
        result = run_replica(chain, 3, ConvergenceCriteria(), workdir=tmp_path)
    finally:
        logging.disable(logging.NOTSET)
    assert not result["stopped"] and not any(s.converged for s in result["snapshots"])
    last = result["snapshots"][-1]
    assert "metastable" in last.verdict.failed
    test = last.core_test
    assert test.probe_timescales[0] > 1.2 * test.timescales[0]
    assert "when the core doubles" in explain(last) and "fluctuations of one environment" in explain(last)


def test_events_in_the_store_equal_a_per_li_loop(tmp_path):
    """The state changes a live run stores (per Li, and i -> j per block of time) are the changes of the
    core-assigned labels of its stored raw labels, counted here one Li and one frame at a time."""
    from reference import core_loop

    from getsei_live.store.run_store import RunStore

    chain = _chain("4 states, flicker, cored", n_li=12, budget_frames=300)
    run_replica(chain, 5, ConvergenceCriteria(n_bootstrap=0), check_every=100, workdir=tmp_path, keep=tmp_path)
    store = RunStore.open(tmp_path / "run.zarr")
    cored = core_loop(store.states(), chain.core_frames)
    per_li, events = np.zeros(chain.n_li, dtype=int), np.zeros((4, 4), dtype=int)
    for i in range(chain.n_li):
        for t in range(1, len(cored)):
            a, b = cored[t - 1][i], cored[t][i]
            if a >= 0 and b >= 0 and a != b:
                per_li[i] += 1
                events[a, b] += 1
    assert per_li.sum() > 50
    np.testing.assert_array_equal(store.derived_array("per_li_events"), per_li)
    np.testing.assert_array_equal(store.derived_array("block_events").sum(axis=0), events)


@pytest.mark.slow
def test_the_forecast_at_half_the_stop_time_is_within_a_factor_1_5(tmp_path):
    """A known chain replayed with the early stop on: the check nearest half of the actual stop forecasts
    ``converged_ps`` within a factor 1.5 of the stop; a chain whose second half drifts away from its first is
    forecast never to converge, and says why."""
    logging.disable(logging.WARNING)
    try:
        result = run_replica(_chain("3 states, easy"), 11, ConvergenceCriteria(), workdir=tmp_path)
        drifting = _chain("3 states, easy", budget_frames=1000, late=np.array(
            [[0.70, 0.20, 0.10], [0.02, 0.96, 0.02], [0.01, 0.09, 0.90]]))
        drifted = run_replica(drifting, 11, ConvergenceCriteria(), workdir=tmp_path)
    finally:
        logging.disable(logging.NOTSET)
    stop = next(s for s in result["snapshots"] if s.converged)
    half = min(result["snapshots"], key=lambda s: abs(s.time_ps - stop.time_ps / 2))
    ratio = half.forecast.converged_ps / stop.time_ps
    print(f"\nstopped at {stop.time_ps:.3f} ps; forecast at {half.time_ps:.3f} ps: {half.forecast.text()}")
    assert 1 / 1.5 <= ratio <= 1.5
    last = drifted["snapshots"][-1]
    assert not last.converged and "stationary" in last.verdict.failed
    assert not last.forecast.finite and "drift" in last.forecast.reason
    assert last.forecast.text().startswith("not forecast to converge: populations or leaving probabilities drift")
