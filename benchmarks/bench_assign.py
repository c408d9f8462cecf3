"""Throughput of StateModel.assign (Li environments per second) on CPU, measured in one run.

Usage: python benchmarks/bench_assign.py [--repeats N] [--threads T]

Uses an untrained state model of the paper's size (the cost does not depend on
the weights): the real 416-atom Li6PS5Cl structure and a 3328-atom supercell.
Prints the split between graph building, encoder and mixture, so the slow part
is visible.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from ase.io import read

from sklearn.mixture import GaussianMixture

from getsei_live.gcl import GATEncoder, TrainingConfig
from getsei_live.graphs import FeatureSchema
from getsei_live.states import StateModel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import median_s  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STRUCTURE = ROOT.parent / "shared" / "data" / "structures" / "Li6PS5Cl_2x2x2_416atoms_morgan_POSCAR"


def untrained_model(atoms, n_states: int = 6) -> StateModel:
    """A model of the default size with random weights and a mixture fitted to its own embeddings."""
    config, schema = TrainingConfig(), FeatureSchema()
    torch.manual_seed(0)
    encoder = GATEncoder(len(schema.feature_names), config.hidden_channels, config.heads, config.embedding_dim)
    dim = len(schema.feature_names)
    model = StateModel(schema, encoder, np.zeros(dim), np.ones(dim), GaussianMixture(1), np.zeros(1),
                       training={}, states=(), silhouette=float("nan"), silhouette_by_k={})
    mixture = GaussianMixture(n_states, random_state=0).fit(model.embed(atoms).astype(float))
    return StateModel(schema, encoder, np.zeros(dim), np.ones(dim), mixture, np.arange(n_states),
                      training={}, states=(), silhouette=float("nan"), silhouette_by_k={})




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if not STRUCTURE.exists():
        sys.exit(f"needs {STRUCTURE} (../shared beside the repository)")
    if args.threads:
        torch.set_num_threads(args.threads)
    base = read(STRUCTURE, format="vasp")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    print(f"{'system':<26}{'atoms':>7}{'Li':>6}{'graphs ms':>11}{'encoder ms':>12}{'mixture ms':>12}"
          f"{'assign ms':>11}{'Li env/s':>10}")
    for name, atoms in [("Li6PS5Cl 2x2x2 (real)", base), ("Li6PS5Cl 4x4x4 supercell", base.repeat(2))]:
        model = untrained_model(atoms)
        g = model.builder.arrays(atoms)
        embeddings = model.embed(atoms)
        graphs = median_s(lambda: model.builder.arrays(atoms), args.repeats)
        encoder = median_s(lambda: model._embed_arrays(g.x, g.edge_index, g.batch, g.ptr[:-1]), args.repeats)
        mixture = median_s(lambda: model.label_embeddings(embeddings), args.repeats)
        total = median_s(lambda: model.assign(atoms), args.repeats)
        n_li = g.n_graphs
        print(f"{name:<26}{len(atoms):>7}{n_li:>6}{1e3 * graphs:>11.1f}{1e3 * encoder:>12.1f}{1e3 * mixture:>12.2f}"
              f"{1e3 * total:>11.1f}{n_li / total:>10.0f}")


if __name__ == "__main__":
    main()
