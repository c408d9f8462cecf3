"""Bad input ends in one clear message, through the Python API and the CLI, and never damages a store."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.io import write
from click.testing import CliRunner
from conftest import LPSCL_416, shared_file

from getsei_live import RunStore, StateModel, replay
from getsei_live.analysis import reactive_flux
from getsei_live.cli import main
from getsei_live.errors import (
    FeatureSchemaError,
    ModelFileError,
    ParameterError,
    StoreError,
    StoreLockedError,
    StructureError,
    TrajectoryError,
)
from getsei_live.structures.trajectory import read_trajectory

REPLAY = ["--timestep-fs", "2", "--interval-steps", "50", "--lags-ps", "0.1,0.2", "--check-every-frames", "2"]


def cli(*args: str):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result


def assert_one_line_error(result, message: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("Error: ") and message in lines[-1], result.output
    assert "Traceback" not in result.output


def store_state(path):
    store = RunStore.open(path)
    counts, per_li, covered = store.counts()
    return store.committed_frames, counts, per_li, covered, store.states()


def assert_store_unchanged(path, before) -> None:
    after = store_state(path)
    assert after[0] == before[0] and after[3] == before[3]
    for a, b in zip(after[1:], before[1:]):
        np.testing.assert_array_equal(a, b)


@pytest.fixture
def frames(aimd_frames):
    return [f.copy() for f in aimd_frames["test"]]


@pytest.fixture
def store(tiny_model_file, frames, tmp_path):
    """A store holding a real replay, to point bad input at."""
    path = tmp_path / "run.zarr"
    trajectory = tmp_path / "good.extxyz"
    write(trajectory, frames)
    result = cli("replay", trajectory, "--states", tiny_model_file, "--store", path, *REPLAY)
    assert result.exit_code == 0, result.output
    return path


def trajectory_file(tmp_path, frames, name="bad.extxyz"):
    path = tmp_path / name
    write(path, frames)
    return path


# ---------------------------------------------------------------- 1. structures

@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        (lambda f: f[f.numbers != 3], StructureError, "contains no Li atom"),
        (lambda f: _set_symbol(f, 3, "Fe"), FeatureSchemaError, "contains Fe, outside the element vocabulary"),
        (lambda f: _set_position(f, 10, np.nan), StructureError, "NaN or infinite positions"),
        (lambda f: _set_position(f, 10, "on top of 11"), StructureError, "atoms on top of each other"),
    ],
    ids=["no-li", "unseen-element", "nan", "overlap"],
)
def test_bad_structures(tiny_model, tiny_model_file, frames, store, tmp_path, damage, error, message):
    broken = damage(frames[2].copy())
    with pytest.raises(error, match=message):
        tiny_model.assign(broken)
    before = store_state(store)
    path = trajectory_file(tmp_path, [broken] * 4)
    result = cli("replay", path, "--states", tiny_model_file, "--store", store, *REPLAY)
    assert_one_line_error(result, message)
    assert_store_unchanged(store, before)


def _set_symbol(atoms, index, symbol):
    atoms[index].symbol = symbol
    return atoms


def _set_position(atoms, index, value):
    if isinstance(value, str):
        atoms.positions[index] = atoms.positions[11] + 0.1
    else:
        atoms.positions[index, 0] = value
    return atoms


def test_cell_too_small(tiny_model, tiny_model_file, tmp_path):
    small = bulk("Li", "bcc", a=3.44, cubic=True)
    with pytest.raises(StructureError, match="too small for the 4.0 A shell"):
        tiny_model.assign(small)
    path = trajectory_file(tmp_path, [small, small, small, small])
    result = cli("replay", path, "--states", tiny_model_file, "--store", tmp_path / "r.zarr", *REPLAY)
    assert_one_line_error(result, "too small for the 4.0 A shell")


def test_exploded_md_keeps_the_committed_frames(tiny_model, frames, tmp_path):
    exploded = frames[3].copy()
    exploded.positions[:] = np.inf
    path = tmp_path / "run.zarr"
    with pytest.raises(StructureError, match="NaN or infinite positions"):
        replay([*frames[:3], exploded], tiny_model, path, timestep_fs=2.0, interval_steps=50, lags_ps=(0.1,),
               check_every_frames=100)
    store = RunStore.open(path)
    assert store.committed_frames == 3 and store.status == "interrupted"
    assert "StructureError" in store.stop_reason


# ---------------------------------------------------------------- 2. trajectories

def test_truncated_trajectory(frames, tiny_model_file, tmp_path):
    path = trajectory_file(tmp_path, frames)
    text = path.read_text()
    frame_lines = len(frames[0]) + 2
    lines = text.splitlines(keepends=True)
    cut = tmp_path / "cut.extxyz"
    cut.write_text("".join(lines[: 2 * frame_lines + 100]))  # 100 of 418 lines of the third frame
    with pytest.raises(TrajectoryError, match="truncated"):
        read_trajectory(cut)
    result = cli("train", cut, "-o", tmp_path / "m.pt", "--epochs", "1")
    assert_one_line_error(result, "truncated")


def test_truncated_gzip_trajectory(tmp_path):
    source = shared_file(LPSCL_416.parents[1] / "trajectories" / "Li6PS5Cl_AIMD_500K_50pct_run1_XDATCAR.gz")
    cut = tmp_path / "cut_XDATCAR.gz"
    data = source.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(TrajectoryError, match="may be truncated"):
        read_trajectory(cut)


@pytest.mark.parametrize(
    ("content", "fmt", "message"),
    [("", None, "is empty"), ("this is not a trajectory\n" * 3, "extxyz", "Cannot read"),
     (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "vasp-xdatcar", "Cannot read")],
    ids=["empty", "text-as-extxyz", "binary-as-xdatcar"],
)
def test_empty_and_wrong_format(tmp_path, tiny_model_file, content, fmt, message):
    path = tmp_path / "traj.dat"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(TrajectoryError, match=message):
        read_trajectory(path, format=fmt)
    args = ["--format", fmt] if fmt else []
    result = cli("replay", path, "--states", tiny_model_file, "--store", tmp_path / "r.zarr", *REPLAY, *args)
    assert_one_line_error(result, message)
    assert not (tmp_path / "r.zarr").exists()


def test_atoms_change_mid_trajectory(frames, tiny_model_file, tmp_path):
    changed = [frames[0], frames[1], frames[2][:-1]]
    path = trajectory_file(tmp_path, changed)
    with pytest.raises(TrajectoryError, match="frame 2 has 415 atoms"):
        read_trajectory(path)
    swapped = frames[1].copy()
    swapped.numbers[[0, -1]] = swapped.numbers[[-1, 0]]
    result = cli("replay", trajectory_file(tmp_path, [frames[0], swapped], "swap.extxyz"), "--states",
                 tiny_model_file, "--store", tmp_path / "r.zarr", *REPLAY)
    assert_one_line_error(result, "a different order")


# ---------------------------------------------------------------- 3. state-model files

def test_state_model_files(tiny_model_file, store, frames, tmp_path):
    trajectory = trajectory_file(tmp_path, frames, "t.extxyz")
    before = store_state(store)
    not_model = tmp_path / "notes.pt"
    not_model.write_text("just text")
    payload = torch.load(tiny_model_file, weights_only=True)
    newer = tmp_path / "newer.pt"
    torch.save({**payload, "config": payload["config"].replace('"schema_version": 1', '"schema_version": 7')}, newer)
    pickled = tmp_path / "pickled.pt"
    torch.save({**payload, "extra": _Pickled()}, pickled)
    for path, message in [(not_model, "not a torch archive"), (newer, "schema 7, newer than"),
                          (pickled, "contains pickled Python objects")]:
        with pytest.raises(ModelFileError, match=message):
            StateModel.load(path)
        assert_one_line_error(cli("replay", trajectory, "--states", path, "--store", store, *REPLAY), message)
        assert_one_line_error(cli("inspect", path), message)
    assert_store_unchanged(store, before)


class _Pickled:
    """A Python object: a state-model file must not carry one."""


def test_feature_schema_does_not_match_the_structure(tiny_model_file, frames, tmp_path):
    atoms = frames[0].copy()
    atoms.symbols[atoms.symbols == "Cl"] = "Br"
    path = trajectory_file(tmp_path, [atoms] * 4)
    result = cli("replay", path, "--states", tiny_model_file, "--store", tmp_path / "r.zarr", *REPLAY)
    assert_one_line_error(result, "contains Br, outside the element vocabulary")


# ---------------------------------------------------------------- 4. stores

def test_store_from_another_run(store, tiny_model_file, frames, tmp_path):
    before = store_state(store)
    trajectory = trajectory_file(tmp_path, frames, "t.extxyz")
    result = cli("replay", trajectory, "--states", tiny_model_file, "--store", store, "--timestep-fs", "1",
                 "--interval-steps", "100", "--lags-ps", "0.1,0.2")
    assert_one_line_error(result, "belongs to a different run: time step (fs): stored 2.0, now 1.0; "
                                  "interval (MD steps per frame): stored 50, now 100")
    result = cli("replay", trajectory, "--states", tiny_model_file, "--store", store, *REPLAY[:4],
                 "--lags-ps", "0.1,0.3")
    assert_one_line_error(result, "lags (frames): stored (1, 2), now (1, 3)")
    assert_store_unchanged(store, before)


def test_missing_chunk_is_reported_and_resume_refused(store, tiny_model_file, frames, tmp_path):
    before = store_state(store)
    shutil.rmtree(store / "states" / "c")
    result = cli("check", store)
    assert result.exit_code == 1 and "DAMAGED  states has missing or invalid labels" in result.output
    assert_one_line_error(cli("check", store, "--repair"), "cannot repair damaged primary data")
    trajectory = trajectory_file(tmp_path, frames, "t.extxyz")
    assert_one_line_error(cli("replay", trajectory, "--states", tiny_model_file, "--store", store, *REPLAY),
                          "is damaged: the last committed frames hold missing labels")
    after = RunStore.open(store)
    assert after.committed_frames == before[0]
    np.testing.assert_array_equal(after.counts()[0], before[1])


def test_corrupted_counts_chunk_is_repaired_from_states(store):
    before = store_state(store)
    chunk = next((store / "counts" / "c").rglob("*"))
    while chunk.is_dir():
        chunk = next(chunk.iterdir())
    chunk.write_bytes(b"garbage")
    assert_one_line_error(cli("analyze", store), "is damaged: reading counts failed")
    result = cli("check", store)
    assert result.exit_code == 1 and "DERIVED  counts are unreadable" in result.output
    repaired = cli("check", store, "--repair")
    assert repaired.exit_code == 0 and "OK (repaired)" in repaired.output
    assert_store_unchanged(store, before)


def test_second_writer_refused_reader_fine(store, tiny_model_file, frames, tmp_path):
    before = store_state(store)
    trajectory = trajectory_file(tmp_path, frames, "t.extxyz")
    with RunStore.open(store, "a"):
        result = cli("replay", trajectory, "--states", tiny_model_file, "--store", store, *REPLAY)
        assert_one_line_error(result, "is being written by pid")
        with pytest.raises(StoreLockedError):
            RunStore.open(store, "a")
        reading = cli("analyze", store, "--json")
        assert reading.exit_code == 0 and json.loads(reading.output)["committed_frames"] == before[0]
    assert_store_unchanged(store, before)
    RunStore.open(store, "a").close()  # released when the first writer closed


def test_path_that_is_not_a_store(tmp_path):
    assert_one_line_error(cli("analyze", tmp_path), "is not a getsei-live store")
    import zarr

    zarr.open_group(str(tmp_path / "other.zarr"), mode="w").attrs["x"] = 1
    assert_one_line_error(cli("watch", tmp_path / "other.zarr", "--once"), "not a getsei-live store")
    with pytest.raises(StoreError):
        RunStore.open(tmp_path / "nothing.zarr")


def test_read_only_location(tiny_model_file, frames, tmp_path):
    target = "/sys/getsei-run.zarr"  # a read-only file system (root ignores permission bits elsewhere)
    trajectory = trajectory_file(tmp_path, frames, "t.extxyz")
    result = cli("replay", trajectory, "--states", tiny_model_file, "--store", target, *REPLAY)
    assert_one_line_error(result, f"Cannot create the store at {target}")


# ---------------------------------------------------------------- 5. parameters

def test_nonsensical_parameters(store, tiny_model, tiny_model_file, frames, tmp_path):
    before = store_state(store)
    trajectory = trajectory_file(tmp_path, frames, "t.extxyz")
    fresh = tmp_path / "fresh.zarr"
    base = ["replay", trajectory, "--states", tiny_model_file, "--store", fresh, "--timestep-fs", "2",
            "--interval-steps", "50"]
    assert_one_line_error(cli(*base, "--lags-ps", "0.1,0.25"),
                          "Each lag of the --lags-ps option must be a positive multiple of the frame interval "
                          "(0.1 ps). Got 0.25 instead.")
    assert_one_line_error(cli(*base, "--lags-ps", "0.1,20"), "The longest lag (20 ps) is not shorter than the "
                                                            "trajectory (5 frames, 0.4 ps)")
    assert not fresh.exists()
    assert_one_line_error(cli("analyze", store, "--source", "1", "--target", "1"), "overlap in states [1]")
    with pytest.raises(ParameterError, match="'source' parameter holds no state"):
        reactive_flux(np.full((3, 3), 1 / 3), [], [2])
    with pytest.raises(ParameterError, match="'interval_steps' parameter must be a positive number of MD steps"):
        replay(frames, tiny_model, tmp_path / "x.zarr", timestep_fs=2.0, interval_steps=0, lags_ps=(0.1,))
    structure = shared_file(LPSCL_416)
    assert_one_line_error(cli("run", structure, "--model", "small", "--states", tiny_model_file, "--store", fresh,
                              "--steps", "5", "--interval-steps", "0"), "Invalid value for '--interval-steps'")
    assert_one_line_error(cli("run", structure, "--model", "small", "--states", tiny_model_file, "--store", fresh,
                              "--steps", "5", "--temperature-K", "-5"), "Invalid value for '--temperature-K'")
    assert_one_line_error(cli("run", structure, "--model", "mace-nonexistent", "--states", tiny_model_file,
                              "--store", fresh, "--steps", "5"), "Unknown MACE model 'mace-nonexistent'")
    assert_store_unchanged(store, before)


def test_debug_shows_the_traceback(tmp_path):
    result = CliRunner().invoke(main, ["--debug", "analyze", str(tmp_path)])
    assert result.exit_code != 0 and isinstance(result.exception, StoreError)
