"""Train state models on the three real Li6PS5Cl AIMD runs (500 K) and report their silhouette scores.

Usage: python examples/train_lpscl_states.py [OUT_DIR] [--epochs N]

Trains at the paper's 6 states and at the number chosen by silhouette (2..10),
with the paper's settings (20% of the frames, GAT 2 layers x 4 heads, 32-d
embedding, edge dropout 0.1, feature masking 0.2, temperature 0.5). For
comparison it also prints the silhouette of a Gaussian mixture fitted directly
to the standardised descriptors of the central Li (no encoder). Writes
states_6.pt and states_auto.pt to OUT_DIR (default out/).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture

from getsei_live.cli import format_state_model
from getsei_live.states.encoder import TrainingConfig
from getsei_live.states.graphs import LiGraphBuilder
from getsei_live.states.model import StateModel
from getsei_live.structures.trajectory import read_trajectory

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "trajectories"
RUNS = [DATA / f"Li6PS5Cl_AIMD_500K_{p}_run1_XDATCAR.gz" for p in ("0pct", "50pct", "100pct")]


def descriptor_baseline(trajectories, k: int, seed: int = 0) -> float:
    builder = LiGraphBuilder()
    rows = []
    for frames in trajectories:
        for atoms in frames[:: 5]:
            g = builder.arrays(atoms)
            rows.append(g.x[g.ptr[:-1]])
    x = np.concatenate(rows).astype(float)
    x = x[:, x.std(axis=0) > 1e-6]
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    labels = GaussianMixture(k, random_state=seed, n_init=2).fit(x).predict(x)
    sample = np.random.default_rng(seed).choice(len(x), size=min(4000, len(x)), replace=False)
    return float(silhouette_score(x[sample], labels[sample]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=Path("out"))
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    trajectories = [read_trajectory(p) for p in RUNS]
    for n_states in (6, "auto"):
        start = time.perf_counter()
        model = StateModel.train(trajectories, n_states=n_states, config=TrainingConfig(epochs=args.epochs))
        path = model.save(args.out / f"states_{n_states}.pt")
        print(f"\n=== n_states={n_states}: trained in {time.perf_counter() - start:.0f} s -> {path}")
        print(format_state_model(model))
        print(f"Baseline, mixture on the raw centre descriptors at {model.n_states} states: "
              f"silhouette {descriptor_baseline(trajectories, model.n_states):.4f}")


if __name__ == "__main__":
    main()
