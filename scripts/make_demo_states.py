"""Train the demo's pretrained state model on MD of the three demo interfaces with the bundled potential.

Usage: python scripts/make_demo_states.py [--steps 1500] [--every 10] [--epochs 20] [--out out/demo_states]

Runs Langevin MD (700 K, 2 fs) with the bundled MACE potential on the demo-size LPSCl/Li, LGPS/Li and LLZO/Li
interfaces, writes the trajectories, trains a 6-state model on 20% of their frames exactly as
`getsei-live train` does, and ships it as getsei_live/data/demo_states.pt with a card (demo_states.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ase.io import write

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from getsei_live.gcl import TrainingConfig  # noqa: E402
from getsei_live.md import langevin, mace_calculator  # noqa: E402
from getsei_live.states import StateModel  # noqa: E402
from getsei_live.systems import SYSTEMS, build_interface  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--temperature-K", type=float, default=700.0)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "demo_states")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    calc = mace_calculator("bundled", device="cpu", dtype="float32")
    trajectories = []
    for system in SYSTEMS:
        atoms = build_interface(system, "demo").atoms
        atoms.calc = calc
        dyn = langevin(atoms, temperature_K=args.temperature_K, timestep_fs=2.0, friction_ps=0.5, seed=1)
        frames = []
        start = time.perf_counter()
        for _ in range(args.steps // args.every):
            dyn.run(args.every)
            frames.append(atoms.copy())
        write(args.out / f"{system}.extxyz", frames)
        trajectories.append(frames)
        print(f"{system}: {len(frames)} frames, {(time.perf_counter() - start) / args.steps:.3f} s/step, "
              f"final T {atoms.get_temperature():.0f} K", flush=True)
    model = StateModel.train(trajectories, n_states=6, frame_fraction=0.2,
                             config=TrainingConfig(epochs=args.epochs, seed=0),
                             progress=lambda e, n, loss: print(f"  epoch {e}/{n} loss {loss:.4f}", flush=True))
    data = ROOT / "getsei_live" / "data"
    model.save(data / "demo_states.pt")
    card = {
        "what": "Pretrained state model of the getsei-live demo: 6 states of Li environments at the three demo "
                "interfaces (LPSCl/Li, LGPS/Li, LLZO/Li).",
        "trained_on": f"Langevin MD with the bundled MACE potential, {args.temperature_K:g} K, 2 fs, {args.steps} "
                      f"steps per interface, frames every {args.every} steps; 20% of the frames",
        "fingerprint": model.fingerprint,
        "silhouette": model.silhouette,
        "states": [s.to_dict() for s in model.states],
        "training": model.training,
    }
    (data / "demo_states.json").write_text(json.dumps(card, indent=1))
    print(f"silhouette {model.silhouette:.4f}; states:")
    for s in model.states:
        print(f"  S{s.index}  {s.population:.3f}  {s.summary}")


if __name__ == "__main__":
    main()
