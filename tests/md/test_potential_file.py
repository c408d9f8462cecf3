"""Potential files cannot run code: MACE files load through torch's weights-only unpickler with an allowlist."""

from __future__ import annotations

import os

import pytest
import torch
from click.testing import CliRunner
from conftest import SHARED_DATA, shared_file

from getsei_live.cli import main
from getsei_live.md.calculators import bundled_file, mace_calculator
from getsei_live.md.potential_file import UnsafeModelFile, load_mace_model

SPICE = SHARED_DATA / "models" / "mace_spice_small" / "MACE_SPICE_mace-torch-0.3.16.model"


class RunsCommand:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class CompilesSource:
    """A torch.fx rebuild whose generated function imports os: what a hand-made file could hold."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        from torch.fx.graph_module import reduce_graph_module

        code = f"def forward(self, x):\n    import os\n    os.system('touch {self.marker}')\n    return x\n"
        return (reduce_graph_module, ({"_code": code, "_tracer_cls": None}, "import torch"))


@pytest.mark.parametrize("payload", [RunsCommand, CompilesSource], ids=["reduce-os-system", "fx-source"])
def test_a_malicious_potential_is_refused_and_runs_nothing(tmp_path, payload):
    marker = tmp_path / "marker"
    evil = tmp_path / "evil.model"
    torch.save({"model": payload(f"touch {marker}" if payload is RunsCommand else marker)}, evil)
    with pytest.raises(UnsafeModelFile, match="refused|cannot be loaded without running code") as refused:
        mace_calculator(evil, device="cpu")
    assert not marker.exists()
    assert "\n" not in str(refused.value) and "--trust-model-file" in str(refused.value)
    print(refused.value)


def test_the_cli_refuses_a_malicious_potential_in_one_line(tmp_path, tiny_model_file):
    marker, evil = tmp_path / "marker", tmp_path / "evil.model"
    torch.save(RunsCommand(f"touch {marker}"), evil)
    structure = bundled_file("demo_start_lpscl-li.extxyz")
    result = CliRunner().invoke(main, ["run", str(structure), "--model", str(evil), "--states", str(tiny_model_file),
                                       "--store", str(tmp_path / "r.zarr"), "--steps", "10"])
    assert result.exit_code == 2 and not marker.exists(), result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("Error:") and "posix.system" in lines[-1] and "Traceback" not in result.output


def test_real_mace_files_load_without_trust_and_give_the_full_unpickle_energy():
    from ase.io import read

    atoms = read(bundled_file("demo_start_lpscl-li.extxyz"))
    for path in (bundled_file("bundled_mace.model"), shared_file(SPICE)):
        safe = load_mace_model(path)
        full = torch.load(path, weights_only=False)
        assert type(safe) is type(full)
        for (name, a), (_, b) in zip(safe.state_dict().items(), full.state_dict().items()):
            assert torch.equal(a, b), name
    atoms.calc = mace_calculator("bundled", device="cpu", dtype="float64")
    assert atoms.get_potential_energy() < 0


def test_a_changed_bundled_potential_is_refused(tmp_path, monkeypatch):
    import getsei_live.md.calculators as md

    copy = tmp_path / "bundled_mace.model"
    copy.write_bytes(bundled_file("bundled_mace.model").read_bytes() + b"\0")
    card = tmp_path / "bundled_mace.json"
    card.write_text(bundled_file("bundled_mace.json").read_text())
    monkeypatch.setattr(md, "bundled_file", lambda name: tmp_path / name)
    with pytest.raises(md.GetseiError, match="not the file getsei-live shipped"):
        md.mace_calculator("bundled", device="cpu")
