"""Rate matrix: closed forms, generator round trips, and the nearest-generator projection."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from scipy.optimize import minimize

from getsei_live import ParameterError
from getsei_live.analysis import nearest_generator, rate_matrix


def test_two_state_rates_closed_form():
    a, b, lag = 0.3, 0.1, 80.0
    r = rate_matrix([[1 - a, a], [b, 1 - b]], lag)
    total = -np.log(1 - a - b) / lag  # k12 + k21
    expected = np.array([[-a, a], [b, -b]]) * total / (a + b)
    np.testing.assert_allclose(r.rate_matrix, expected, rtol=1e-12)
    assert r.valid and r.generator_method == "logm" and r.problems == ()
    np.testing.assert_allclose(r.escape_rates, [expected[0, 1], expected[1, 0]], rtol=1e-12)
    np.testing.assert_allclose(r.mobility, [1.0, b / a], rtol=1e-12)
    assert r.mobility_ranking.tolist() == [0, 1]


def test_generator_round_trip(fixed_seed):
    n, lag = 6, 80.0
    R = fixed_seed.random((n, n)) * 2e-3
    np.fill_diagonal(R, 0.0)
    np.fill_diagonal(R, -R.sum(axis=1))
    r = rate_matrix(scipy.linalg.expm(R * lag), lag)
    assert r.valid
    np.testing.assert_allclose(r.rate_matrix, R, atol=1e-14)
    np.testing.assert_allclose(r.escape_rates, -np.diag(R), rtol=1e-10)
    assert r.mobility_ranking.tolist() == np.argsort(np.diag(R)).tolist()


def test_cyclic_chain_is_not_embeddable_and_gets_a_projected_generator():
    K = np.array([[0.1, 0.9, 0.0], [0.0, 0.1, 0.9], [0.9, 0.0, 0.1]])
    r = rate_matrix(K, 2.0)
    assert not r.valid and r.generator_method == "projection"
    assert any("negative off-diagonal" in p for p in r.problems)
    G = r.generator
    off = G[~np.eye(3, dtype=bool)]
    assert off.min() >= 0.0
    np.testing.assert_allclose(G.sum(axis=1), 0.0, atol=1e-15)


def test_projection_is_the_nearest_generator(fixed_seed):
    A = fixed_seed.normal(size=(5, 5))
    G = nearest_generator(A)
    for i in range(5):
        off = [j for j in range(5) if j != i]
        result = minimize(
            lambda x, a=A[i]: np.sum((x - a) ** 2), A[i], method="SLSQP",
            constraints=[{"type": "eq", "fun": lambda x: x.sum()}]
            + [{"type": "ineq", "fun": lambda x, j=j: x[j]} for j in off],
            options={"ftol": 1e-14, "maxiter": 500},
        )
        np.testing.assert_allclose(G[i], result.x, atol=1e-6)


def test_complex_logarithm_is_reported():
    # A rotation-like chain: complex eigenvalues with a negative real part.
    K = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]) * 0.98 + 0.02 / 3
    r = rate_matrix(K, 1.0)
    assert not r.valid
    assert np.all(r.generator[~np.eye(3, dtype=bool)] >= 0)


def test_singular_matrix_falls_back_to_first_order():
    K = np.array([[0.5, 0.5], [0.5, 0.5]])
    r = rate_matrix(K, 4.0)
    assert not r.valid and r.generator_method == "first-order"
    np.testing.assert_allclose(r.generator, (K - np.eye(2)) / 4.0)


@pytest.mark.parametrize(
    ("K", "message"),
    [
        ([[0.5, 0.4], [0.2, 0.8]], "row 0 sums to 0.9"),
        ([[1.2, -0.2], [0.2, 0.8]], "negative entries"),
        ([[0.5, 0.5]], "square"),
    ],
)
def test_not_a_transition_matrix(K, message):
    with pytest.raises(ParameterError, match=message):
        rate_matrix(K, 1.0)


def test_batched_generators_equal_rate_matrix_one_by_one():
    """The eigen-decomposition logarithm of a stack equals scipy's logm one by one, including matrices with
    complex eigenvalues, with no logarithm (singular), and whose logm is not a generator (projected)."""
    import numpy as np

    from getsei_live.analysis.rates import generators, rate_matrix

    rng = np.random.default_rng(4)
    stack = [rng.dirichlet(np.full(4, 0.6), size=4) for _ in range(40)]
    stack += [np.array([[0.1, 0.9, 0.0], [0.0, 0.1, 0.9], [0.9, 0.0, 0.1]])[[0, 1, 2]]]  # rotation-like: complex
    stack += [np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.2, 0.8]])]  # singular
    stack = [np.pad(K, (0, 4 - K.shape[0])) + np.diag([0] * K.shape[0] + [1] * (4 - K.shape[0])) for K in stack]
    batched = generators(np.array(stack), 0.5)
    for K, G in zip(stack, batched):
        np.testing.assert_allclose(G, rate_matrix(K, 0.5).generator, atol=1e-9, rtol=1e-7)
