"""The analysis snapshot and its verdict: a frozen record that survives the store's JSON, numbers that match
deeptime and closed forms, and a verdict that needs ``patience`` unchanged checks."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from deeptime.markov.msm import MaximumLikelihoodMSM

from getsei_live.analysis.convergence import snapshot
from getsei_live.analysis.counting import TransitionCounter
from getsei_live.analysis.criteria import ConvergenceCriteria
from getsei_live.analysis.records import Snapshot, Verdict
from getsei_live.analysis.verdict import ConvergenceMonitor, explain

# escape probabilities 0.05, 0.10 and 0.20: S0 is the least and S2 the most mobile state, clearly
P = np.array([[0.95, 0.04, 0.01], [0.05, 0.90, 0.05], [0.04, 0.16, 0.80]])
# every state leaves with probability 0.10: which is the least mobile is a coin toss
TIED = np.array([[0.90, 0.08, 0.02], [0.05, 0.90, 0.05], [0.02, 0.08, 0.90]])
LAGS = (1, 2, 4)
DT_PS = 0.1


def chain_snapshot(rng: np.random.Generator, n_li: int = 10, n_frames: int = 1500, chain: np.ndarray = P,
                   **options) -> tuple:
    n = chain.shape[0]
    states = np.zeros((n_frames, n_li), dtype=int)
    for t in range(1, n_frames):
        u = rng.random(n_li)
        states[t] = (np.cumsum(chain[states[t - 1]], axis=1) > u[:, None]).argmax(axis=1)
    counter = TransitionCounter(n, LAGS, n_li)
    counter.update_many(states)
    lags_ps = tuple(lag * DT_PS for lag in LAGS)
    snap = snapshot(counter.counts(), counter.per_li_counts(), counter.block_counts(), lags_ps=lags_ps,
                    lag_index=options.pop("lag_index", 1), source=options.pop("source", None),
                    target=options.pop("target", None), criteria=ConvergenceCriteria(**options), rng=rng,
                    events=counter.events(), block_events=counter.block_events())
    return snap, counter.counts()


def routes_chain(first_share: float) -> np.ndarray:
    """S0 -> S1 -> S3 and S0 -> S2 -> S3: S1 and S2 are left to S0 and S3 alike (committor 1/2), so each route
    carries the share of S0's exits that enter it."""
    out = 0.1
    return np.array([[0.9, out * first_share, out * (1 - first_share), 0], [0.05, 0.85, 0, 0.10],
                     [0.05, 0, 0.85, 0.10], [0, 0.05, 0.05, 0.90]])


def test_the_snapshot_survives_the_stores_json(fixed_seed):
    snap, _ = chain_snapshot(fixed_seed)
    judged = ConvergenceMonitor(ConvergenceCriteria()).judge(snap.at(frame=1500, step=75000, time_ps=150.0))
    stored = json.loads(json.dumps(judged.to_dict(), allow_nan=False))
    back = Snapshot.from_dict(stored)
    assert back.to_dict() == stored and back == judged
    assert isinstance(back.verdict, Verdict) and back.verdict.conditions[0].name == "min_transitions"
    assert back["lag_ps"] == back.lag_ps and dict(back) == stored  # the 0.1 dictionary view
    with pytest.raises(ValueError):
        back.timescales[0] = 1.0  # frozen arrays
    kept = Snapshot.from_dict({**stored, "from_a_newer_version": [1, 2]})
    assert kept.to_dict()["from_a_newer_version"] == [1, 2]


def test_a_snapshot_of_a_store_before_0_2_reads_its_rate_matrix_as_the_generator(fixed_seed):
    """Issue 40: 'rate_matrix' was the snapshot's name for the generator (RateMatrix.rate_matrix is logm(K)/tau);
    it is 'generator_per_ps' now, and an old store's key still reads, with a warning on the old attribute."""
    from getsei_live.errors import GetseiDeprecationWarning

    snap, counts = chain_snapshot(fixed_seed)
    stored = json.loads(json.dumps(snap.to_dict(), allow_nan=False))
    assert "rate_matrix" not in stored
    old = {("rate_matrix" if k == "generator_per_ps" else k): v for k, v in stored.items()}
    back = Snapshot.from_dict(old)
    np.testing.assert_array_equal(back.generator_per_ps, snap.generator_per_ps)
    assert "rate_matrix" not in back.extra and back.to_dict() == stored
    K = counts[1] / counts[1].sum(axis=1, keepdims=True)  # the paper's estimate; its logarithm is a generator here
    from scipy.linalg import logm
    np.testing.assert_allclose(snap.generator_per_ps, logm(K).real / snap.lag_ps, atol=1e-10)
    with pytest.warns(GetseiDeprecationWarning, match="Snapshot.generator_per_ps"):
        np.testing.assert_array_equal(back.rate_matrix, snap.generator_per_ps)


def test_the_intervals_are_named_as_they_are_stored_and_their_old_names_warn(fixed_seed):
    """Issue 40: each field of ``Intervals`` is called what the store calls it (no translation table); the names of
    0.1 still read, with a warning that names the new one."""
    from getsei_live.analysis.records import Intervals
    from getsei_live.errors import GetseiDeprecationWarning

    snap, _ = chain_snapshot(fixed_seed)
    stored = snap.to_dict()
    names = [f.name for f in dataclasses.fields(Intervals)]
    assert snap.intervals.to_dict() == {name: stored[name] for name in names}
    old = {"method": "interval_method", "pathway_fractions": "pathway_fraction_ci", "timescales": "timescales_ci",
           "timescales_by_lag": "timescales_by_lag_ci", "transition_matrix": "transition_matrix_ci",
           "mfpt": "mfpt_ci", "bottleneck_rates": "bottleneck_rate_ci", "pathway_diversity": "pathway_diversity_ci"}
    for before, now in old.items():
        with pytest.warns(GetseiDeprecationWarning, match=f"Intervals.{now}"):
            value = getattr(snap.intervals, before)
        assert value is getattr(snap.intervals, now)


def test_the_snapshot_matches_deeptime_and_the_eigenvalues(fixed_seed):
    snap, counts = chain_snapshot(fixed_seed)
    msm = MaximumLikelihoodMSM(reversible=False).fit_from_counts(counts[1].astype(float)).fetch_model()
    np.testing.assert_allclose(snap.transition_matrix, msm.transition_matrix, atol=1e-8)
    np.testing.assert_allclose(snap.stationary_distribution, msm.stationary_distribution, atol=1e-8)
    for k, lag in enumerate(LAGS):  # every lag: t_i = -lag / ln|lambda_i| of that lag's Koopman matrix
        K = MaximumLikelihoodMSM(reversible=False).fit_from_counts(counts[k].astype(float)).fetch_model()
        eig = np.sort(np.abs(np.linalg.eigvals(K.transition_matrix)))[::-1][1:]
        np.testing.assert_allclose(snap.timescales_by_lag[k], -lag * DT_PS / np.log(eig), rtol=1e-6)
    assert snap.n_transitions == counts[1].sum()
    assert snap.transitions_out == tuple(int(v) for v in counts[1].sum(axis=1) - np.diag(counts[1]))


def test_convergence_needs_patience_unchanged_checks(fixed_seed):
    snap, _ = chain_snapshot(fixed_seed, n_li=40, n_frames=3000, share_ci_width=1.0, timescale_ci_rwidth=1.0,
                             patience=3)
    monitor = ConvergenceMonitor(ConvergenceCriteria(share_ci_width=1.0, timescale_ci_rwidth=1.0, patience=3))
    verdicts = [monitor.judge(snap).verdict for _ in range(4)]
    assert [v.stable_streak for v in verdicts] == [0, 1, 2, 3]
    assert [v.converged for v in verdicts] == [False, False, False, True]
    assert verdicts[0].reasons[-1] == "first check"
    judged = monitor.judge(snap)
    said, top, ci = explain(judged), judged.pathways[0], judged.intervals
    route = " -> ".join(f"S{s}" for s in top.states)
    assert said.startswith(f"converged: top route {route} {100 * top.fraction:.0f}% "
                           f"[{100 * ci.pathway_fraction_ci[0][0]:.0f}, {100 * ci.pathway_fraction_ci[0][1]:.0f}], "
                           f"on top "
                           f"in {100 * ci.top_route_resolved:.0f}% of resamples; t1 = {judged.timescales[0]:.3g} ps "
                           f"[{ci.timescales_ci[0][0]:.3g}, {ci.timescales_ci[0][1]:.3g}]")
    assert f"Markovian at lag {judged.lag_ps:g} ps" in said
    moved = Snapshot.from_dict({**snap.to_dict(), "timescales": [2 * t for t in snap.to_dict()["timescales"]]})
    assert "a timescale moved by 100%" in monitor.judge(moved).verdict.reasons


def test_a_route_whose_direction_flips_under_resampling_is_not_resolved(fixed_seed):
    """With every state as mobile as the others the default source and target are a coin toss: the top route
    between them is not resolved however long the run, and the verdict says why. A chain with clear mobilities
    keeps its endpoints in every resample (each resample's least and most mobile state, counted in a loop)."""
    loose = dict(share_ci_width=1.0, timescale_ci_rwidth=1.0, patience=1)
    tied, _ = chain_snapshot(fixed_seed, n_li=40, n_frames=3000, chain=TIED, **loose)
    assert tied.intervals.endpoints_resolved < 0.9
    assert tied.intervals.top_route_resolved <= tied.intervals.endpoints_resolved
    condition = next(c for c in ConvergenceMonitor(ConvergenceCriteria(**loose)).judge(tied).verdict.conditions
                     if c.name == "top_route_resolved")
    assert not condition.passed and "which way it runs is not resolved" in condition.detail
    clear, _ = chain_snapshot(fixed_seed, n_li=40, n_frames=3000, **loose)
    assert (clear.source, clear.target) == ((0,), (2,))
    assert clear.intervals.endpoints_resolved == 1.0 and clear.intervals.top_route_resolved >= 0.95


def test_two_routes_of_equal_flux_converge_as_comparable(fixed_seed):
    """Routes of exactly equal flux swap places in half of the resamples: the top route is never resolved, but
    once both intervals are narrow the answer is that they tie, and 50 % lies in both intervals. A 75/25 split
    of the same chain still names its top route."""
    ends = dict(source=(0,), target=(3,), share_ci_width=0.1, patience=1, lag_index=0)  # K(1) = P: 50 % each
    tied, _ = chain_snapshot(fixed_seed, n_li=100, n_frames=6000, chain=routes_chain(0.5), **ends)
    ci = tied.intervals
    assert {p.states for p in tied.pathways[:2]} == {(0, 1, 3), (0, 2, 3)}
    assert ci.comparable_routes == (0, 1) and ci.top_route_resolved < 0.95 <= ci.comparable_resolved
    assert all(lo <= 0.5 <= hi for lo, hi in ci.pathway_fraction_ci[:2])
    assert tied.pathway_diversity == pytest.approx(2.0, abs=0.05)  # two routes, equal shares
    assert ci.pathway_diversity_ci[0] <= 2.0 <= ci.pathway_diversity_ci[1] + 1e-9
    monitor = ConvergenceMonitor(ConvergenceCriteria(share_ci_width=0.1, timescale_ci_rwidth=1.0, patience=1))
    monitor.judge(tied)
    judged = monitor.judge(tied)
    routes = next(c for c in judged.verdict.conditions if c.name == "top_route_resolved")
    assert routes.passed and routes.detail.startswith("comparable routes: S0 -> S")
    if judged.converged:
        assert explain(judged).startswith("converged: routes S0 -> S") and ": comparable" in explain(judged)
    clear, _ = chain_snapshot(fixed_seed, n_li=100, n_frames=6000, chain=routes_chain(0.75), **ends)
    assert clear.pathways[0].states == (0, 1, 3) and clear.intervals.comparable_routes == (0,)
    assert clear.intervals.top_route_resolved >= 0.95
    assert 0.75 <= clear.pathways[0].fraction + 0.05 and clear.pathway_diversity < 1.9


def test_thresholds_count_events_not_sliding_pairs(fixed_seed):
    """At a lag of 4 frames each change of state is in about 4 sliding pairs: ``min_transitions`` counts the
    changes, each once (written out per Li here)."""
    snap, counts = chain_snapshot(fixed_seed, n_li=5, n_frames=400, lag_index=2, min_transitions=30)
    assert sum(snap.events_out) == snap.n_events
    assert sum(snap.transitions_out) > 2 * snap.n_events  # the sliding pairs overstate the data
    condition = ConvergenceMonitor(ConvergenceCriteria(min_transitions=30)).judge(snap).verdict.conditions[0]
    assert condition.name == "min_transitions" and condition.unit == "state changes"
    assert condition.value == min(snap.events_out[s] for s in snap.active_set)


def test_endpoints_kept_matches_a_loop_over_the_resamples(fixed_seed):
    from getsei_live.analysis.rates import rate_matrix
    from getsei_live.analysis.uncertainty import endpoints_kept, resample_counts

    rng = fixed_seed
    units = rng.integers(0, 30, size=(12, 1, 3, 3)) + np.eye(3, dtype=int)[None, None] * 400
    active = np.arange(3)
    res = resample_counts(units, (0.1,), [active], n_resamples=60, rng=rng, method="li")
    kept = endpoints_kept(res, 0, 0.1, active, (0, 1, 2), source=0, target=2)
    assert 0 < kept.mean() < 1  # the counts are drawn so that the order flips in some resamples
    for r in range(60):
        escape = rate_matrix(res.transition_matrices[r, 0], 0.1).escape_rates
        assert kept[r] == (np.argmin(escape) == 0 and np.argmax(escape) == 2)
    assert endpoints_kept(res, 0, 0.1, active, (0, 1, 2), source=None, target=None).all()


def test_ragged_rows_are_padded_with_nan():
    """Timescales at several lags (fewer at a lag whose model has fewer states; None where JSON held NaN)."""
    from getsei_live.analysis import nan_padded

    rows = [[3.0, 1.0], [], [2.0, None, 0.5]]
    expected = np.array([[3.0, 1.0, np.nan], [np.nan, np.nan, np.nan], [2.0, np.nan, 0.5]])
    np.testing.assert_array_equal(nan_padded(rows), expected)
    np.testing.assert_array_equal(nan_padded(rows, 4), np.c_[expected, np.full(3, np.nan)])
    assert nan_padded([]).shape == (0, 0)


@pytest.mark.slow
def test_mfpt_and_bottleneck_rate_intervals_cover_the_truth():
    """Over 40 independent runs of a known chain, the 90% intervals of the mean first-passage time (source S0 to
    target S2) and of the top route's bottleneck rate hold the true values about 90% of the time."""
    from deeptime.markov.msm import MarkovStateModel

    from getsei_live.analysis.rates import rate_matrix

    lag_ps = LAGS[1] * DT_PS
    Klag = np.linalg.matrix_power(P, LAGS[1])
    true_mfpt = MarkovStateModel(Klag, lagtime=lag_ps).mfpt([0], [2])
    generator = rate_matrix(Klag, lag_ps).generator
    hits_mfpt = hits_rate = 0
    runs = 40
    for seed in range(runs):
        snap, _ = chain_snapshot(np.random.default_rng(1000 + seed), n_li=20, n_frames=600, n_bootstrap=200)
        assert snap.source == (0,) and snap.target == (2,)
        lo, hi = snap.intervals.mfpt_ci
        hits_mfpt += lo <= true_mfpt <= hi
        a, b = snap.pathways[0].bottleneck
        lo, hi = snap.intervals.bottleneck_rate_ci[0]
        hits_rate += lo <= generator[a, b] <= hi
    print(f"90% intervals hold the truth: mfpt {hits_mfpt}/{runs}, bottleneck rate {hits_rate}/{runs}")
    assert hits_mfpt >= 31 and hits_rate >= 31  # 90% nominal; 31 of 40 is the binomial 1st percentile


def test_a_given_source_the_run_has_not_connected_yet_is_nothing_to_analyse_not_an_error():
    """Early in a run a fixed source (the demo's, or --source) may be visited but not yet left and re-entered: the
    check says so and the run goes on (it used to stop the analysis with an error)."""
    from getsei_live.analysis import kinetic_model

    counts = np.array([[50, 5, 0], [5, 50, 0], [0, 1, 0]])  # S2 left once, never entered: outside the model
    model = kinetic_model(counts, 0.1, source=2, target=0)
    assert model.nothing_to_analyse == ("the source S2 is not yet connected both ways with the other states: "
                                        "nothing to analyse yet")
    assert model.flux is None and model.pathways == ()
