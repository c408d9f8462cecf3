"""Koopman matrix, stationary distribution and timescales: closed forms and deeptime."""

from __future__ import annotations

import numpy as np
import pytest
from deeptime.markov.msm import MarkovStateModel, MaximumLikelihoodMSM

from getsei_live import ParameterError
from getsei_live.analysis import implied_timescales, stationary_distribution, transition_matrix


def random_counts(rng, n, density=1.0):
    c = rng.integers(1, 200, size=(n, n)) * (rng.random((n, n)) < density)
    c[np.diag_indices(n)] += 500
    c[np.arange(n - 1), np.arange(1, n)] += 1  # a ring of transitions keeps every state connected
    c[n - 1, 0] += 1
    return c


def test_two_state_transition_matrix_closed_form():
    tm = transition_matrix([[70, 30], [10, 90]])
    np.testing.assert_allclose(tm.transition_matrix, [[0.7, 0.3], [0.1, 0.9]], atol=1e-15)
    # pi = (b, a) / (a + b) for K = [[1 - a, a], [b, 1 - b]]
    np.testing.assert_allclose(tm.stationary_distribution, [0.25, 0.75], atol=1e-15)
    assert tm.active_set.tolist() == [0, 1] and tm.excluded_states.size == 0


def test_three_state_closed_form_stationary():
    p, q = 0.2, 0.15
    K = np.array([[1 - p, p, 0], [q, 1 - 2 * q, q], [0, p, 1 - p]])
    np.testing.assert_allclose(stationary_distribution(K), np.array([q, p, q]) / (2 * q + p), atol=1e-15)


@pytest.mark.parametrize("n", [3, 6, 9])
def test_non_reversible_and_reversible_match_deeptime(fixed_seed, n):
    c = random_counts(fixed_seed, n, density=0.7)
    for reversible in (False, True):
        ours = transition_matrix(c, reversible=reversible)
        theirs = MaximumLikelihoodMSM(reversible=reversible, maxerr=1e-15).fit(c.astype(float)).fetch_model()
        np.testing.assert_allclose(ours.transition_matrix, theirs.transition_matrix, atol=1e-10)
        np.testing.assert_allclose(ours.stationary_distribution, theirs.stationary_distribution, atol=1e-10)
    pi, K = ours.stationary_distribution, ours.transition_matrix
    np.testing.assert_allclose(pi[:, None] * K, (pi[:, None] * K).T, atol=1e-14)


def test_unvisited_and_disconnected_states_are_excluded_and_named(caplog):
    caplog.set_level("DEBUG")
    c = np.zeros((5, 5))
    c[np.ix_([0, 2, 3], [0, 2, 3])] = [[5, 2, 1], [1, 6, 2], [2, 1, 4]]
    c[1, 1] = 7  # visited, but never leaves or is entered: its own set
    tm = transition_matrix(c)
    assert tm.active_set.tolist() == [0, 2, 3]
    assert tm.excluded_states.tolist() == [1, 4]
    assert tm.unvisited_states.tolist() == [4]
    assert tm.n_states == 5
    np.testing.assert_allclose(tm.transition_matrix.sum(axis=1), 1.0)
    assert "States [1, 4] excluded" in caplog.text  # at debug level
    assert tm.to_active((0, 3)) == (0, 2)
    with pytest.raises(ParameterError, match=r"S4 \(never visited\)"):
        tm.to_active((4,), "source")
    with pytest.raises(ParameterError, match=r"S1 \(not in the largest connected set\)"):
        tm.to_active((1,), "target")


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        (np.zeros((3, 3)), "all zeros"),
        ([[1, -1], [0, 2]], "non-negative"),
        ([[1, 2, 3]], "square"),
        ([[1, np.nan], [0, 2]], "finite"),
    ],
)
def test_bad_counts(counts, message):
    with pytest.raises(ParameterError, match=message):
        transition_matrix(counts)


def test_results_are_read_only():
    tm = transition_matrix([[3, 1], [1, 3]])
    with pytest.raises(ValueError):
        tm.transition_matrix[0, 0] = 1.0
    with pytest.raises(AttributeError):
        tm.reversible = True  # type: ignore[misc]
    assert tm.to_dict()["transition_matrix"] == [[0.75, 0.25], [0.25, 0.75]]


def test_two_state_timescale_closed_form():
    a, b, lag = 0.3, 0.1, 80.0
    its = implied_timescales([[1 - a, a], [b, 1 - b]], lag)
    np.testing.assert_allclose(its.eigenvalues, [1.0, 1 - a - b], atol=1e-15)
    np.testing.assert_allclose(its.timescales, [-lag / np.log(1 - a - b)], rtol=1e-14)


@pytest.mark.parametrize("reversible", [True, False])
def test_timescales_match_deeptime(fixed_seed, reversible):
    K = transition_matrix(random_counts(fixed_seed, 7), reversible=reversible).transition_matrix
    ours = implied_timescales(K, lag=2.5)
    theirs = MarkovStateModel(K, lagtime=2.5)
    np.testing.assert_allclose(ours.timescales, theirs.timescales(), rtol=1e-10)
    np.testing.assert_allclose(np.abs(ours.eigenvalues), np.abs(theirs.eigenvalues()), atol=1e-12)
    right = np.asarray(ours.eigenvectors)
    np.testing.assert_allclose(K @ right, right * ours.eigenvalues[None, :], atol=1e-12)


def test_timescale_limits():
    its = implied_timescales(np.eye(3), lag=1.0)
    assert np.all(np.isinf(its.timescales))
    with pytest.raises(ParameterError, match="'lag' parameter must be a positive number"):
        implied_timescales(np.eye(2), lag=0)


def test_timescales_at_every_lag_match_deeptime(fixed_seed):
    from getsei_live.analysis import timescales_by_lag

    counts = np.stack([random_counts(fixed_seed, 4), random_counts(fixed_seed, 4), np.zeros((4, 4))])
    found = timescales_by_lag(counts, [1.0, 2.0, 5.0])
    for c, lag, ours in zip(counts[:2], [1.0, 2.0], found[:2]):
        np.testing.assert_allclose(ours, MarkovStateModel(c / c.sum(axis=1, keepdims=True), lagtime=lag).timescales(),
                                   rtol=1e-10)
    assert found[2].size == 0  # no counts yet at that lag: no model, not an error
