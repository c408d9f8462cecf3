"""The asynchronous observer: the worker's ordering, back-pressure and errors, and a failure surfacing from real MD."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from ase import units
from ase.md.verlet import VelocityVerlet
from helpers import kill_after_committed, lpscl_unit_cell, recount, run_here, soft_lj

from getsei_live import attach
from getsei_live.errors import StructureError
from getsei_live.observers.worker import FrameWorker
from getsei_live.store.integrity import check_store
from getsei_live.store.run_store import RunStore


def test_items_are_processed_in_order_on_another_thread():
    seen, threads = [], set()

    def process(item):
        threads.add(threading.get_ident())
        seen.append(item)

    worker = FrameWorker(process, max_queue=2)
    for k in range(50):
        worker.put(k)
    worker.join()
    assert seen == list(range(50)) and len(threads) == 1 and threading.get_ident() not in threads  # one worker
    assert worker.close() is None and not worker.alive


def test_a_full_queue_makes_the_producer_wait_and_says_so_once(caplog):
    release = threading.Event()
    worker = FrameWorker(lambda item: release.wait(), max_queue=1)
    with caplog.at_level(logging.WARNING):
        worker.put(0)  # taken by the worker, which then blocks
        time.sleep(0.05)
        worker.put(1)  # fills the queue
        timer = threading.Timer(0.3, release.set)
        timer.start()
        start = time.perf_counter()
        worker.put(2)  # must wait until the worker takes item 1
        waited = time.perf_counter() - start
        worker.put(3)
    worker.close()
    assert waited >= 0.25 and worker.waited_s >= 0.25
    assert sum("frames behind the MD" in r.getMessage() for r in caplog.records) == 1


def test_the_first_failure_is_raised_once_at_the_next_put_and_later_items_are_dropped():
    done = []

    def process(item):
        if item == 3:
            raise ValueError("bad frame 3")
        done.append(item)

    failures = []
    worker = FrameWorker(process, max_queue=8, on_error=failures.append)
    for k in range(6):
        worker.put(k)
    with pytest.raises(ValueError, match="bad frame 3"):
        worker.join()
    worker.put(7)  # raised already: not again
    assert worker.close() is None
    assert done == [0, 1, 2] and [str(e) for e in failures] == ["bad frame 3"]


def test_close_returns_a_failure_not_yet_raised():
    worker = FrameWorker(lambda item: 1 / 0)
    worker.put(0)
    assert isinstance(worker.close(), ZeroDivisionError)


class BreaksAt:
    """A real state model whose ``assign`` raises StructureError at one call, as a broken frame would."""

    def __init__(self, model, call: int) -> None:
        self._model, self._call, self.calls = model, call, 0

    def __getattr__(self, name):
        return getattr(self._model, name)

    def _count(self) -> None:
        self.calls += 1
        if self.calls == self._call:
            raise StructureError("atoms 3 and 7 are 0.100 A apart (an exploded MD)")

    def assign(self, atoms):
        self._count()
        return self._model.assign(atoms)

    def assign_with_fit(self, atoms):  # what the monitor calls when the labeller can report its fit
        self._count()
        return self._model.assign_with_fit(atoms)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_labelling_failure_reaches_the_caller_with_the_frames_before_it_committed(tiny_model, tmp_path,
                                                                                    asynchronous):
    atoms = lpscl_unit_cell()
    atoms.calc = soft_lj()
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    path = tmp_path / "run.zarr"
    labeller = BreaksAt(tiny_model, call=13)  # frame 12 (step 60) fails
    monitor = attach(dyn, labeller, store=path, interval_steps=5, lags_ps=(0.005, 0.01), check_every_frames=5, flush_frames=100,
                     stop_when_stable=False, asynchronous=asynchronous, core_ps=0.01)
    with pytest.raises(StructureError, match="exploded MD"):
        with monitor:
            dyn.run(200)
    # the MD learns of it at its next observation (asynchronous) or at once (synchronous)
    assert dyn.nsteps < 200
    store = RunStore.open(path)
    assert store.committed_frames == 12 and store.status == "interrupted" and "exploded" in store.stop_reason
    np.testing.assert_array_equal(store.steps(), np.arange(0, 60, 5))
    assert store.checkpoint().step == 55  # the checkpoint belongs to the last committed frame
    np.testing.assert_array_equal(store.counts()[0], recount(store.states().astype(int), (1, 2),
                                                             tiny_model.n_states, 2))
    assert check_store(path).ok


def test_a_failure_after_the_last_observation_is_raised_by_close(tiny_model, tmp_path):
    atoms = lpscl_unit_cell()
    atoms.calc = soft_lj()
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    monitor = attach(dyn, BreaksAt(tiny_model, call=5), store=tmp_path / "run.zarr", interval_steps=5, lags_ps=(0.005,),
                     stop_when_stable=False, asynchronous=True, max_queue=50)
    dyn.run(20)  # frames 0..4 queued; the fifth fails after the MD has finished
    with pytest.raises(StructureError):
        monitor.close()
    store = RunStore.open(tmp_path / "run.zarr")
    assert store.committed_frames == 4 and store.status == "interrupted"


@pytest.mark.slow
def test_sigkill_of_asynchronous_md_then_resume_equals_uninterrupted(tiny_model_file, tmp_path):
    """Real MD with the asynchronous observer, killed mid-run: the store's checkpoint belongs to its last committed
    frame, so velocity Verlet resumed from it reproduces the uninterrupted run exactly."""
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "md.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parents[1])!r})
        from ase import units
        from ase.md.verlet import VelocityVerlet
        from getsei_live import RunStore, StateModel, attach
        from getsei_live.md.dynamics import restore_checkpoint
        from helpers import lpscl_unit_cell, soft_lj
        path, slow = sys.argv[1], sys.argv[2] == "slow"
        atoms = lpscl_unit_cell()
        atoms.calc = soft_lj()
        done = 0
        try:
            store = RunStore.open(path)
            restore_checkpoint(atoms, store.checkpoint())
            done = store.checkpoint().step
        except Exception:
            pass
        dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
        if slow:
            dyn.attach(lambda: time.sleep(0.01), interval=1)
        monitor = attach(dyn, StateModel.load({str(tiny_model_file)!r}), store=path, interval_steps=5,
                         lags_ps=(0.005, 0.015), check_every_frames=10, flush_frames=3, stop_when_stable=False,
                         core_ps=0.015)
        with monitor:
            dyn.run(400 - done)
    """))
    killed, full = tmp_path / "killed.zarr", tmp_path / "full.zarr"
    kill_after_committed(subprocess.Popen([sys.executable, str(script), str(killed), "slow"]), killed, 20)
    at_kill = RunStore.open(killed)
    n_killed = at_kill.committed_frames
    assert 20 <= n_killed < 81, f"the writer should die mid-run ({n_killed})"
    assert at_kill.checkpoint().step == at_kill.steps()[-1]
    subprocess.run([sys.executable, str(script), str(killed), "fast"], check=True)  # the lock was freed
    run_here(script, full, "fast")
    resumed, straight = RunStore.open(killed), RunStore.open(full)
    assert resumed.committed_frames == straight.committed_frames == 81
    np.testing.assert_array_equal(resumed.steps(), straight.steps())
    np.testing.assert_array_equal(resumed.states(), straight.states())
    for ours, theirs in zip(resumed.counts(), straight.counts()):
        np.testing.assert_array_equal(ours, theirs)
    assert check_store(killed).ok
    print(f"killed at {n_killed} committed frames; resumed to 81 with identical states and counts")


def test_a_second_writer_is_refused_while_an_asynchronous_monitor_holds_the_store(tiny_model, tmp_path):
    from getsei_live.errors import StoreLockedError

    atoms = lpscl_unit_cell()
    atoms.calc = soft_lj()
    first = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    second = VelocityVerlet(atoms.copy(), timestep=1.0 * units.fs)
    path = tmp_path / "run.zarr"
    with attach(first, tiny_model, store=path, interval_steps=5, lags_ps=(0.005,), stop_when_stable=False,
                core_ps=0.01) as monitor:
        assert monitor.asynchronous
        first.run(20)
        with pytest.raises(StoreLockedError, match=r"being written by pid \d+"):
            attach(second, tiny_model, store=path, interval_steps=5, lags_ps=(0.005,), stop_when_stable=False, core_ps=0.01)
        first.run(20)
    store = RunStore.open(path)
    assert store.committed_frames == 9 and store.status == "finished"
    np.testing.assert_array_equal(store.counts()[0], recount(store.states().astype(int), (1,), tiny_model.n_states,
                                                             2))
