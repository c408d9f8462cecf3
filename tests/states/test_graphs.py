"""LiGraphBuilder against the per-Li reference loop, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import reference
from ase import Atoms
from ase.build import bulk

from getsei_live import FeatureSchemaError, LiGraphBuilder, StructureError
from getsei_live.states.graphs import DEFAULT_ELEMENTS


def random_structure(cell, symbols, rng, min_distance=1.7) -> Atoms:
    """Random positions in a periodic cell, no two atom images closer than ``min_distance``."""
    atoms = Atoms(cell=cell, pbc=True)
    while len(atoms) < len(symbols):
        trial = atoms + Atoms(symbols[len(atoms)], scaled_positions=[rng.random(3)], cell=cell, pbc=True)
        if len(trial) < 2 or trial.get_distances(-1, range(len(trial) - 1), mic=True).min() > min_distance:
            atoms = trial
    return atoms


def assert_graphs_match_reference(atoms, builder: LiGraphBuilder) -> int:
    """Compare every node feature and edge with the reference loop; return the most repeats of one atom in a graph."""
    schema = builder.schema
    g = builder.arrays(atoms)
    expected = reference.li_graphs(atoms, schema.elements, schema.edge_cutoff_A, schema.shell_cutoff_A)
    assert g.n_graphs == len(expected)
    assert np.array_equal(g.li_indices, np.flatnonzero(atoms.numbers == 3))
    most_repeats = 0
    for k, (nodes, features, edges) in enumerate(expected):
        lo, hi = g.ptr[k], g.ptr[k + 1]
        assert hi - lo == len(nodes)
        assert g.node_atoms[lo] == g.li_indices[k] and np.allclose(g.pos[lo], 0.0)
        key = {(int(a), tuple(np.round(v, 6))): n for n, (a, v) in enumerate(nodes)}
        ours = [key[(int(a), tuple(np.round(v, 6)))] for a, v in zip(g.node_atoms[lo:hi], g.pos[lo:hi])]
        assert sorted(ours) == list(range(len(nodes)))
        np.testing.assert_allclose(g.x[lo:hi], features[ours], rtol=1e-5, atol=1e-4)
        mask = (g.edge_index[0] >= lo) & (g.edge_index[0] < hi)
        our_edges = {tuple(sorted((ours[s - lo], ours[d - lo]))) for s, d in g.edge_index[:, mask].T}
        assert our_edges == edges
        assert np.all(g.edge_index[1, mask] >= lo) and np.all(g.edge_index[1, mask] < hi)
        assert mask.sum() == 2 * len(edges)
        most_repeats = max(most_repeats, int(np.bincount(g.node_atoms[lo:hi]).max()))
    return most_repeats


def test_real_lpscl_structure_matches_reference(lpscl_416):
    builder = LiGraphBuilder()
    assert_graphs_match_reference(lpscl_416, builder)
    assert builder.arrays(lpscl_416).n_graphs == 192


def test_triclinic_cell_matches_reference(fixed_seed):
    cell = [[9.4, 0.0, 0.0], [3.1, 8.8, 0.0], [-2.2, 1.9, 8.6]]
    symbols = ["Li"] * 14 + ["S"] * 6 + ["P"] * 2 + ["Cl"] * 2
    atoms = random_structure(cell, symbols, fixed_seed)
    assert abs(atoms.cell.angles() - 90).max() > 10
    assert_graphs_match_reference(atoms, LiGraphBuilder())


def test_small_cell_neighbour_through_several_images(fixed_seed):
    cell = [[4.3, 0.0, 0.0], [0.0, 4.6, 0.0], [0.9, 0.0, 4.2]]
    atoms = random_structure(cell, ["Li", "Li", "S", "Cl"], fixed_seed, min_distance=1.9)
    most_repeats = assert_graphs_match_reference(atoms, LiGraphBuilder(elements=("Li", "S", "Cl")))
    assert most_repeats >= 2, "the cell should make one atom appear through several images"


def test_other_radii_and_vocabulary(fixed_seed):
    atoms = random_structure(np.diag([7.5, 7.0, 7.2]), ["Li"] * 8 + ["O"] * 6 + ["La"] * 2, fixed_seed)
    assert_graphs_match_reference(atoms, LiGraphBuilder(edge_cutoff_A=2.5, shell_cutoff_A=3.5,
                                                        elements=("La", "Li", "O")))


def test_torch_batch_carries_the_arrays(lpscl_416):
    builder = LiGraphBuilder()
    g = builder.arrays(lpscl_416)
    batch = builder(lpscl_416)
    assert batch.num_graphs == 192
    assert np.array_equal(batch.x.numpy(), g.x)
    assert np.array_equal(batch.edge_index.numpy(), g.edge_index)
    assert np.array_equal(batch.batch.numpy(), g.batch)
    assert batch.x.shape[1] == len(builder.schema.feature_names) == 2 * len(DEFAULT_ELEMENTS) + 7


def test_element_outside_vocabulary_is_named(lpscl_416):
    atoms = lpscl_416.copy()
    atoms[5].symbol = "Fe"
    with pytest.raises(FeatureSchemaError, match=r"contains Fe, outside the element vocabulary"):
        LiGraphBuilder().arrays(atoms)


def test_structure_without_li():
    atoms = bulk("NaCl", "rocksalt", a=5.64).repeat(2)
    with pytest.raises(StructureError, match="contains no Li"):
        LiGraphBuilder(elements=("Li", "Na", "Cl")).arrays(atoms)


def test_cell_too_small_for_the_shell():
    atoms = bulk("Li", "bcc", a=3.44, cubic=True)
    with pytest.raises(StructureError, match=r"too small for the 4.0 A shell.*a = 3.44 A"):
        LiGraphBuilder().arrays(atoms)
    assert LiGraphBuilder().arrays(atoms.repeat(2)).n_graphs == 16


def test_non_finite_positions(lpscl_416):
    atoms = lpscl_416.copy()
    atoms.positions[3, 1] = np.nan
    with pytest.raises(StructureError, match="NaN or infinite positions"):
        LiGraphBuilder().arrays(atoms)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"edge_cutoff_A": 5.0}, "must not exceed 'shell_cutoff_A'"),
        ({"shell_cutoff_A": -1.0}, "'shell_cutoff_A' parameter must be a positive distance"),
        ({"elements": ("Li", "Xx")}, "distinct chemical symbols"),
        ({"elements": ("S", "P")}, "must contain 'Li'"),
    ],
)
def test_bad_builder_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LiGraphBuilder(**kwargs)
