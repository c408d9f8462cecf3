"""Deliberately simple reference implementations that the vectorised code is checked against.

Every loop here is the textbook definition written out per atom and per
periodic image, with no neighbour list and no vectorisation; the benchmarks
use the same loop as their baseline.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def image_neighbours(atoms, centre: int, cutoff: float) -> list[tuple[int, np.ndarray]]:
    """Every atom image within ``cutoff`` of atom ``centre`` (itself at zero shift excluded)."""
    atoms = atoms.copy()
    atoms.wrap()
    cell = atoms.cell.array
    reciprocal = np.linalg.norm(np.asarray(atoms.cell.reciprocal()), axis=1)
    reach = [int(math.ceil(cutoff * reciprocal[k])) + 1 if atoms.pbc[k] else 0 for k in range(3)]
    found = []
    for shift in itertools.product(*(range(-r, r + 1) for r in reach)):
        vectors = atoms.positions + np.array(shift) @ cell - atoms.positions[centre]
        distances = np.linalg.norm(vectors, axis=1)
        for j in np.flatnonzero((distances > 0.0) & (distances < cutoff)):
            found.append((int(j), vectors[j]))
    return found


def descriptors(atoms, centre: int, elements: tuple[str, ...], shell: float) -> list[float]:
    """Element counts, mean neighbour distance and angle statistics of one atom."""
    neighbours = image_neighbours(atoms, centre, shell)
    symbols = atoms.get_chemical_symbols()
    counts = [sum(1 for j, _ in neighbours if symbols[j] == e) for e in elements]
    distances = [float(np.linalg.norm(v)) for _, v in neighbours]
    mean_distance = sum(distances) / len(distances) if distances else 0.0
    angles = []
    for (_, u), (_, v) in itertools.combinations(neighbours, 2):
        cosine = float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))
        angles.append(math.degrees(math.acos(max(-1.0, min(1.0, cosine)))))
    if angles:
        stats = [float(np.mean(angles)), float(np.std(angles)), min(angles), max(angles), float(np.median(angles))]
    else:
        stats = [0.0] * 5
    return [*map(float, counts), mean_distance, *stats]


def li_graph(atoms, centre: int, elements: tuple[str, ...], edge: float, shell: float, atom_descriptors):
    """Nodes (atom, position relative to centre, features) and undirected edges of one Li graph."""
    symbols = atoms.get_chemical_symbols()
    nodes = [(centre, np.zeros(3))] + image_neighbours(atoms, centre, shell)
    features = []
    for atom, vector in nodes:
        one_hot = [1.0 if symbols[atom] == e else 0.0 for e in elements]
        features.append([*one_hot, float(np.linalg.norm(vector)), *atom_descriptors[atom]])
    edges = set()
    for a, b in itertools.combinations(range(len(nodes)), 2):
        if np.linalg.norm(nodes[a][1] - nodes[b][1]) < edge:
            edges.add((a, b))
    return nodes, np.array(features), edges


def li_graphs(atoms, elements: tuple[str, ...], edge: float = 3.0, shell: float = 4.0):
    """All Li graphs of a frame, one per Li atom in index order: the per-Li loop."""
    table = [descriptors(atoms, k, elements, shell) for k in range(len(atoms))]
    symbols = atoms.get_chemical_symbols()
    return [li_graph(atoms, c, elements, edge, shell, table) for c in range(len(atoms)) if symbols[c] == "Li"]


def chain_labels(P: np.ndarray, n_frames: int, n_li: int, rng: np.random.Generator) -> np.ndarray:
    """(n_frames, n_li) labels of independent Li, each following the frame-to-frame matrix ``P``."""
    cumulative = np.cumsum(P, axis=1)
    out = np.empty((n_frames, n_li), dtype=np.int64)
    out[0] = rng.integers(0, P.shape[0], n_li)
    for t in range(1, n_frames):
        out[t] = np.minimum((rng.random(n_li)[:, None] > cumulative[out[t - 1]]).sum(axis=1), P.shape[0] - 1)
    return out


def core_loop(states: np.ndarray, core_frames: int) -> np.ndarray:
    """Core assignment by its definition, one Li and one frame at a time: a Li's label at frame t is the state of
    the latest run of at least ``core_frames`` equal raw labels that began at or before t (-1 before the first
    one). Only the frames whose run is known to its end or to ``core_frames`` (all but the last
    ``core_frames - 1``) are returned."""
    n_frames, n_li = states.shape
    out = np.full((max(0, n_frames - core_frames + 1), n_li), -1, dtype=np.int64)
    for i in range(n_li):
        current = -1
        for t in range(n_frames - core_frames + 1):
            start = t
            while start > 0 and states[start - 1, i] == states[t, i]:
                start -= 1
            end = t
            while end + 1 < n_frames and states[end + 1, i] == states[t, i]:
                end += 1
            if end - start + 1 >= core_frames:
                current = states[t, i]
            out[t, i] = current
    return out


def counts_by_definition(states: np.ndarray, lags, n_states: int, count_from: int = 0) -> np.ndarray:
    """Sliding-window counts, one Li and one frame at a time; pairs with a label < 0 (not assigned) or whose earlier
    frame is before ``count_from`` are not counted."""
    counts = np.zeros((len(lags), n_states, n_states), dtype=np.int64)
    for k, lag in enumerate(lags):
        for t in range(max(lag, count_from + lag), states.shape[0]):
            for i in range(states.shape[1]):
                if states[t - lag, i] >= 0 and states[t, i] >= 0:
                    counts[k, states[t - lag, i], states[t, i]] += 1
    return counts
