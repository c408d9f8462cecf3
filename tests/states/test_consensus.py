"""Consensus of partitions from several encoder seeds, against partitions with a known answer."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score

from getsei_live.states.consensus import agreement, consensus, mixture_from_labels


def test_consensus_recovers_a_partition_that_each_seed_renames_and_blurs():
    """Five partitions of the same 3000 environments: the true one, each with its states renamed at random and
    15% of environments moved to a random state. The consensus is closer to the truth than any of them."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, 3000)
    labelings = []
    for _ in range(5):
        noisy = truth.copy()
        moved = rng.random(truth.size) < 0.15
        noisy[moved] = rng.integers(0, 4, moved.sum())
        labelings.append(rng.permutation(4)[noisy])
    medoid, labels, ari = consensus(labelings, 4)
    alone = [adjusted_rand_score(truth, lab) for lab in labelings]
    together = adjusted_rand_score(truth, labels)
    print(f"\nARI with the truth: each seed {np.round(alone, 3).tolist()}, consensus {together:.3f}")
    assert together > max(alone) + 0.1
    np.testing.assert_allclose(np.diag(ari), 1.0)
    assert ari[0, 1] == adjusted_rand_score(labelings[0], labelings[1]) and 0 <= medoid < 5


def test_agreement_is_one_for_renamed_copies():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 3, 500)
    assert np.allclose(agreement([base, rng.permutation(3)[base], rng.permutation(3)[base]]), 1.0)


def test_mixture_from_a_partition_keeps_it():
    """Three well-separated Gaussian clouds: the mixture refitted from their labels predicts them back."""
    rng = np.random.default_rng(2)
    centres = np.array([[0, 0, 0], [6, 0, 0], [0, 6, 0]])
    labels = rng.integers(0, 3, 900)
    points = centres[labels] + rng.normal(size=(900, 3))
    mixture = mixture_from_labels(points, labels, 3, seed=0)
    assert adjusted_rand_score(labels, mixture.predict(points)) > 0.98
