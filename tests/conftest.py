"""Shared fixtures: fixed seeds and the real data in ../shared/data (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LPSCL_416 = SHARED_DATA / "structures" / "Li6PS5Cl_2x2x2_416atoms_morgan_POSCAR"


def shared_file(path: Path) -> Path:
    """Return a file from ../shared/data, or skip the test with the reason."""
    if not path.exists():
        pytest.skip(f"needs the shared data file {path} (../shared beside the repository is absent)")
    return path


@pytest.fixture
def fixed_seed() -> np.random.Generator:
    return np.random.default_rng(20261122)


@pytest.fixture(scope="session")
def lpscl_416():
    from ase.io import read

    return read(shared_file(LPSCL_416), format="vasp")
