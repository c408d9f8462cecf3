"""State definitions that do not depend on the encoder's seed: several encoders, one consensus partition.

A contrastive encoder trained with another seed embeds the same environments
differently, and a Gaussian mixture on each embedding draws its own borders:
on their own, state models of different seeds agree poorly (adjusted Rand
index 0.07-0.30 on bulk argyrodite AIMD). Here ``n`` encoders are trained
with consecutive seeds and each partition is clustered; each partition's
states are matched to those of the medoid partition (the one that agrees best
with the others) by the Hungarian method on their contingency table; every
environment takes the state most partitions give it; and the medoid encoder's
mixture is refitted from that consensus. The model keeps one encoder, so
labelling costs what it did.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

__all__ = ["agreement", "consensus", "mixture_from_labels"]


def agreement(labelings: Sequence[np.ndarray]) -> np.ndarray:
    """(n, n) adjusted Rand index between every pair of partitions of the same environments."""
    n = len(labelings)
    ari = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            ari[i, j] = ari[j, i] = adjusted_rand_score(labelings[i], labelings[j])
    return ari


def _matched(reference: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """``labels`` renamed to the reference's states they overlap most (a one-to-one matching)."""
    table = np.zeros((k, k))
    np.add.at(table, (labels, reference), 1)
    rows, cols = linear_sum_assignment(-table)
    mapping = np.arange(k)
    mapping[rows] = cols
    return mapping[labels]


def consensus(labelings: Sequence[np.ndarray], k: int) -> tuple[int, np.ndarray, np.ndarray]:
    """The medoid partition, the consensus labels (majority after matching to the medoid) and the pairwise ARI.

    Parameters
    ----------
    labelings : sequence of (n_env,) int ndarray
        Partitions of the same environments into ``k`` states.
    k : int

    Returns
    -------
    medoid : int
    labels : (n_env,) int ndarray
    ari : (n, n) ndarray
    """
    ari = agreement(labelings)
    medoid = int(np.argmax(ari.sum(axis=1)))
    reference = np.asarray(labelings[medoid])
    votes = np.zeros((reference.size, k), dtype=np.int64)
    for labels in labelings:
        matched = _matched(reference, np.asarray(labels), k)
        votes[np.arange(reference.size), matched] += 1
    votes[np.arange(reference.size), reference] += 1  # ties go to the medoid
    return medoid, votes.argmax(axis=1), ari


def mixture_from_labels(embeddings: np.ndarray, labels: np.ndarray, k: int, seed: int) -> GaussianMixture:
    """A full-covariance mixture fitted by EM from the Gaussians of a given partition (empty states dropped)."""
    present = [s for s in range(k) if np.sum(labels == s) > embeddings.shape[1]]
    means = np.array([embeddings[labels == s].mean(axis=0) for s in present])
    eye = 1e-6 * np.eye(embeddings.shape[1])
    precisions = np.array([np.linalg.inv(np.cov(embeddings[labels == s], rowvar=False) + eye) for s in present])
    weights = np.array([np.mean(labels == s) for s in present])
    mixture = GaussianMixture(n_components=len(present), covariance_type="full", random_state=seed,
                              weights_init=weights / weights.sum(), means_init=means, precisions_init=precisions)
    return mixture.fit(embeddings)
