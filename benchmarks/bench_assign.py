"""Cost of StateModel.assign at the paper's interface sizes, split into its parts, against the PyG/scikit-learn path.

Usage: python benchmarks/bench_assign.py [--repeats N] [--threads T] [--device cpu|cuda|auto]

The demo state model (bundled) labels the paper-sized LGPS/Li (1200 atoms,
960 Li) and LPSCl/Li (2880 atoms, 2376 Li) interfaces built by
``getsei-live build``, and the real 416-atom Li6PS5Cl AIMD structure. Columns:
graph building (matscipy neighbour list + numpy, CPU), the encoder through
PyTorch Geometric's ``GATConv`` (what training uses; the path ``assign`` took
before) and through the sparse-attention inference path, the mixture through
scikit-learn's ``predict`` and in torch, and ``assign`` as a whole. The two
paths run in interleaved blocks in one process; medians and minima over the repeats
(the minimum is the least disturbed by other work on a shared machine).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from ase.io import read

from getsei_live.md.calculators import bundled_file
from getsei_live.states.model import StateModel
from getsei_live.structures.builders import build_interface

ROOT = Path(__file__).resolve().parents[1]
STRUCTURE = ROOT.parent / "shared" / "data" / "structures" / "Li6PS5Cl_2x2x2_416atoms_morgan_POSCAR"


def systems() -> list[tuple[str, object]]:
    out = [("LGPS/Li paper", build_interface("lgps-li", "paper").atoms),
           ("LPSCl/Li paper", build_interface("lpscl-li", "paper").atoms)]
    if STRUCTURE.exists():
        out.insert(0, ("Li6PS5Cl AIMD cell", read(STRUCTURE, format="vasp")))
    return out


def interleaved(funcs: dict[str, callable], repeats: int, sync, block: int = 4) -> dict[str, np.ndarray]:
    """Seconds per call of each function: blocks of ``block`` calls of each in turn, the first call of each
    block untimed (switching between paths disturbs caches and the allocator for one call)."""
    times = {name: [] for name in funcs}
    while min(len(t) for t in times.values()) < repeats:
        for name, f in funcs.items():
            f()
            for _ in range(block - 1):
                sync()
                start = time.perf_counter()
                f()
                sync()
                times[name].append(time.perf_counter() - start)
    return {name: np.array(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="where the encoder and mixture run: cpu, cuda or auto")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = StateModel.load(bundled_file("demo_states.pt"), device=args.device)
    cuda = model.device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {model.device}"
          + (f" ({torch.cuda.get_device_name()})" if cuda else ""))
    print("ms per frame, median (min) of", args.repeats)
    head = (f"{'system':<20}{'atoms':>6}{'Li':>6}{'graphs':>14}{'encoder PyG':>15}{'encoder now':>15}"
            f"{'mixture skl':>14}{'mixture now':>14}{'assign before':>16}{'assign now':>14}{'speed-up':>10}")
    print(head)
    print("-" * len(head))
    for name, atoms in systems():
        g = model.builder.arrays(atoms)
        z = model._embed_tensor(g)
        z_host = z.cpu().numpy().astype(np.float64)

        def before():  # the path of getsei-live 0.1: PyG forward on the CPU, then scikit-learn's predict
            e = model._embed_arrays(model.builder.arrays(atoms).x, g.edge_index, g.batch, g.ptr[:-1])
            return model._rank[model.mixture.predict(e.astype(np.float64))]

        t = interleaved({
            "graphs": lambda: model.builder.arrays(atoms),
            "encoder PyG": lambda: model._embed_arrays(g.x, g.edge_index, g.batch, g.ptr[:-1]),
            "encoder now": lambda: model._embed_tensor(g),
            "mixture skl": lambda: model.mixture.predict(z_host),
            "mixture now": lambda: model._label(z),
            "assign before": before,
            "assign now": lambda: model.assign(atoms),
        }, args.repeats, sync)
        cell = {k: f"{1e3 * np.median(v):.1f} ({1e3 * v.min():.1f})" for k, v in t.items()}
        ratio = np.median(t["assign before"]) / np.median(t["assign now"])
        print(f"{name:<20}{len(atoms):>6}{g.n_graphs:>6}" + "".join(f"{cell[k]:>{w}}" for k, w in [
            ("graphs", 14), ("encoder PyG", 15), ("encoder now", 15), ("mixture skl", 14), ("mixture now", 14),
            ("assign before", 16), ("assign now", 14)]) + f"{ratio:>9.1f}x")
        same = np.array_equal(before(), model.assign(atoms))
        if not same:
            print(f"  note: labels of the two paths differ on {name}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
