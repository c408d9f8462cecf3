"""Per-frame cost of LiGraphBuilder against the simple per-Li loop, measured in one run.

Usage: python benchmarks/bench_graphs.py [--repeats N]

Prints, for the real 416-atom Li6PS5Cl structure and a 3328-atom supercell of
it, the median wall time of the vectorised builder (numpy arrays, and the
torch_geometric batch) and of the per-Li reference loop from tests/reference.py,
and their ratio. The machine's load moves absolute numbers; the ratio is the
point.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ase.io import read

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
import reference  # noqa: E402
from _timing import median_s  # noqa: E402

from getsei_live import LiGraphBuilder  # noqa: E402

STRUCTURE = ROOT.parent / "shared" / "data" / "structures" / "Li6PS5Cl_2x2x2_416atoms_morgan_POSCAR"




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    if not STRUCTURE.exists():
        sys.exit(f"needs {STRUCTURE} (../shared beside the repository)")
    base = read(STRUCTURE, format="vasp")
    builder = LiGraphBuilder()
    builder(base)  # warm-up: imports and first allocations
    print(f"{'system':<28}{'atoms':>7}{'Li':>6}{'arrays ms':>11}{'batch ms':>10}{'per-Li loop ms':>16}{'speed-up':>10}")
    for name, atoms in [("Li6PS5Cl 2x2x2 (real)", base), ("Li6PS5Cl 4x4x4 supercell", base.repeat(2))]:
        arrays = 1e3 * median_s(lambda: builder.arrays(atoms), args.repeats)
        batch = 1e3 * median_s(lambda: builder(atoms), args.repeats)
        loop = 1e3 * median_s(lambda: reference.li_graphs(atoms, builder.schema.elements), 1)
        n_li = int((atoms.numbers == 3).sum())
        print(f"{name:<28}{len(atoms):>7}{n_li:>6}{arrays:>11.1f}{batch:>10.1f}{loop:>16.0f}{loop / batch:>9.0f}x")


if __name__ == "__main__":
    main()
