"""What a state is: the mean environment of its central Li, and the physical order that numbers the states."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .graphs import FeatureSchema, LiGraphArrays

__all__ = ["StateDescription"]


@dataclass(frozen=True, slots=True)
class StateDescription:
    """The mean environment of the central Li in one state, for tables and reports.

    Attributes
    ----------
    index : int
        State number (S0..Sn), in physical order.
    population : float
        Fraction of the training environments in this state.
    mean_counts : dict of str to float
        Mean number of atoms of each element within the shell.
    mean_neighbour_distance_A : float
    """

    index: int
    population: float
    mean_counts: dict[str, float]
    mean_neighbour_distance_A: float

    def to_dict(self) -> dict:
        return {"index": self.index, "population": self.population, "mean_counts": dict(self.mean_counts),
                "mean_neighbour_distance_A": self.mean_neighbour_distance_A}

    @property
    def summary(self) -> str:
        counts = ", ".join(f"{e} {c:.1f}" for e, c in self.mean_counts.items() if c >= 0.05)
        return f"{counts}; mean distance {self.mean_neighbour_distance_A:.2f} A"


def centre_descriptor_array(graphs: LiGraphArrays, schema: FeatureSchema) -> np.ndarray:
    """(n_graphs, n_descriptors) descriptors of the central Li of each graph, unscaled."""
    first = len(schema.elements) + 1  # after the one-hot and the distance to the centre
    return graphs.x[graphs.ptr[:-1], first:].astype(float)


def physical_order(labels: np.ndarray, centre: np.ndarray, schema: FeatureSchema, n_states: int) -> np.ndarray:
    """Raw mixture components sorted by mean Li count in the shell, then mean neighbour distance, then
    the mean count of each other element: the same environments get the same numbers whatever the seed."""
    n_el = len(schema.elements)
    li = schema.elements.index("Li")
    means = np.array([centre[labels == k].mean(axis=0) if np.any(labels == k) else np.full(centre.shape[1], np.inf)
                      for k in range(n_states)])
    keys = [means[:, li], means[:, n_el]] + [means[:, e] for e in range(n_el) if e != li]
    return np.lexsort(tuple(reversed(keys)))
