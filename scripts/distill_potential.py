"""Distil the bundled demo MACE potential from CHGNet (a universal potential whose weights ship with its wheel).

Usage:
    pip install -e ".[distill]"            # chgnet 0.4.2, only needed here
    python scripts/distill_potential.py data  [--out out/distill]   # teacher MD + labels (CHGNet)
    python scripts/distill_potential.py train [--out out/distill] [--epochs 60] [--device cpu] [--resume]
    python scripts/distill_potential.py card  [--out out/distill]   # errors vs teacher, speed, model card
    python scripts/distill_potential.py all   ...                   # the three in order

data:  short Langevin MD with CHGNet on small cells of the three interfaces and of their bulk phases (Li6PS5Cl,
       Li10GeP2S12, Li7La3Zr2O12, bcc Li, Li2S, LiCl, Li3P) at several temperatures, plus strained and rattled
       copies; every sampled frame keeps CHGNet's energy and forces (eV, eV/A) as REF_energy / REF_forces.
train: mace-torch's own training script (mace_run_train) on 90% of the frames, a small, fast model.
card:  energy and force errors against the teacher on the held-out 10% (and those of the model it replaces), the MD
       step time on the demo interfaces against the replaced model's, then copies the model and the held-out frames
       to getsei_live/data/ and writes its card (bundled_mace.json).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.build import bulk
from ase.io import read, write
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import thermalize_momenta
from ase.spacegroup import crystal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from getsei_live.structures.builders import build_interface, electrolyte_cell, li_bcc  # noqa: E402

DATA_DIR = ROOT / "getsei_live" / "data"
TEMPERATURES_K = (400.0, 900.0)
# max_ell 2 (edge spherical harmonics up to l = 2; mace-torch defaults to 3) and correlation 2 make an MD step of the
# demo interface 3.2 times faster than the first bundled model (max_ell 3, correlation 3) on 2 CPU cores; a 4 A cutoff
# (two interactions still see 8 A) halves the edges of the demo interface and so most of a step's work.
MODEL = dict(num_channels=32, max_L=0, max_ell=2, num_interactions=2, r_max=4.0, correlation=2)


def configurations() -> dict[str, Atoms]:
    """The cells the teacher samples: small interfaces and bulk phases."""
    li3p = crystal(["P", "Li", "Li"], basis=[(1 / 3, 2 / 3, 0.25), (0, 0, 0.25), (1 / 3, 2 / 3, 0.583)],
                   spacegroup=194, cellpar=[4.273, 4.273, 7.594, 90, 90, 120])
    cells = {f"{name}-interface": build_interface(name, "small").atoms for name in ("lpscl-li", "lgps-li", "llzo-li")}
    cells |= {
        "lpscl-bulk": electrolyte_cell("lpscl-li"),
        "lgps-bulk": electrolyte_cell("lgps-li"),
        "llzo-bulk": electrolyte_cell("llzo-li"),
        "li-bcc": li_bcc().repeat(3),
        "li2s": bulk("SLi2", "fluorite", a=5.70, cubic=True).repeat(2),
        "licl": bulk("LiCl", "rocksalt", a=5.13, cubic=True).repeat(2),
        "li3p": li3p.repeat((2, 2, 1)),
    }
    return cells


def teacher():
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    return CHGNetCalculator(CHGNet.load(verbose=False), use_device="cpu")


def labelled(atoms: Atoms, calc, tag: str) -> Atoms:
    copy = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    atoms.calc = calc
    copy.info["REF_energy"] = float(atoms.get_potential_energy())
    copy.arrays["REF_forces"] = atoms.get_forces().copy()
    copy.info["config_type"] = tag
    return copy


def make_data(out: Path, steps: int, every: int, seed: int) -> None:
    calc = teacher()
    rng = np.random.default_rng(seed)
    frames: list[Atoms] = []
    start = time.perf_counter()
    for name, atoms in configurations().items():
        for scale in (0.97, 1.03):  # strained and rattled single points
            strained = atoms.copy()
            strained.set_cell(strained.cell * scale, scale_atoms=True)
            strained.rattle(0.05, rng=rng)
            frames.append(labelled(strained, calc, f"{name}-strained"))
        for temperature in TEMPERATURES_K:
            md_atoms = atoms.copy()
            md_atoms.calc = calc
            thermalize_momenta(md_atoms, temperature_K=temperature, rng=rng)
            dyn = Langevin(md_atoms, timestep=2.0 * units.fs, temperature_K=temperature, friction=0.02,
                           fixcm=False, rng=rng)
            for k in range(steps // every):
                dyn.run(every)
                frames.append(labelled(md_atoms, calc, f"{name}-{temperature:.0f}K"))
            print(f"{name:<20} {temperature:5.0f} K  {len(atoms):4d} atoms  frames so far {len(frames):4d}  "
                  f"{time.perf_counter() - start:6.0f} s", flush=True)
    order = rng.permutation(len(frames))
    n_valid = max(1, len(frames) // 10)
    write(out / "valid.extxyz", [frames[k] for k in order[:n_valid]])
    write(out / "train.extxyz", [frames[k] for k in order[n_valid:]])
    print(f"wrote {len(frames) - n_valid} training and {n_valid} validation frames to {out} "
          f"({time.perf_counter() - start:.0f} s)")


def train(out: Path, epochs: int, device: str, seed: int, resume: bool = False) -> None:
    command = [
        str(Path(sys.executable).parent / "mace_run_train"), "--name", "getsei_demo",
        "--train_file", str(out / "train.extxyz"), "--valid_file", str(out / "valid.extxyz"),
        "--energy_key", "REF_energy", "--forces_key", "REF_forces", "--E0s", "average", "--model", "MACE",
        "--num_channels", str(MODEL["num_channels"]), "--max_L", str(MODEL["max_L"]), "--max_ell", str(MODEL["max_ell"]),
        "--num_interactions", str(MODEL["num_interactions"]), "--r_max", str(MODEL["r_max"]),
        "--correlation", str(MODEL["correlation"]), "--batch_size", "4", "--valid_batch_size", "8",
        "--max_num_epochs", str(epochs), "--lr", "0.01", "--forces_weight", "100", "--energy_weight", "1",
        "--default_dtype", "float32", "--device", device, "--seed", str(seed), "--eval_interval", "5",
        "--patience", "20", "--work_dir", str(out), "--model_dir", str(out), "--save_cpu",
    ] + (["--restart_latest"] if resume else [])
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=out)


def errors(model_file: Path, valid: list[Atoms]) -> dict:
    """Energy (meV/atom) and force (eV/A) errors of a model against the teacher's labels (float64)."""
    from getsei_live.md.calculators import mace_calculator

    calc = mace_calculator(model_file, device="cpu", dtype="float64")
    de, df = [], []
    for atoms in valid:
        ref_e, ref_f = atoms.info["REF_energy"], atoms.arrays["REF_forces"]
        atoms = atoms.copy()
        atoms.calc = calc
        de.append((atoms.get_potential_energy() - ref_e) / len(atoms))
        df.append((atoms.get_forces() - ref_f).ravel())
    de, df = np.array(de), np.concatenate(df)
    return {"energy_mae_meV_per_atom": 1e3 * float(np.mean(np.abs(de))),
            "energy_rmse_meV_per_atom": 1e3 * float(np.sqrt(np.mean(de ** 2))),
            "force_mae_eV_per_A": float(np.mean(np.abs(df))),
            "force_rmse_eV_per_A": float(np.sqrt(np.mean(df ** 2)))}


def speeds(model_files: dict[str, Path], rounds: int = 5, steps: int = 10) -> dict:
    """Seconds per Langevin step (float32, as the demo runs) of each model on each demo interface: the models take
    turns in ``rounds`` blocks of ``steps`` steps, so that a drift of the machine hits them alike; the median."""
    from getsei_live.md.calculators import mace_calculator

    out = {}
    for system in ("lpscl-li", "lgps-li", "llzo-li"):
        runs = {}
        for name, path in model_files.items():
            atoms = build_interface(system, "demo").atoms
            atoms.calc = mace_calculator(path, device="cpu", dtype="float32")
            thermalize_momenta(atoms, temperature_K=600, rng=np.random.default_rng(0))
            dyn = Langevin(atoms, timestep=2 * units.fs, temperature_K=600, friction=0.02, fixcm=False,
                           rng=np.random.default_rng(0))
            dyn.run(2)
            runs[name] = (dyn, [])
        for _ in range(rounds):
            for dyn, times in runs.values():
                start = time.perf_counter()
                dyn.run(steps)
                times.append((time.perf_counter() - start) / steps)
        out[system] = {"atoms": len(build_interface(system, "demo").atoms),
                       **{name: float(np.median(times)) for name, (_, times) in runs.items()}}
    return out


def card(out: Path) -> None:
    model_file = out / "getsei_demo.model"
    valid = read(out / "valid.extxyz", index=":")
    previous = DATA_DIR / "bundled_mace.model"
    old_card = json.loads((DATA_DIR / "bundled_mace.json").read_text()) if previous.is_file() else None
    compared = {"new": model_file} | ({"previous": previous} if old_card is not None else {})
    timing = speeds(compared)
    print(f"{'system':<10} {'atoms':>5}  " + "  ".join(f"{name + ' s/step':>16}" for name in compared)
          + ("  speed-up" if old_card else ""))
    for system, row in timing.items():
        print(f"{system:<10} {row['atoms']:>5}  " + "  ".join(f"{row[name]:16.4f}" for name in compared)
              + (f"  {row['previous'] / row['new']:8.2f}" if old_card else ""))
    timings = {system: {"atoms": row["atoms"], "seconds_per_step": row["new"],
                        "ns_per_day": 2e-6 * 86400 / row["new"]} for system, row in timing.items()}
    valid_errors = errors(model_file, valid)
    train_frames = read(out / "train.extxyz", index=":")
    info = {
        "name": "getsei-live bundled demo potential",
        "what": "A small MACE model distilled from CHGNet 0.3.0 (chgnet 0.4.2) for the getsei-live demo. It is not "
                "a substitute for a MACE model fine-tuned on DFT data of your interface.",
        "teacher": "CHGNet 0.3.0 (pretrained weights shipped in the chgnet 0.4.2 wheel)",
        "training_data": {"frames": len(train_frames), "validation_frames": len(valid),
                          "atoms_per_frame": [int(min(map(len, train_frames))), int(max(map(len, train_frames)))],
                          "systems": sorted({a.info["config_type"].rsplit("-", 1)[0] for a in train_frames}),
                          "temperatures_K": list(TEMPERATURES_K)},
        "elements": sorted({s for a in train_frames for s in a.get_chemical_symbols()}),
        "model": {**MODEL, "dtype": "float32 (trained)", "mace_torch": _version("mace-torch")},
        "validation": valid_errors,
        "speed_cpu_2_cores_float32": timings,
    }
    if old_card is not None:
        info["replaces"] = {"model": old_card["model"], "validation_same_frames": errors(previous, valid),
                            "speed_cpu_2_cores_float32": {system: {"seconds_per_step": row["previous"],
                                                                   "ns_per_day": 2e-6 * 86400 / row["previous"]}
                                                          for system, row in timing.items()}}
    from getsei_live.md.core_repulsion import shortest_pair_distances
    from getsei_live.md.potential_file import sha256

    info["core_repulsion"] = {
        "what": "ZBL screened nuclear repulsion added below the shortest distance of each element pair in the model's "
                "data, switched on smoothly over width_A below it (getsei_live.md.core_repulsion); pairs never closer "
                "than the model's cutoff start at the cutoff",
        "from": "the training and held-out frames", "width_A": 0.5,
        "onsets_A": shortest_pair_distances(train_frames + valid, MODEL["r_max"])}

    info["sha256"] = sha256(model_file)  # checked when the bundled file loads
    DATA_DIR.mkdir(exist_ok=True)
    shutil.copy(model_file, DATA_DIR / "bundled_mace.model")
    with gzip.open(DATA_DIR / "bundled_mace_valid.extxyz.gz", "wt") as handle:  # the card's errors, testable
        handle.write((out / "valid.extxyz").read_text())
    (DATA_DIR / "bundled_mace.json").write_text(json.dumps(info, indent=1))
    print(json.dumps(info, indent=1))


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["data", "train", "card", "all"])
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "distill")
    parser.add_argument("--steps", type=int, default=120, help="teacher MD steps per system and temperature")
    parser.add_argument("--every", type=int, default=10, help="steps between sampled frames")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true",
                        help="train: go on from the latest checkpoint in --out up to --epochs in all")
    args = parser.parse_args()
    args.out = args.out.resolve()  # the training runs in it (cwd), so relative paths would not resolve
    args.out.mkdir(parents=True, exist_ok=True)
    if args.stage in ("data", "all"):
        make_data(args.out, args.steps, args.every, args.seed)
    if args.stage in ("train", "all"):
        train(args.out, args.epochs, args.device, args.seed, args.resume)
    if args.stage in ("card", "all"):
        card(args.out)


if __name__ == "__main__":
    main()
