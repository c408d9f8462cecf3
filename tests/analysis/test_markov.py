"""Markov-lag test and resampling intervals against chains with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from reference import chain_labels

from getsei_live.analysis import reactive_flux, transition_matrix
from getsei_live.analysis.counting import TransitionCounter
from getsei_live.analysis.markov import markov_test
from getsei_live.analysis.tpt import net_flux_batch
from getsei_live.analysis.uncertainty import envelope, percentile_interval, resample_counts

LAGS = (1, 2, 4)


def counted(labels: np.ndarray, n_states: int) -> TransitionCounter:
    counter = TransitionCounter(n_states, LAGS, labels.shape[1])
    counter.update_many(labels)
    return counter


def judged(counter: TransitionCounter, rng) -> object:
    """The Markov test of the counts, frames 1 ps apart, as a snapshot makes it."""
    lags = [float(lag) for lag in LAGS]
    active = [transition_matrix(c).active_set for c in counter.counts()]
    resamples = [resample_counts(counter.per_li_counts(), lags, active, n_resamples=100, rng=rng, method="li"),
                 resample_counts(counter.block_counts(), lags, active, n_resamples=100, rng=rng, method="time")]
    return markov_test(counter.counts(), lags, resamples, observed_ps=float(counter.n_frames), n_li=counter.n_li)


def test_batched_flux_equals_reactive_flux(fixed_seed):
    K = fixed_seed.random((6, 5, 5)) * (fixed_seed.random((6, 5, 5)) > 0.3) + np.eye(5)
    K /= K.sum(axis=2, keepdims=True)
    net, total = net_flux_batch(K, (0,), (3, 4))
    for r in range(6):
        flux = reactive_flux(K[r], 0, (3, 4))
        np.testing.assert_allclose(net[r], flux.net_flux, atol=1e-14)
        assert total[r] == pytest.approx(flux.total_flux, abs=1e-14)


def test_exact_markov_chain_passes_at_every_testable_lag(fixed_seed):
    P = np.array([[0.94, 0.05, 0.01], [0.04, 0.92, 0.04], [0.01, 0.05, 0.94]])
    test = judged(counted(chain_labels(P, 1500, 60, fixed_seed), 3), fixed_seed)
    verdicts = {v.lag: v for v in test.verdicts}
    assert verdicts[1.0].markovian and verdicts[2.0].markovian, [v.reasons for v in test.verdicts]
    assert verdicts[1.0].ck.multiples == (2, 4) and verdicts[1.0].ck.passed.all()
    assert not verdicts[4.0].markovian and "no stored multiple" in verdicts[4.0].reasons[0]
    assert test.suggested_lag == 1.0
    # the CK prediction is the matrix power, computed here independently
    K1 = transition_matrix(counted(chain_labels(P, 10, 2, fixed_seed), 3).counts()[0] + 0).transition_matrix
    assert np.allclose(np.linalg.matrix_power(K1, 2).sum(axis=1), 1)


def test_hidden_state_process_fails_at_short_lag(fixed_seed):
    """Observed state A lumps a hidden state left quickly with one left slowly: its residence times are not
    exponential, so K(1)^k under-predicts staying in A at longer lags."""
    hidden = np.array([[0.80, 0.00, 0.20], [0.00, 0.99, 0.01], [0.10, 0.01, 0.89]])
    hidden_labels = chain_labels(hidden, 3000, 80, fixed_seed)
    observed = np.array([0, 0, 1])[hidden_labels]
    test = judged(counted(observed, 2), fixed_seed)
    first = test.verdicts[0]
    assert not first.markovian
    assert any("Chapman-Kolmogorov" in r or "moves from" in r for r in first.reasons), first.reasons


def test_lumped_chain_with_few_data_fails_on_its_point_deviation(fixed_seed):
    """A hidden-state chain lumped as above (exactly, K(1)^4 misses K(4) by 0.12) seen by 4 Li for 200 frames: the
    intervals are so wide that they overlap +-0.05 everywhere, which passed the old test."""
    hidden = np.array([[0.6, 0.0, 0.4], [0.0, 0.99, 0.01], [0.1, 0.02, 0.88]])
    observed = np.array([0, 0, 1])[chain_labels(hidden, 200, 4, fixed_seed)]
    first = judged(counted(observed, 2), fixed_seed).verdicts[0]
    assert first.ck.max_deviation.max() > 0.05
    assert not first.markovian
    assert any("Chapman-Kolmogorov test failed at" in r and "largest difference" in r for r in first.reasons)


def test_nearly_diagonal_lumped_chain_fails_on_leaving_probabilities(fixed_seed):
    """A lumped state left rarely (a slow and a small fast hidden part): every |K(1)^k - K(k)| entry is below 0.05,
    but K(1)^4 predicts leaving it half as often again as the data show."""
    hidden = np.array([[0.999, 0.0, 0.001], [0.0, 0.7, 0.3], [0.001, 0.01, 0.989]])
    observed = np.array([0, 0, 1])[chain_labels(hidden, 600, 30, fixed_seed)]
    first = judged(counted(observed, 2), fixed_seed).verdicts[0]
    assert first.ck.max_deviation.max() < 0.05
    assert not first.markovian
    assert any("is left with probability" in r and "apart, at most 25%" in r for r in first.reasons), first.reasons
    stay_predicted = np.linalg.matrix_power(first.ck.predicted[0] * 0 + _k1(observed), 4)  # independent power
    assert np.allclose(first.ck.predicted[1], stay_predicted, atol=1e-12)


def _k1(labels: np.ndarray) -> np.ndarray:
    counts = np.zeros((2, 2))
    np.add.at(counts, (labels[:-1].ravel(), labels[1:].ravel()), 1)
    return counts / counts.sum(axis=1, keepdims=True)


def test_a_process_slower_than_the_run_is_not_resolved(fixed_seed):
    """An exact chain whose slowest process (about 500 frames) is longer than the 200 frames observed: its implied
    timescales agree at every lag, so the plateau and the CK test pass, but the run has not seen that process."""
    P = np.array([[0.998, 0.002, 0.0], [0.3, 0.4, 0.3], [0.0, 0.002, 0.998]])
    test = judged(counted(chain_labels(P, 200, 500, fixed_seed), 3), fixed_seed)
    first = test.verdicts[0]
    assert not first.markovian and test.suggested_lag is None
    assert any("longer than each Li was observed (200 ps)" in r for r in first.reasons), first.reasons


def test_no_resolving_longer_lag_means_no_plateau(fixed_seed):
    """A fast chain (t1 = 3.5 frames): at lag 2 no longer lag resolves t1, so its plateau cannot be seen."""
    P = np.array([[0.8, 0.15, 0.05], [0.15, 0.7, 0.15], [0.05, 0.15, 0.8]])
    test = judged(counted(chain_labels(P, 2000, 40, fixed_seed), 3), fixed_seed)
    second = test.verdicts[1]
    assert not second.markovian
    assert any("no longer stored lag resolves t1" in r for r in second.reasons), second.reasons


def test_bias_corrected_interval_shifts_against_a_biased_resample():
    samples = np.linspace(0.0, 1.0, 201)[:, None]
    plain = percentile_interval(samples, 0.9)[0]
    corrected = percentile_interval(samples, 0.9, estimate=np.array([0.7]))[0]
    assert plain == pytest.approx([0.05, 0.95])
    assert corrected[0] > plain[0] and corrected[1] > plain[1]  # most resamples below the estimate: shift up
    assert envelope([np.array([[0.1, 0.5]]), np.array([[0.2, 0.7]])]).tolist() == [[0.1, 0.7]]


def test_few_units_widen_the_interval_within_its_range():
    from scipy.stats import norm, t

    samples = np.linspace(0.0, 1.0, 201)[:, None]
    many = percentile_interval(samples, 0.9, n_units=10_000)[0]
    few = percentile_interval(samples, 0.9, n_units=5)[0]
    assert many == pytest.approx([0.05, 0.95], abs=1e-3)
    factor = np.sqrt(5 / 4) * t.ppf(0.95, 4) / norm.ppf(0.95)  # independent reference for the widening
    assert few[1] - few[0] == pytest.approx(0.9 * factor)
    clipped = percentile_interval(samples, 0.9, n_units=5, limits=(0.0, 1.0))[0]
    assert clipped.tolist() == [0.0, 1.0]


def test_the_plateau_tolerance_s_old_name_warns_and_judges_the_same(fixed_seed):
    """``markov_test(timescale_rtol=)`` was the plateau tolerance under the name of the criteria's between-checks
    tolerance; it is ``plateau_rtol`` now, as in ``ConvergenceCriteria``, and the old name warns."""
    from getsei_live.errors import GetseiDeprecationWarning

    P = np.array([[0.94, 0.05, 0.01], [0.04, 0.92, 0.04], [0.01, 0.05, 0.94]])
    counter = counted(chain_labels(P, 400, 30, fixed_seed), 3)
    lags = [float(lag) for lag in LAGS]
    args = (counter.counts(), lags, ())
    with pytest.warns(GetseiDeprecationWarning, match="'timescale_rtol' is deprecated .* use 'plateau_rtol'"):
        old = markov_test(*args, timescale_rtol=1e-6, observed_ps=400.0, n_li=30)
    new = markov_test(*args, plateau_rtol=1e-6, observed_ps=400.0, n_li=30)
    loose = markov_test(*args, plateau_rtol=1.0, observed_ps=400.0, n_li=30)
    reasons = [tuple(v.reasons for v in test.verdicts) for test in (old, new, loose)]
    assert reasons[0] == reasons[1] != reasons[2]  # the tolerance reached the plateau test under either name


def test_the_least_state_changes_has_one_name_and_the_old_ones_warn(fixed_seed):
    """One threshold, ``ConvergenceCriteria.min_transitions``, was ``min_transitions_out`` in ``kinetic_model`` and
    ``min_exits`` in ``stationarity`` on its way down."""
    from getsei_live.analysis import kinetic_model
    from getsei_live.analysis.stationarity import stationarity
    from getsei_live.errors import GetseiDeprecationWarning

    P = np.array([[0.94, 0.05, 0.01], [0.04, 0.92, 0.04], [0.01, 0.05, 0.94]])
    counter = counted(chain_labels(P, 400, 30, fixed_seed), 3)
    with pytest.warns(GetseiDeprecationWarning, match="use 'min_transitions'"):
        old = kinetic_model(counter.counts()[0], 1.0, min_transitions_out=10 ** 6)
    assert old.notes == kinetic_model(counter.counts()[0], 1.0, min_transitions=10 ** 6).notes != \
        kinetic_model(counter.counts()[0], 1.0).notes
    blocks = counter.block_counts()
    with pytest.warns(GetseiDeprecationWarning, match="use 'min_transitions'"):
        old = stationarity(blocks, 0, rng=np.random.default_rng(0), min_exits=5)
    new = stationarity(blocks, 0, rng=np.random.default_rng(0), min_transitions=5)
    np.testing.assert_array_equal(old.leaving_drift_ci, new.leaving_drift_ci)
