"""The drift guard: frames of another interface are flagged, frames like the training ones are not."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from click.testing import CliRunner

from getsei_live.analysis.criteria import ConvergenceCriteria
from getsei_live.analysis.verdict import RETRAIN, explain
from getsei_live.cli import main
from getsei_live.observers.live import replay
from getsei_live.states.encoder import TrainingConfig
from getsei_live.states.model import StateModel
from getsei_live.store.run_store import RunStore
from getsei_live.structures.builders import build_interface

SETTINGS = dict(timestep_fs=2.0, interval_steps=10, lags_ps=(0.02, 0.04), check_every_frames=5,
                criteria=ConvergenceCriteria(n_bootstrap=20))


def rattled(system: str, seeds) -> list:
    base = build_interface(system, "demo").atoms
    frames = []
    for seed in seeds:
        atoms = base.copy()
        atoms.rattle(stdev=0.1, seed=seed)
        frames.append(atoms)
    return frames


@pytest.fixture(scope="module")
def lpscl_model():
    """A small state model trained on LPSCl/Li frames only (its vocabulary covers the LLZO elements too)."""
    return StateModel.train([rattled("lpscl-li", range(16))], n_states=4, frame_fraction=1.0,
                            config=TrainingConfig(seed=0, epochs=4, batch_size=128, hidden_channels=8, heads=4,
                                                  embedding_dim=16))


def checks(path) -> list[dict]:
    return RunStore.open(path).snapshots()


def test_frames_like_the_training_ones_raise_no_alarm(lpscl_model, tmp_path, caplog):
    path = tmp_path / "same.zarr"
    with caplog.at_level(logging.WARNING):
        replay(rattled("lpscl-li", range(100, 160)), lpscl_model, path, **SETTINGS)
    snaps = checks(path)
    flagged = [s for s in snaps if "states_fit" in s["failed"]]
    ood = [s["fit"]["ood_fraction"] for s in snaps]
    print(f"\nLPSCl/Li frames the model did not see: {len(flagged)} of {len(snaps)} checks flagged (false-alarm "
          f"rate {len(flagged) / len(snaps):.2f}); OOD fraction per check median {np.median(ood):.3f}, "
          f"max {max(ood):.3f} (1% expected)")
    assert len(flagged) == 0 and max(ood) < 0.05
    assert "no longer describe" not in caplog.text
    stored = RunStore.open(path).log_likelihood()
    _, expected = lpscl_model.assign_with_fit(rattled("lpscl-li", [159])[0])
    np.testing.assert_allclose(stored[-1], expected, rtol=2e-3, atol=2e-2)  # float16 on disk


def test_frames_of_another_interface_trigger_the_warning(lpscl_model, tmp_path, caplog):
    path = tmp_path / "other.zarr"
    with caplog.at_level(logging.WARNING):
        replay(rattled("llzo-li", range(40)), lpscl_model, path, **SETTINGS)
    snaps = checks(path)
    assert all("states_fit" in s["failed"] and not s["converged"] for s in snaps)
    print(f"\nLLZO/Li frames: OOD fraction per check {[round(s['fit']['ood_fraction'], 2) for s in snaps]}")
    assert min(s["fit"]["ood_fraction"] for s in snaps) > 0.5
    assert caplog.text.count("the states no longer describe the structure") == 1  # once, after 3 checks
    assert explain(snaps[-1]).startswith(RETRAIN)
    shown = CliRunner().invoke(main, ["analyze", str(path)])
    assert shown.exit_code == 0, shown.output
    assert "of Li environments outside the training distribution" in shown.output and "retrain" in shown.output
