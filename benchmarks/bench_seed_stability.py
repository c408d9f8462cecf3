"""How much the states depend on the encoder's seed: cross-seed adjusted Rand index on the three demo interfaces.

Usage: python benchmarks/bench_seed_stability.py [--steps 600] [--epochs 20] [--models 3] [--seeds-per-model 3]
       [--consensus-only]

Langevin MD (700 K, 2 fs) of the demo LPSCl/Li, LGPS/Li and LLZO/Li interfaces
with the bundled MACE potential gives the frames (cached in out/seed_frames).
State models of 6 states are trained on 20% of them as ``getsei-live train``
does: ``--models`` models with one encoder each (seeds 0, 1, 2, ...: "one
seed"), and ``--models`` consensus models of ``--seeds-per-model`` encoders
each, on disjoint seed sets (0-2, 10-12, 20-22, ...). Every model labels every
Li of every frame; the table gives the adjusted Rand index between every pair
of models, on each interface and on all of them.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
from ase.io import read, write
from sklearn.metrics import adjusted_rand_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from getsei_live.md.calculators import mace_calculator  # noqa: E402
from getsei_live.md.dynamics import langevin  # noqa: E402
from getsei_live.states.encoder import TrainingConfig  # noqa: E402
from getsei_live.states.model import StateModel  # noqa: E402
from getsei_live.structures.builders import SYSTEMS, build_interface  # noqa: E402


def frames_of(system: str, steps: int, every: int, folder: Path) -> list:
    path = folder / f"{system}_{steps}.extxyz"
    if path.exists():
        return read(path, index=":")
    atoms = build_interface(system, "demo").atoms
    atoms.calc = mace_calculator("bundled", device="cpu", dtype="float32")
    dyn = langevin(atoms, temperature_K=700.0, timestep_fs=2.0, coupling_time_ps=0.5, seed=1)
    frames = []
    for _ in range(steps // every):
        dyn.run(every)
        frames.append(atoms.copy())
    folder.mkdir(parents=True, exist_ok=True)
    write(path, frames)
    return frames


def labels_of(model: StateModel, trajectories: list[list]) -> list[np.ndarray]:
    return [np.concatenate([model.assign(atoms) for atoms in frames]) for frames in trajectories]


def pairwise(labelings: list[list[np.ndarray]]) -> np.ndarray:
    """(pairs, interfaces + 1) ARI of every pair of models on each interface and on all together."""
    rows = []
    for a, b in itertools.combinations(labelings, 2):
        rows.append([adjusted_rand_score(x, y) for x, y in zip(a, b)]
                    + [adjusted_rand_score(np.concatenate(a), np.concatenate(b))])
    return np.array(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--seeds-per-model", type=int, default=3)
    parser.add_argument("--consensus-only", action="store_true", help="skip the one-seed models")
    args = parser.parse_args()
    folder = ROOT / "out" / "seed_frames"
    trajectories = [frames_of(system, args.steps, args.every, folder) for system in SYSTEMS]
    print(f"frames: {', '.join(f'{s} {len(f)}' for s, f in zip(SYSTEMS, trajectories))}", flush=True)
    results = {}
    configurations = [("one seed", 1, range(args.models)),
                      (f"consensus of {args.seeds_per_model}", args.seeds_per_model, range(0, 10 * args.models, 10))]
    for name, n_seeds, bases in configurations[1:] if args.consensus_only else configurations:
        labelings, start = [], time.perf_counter()
        for base in bases:
            model = StateModel.train(trajectories, n_states=6, frame_fraction=0.2, n_seeds=n_seeds,
                                     config=TrainingConfig(epochs=args.epochs, seed=base))
            labelings.append(labels_of(model, trajectories))
            agreement = model.training.get("seed_agreement")
            print(f"  {name}, seed {base}: silhouette {model.silhouette:.3f}"
                  + (f"; its encoders agree with ARI {agreement['mean_ari']:.3f}" if agreement else ""), flush=True)
        results[name] = pairwise(labelings)
        print(f"  {name}: {len(labelings)} models in {time.perf_counter() - start:.0f} s", flush=True)
    n_pairs = args.models * (args.models - 1) // 2
    print(f"\nadjusted Rand index between models trained with other seeds (mean over {n_pairs} pairs [min, max]); "
          f"6 states, {args.epochs} epochs, 20% of the frames")
    header = f"{'states from':<16}" + "".join(f"{s:>22}" for s in (*SYSTEMS, "all"))
    print(header)
    for name, ari in results.items():
        print(f"{name:<16}" + "".join(f"{m:8.3f} [{lo:.2f}, {hi:.2f}]".rjust(22)
                                      for m, lo, hi in zip(ari.mean(0), ari.min(0), ari.max(0))))


if __name__ == "__main__":
    main()
