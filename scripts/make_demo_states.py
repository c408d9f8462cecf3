"""Make the demo's starting interphases and state models, one per interface, from MD this script runs itself.

Usage: python scripts/make_demo_states.py [--systems lpscl-li lgps-li llzo-li] [--temperature-K 700]
                                          [--metal-cells llzo-li=6]
                                          [--sample-temperatures-K 650 700 750] [--form-ps 4] [--train-ps 4]
                                          [--every 10] [--epochs 20] [--k-range 2 6]

For each demo interface, with the bundled MACE potential (float32, 2 fs, Langevin coupling 0.5 ps, as the demo runs):

1. build it (``getsei_live.structures.builders.build_interface``, demo size; ``--metal-cells`` makes a system's Li
   slab thicker) and relax it (FIRE, 200 steps);
2. run ``--form-ps`` at the demo temperature: the Li slab reacts with the electrolyte and the interphase forms (the
   state populations settle). The last frame, positions only, is the demo's starting structure
   ``getsei_live/data/demo_start_<system>.extxyz``;
3. from that start, at each of ``--sample-temperatures-K`` (the temperatures of ``make arrhenius-demo``; the demo
   runs at ``--temperature-K``): fresh velocities, 0.5 ps unsampled, then ``--train-ps`` sampled. One state model is
   trained on 20% of all those frames, exactly as ``getsei-live train --n-states auto --frame-ps`` does (the number
   of states in ``--k-range`` by silhouette among metastable, reproducible states), so that rates at the three
   temperatures are rates between the same states:
   ``getsei_live/data/demo_states_<system>.pt``;
4. score every frame of step 3 with the drift guard's test (the share of Li environments below the model's
   1st-percentile log-likelihood) in windows of 25 frames, the demo's check interval, and write the largest share
   with the rest of the card to ``demo_states_<system>.json``.

The demo then starts from the formed interphase, so that the environments it labels are those the model saw.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from ase.io import write

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from getsei_live.md.calculators import mace_calculator  # noqa: E402
from getsei_live.md.dynamics import langevin, relax  # noqa: E402
from getsei_live.states.encoder import TrainingConfig  # noqa: E402
from getsei_live.states.model import StateModel  # noqa: E402
from getsei_live.structures.builders import SYSTEMS, build_interface  # noqa: E402

DATA = ROOT / "getsei_live" / "data"
TIMESTEP_FS, COUPLING_PS, CHECK_FRAMES = 2.0, 0.5, 25


def sample(dyn, atoms, ps: float, every: int, label: str) -> list:
    """Run ``ps`` of MD, keeping a copy of the atoms every ``every`` steps; prints the temperature as it goes."""
    frames, steps = [], round(ps * 1000 / TIMESTEP_FS)
    start = time.perf_counter()
    for k in range(steps // every):
        dyn.run(every)
        frames.append(atoms.copy())
        if (k + 1) % 100 == 0:
            print(f"  {label}: {(k + 1) * every * TIMESTEP_FS / 1000:5.1f} ps  T {atoms.get_temperature():5.0f} K  "
                  f"{(time.perf_counter() - start) / ((k + 1) * every):.3f} s/step", flush=True)
    return frames


def make(system: str, args, calc) -> dict:
    atoms = build_interface(system, "demo", metal_cells=args.metal_cells.get(system)).atoms
    atoms.calc = calc
    print(f"{system}: {len(atoms)} atoms, {relax(atoms, steps=200).describe()}", flush=True)
    dyn = langevin(atoms, temperature_K=args.temperature_K, timestep_fs=TIMESTEP_FS, coupling_time_ps=COUPLING_PS,
                   seed=args.seed)
    sample(dyn, atoms, args.form_ps, args.every, "forming")
    start = atoms.copy()
    start.calc = None
    start.set_momenta(None)
    write(DATA / f"demo_start_{system}.extxyz", start)
    frames, by_temperature = [], {}
    for k, temperature in enumerate(args.sample_temperatures_K):
        atoms = start.copy()
        atoms.calc = calc
        dyn = langevin(atoms, temperature_K=temperature, timestep_fs=TIMESTEP_FS, coupling_time_ps=COUPLING_PS,
                       seed=args.seed + 1 + k)
        dyn.run(round(0.5 * 1000 / TIMESTEP_FS))
        by_temperature[temperature] = sample(dyn, atoms, args.train_ps, args.every, f"sampling at {temperature:g} K")
        frames += by_temperature[temperature]
        write(args.out / f"{system}_{temperature:g}K.extxyz", by_temperature[temperature])
    began = time.perf_counter()
    model = StateModel.train([by_temperature[t] for t in args.sample_temperatures_K], n_states="auto",
                             k_range=tuple(args.k_range), frame_fraction=0.2,
                             config=TrainingConfig(epochs=args.epochs, seed=0), n_seeds=args.seeds,
                             frame_dt_ps=args.every * TIMESTEP_FS / 1000)
    print(f"  {model.training['selection']['rule']}", flush=True)
    print(f"  trained in {time.perf_counter() - began:.0f} s: {model.n_states} states, silhouette "
          f"{model.silhouette:.3f}", flush=True)
    model.save(DATA / f"demo_states_{system}.pt")
    threshold = model.fit_threshold
    windows = {}
    for temperature, sampled in by_temperature.items():
        outside = np.array([np.mean(model.assign_with_fit(f)[1] < threshold) for f in sampled])
        windows[f"{temperature:g}"] = [float(outside[k:k + CHECK_FRAMES].mean())
                                       for k in range(0, len(outside), CHECK_FRAMES)]
    largest = max(max(w) for w in windows.values())
    card = {
        "what": f"State model of the getsei-live demo for the {system} interphase, with its starting structure "
                f"demo_start_{system}.extxyz.",
        "made_by": "scripts/make_demo_states.py",
        "formed": f"relaxed with FIRE, then {args.form_ps:g} ps at {args.temperature_K:g} K",
        "metal_cells": args.metal_cells.get(system),
        "md": f"bundled MACE potential (float32), Langevin {args.temperature_K:g} K, {TIMESTEP_FS:g} fs, coupling "
              f"{COUPLING_PS:g} ps, seed {args.seed}; built demo interface relaxed (FIRE, 200 steps), then "
              f"{args.form_ps:g} ps to form the interphase (its last frame is the demo's start); from it, at "
              f"each sampling temperature, 0.5 ps and then {args.train_ps:g} ps sampled every {args.every} steps",
        "trained_on": f"20% of the {len(frames)} sampled frames, {args.seeds} encoder seeds; the number of states in "
                      f"{args.k_range} by the rule of getsei_live.states.selection (silhouette among metastable, "
                      f"reproducible states; the sampled runs in time order judge metastability)",
        "temperature_K": args.temperature_K,
        "sample_temperatures_K": list(args.sample_temperatures_K),
        "fingerprint": model.fingerprint,
        "silhouette": model.silhouette,
        "states": [s.to_dict() for s in model.states],
        "drift_guard": {"window_frames": CHECK_FRAMES, "largest_share_outside": largest,
                        "share_outside_by_temperature_K": windows},
        "training": model.training,
    }
    (DATA / f"demo_states_{system}.json").write_text(json.dumps(card, indent=1))
    print(f"  states: " + "; ".join(f"S{s.index} {100 * s.population:.0f}% ({s.summary})" for s in model.states))
    print(f"  drift guard on the sampled frames: at most {100 * largest:.1f}% outside per {CHECK_FRAMES} frames",
          flush=True)
    return card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--temperature-K", type=float, default=700.0)
    parser.add_argument("--sample-temperatures-K", type=float, nargs="+", default=[650.0, 700.0, 750.0])
    parser.add_argument("--form-ps", type=float, default=4.0, help="ps of MD before the interphase is sampled")
    parser.add_argument("--train-ps", type=float, default=4.0, help="ps of MD sampled at each temperature")
    parser.add_argument("--every", type=int, default=10, help="MD steps between sampled frames")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--k-range", type=int, nargs=2, default=[2, 6])
    parser.add_argument("--metal-cells", nargs="+", default=[], metavar="SYSTEM=CELLS",
                        help="bcc Li cells of a system's Li slab along z instead of the demo size's, e.g. llzo-li=6")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=3, help="encoders trained; the states are their consensus")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "demo_states")
    args = parser.parse_args()
    args.metal_cells = {system: int(cells) for system, cells in (item.split("=") for item in args.metal_cells)}
    args.out.mkdir(parents=True, exist_ok=True)
    calc = mace_calculator("bundled", device="cpu", dtype="float32")
    for system in args.systems:
        make(system, args, calc)


if __name__ == "__main__":
    main()
