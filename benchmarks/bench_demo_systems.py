"""Which interface could the demo run on? Does its Li metal survive, does its electrolyte hold, how often do Li
change region, and how fast is the MD: each of the paper's interfaces with the bundled potential, measured.

Usage: python benchmarks/bench_demo_systems.py [--runs lpscl-li:700 lgps-li:700 llzo-li:700 ...] [--ps 6]
                                               [--out out/demo_systems] [--reuse] [--table-only]

A run is ``SYSTEM:TEMPERATURE_K`` or ``SYSTEM:TEMPERATURE_K:METAL_CELLS`` (bcc Li cells along z of the Li slab;
default: the demo size's). Each builds the demo-size interface (``getsei-live build``), relaxes it (FIRE, 200
steps) and runs ``--ps`` of Langevin MD (2 fs, coupling 0.5 ps) with the bundled MACE potential on one thread, a
frame every 0.02 ps, as the demo does. From the positions alone (no state model):

- **metal Li**: the share of the Li with no anion within a bond (O 2.6 A, S and Cl 3.0 A), over the first and the
  last ps: the Li metal survives where it stays near the share the built slab had;
- **framework**: the rms displacement of the electrolyte's cations (La, Zr, P, Ge) over the run: a few tenths of an
  A for a solid that holds, several A for one that reacts or melts;
- **hops**: Li hops per Li per ps (>2 A after 0.3 ps smoothing, ``analysis.transport``, as ``../shared/tools/li_hops.py``);
- **region changes**: each Li's region by its anion neighbours (metal: none; contact: 1-2; electrolyte: 3 or more),
  core-assigned with the demo's core (0.3 ps), changes per Li per ps, and those between the metal and anything else;
- **atoms in core**: atoms closer to another than any pair of their elements in the potential's data (where its ZBL
  core repulsion acts; ``--no-core-repulsion`` runs without it), per frame: a potential that holds keeps it near 0.

The trajectories are written to ``--out``; ``--reuse`` analyses those already there instead of running them again.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from getsei_live.analysis.coring import UNASSIGNED, core_frames_of, core_labels  # noqa: E402
from getsei_live.analysis.transport import TransportTracker, smooth_frames_of  # noqa: E402
from getsei_live.md.calculators import bundled_core_repulsion  # noqa: E402

TIMESTEP_FS, COUPLING_PS, EVERY, CORE_PS = 2.0, 0.5, 10, 0.3
FRAME_PS = EVERY * TIMESTEP_FS / 1000
#: Li-anion bond cut-offs (A): a Li with none of these neighbours is in the metal.
BOND_A = {8: 2.6, 16: 3.0, 17: 3.0}
#: The electrolytes' framework cations: La, Zr, P, Ge.
FRAMEWORK = (57, 40, 15, 32)
#: A run whose temperature passes this many times the target is stopped: the potential has failed.
BLOWN = 3.0


def parse_run(text: str) -> tuple[str, float, int | None]:
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise SystemExit(f"A run is SYSTEM:TEMPERATURE_K[:METAL_CELLS]. Got {text!r} instead.")
    return parts[0], float(parts[1]), int(parts[2]) if len(parts) == 3 else None


def run_name(system: str, temperature_K: float, metal_cells: int | None, core_repulsion: bool = True) -> str:
    return (f"{system}_{temperature_K:g}K" + ("" if metal_cells is None else f"_{metal_cells}cells")
            + ("" if core_repulsion else "_nocore"))


def simulate(system: str, temperature_K: float, metal_cells: int | None, ps: float, path: Path,
             core_repulsion: bool = True) -> dict:
    """Build, relax and run one interface; write its frames to ``path``; the MD's speed and whether it held."""
    import torch
    from ase.io import write

    from getsei_live.md.calculators import mace_calculator
    from getsei_live.md.dynamics import langevin, relax
    from getsei_live.structures.builders import build_interface

    torch.set_num_threads(1)
    atoms = build_interface(system, "demo", metal_cells=metal_cells).atoms
    atoms.calc = mace_calculator("bundled", device="cpu", dtype="float32")
    if not core_repulsion:
        atoms.calc.core_repulsion = None
    relax(atoms, steps=200)
    dyn = langevin(atoms, temperature_K=temperature_K, timestep_fs=TIMESTEP_FS, coupling_time_ps=COUPLING_PS,
                   seed=1)
    frames, start, blown = [], time.perf_counter(), False
    for k in range(round(ps / FRAME_PS)):
        dyn.run(EVERY)
        frame = atoms.copy()
        frame.calc = None
        frames.append(frame)
        if atoms.get_temperature() > BLOWN * temperature_K:
            blown = True
            break
        if (k + 1) % 50 == 0:
            print(f"  {path.stem}: {(k + 1) * FRAME_PS:4.1f} ps  T {atoms.get_temperature():5.0f} K", flush=True)
    seconds = (time.perf_counter() - start) / (len(frames) * EVERY)
    write(path, frames)
    return {"s_per_step": seconds, "blown": blown}


def measure(frames: list) -> dict:
    """Everything the table says of one trajectory, from its positions."""
    from ase.neighborlist import neighbor_list

    numbers = frames[0].numbers
    li = np.flatnonzero(numbers == 3)
    framework = np.flatnonzero(np.isin(numbers, FRAMEWORK))
    anion_counts = np.zeros((len(frames), li.size), dtype=int)
    for t, frame in enumerate(frames):
        i, j, d = neighbor_list("ijd", frame, max(BOND_A.values()))
        cut = np.array([BOND_A.get(int(z), 0.0) for z in numbers])[j]
        bond = (numbers[i] == 3) & (d < cut)
        anion_counts[t] = np.bincount(i[bond], minlength=len(numbers))[li]
    region = np.where(anion_counts == 0, 0, np.where(anion_counts < 3, 1, 2)).astype(np.int8)
    per_ps = round(1 / FRAME_PS)
    metal_first, metal_last = (float(np.mean(region[s] == 0)) for s in (slice(0, per_ps), slice(-per_ps, None)))

    positions = np.array([f.positions for f in frames])
    cells = np.array([f.cell.array for f in frames])
    tracker = TransportTracker(li.size, 1, smooth_frames_of(FRAME_PS), FRAME_PS)
    tracker.push(positions[:, li], cells, np.zeros((0, li.size), dtype=np.int8))
    heavy = TransportTracker(framework.size, 1, 1, FRAME_PS)
    unwrapped = heavy.push(positions[:, framework], cells, np.zeros((0, framework.size), dtype=np.int8))
    span_ps = (len(frames) - 1) * FRAME_PS

    repulsion = bundled_core_repulsion()
    inside = np.mean([np.count_nonzero(repulsion.pair_terms(frame)[2].any(axis=1)) for frame in frames[::10]])
    cored = core_labels(region, core_frames_of(CORE_PS, FRAME_PS))
    before, after = cored[:-1], cored[1:]
    changed = (before != after) & (before != UNASSIGNED)
    metal = changed & ((before == 0) | (after == 0))
    return {"frames": len(frames), "ps": span_ps, "n_li": li.size, "metal_first": metal_first,
            "metal_last": metal_last,
            "framework_rms_A": float(np.sqrt(np.mean(np.sum((unwrapped[-1] - unwrapped[0]) ** 2, axis=1)))),
            "hops": tracker.hops.sum() / li.size / span_ps,
            "changes": changed.sum() / li.size / span_ps, "metal_changes": metal.sum() / li.size / span_ps,
            "in_core": float(inside)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=["lpscl-li:700", "lgps-li:700", "llzo-li:700", "llzo-li:800",
                                                      "llzo-li:1000", "llzo-li:700:6"])
    parser.add_argument("--ps", type=float, default=6.0, help="MD per run (ps)")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "demo_systems")
    parser.add_argument("--reuse", action="store_true", help="analyse trajectories already in --out")
    parser.add_argument("--table-only", action="store_true", help="print the table of the runs in --out only")
    parser.add_argument("--no-core-repulsion", action="store_true",
                        help="run the bundled potential without its ZBL core repulsion (runs named *_nocore)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from ase.io import read

    rows = []
    for text in args.runs:
        system, temperature_K, metal_cells = parse_run(text)
        name = run_name(system, temperature_K, metal_cells, not args.no_core_repulsion)
        path, speed = args.out / f"{name}.extxyz", args.out / f"{name}.speed"
        if not (path.exists() and (args.reuse or args.table_only)):
            if args.table_only:
                continue
            print(f"{name}: building, relaxing and running {args.ps:g} ps", flush=True)
            made = simulate(system, temperature_K, metal_cells, args.ps, path, not args.no_core_repulsion)
            speed.write_text(f"{made['s_per_step']} {int(made['blown'])}\n")
        s_per_step, blown = (float(x) for x in speed.read_text().split()) if speed.exists() else (np.nan, 0)
        frames = read(path, index=":")
        rows.append((name, len(frames[0]), s_per_step, bool(blown), measure(frames)))

    print(f"\nThe bundled potential, demo-size interfaces, {args.ps:g} ps each from the built and relaxed interface "
          f"(one thread per run):")
    print(f"{'run':<24}{'atoms':>6}{'Li':>5}{'s/step':>8}{'ns/day':>8}{'ps':>6}  {'metal Li first -> last':>22}"
          f"{'framework rms A':>17}{'hops/Li/ps':>12}{'changes/Li/ps':>15}{'to/from metal':>15}{'atoms in core':>15}")
    for name, n_atoms, s_per_step, blown, m in rows:
        ns_day = TIMESTEP_FS * 1e-6 * 86400 / s_per_step
        print(f"{name:<24}{n_atoms:>6}{m['n_li']:>5}{s_per_step:>8.3f}{ns_day:>8.2f}{m['ps']:>6.1f}  "
              f"{100 * m['metal_first']:>9.1f}% -> {100 * m['metal_last']:5.1f}%{m['framework_rms_A']:>17.2f}"
              f"{m['hops']:>12.3f}{m['changes']:>15.3f}{m['metal_changes']:>15.3f}{m['in_core']:>15.1f}"
              + ("  (temperature ran away: the potential failed)" if blown else ""))


if __name__ == "__main__":
    main()
