"""mace-torch's ASE calculator with a short path for MD: energy and forces straight from a neighbour list.

An NVT step asks only for forces. mace-torch's ``MACECalculator`` answers every request the same way: it converts the
atoms to a configuration, then to its own graph data, batches it, and has the model compute the stress as well (a
symmetric displacement of the cell and its gradient). For the demo's interphase (158 atoms) that is about a fifth of a
step on 2 CPU cores. ``MDCalculator`` builds the model's input tensors directly from matscipy's neighbour list (the one
mace-torch uses) and asks for energy and forces only; the model and its numbers are the same (the test compares both
paths). A request for anything else (stress, several models, a compiled or padded model, a model with extra inputs)
goes to mace-torch's own path.
"""

from __future__ import annotations

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes
from mace.calculators import MACECalculator
from matscipy.neighbours import neighbour_list

from .core_repulsion import CoreRepulsion, neighbour_cell

__all__ = ["MDCalculator"]

#: What the short path computes; any other property asked for takes mace-torch's path.
_SHORT_PATH = frozenset({"energy", "free_energy", "forces", "node_energy"})


class MDCalculator(MACECalculator):
    """``MACECalculator`` whose energy-and-forces requests skip the stress and mace-torch's data conversion."""

    def __init__(self, *args, core_repulsion: CoreRepulsion | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        #: Added to every result where the model has no data (``core_repulsion``); None adds nothing.
        self.core_repulsion = core_repulsion
        model = self.models[0]
        self.short_path = (self.num_models == 1 and self.model_type == "MACE" and not self.use_compile
                           and self.pad_num_atoms == 0 and self.pad_num_edges == 0
                           and not self._uses_accelerated_backend and not hasattr(model, "joint_embedding")
                           and type(model).__name__ in ("MACE", "ScaleShiftMACE"))
        zs = [int(z) for z in self.z_table.zs]
        self._column = np.full(max(zs) + 1, -1)
        self._column[zs] = np.arange(len(zs))
        self._head = torch.tensor([self.available_heads.index(self.head)], device=self.device)
        self._species: tuple[np.ndarray, torch.Tensor] | None = None  # atomic numbers and their one-hot rows

    def _node_attrs(self, numbers: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        """The one-hot element rows of ``numbers``, made once: MD does not change the atoms."""
        cached = self._species
        if cached is not None and cached[1].dtype == dtype and np.array_equal(cached[0], numbers):
            return cached[1]
        column = np.where(numbers < len(self._column), self._column[np.minimum(numbers, len(self._column) - 1)], -1)
        if (column < 0).any():
            missing = sorted({int(z) for z, c in zip(numbers, column) if c < 0})
            raise ValueError(f"The MACE model has no parameters for atomic numbers {missing}.")
        node_attrs = np.zeros((len(numbers), len(self.z_table.zs)))
        node_attrs[np.arange(len(numbers)), column] = 1.0
        self._species = (numbers.copy(), torch.as_tensor(node_attrs, dtype=dtype, device=self.device))
        return self._species[1]

    def calculate(self, atoms=None, properties=None, system_changes=all_changes) -> None:
        if not self.short_path or not set(properties or ("energy",)) <= _SHORT_PATH:
            super().calculate(atoms, properties, system_changes)
            return self._add_core_repulsion()
        Calculator.calculate(self, atoms, properties, system_changes)
        model = self.models[0]
        out = model(self._inputs(self.atoms, next(model.parameters()).dtype), compute_force=True,
                    compute_stress=False, training=False)
        energy = float(out["energy"].detach()[0]) * self.energy_units_to_eV
        self.results = {"energy": energy, "free_energy": energy,
                        "node_energy": out["node_energy"].detach().cpu().numpy() * self.energy_units_to_eV,
                        "forces": out["forces"].detach().cpu().numpy()
                        * (self.energy_units_to_eV / self.length_units_to_A)}
        self._add_core_repulsion()

    def _add_core_repulsion(self) -> None:
        if self.core_repulsion is None:
            return
        energy, per_atom, forces, virial = self.core_repulsion.pair_terms(self.atoms)
        if energy == 0.0:  # no pair inside the core (the repulsion is positive wherever it acts)
            return
        results = self.results
        for key in ("energy", "free_energy"):
            if key in results:
                results[key] = float(results[key]) + energy
        if "node_energy" in results:
            results["node_energy"] = results["node_energy"] + per_atom
        if "forces" in results:
            results["forces"] = results["forces"] + forces
        if "stress" in results:
            results["stress"] = results["stress"] + self.core_repulsion.stress(virial, self.atoms)

    def _inputs(self, atoms, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        """The model's input dictionary for one structure, as mace-torch's ``AtomicData`` would hold it."""
        node_attrs = self._node_attrs(atoms.numbers, dtype)
        # mace-torch's get_neighborhood: matscipy's list without an atom's edge to itself in the same cell.
        # A direction without periodicity gets a cell vector far longer than the structure (shifts along it are 0).
        cell, pbc = neighbour_cell(atoms, self.r_max)
        sender, receiver, unit_shifts = neighbour_list("ijS", positions=atoms.positions, cell=cell, pbc=pbc,
                                                       cutoff=self.r_max)
        keep = ~((sender == receiver) & ~unit_shifts.any(axis=1))
        sender, receiver, unit_shifts = sender[keep], receiver[keep], unit_shifts[keep]
        n = len(atoms)

        def tensor(array, kind=dtype):
            return torch.as_tensor(np.ascontiguousarray(array), dtype=kind, device=self.device)

        return {"positions": tensor(atoms.positions), "node_attrs": node_attrs,
                "edge_index": tensor(np.stack((sender, receiver)), torch.long),
                "shifts": tensor(unit_shifts @ cell), "unit_shifts": tensor(unit_shifts),
                "cell": tensor(cell), "batch": torch.zeros(n, dtype=torch.long, device=self.device),
                "ptr": torch.tensor([0, n], device=self.device), "head": self._head}
