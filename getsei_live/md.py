"""MACE calculators (a model file or a foundation-model name) and the Langevin MD set-up of ``getsei-live run``."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, thermalize_momenta

from .errors import GetseiError, ParameterError, StructureError

__all__ = ["FOUNDATION_MODELS", "Relaxation", "bundled_file", "default_device", "langevin", "mace_calculator", "relax",
           "restore_checkpoint"]

log = logging.getLogger(__name__)

#: Names mace-torch's ``mace_mp`` resolves to downloadable foundation models.
FOUNDATION_MODELS = ("small", "medium", "large", "medium-mpa-0", "medium-omat-0", "medium-matpes-pbe-0",
                     "mace-mpa-0-medium", "small-0b", "medium-0b", "small-0b2", "medium-0b2", "large-0b2",
                     "medium-0b3")


def default_device() -> str:
    """"cuda" when a GPU is visible to torch, else "cpu"."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _import_mace():
    """Import mace-torch quietly: it prints a notice about optional CUDA kernels on import (kept at debug level).

    mace is imported before anything imports e3nn: with torch 2.13 the reverse order fails (weights_only default).
    """
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured), warnings.catch_warnings():
        # mace and e3nn load their own trusted files; torch warns that mace's environment variable applies.
        warnings.filterwarnings("ignore", message="Environment variable TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
        from mace.calculators import MACECalculator, mace_mp
    if captured.getvalue().strip():
        log.debug("mace-torch: %s", captured.getvalue().strip())
    return MACECalculator, mace_mp


def bundled_file(name: str) -> Path:
    """A file shipped in ``getsei_live/data`` (the bundled potential, the demo state model, their cards)."""
    path = Path(__file__).resolve().parent / "data" / name
    if not path.is_file():
        raise GetseiError(f"The bundled file {name} is missing from this installation ({path}).")
    return path


def mace_calculator(model: str | Path, *, device: str | None = None, dtype: str = "float64", trust: bool = False):
    """A MACE calculator from a ``.model`` file, ``"bundled"``, or a mace-torch foundation-model name.

    ``"bundled"`` is the small demo potential distilled from CHGNet that ships
    with getsei-live (see ``getsei_live/data/bundled_mace.json``); its file is
    checked against the SHA-256 in that card. A model file is unpickled without
    running code from it (``potential_file.load_mace_model``): one that needs
    more than a MACE model does is refused, unless ``trust`` (the user trusts
    its source). Foundation models are downloaded by mace-torch on first use; on
    a machine without internet that fails with a message saying so.
    """
    from .potential_file import UnsafeModelFile, load_mace_model, sha256

    path = bundled_file("bundled_mace.model") if str(model) == "bundled" else Path(model)
    if not path.is_file():
        if path.suffix == ".model" or "/" in str(model):
            raise ParameterError(f"No MACE model file at {path}.")
        if str(model) not in FOUNDATION_MODELS:
            raise ParameterError(f"Unknown MACE model {model!r}: give a .model file, 'bundled', or one of the "
                                 f"foundation models "
                                 f"{', '.join(FOUNDATION_MODELS)}.")
    elif str(model) == "bundled":
        expected = json.loads(bundled_file("bundled_mace.json").read_text()).get("sha256")
        if expected is not None and sha256(path) != expected:
            raise GetseiError(f"The bundled potential {path} is not the file getsei-live shipped (its SHA-256 "
                              f"differs from the card's); reinstall getsei-live.")
    _, mace_mp = _import_mace()
    from .mace_md import MDCalculator

    device = device or default_device()
    if path.is_file():
        try:
            loaded = load_mace_model(path, device=device, trust=trust)
        except UnsafeModelFile:
            raise
        except GetseiError:
            raise
        except Exception as error:
            raise GetseiError(f"Cannot load the MACE model {path}: {type(error).__name__}: {error}") from None
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Environment variable TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
                return MDCalculator(models=loaded, device=device, default_dtype=dtype)
        except Exception as error:
            raise GetseiError(f"Cannot load the MACE model {path}: {type(error).__name__}: {error}") from None
    try:
        return mace_mp(model=str(model), device=device, default_dtype=dtype)
    except Exception as error:
        raise GetseiError(
            f"Cannot get the MACE foundation model {model!r} ({type(error).__name__}: {error}). mace-torch downloads "
            f"it on first use, which needs internet; offline, pass the path of a .model file instead."
        ) from None


@dataclass(frozen=True, slots=True)
class Relaxation:
    """What a relaxation did: the largest force on an atom before and after (eV/A), the steps taken and the
    energy change (eV)."""

    max_force_before: float
    max_force_after: float
    steps: int
    energy_change_eV: float

    def describe(self) -> str:
        return (f"relaxed in {self.steps} FIRE steps: largest force {self.max_force_before:.2f} -> "
                f"{self.max_force_after:.2f} eV/A, energy {self.energy_change_eV:+.2f} eV")


def relax(atoms: Atoms, *, steps: int = 200, fmax_eV_A: float = 0.1) -> Relaxation:
    """Relax the positions of ``atoms`` (with its calculator) in place: FIRE for at most ``steps`` steps or until the
    largest force is below ``fmax_eV_A``, so that MD started from it does not heat up as the structure settles."""
    from ase.optimize import FIRE

    before, energy = float(np.linalg.norm(atoms.get_forces(), axis=1).max()), atoms.get_potential_energy()
    optimiser = FIRE(atoms, logfile=None)
    optimiser.run(fmax=fmax_eV_A, steps=steps)
    after = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
    return Relaxation(before, after, int(optimiser.nsteps), float(atoms.get_potential_energy() - energy))


def restore_checkpoint(atoms: Atoms, checkpoint: dict) -> None:
    """Put the positions, momenta and cell of a store's checkpoint into ``atoms`` (same atoms, same order)."""
    if not np.array_equal(atoms.numbers, checkpoint["numbers"]):
        raise StructureError("The structure does not match the store's checkpoint (other atoms or another order).")
    atoms.set_cell(checkpoint["cell"])
    atoms.positions = checkpoint["positions"]
    atoms.set_momenta(checkpoint["momenta"])


def langevin(atoms: Atoms, *, temperature_K: float, timestep_fs: float, coupling_time_ps: float | None = None,
             friction_ps: float | None = None, seed: int = 0,
             initialise_velocities: bool = True) -> Langevin:
    """Langevin NVT dynamics with a thermostat coupling time ``coupling_time_ps`` (friction = 1 / coupling time).

    ``friction_ps`` is the old name of the coupling time, still accepted.
    """
    if coupling_time_ps is None:
        coupling_time_ps = friction_ps
    elif friction_ps is not None and friction_ps != coupling_time_ps:
        raise ParameterError("Give the Langevin coupling time once, as 'coupling_time_ps' ('friction_ps' is its "
                             "old name).")
    if coupling_time_ps is None:
        raise ParameterError("The 'coupling_time_ps' parameter (Langevin coupling time, ps) is required.")
    if not temperature_K > 0:
        raise ParameterError(f"The 'temperature_K' parameter must be positive. Got {temperature_K!r} instead.")
    if not timestep_fs > 0:
        raise ParameterError(f"The 'timestep_fs' parameter must be positive. Got {timestep_fs!r} instead.")
    if not coupling_time_ps > 0:
        raise ParameterError(f"The 'coupling_time_ps' parameter must be positive. Got {coupling_time_ps!r} instead.")
    rng = np.random.default_rng(seed)
    if initialise_velocities:
        thermalize_momenta(atoms, temperature_K=temperature_K, rng=rng)
        Stationary(atoms)
    # ASE >= 3.28: fix the centre of mass with a constraint rather than Langevin's fixcm.
    if not any(isinstance(c, FixCom) for c in atoms.constraints):
        atoms.set_constraint([*atoms.constraints, FixCom()])
    return Langevin(atoms, timestep=timestep_fs * units.fs, temperature_K=temperature_K,
                    friction=1.0 / (coupling_time_ps * 1000.0 * units.fs), fixcm=False, rng=rng)
