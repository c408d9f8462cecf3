"""Crash consistency at every write: a writer that dies between any two of its writes to the store leaves a store
whose resume, ``check`` and ``analyze`` give exactly what an uninterrupted run gives.

A crash is injected as storage engines test theirs: every file write (and delete) zarr makes is counted, and at
write k the writer dies: that write and everything after it never reach the disk (the process is gone), the lock
is dropped as the operating system drops it. Every k over a stretch of the run that holds whole flushes (rows,
derived counts, checkpoint, commit) and a check (its snapshot) is tried in turn, for the live path (a real ASE
VelocityVerlet run, resumed from the store's checkpoint) and the replay path (real AIMD frames labelled by a real
state model). The one real SIGKILL test is in ``observers/test_live.py``.
"""

from __future__ import annotations


import dataclasses

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import PairLJ
import zarr.storage._local as zarr_local

from getsei_live import ConvergenceCriteria, RunStore, replay
from getsei_live.observers.live import attach
from getsei_live.offline.summary import analyze_store
from getsei_live.store.integrity import check_store

CRITERIA = ConvergenceCriteria(n_bootstrap=10, patience=1)


class Crash(BaseException):
    """The writer's process ends here (no ``except Exception`` may catch it)."""


class WriteLog:
    """Counts zarr's writes; with ``crash_at`` set, the writer dies at that write: it and every later one fail."""

    def __init__(self, monkeypatch, root: Path, crash_at: int | None = None) -> None:
        self.root, self.crash_at, self.keys, self.dead, self.crashed_at = root, crash_at, [], False, None
        put, delete, delete_dir = zarr_local._put, zarr_local.LocalStore.delete, zarr_local.LocalStore.delete_dir

        def write(key: str) -> None:
            if not self.dead and self.crash_at is not None and len(self.keys) == self.crash_at:
                self.dead, self.crashed_at = True, key
            if self.dead:
                raise Crash(key)
            self.keys.append(key)

        def counted_put(path, value, exclusive=False):
            write(str(Path(path).relative_to(self.root)) if Path(path).is_relative_to(self.root) else str(path))
            return put(path, value, exclusive)

        async def counted_delete(store, key):
            write(f"delete {key}")
            return await delete(store, key)

        async def counted_delete_dir(store, prefix):
            write(f"delete {prefix}/")
            return await delete_dir(store, prefix)

        monkeypatch.setattr(zarr_local, "_put", counted_put)
        monkeypatch.setattr(zarr_local.LocalStore, "delete", counted_delete)
        monkeypatch.setattr(zarr_local.LocalStore, "delete_dir", counted_delete_dir)


def contents(path: Path) -> dict:
    """Everything a resume, ``check`` and ``analyze`` read of a store: committed rows, derived data (only when the
    commit vouches for it), checkpoint, snapshots, the analysis."""
    store = RunStore.open(path)
    tally, checkpoint = store.tally(), store.checkpoint()
    assert tally is not None, f"{path}: the derived data is not what its last commit wrote"
    out = {read: getattr(store, read)() for read in ("steps", "times_ps", "states", "log_likelihood",
                                                      "li_positions")}
    for name in tally.__dataclass_fields__:  # the probe and the transport state field by field
        value = getattr(tally, name)
        parts = {f".{f}": getattr(value, f) for f in value.__dataclass_fields__} if hasattr(
            value, "__dataclass_fields__") else {"": value}
        out |= {f"tally.{name}{f}": v for f, v in parts.items()}
    if checkpoint is not None:
        out |= {f"checkpoint.{name}": getattr(checkpoint, name) for name in checkpoint.__dataclass_fields__}
    out["committed_frames"], out["status"] = store.committed_frames, store.status
    out["snapshots"] = {s.frame: s.to_dict() for s in store.snapshots()}
    analysis = analyze_store(path, n_bootstrap=10, core_lengths_ps=None).snapshot
    # its verdict and forecast continue the run's own checks, which a crash may leave one more or fewer of
    out["analysis"] = dataclasses.replace(analysis, verdict=None, forecast=None, frame=None, step=None,
                                          time_ps=None).to_dict()
    return out


def assert_same_store(ours: Path, reference: dict, base_snapshots: set) -> None:
    """The store at ``ours`` holds what the uninterrupted run (``reference``, from ``contents``) holds; its
    snapshots are the uninterrupted run's checks (same frames, same numbers) and the one the run that made the
    base store took as it ended."""
    report = check_store(ours)
    assert report.ok, report.to_dict()
    got = contents(ours)
    frames = list(got["snapshots"])
    assert frames == sorted(set(frames)), f"snapshots repeat or go back: {frames}"
    allowed = set(reference["snapshots"]) | base_snapshots
    assert set(frames) <= allowed, f"snapshots at {frames}; the uninterrupted run's at {sorted(allowed)}"
    for frame, snap in got["snapshots"].items():
        if frame in reference["snapshots"] and frame != got["committed_frames"]:
            for key in ("timescales", "intervals", "pathways", "rates"):
                assert snap.get(key) == reference["snapshots"][frame].get(key), f"snapshot {frame}: {key} differs"
    for key, value in reference.items():
        if key == "snapshots":
            continue
        if key in ("checkpoint.positions", "checkpoint.momenta"):  # an MD restarted from them sums its forces in
            # another order (its neighbour list is built afresh): the same trajectory to round-off
            np.testing.assert_allclose(got[key], value, rtol=1e-9, atol=1e-11, err_msg=key)
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(got[key], value, err_msg=key)
        else:
            assert got[key] == value, key


def crash_points(monkeypatch, tmp_path: Path, base: Path, run) -> tuple[list[int], list[str]]:
    """The writes at which to crash a continuation of ``base``: the first ones (a resume's metadata), then every
    write of the first check: its flush (rows, derived counts, checkpoint, commit) and its snapshot. (Flushes
    between checks write the same files in the same order.) Returns them and every key the continuation writes."""
    work = tmp_path / "count.zarr"
    shutil.copytree(base, work)
    with monkeypatch.context() as patch:
        writes = WriteLog(patch, work)
        run(work)
    keys = writes.keys
    snapshot = next(k for k, key in enumerate(keys) if key.startswith("snapshots/"))
    flush = max(k for k in range(snapshot) if keys[k] == "frames/step/zarr.json")
    first = keys.index("frames/step/zarr.json")
    shutil.rmtree(work)
    return list(range(first)) + list(range(flush, snapshot + 2)), keys


def crash_every_write(monkeypatch, tmp_path: Path, base: Path, full: Path, run) -> list[str]:
    """Copy ``base``, let ``run`` (which continues it to the end) die at each of its ``crash_points``, resume it
    with ``run`` again, and compare with ``full``; returns the keys crashed at."""
    reference, base_snapshots = contents(full), {s.frame for s in RunStore.open(base).snapshots()}
    points, keys = crash_points(monkeypatch, tmp_path, base, run)
    crashed = []
    for k in points:
        work = tmp_path / f"crash{k}.zarr"
        shutil.copytree(base, work)
        with monkeypatch.context() as patch:
            writes = WriteLog(patch, work, crash_at=k)
            with pytest.raises(Crash):
                run(work)
        assert writes.crashed_at == keys[k]
        crashed.append(writes.crashed_at)
        run(work)  # the resume: the same command again
        assert_same_store(work, reference, base_snapshots)
        shutil.rmtree(work)
    return crashed


def written(crashed: list[str]) -> str:
    return ", ".join(dict.fromkeys(key.split("/c/")[0].removesuffix("/zarr.json") for key in crashed))


# ------------------------------------------------------------------ the replay path
@pytest.fixture(scope="module")
def labelled_frames():
    from conftest import aimd_run

    return aimd_run("50pct", "0:36")


class Recorded:
    """The real state model's labels (and fits) of each frame, computed once: every crash replays the same frames."""

    def __init__(self, model) -> None:
        self.model, self.n_states, self.fingerprint = model, model.n_states, model.fingerprint
        self.fit_threshold, self._seen = model.fit_threshold, {}

    def check(self, atoms) -> None:
        self.model.check(atoms)

    def describe(self) -> dict:
        return self.model.describe()

    def assign_with_fit(self, atoms):
        key = atoms.positions.tobytes()
        if key not in self._seen:
            self._seen[key] = self.model.assign_with_fit(atoms)
        return self._seen[key]

    def assign(self, atoms):
        return self.assign_with_fit(atoms)[0]


REPLAY = dict(timestep_fs=2.0, interval_steps=50, lags_ps=(0.1, 0.3), core_ps=0.2, check_every_frames=10, flush_frames=4,
              criteria=CRITERIA)


@pytest.mark.slow
def test_a_crash_at_every_write_of_a_replay_resumes_to_the_uninterrupted_store(tiny_model, labelled_frames,
                                                                                 tmp_path, monkeypatch):
    labeller = Recorded(tiny_model)
    full, base = tmp_path / "full.zarr", tmp_path / "base.zarr"
    replay(labelled_frames, labeller, full, **REPLAY)
    replay(labelled_frames[:22], labeller, base, **REPLAY)  # committed 22 frames; a check at 20
    crashed = crash_every_write(monkeypatch, tmp_path, base, full,
                                lambda path: replay(labelled_frames, labeller, path, **REPLAY))
    print(f"replay: {len(crashed)} crash points, before each write of {written(crashed)}; every resume equal to "
          f"the uninterrupted run")


# ------------------------------------------------------------------ the live path
def li_crystal():
    from ase.build import bulk
    from ase.md.velocitydistribution import thermalize_momenta

    atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat((3, 3, 3))
    thermalize_momenta(atoms, temperature_K=900, rng=np.random.default_rng(3))
    return atoms


class Slabs:
    """Labels each Li by the slab of the cell (along x, 12 slabs, 3 labels) it is in: the state model of a
    structure whose Li move between planes (cheap and deterministic; the test is about the store)."""

    n_states, fingerprint = 3, "slabs-12-3"

    def check(self, atoms) -> None:
        pass

    def describe(self) -> dict:
        return {"fingerprint": self.fingerprint}

    def assign(self, atoms):
        x = atoms.get_scaled_positions(wrap=True)[:, 0]
        return (np.floor(x * 12).astype(np.int64) % 3).astype(np.int8)


LIVE = dict(lags_ps=(0.01, 0.03), core_ps=0.01, check_every_frames=10, flush_frames=4, criteria=CRITERIA,
            asynchronous=False, interval_steps=5)
LIVE_STEPS = 110


def live_run(path: Path, steps: int = LIVE_STEPS) -> None:
    """A real ASE NVE run (Lennard-Jones Li, ``helpers.PairLJ``) of ``steps`` MD steps in all, observed into
    ``path``; a resume restarts from the store's checkpoint (NVE from the same positions and momenta: the same
    trajectory as without a stop)."""
    from ase import units
    from ase.md.verlet import VelocityVerlet

    from getsei_live.md.dynamics import restore_checkpoint

    atoms = li_crystal()
    done = 0
    checkpoint = RunStore.open(path).checkpoint() if (path / "zarr.json").is_file() else None
    if checkpoint is not None:
        restore_checkpoint(atoms, checkpoint)
        done = checkpoint.step
    atoms.calc = PairLJ(sigma=2.8, epsilon=0.05, rc=6.0, smooth=True)
    dyn = VelocityVerlet(atoms, timestep=2.0 * units.fs)
    with attach(dyn, Slabs(), store=path, **LIVE):
        dyn.run(steps - done)


@pytest.mark.slow
def test_a_crash_at_every_write_of_a_live_md_run_resumes_to_the_uninterrupted_store(tmp_path, monkeypatch):
    full, base = tmp_path / "full.zarr", tmp_path / "base.zarr"
    live_run(full)
    live_run(base, 60)  # 13 frames committed, the checkpoint at step 60
    crashed = crash_every_write(monkeypatch, tmp_path, base, full, live_run)
    print(f"live MD: {len(crashed)} crash points, before each write of {written(crashed)}; every resume equal to "
          f"the uninterrupted run")


# ------------------------------------------------------------------ a full disk
def test_a_full_disk_mid_replay_is_one_clear_error_and_the_run_resumes_once_there_is_space(tiny_model, labelled_frames,
                                                                                        tmp_path, monkeypatch):
    import zarr.storage._local as zarr_local

    from getsei_live.errors import StoreFullError

    labeller = Recorded(tiny_model)
    full, path = tmp_path / "full.zarr", tmp_path / "run.zarr"
    replay(labelled_frames, labeller, full, **REPLAY)
    put, chunks = zarr_local._put, []

    def disk_fills(file, value, exclusive=False):  # after 40 chunks, no chunk fits; small metadata still does
        if "/c/" in str(file):
            chunks.append(file)
            if len(chunks) > 40:
                raise OSError(28, "No space left on device")
        return put(file, value, exclusive)

    with monkeypatch.context() as patch:
        patch.setattr(zarr_local, "_put", disk_fills)
        with pytest.raises(StoreFullError) as error:
            replay(labelled_frames, labeller, path, **REPLAY)
    store = RunStore.open(path)
    message = str(error.value)
    print(message)
    assert f"{store.committed_frames} frames are committed and intact" in message and "\n" not in message
    assert 0 < store.committed_frames < len(labelled_frames)
    assert store.status == "interrupted" and "disk is full" in store.stop_reason
    replay(labelled_frames, labeller, path, **REPLAY)  # space freed: the same command resumes
    assert_same_store(path, contents(full), set())


def test_a_disk_with_no_byte_left_still_takes_the_status_from_the_writers_reserve(tiny_model, labelled_frames,
                                                                                   tmp_path, monkeypatch):
    """Issue 39 (13): on a disk where not even the root metadata fits, the status said "running". A byte budget
    stands for the disk: after 40 chunks it is empty, and only the writer's space reserve, deleted, gives room."""
    import zarr.storage._local as zarr_local

    from getsei_live.errors import StoreFullError
    from getsei_live.store.reserve import NAME, RESERVE_BYTES

    labeller = Recorded(tiny_model)
    path = tmp_path / "run.zarr"
    put, chunks = zarr_local._put, []
    reserves = lambda: sorted(path.rglob(NAME))  # noqa: E731
    disk = {"free": None, "reserve": None}

    def full_disk(file, value, exclusive=False):
        if "/c/" in str(file):
            chunks.append(file)
        if len(chunks) > 40 and disk["free"] is None:  # the disk is full from here; the reserve is its only room
            disk["free"], disk["reserve"] = 0, reserves()
        if disk["free"] is not None:
            disk["free"] += RESERVE_BYTES * sum(not p.exists() for p in disk["reserve"])
            disk["reserve"] = [p for p in disk["reserve"] if p.exists()]
            if len(value) > disk["free"]:
                raise OSError(28, "No space left on device")
            disk["free"] -= len(value)
        return put(file, value, exclusive)

    with monkeypatch.context() as patch:
        patch.setattr(zarr_local, "_put", full_disk)
        with pytest.raises(StoreFullError) as error:
            replay(labelled_frames, labeller, path, **REPLAY)
    assert len(disk["reserve"] or []) == 0 and disk["free"] is not None, "the reserve was not used"
    store = RunStore.open(path)
    print(error.value)
    assert "the store says so in its status" in str(error.value)
    assert store.status == "interrupted" and "disk is full" in store.stop_reason
    replay(labelled_frames, labeller, path, **REPLAY)  # space freed: the same command resumes, with a new reserve
    assert RunStore.open(path).status == "finished" and len(reserves()) == 1


def test_counts_ahead_of_the_commit_are_never_trusted(tiny_model, labelled_frames, tmp_path):
    """The case a kill between the counts and the commit made (found by killing 'run'): a finished 30-frame store
    whose committed_frames and counts' frame count are set back to 25, as that kill leaves them, resumes to the
    counts of an uninterrupted run, not 5 frames x the Li more."""
    labeller = Recorded(tiny_model)
    frames = labelled_frames[:30]
    full, path = tmp_path / "full.zarr", tmp_path / "run.zarr"
    replay(frames, labeller, full, **REPLAY)
    replay(frames, labeller, path, **REPLAY)
    for meta, key in ((path / "zarr.json", "committed_frames"), (path / "counts" / "zarr.json", "frames")):
        data = json.loads(meta.read_text())
        data["attributes"][key] = 25
        meta.write_text(json.dumps(data))
    replay(frames, labeller, path, **REPLAY)
    resumed, straight = RunStore.open(path), RunStore.open(full)
    assert resumed.committed_frames == 30
    np.testing.assert_array_equal(resumed.counts()[0], straight.counts()[0])
    assert check_store(path).ok
    print(f"at lag 1: {resumed.counts()[0][0].sum()} transitions stored, as in the uninterrupted run")
