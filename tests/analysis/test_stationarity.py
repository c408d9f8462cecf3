"""Stationarity across the run and the one line for degenerate data, on chains with known answers."""

from __future__ import annotations

import numpy as np
from reference import chain_labels

from getsei_live.analysis import kinetic_model
from getsei_live.analysis.counting import TransitionCounter
from getsei_live.analysis.stationarity import stationarity

P = np.array([[0.90, 0.07, 0.03], [0.05, 0.85, 0.10], [0.02, 0.08, 0.90]])


def blocks(labels: np.ndarray) -> np.ndarray:
    counter = TransitionCounter(3, (1,), labels.shape[1])
    counter.update_many(labels)
    return counter.block_counts()


def test_a_stationary_chain_is_stationary(fixed_seed):
    steady = stationarity(blocks(chain_labels(P, 2000, 50, fixed_seed)), 0, rng=fixed_seed)
    assert steady.stationary, steady.reasons
    assert np.allclose(steady.populations.sum(axis=1), 1.0)


def test_a_chain_that_empties_a_state_is_still_equilibrating(fixed_seed):
    """All Li start in S0, which the chain empties over about 100 frames (a relaxing interface): the first half of
    400 frames holds far more S0 than the second."""
    relaxing = np.array([[0.99, 0.005, 0.005], [0.001, 0.95, 0.049], [0.001, 0.049, 0.95]])
    start = np.zeros((1, 50), dtype=np.int64)
    drifting = np.concatenate([start, chain_labels_from(relaxing, 399, start[0], fixed_seed)])
    steady = stationarity(blocks(drifting), 0, rng=fixed_seed)
    assert not steady.stationary
    assert any(r.startswith("S0 holds") for r in steady.reasons), steady.reasons
    first, second = steady.populations
    assert first[0] > second[0] + 0.05  # counted by hand below
    counts = np.zeros(3)
    np.add.at(counts, drifting[:200].ravel(), 1)
    assert counts[0] / counts.sum() > 0.3


def chain_labels_from(K: np.ndarray, n_frames: int, start: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cumulative = np.cumsum(K, axis=1)
    out = np.empty((n_frames, start.size), dtype=np.int64)
    current = start
    for t in range(n_frames):
        current = np.minimum((rng.random(start.size)[:, None] > cumulative[current]).sum(axis=1), 2)
        out[t] = current
    return out


def test_one_visited_state_has_nothing_to_analyse():
    counts = np.array([[995, 3, 0], [4, 1, 0], [0, 0, 0]])
    model = kinetic_model(counts, 0.1)
    assert model.nothing_to_analyse.startswith("only S0 is visited (99.")
    assert model.nothing_to_analyse.endswith("nothing to analyse yet")
    assert model.flux is None and model.pathways == ()
