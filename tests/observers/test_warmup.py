"""No state model yet: the run keeps its warm-up frames, trains a model on them in the run, then goes live."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import kill_after_committed, run_here

from getsei_live.states.model import StateModel
from getsei_live.store.integrity import check_store
from getsei_live.store.run_store import RunStore

STEPS, EVERY, WARMUP_FRAMES = 80, 4, 10


def md_script(tmp_path: Path) -> Path:
    """Langevin MD of the small LPSCl/Li interface with the bundled MACE potential, the state model trained in the
    run on a warm-up of 0.072 ps (10 frames); resumes from the store's checkpoint."""
    script = tmp_path / "md.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        from getsei_live import RunStore, attach
        from getsei_live.states.encoder import TrainingConfig
        from getsei_live.md.calculators import mace_calculator
        from getsei_live.md.dynamics import langevin, restore_checkpoint
        from getsei_live.structures.builders import build_interface
        path, slow = sys.argv[1], sys.argv[2] == "slow"
        total = int(sys.argv[3]) if len(sys.argv) > 3 else {STEPS}
        atoms = build_interface("lpscl-li", "small").atoms
        atoms.calc = mace_calculator("bundled", device="cpu", dtype="float32")
        checkpoint = None
        try:
            checkpoint = RunStore.open(path).checkpoint()
            restore_checkpoint(atoms, checkpoint)
        except Exception:
            pass
        done = 0 if checkpoint is None else checkpoint.step
        dyn = langevin(atoms, temperature_K=600, timestep_fs=2.0, coupling_time_ps=0.1, seed=1,
                       initialise_velocities=checkpoint is None)
        if slow:
            dyn.attach(lambda: time.sleep(0.1), interval=1)
        monitor = attach(dyn, None, store=path, interval_steps={EVERY}, lags_ps=(0.008, 0.016), warmup_ps=0.072,
                         n_states=3, training=TrainingConfig(seed=0, epochs=3, batch_size=64, hidden_channels=8,
                                                             heads=2, embedding_dim=8),
                         check_every_frames=5, flush_frames=2, stop_when_stable=False, core_ps=0.016)
        with monitor:
            dyn.run(total - done)
    """))
    return script


@pytest.mark.slow
def test_killed_during_warm_up_then_resumed(tmp_path):
    script, path = md_script(tmp_path), tmp_path / "run.zarr"
    kill_after_committed(subprocess.Popen([sys.executable, str(script), str(path), "slow"]), path, 4,
                         attribute="warmup_frames")
    at_kill = RunStore.open(path)
    kept = at_kill.warmup.committed
    assert at_kill.spec is None and 4 <= kept < WARMUP_FRAMES, f"the writer should die in the warm-up ({kept})"
    assert at_kill.checkpoint().step == at_kill.warmup.steps()[-1]
    run_here(script, path, "fast")  # the resume (in this process: the kill above was of another)

    store = RunStore.open(path)
    trained = store.warmup.trained
    model = StateModel.load(tmp_path / trained["file"], device="cpu")
    assert model.fingerprint == store.spec.fingerprint and model.n_states == 3
    assert trained["frames"] == WARMUP_FRAMES and trained["last_step"] == (WARMUP_FRAMES - 1) * EVERY
    assert store.committed_frames == STEPS // EVERY + 1  # the warm-up frames are the run's first frames
    np.testing.assert_array_equal(store.steps(), np.arange(0, STEPS + 1, EVERY))
    np.testing.assert_array_equal(store.warmup.steps(), store.steps()[:WARMUP_FRAMES])
    first = store.warmup.atoms()[0][1]
    np.testing.assert_array_equal(store.states()[0], model.assign(first))  # labelled by the model trained in the run
    assert store.snapshots() and store.status == "finished"
    report = check_store(path)
    assert report.ok, report.problems
    # resumed after the warm-up: the model trained in the run is loaded from beside the store
    n_first, first_states = store.committed_frames, store.states()
    run_here(script, path, "fast", STEPS + 40)
    longer = RunStore.open(path)
    assert longer.committed_frames == (STEPS + 40) // EVERY + 1 and longer.spec == store.spec
    np.testing.assert_array_equal(longer.states()[:n_first], first_states)
    assert check_store(path).ok
    print(f"\nkilled with {kept} of {WARMUP_FRAMES} warm-up frames kept; resumed, trained, "
          f"{n_first} frames live; resumed again after the warm-up to {longer.committed_frames} "
          f"frames; check ok")
