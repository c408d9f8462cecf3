"""Refusals through the command line: every bad input below exits 2 with one line and no traceback, and leaves the
store it names byte-identical (a command that would have made a new store makes none)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import torch
from ase.io import write
from click.testing import CliRunner
from conftest import aimd_run

from getsei_live.cli import main

REPLAY = ["--timestep-fs", "2", "--interval-steps", "50", "--lags-ps", "0.1,0.2", "--check-every-frames", "5", "--temperature-K", "500"]


def tree(path) -> dict:
    """Every file under ``path`` and the SHA-256 of its bytes."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def setting(tiny_model_file, tmp_path_factory):
    """A finished 12-frame store, its trajectory, and files to refuse."""
    folder = tmp_path_factory.mktemp("refusals")
    trajectory = folder / "run.extxyz"
    write(trajectory, aimd_run("50pct", "0:12"))
    store = folder / "run.zarr"
    result = CliRunner().invoke(main, ["replay", str(trajectory), "--states", str(tiny_model_file), "--store",
                                       str(store), *REPLAY])
    assert result.exit_code == 0, result.output
    (folder / "empty.extxyz").write_text("")
    (folder / "garbage.extxyz").write_bytes(os.urandom(2000))
    (folder / "garbage.pt").write_bytes(os.urandom(2000))
    data = torch.load(tiny_model_file, weights_only=True)
    huge = json.loads(data["config"])
    huge["encoder"] |= {"in_channels": 10**6, "hidden_channels": 10**6}
    torch.save(dict(data, config=json.dumps(huge)), folder / "huge.pt")
    torch.save(dict(data, arrays={k: v for k, v in data["arrays"].items() if k != "gmm_means"}),
               folder / "no_means.pt")
    torch.save({"x": __import__("fractions").Fraction(1, 3)}, folder / "pickled.pt")
    raised = folder / "raised.zarr"  # committed_frames raised above the rows it has
    shutil.copytree(store, raised)
    meta = json.loads((raised / "zarr.json").read_text())
    meta["attributes"]["committed_frames"] = 40
    (raised / "zarr.json").write_text(json.dumps(meta))
    return {"store": store, "traj": trajectory, "model": tiny_model_file, "dir": folder, "raised": raised}


def t(setting, key):
    return str(setting[key]) if key in setting else str(setting["dir"] / key)


def replay_args(s, *extra, store="store"):
    return ["replay", t(s, "traj"), "--states", t(s, "model"), "--store", t(s, store), *REPLAY, *extra]


def other(s, *replace):
    """replay_args with REPLAY's options replaced."""
    args = dict(zip(REPLAY[::2], REPLAY[1::2])) | dict(zip(replace[::2], replace[1::2]))
    return ["replay", t(s, "traj"), "--states", t(s, "model"), "--store", t(s, "store"),
            *[x for kv in args.items() for x in kv]]


#: (id, arguments from the setting, words the one line must hold, the store it must leave as it was)
CASES = [
    ("source out of range", lambda s: replay_args(s, "--source", "99"), "--source option must hold state indices", "store"),
    ("target out of range", lambda s: replay_args(s, "--target", "7"), "--target option must hold state indices", "store"),
    ("source is target", lambda s: replay_args(s, "--source", "0", "--target", "0"), "overlap", "store"),
    ("source out of range, new store", lambda s: replay_args(s, "--source", "99", store="new.zarr"),
     "--source option must hold", "new.zarr"),
    ("infinite lag", lambda s: other(s, "--lags-ps", "0.1,inf"), "positive multiple of the frame interval", "store"),
    ("repeated lag", lambda s: other(s, "--lags-ps", "0.1,0.1"), "distinct lags", "store"),
    ("lag off the frame spacing", lambda s: other(s, "--lags-ps", "0.1,0.15"), "positive multiple", "store"),
    ("infinite time step", lambda s: other(s, "--timestep-fs", "inf"), "positive, finite number of fs", "store"),
    ("analysis lag not counted", lambda s: replay_args(s, "--lag-ps", "0.4"), "must be one of", "store"),
    ("resume, other interval", lambda s: other(s, "--interval-steps", "25"), "belongs to a different run", "store"),
    ("resume, other lags", lambda s: other(s, "--lags-ps", "0.1,0.3"), "belongs to a different run", "store"),
    ("resume, other time step", lambda s: other(s, "--timestep-fs", "1", "--interval-steps", "100"),
     "belongs to a different run", "store"),
    ("resume, other core length", lambda s: replay_args(s, "--core-ps", "0.4"), "belongs to a different run",
     "store"),
    ("resume, other temperature", lambda s: other(s, "--temperature-K", "900"), "holds a run at 500 K", "store"),
    ("missing trajectory", lambda s: ["replay", t(s, "nothing.extxyz"), "--states", t(s, "model"), "--store",
                                      t(s, "store"), *REPLAY], "does not exist", "store"),
    ("empty trajectory", lambda s: ["replay", t(s, "empty.extxyz"), "--states", t(s, "model"), "--store",
                                    t(s, "new.zarr"), *REPLAY], "", "new.zarr"),
    ("garbage trajectory", lambda s: ["replay", t(s, "garbage.extxyz"), "--states", t(s, "model"), "--store",
                                      t(s, "new.zarr"), *REPLAY], "", "new.zarr"),
    ("missing state model", lambda s: ["replay", t(s, "traj"), "--states", t(s, "none.pt"), "--store",
                                       t(s, "store"), *REPLAY], "", "store"),
    ("garbage state model", lambda s: ["replay", t(s, "traj"), "--states", t(s, "garbage.pt"), "--store",
                                       t(s, "store"), *REPLAY], "not a getsei-live state model", "store"),
    ("pickled state model", lambda s: ["replay", t(s, "traj"), "--states", t(s, "pickled.pt"), "--store",
                                       t(s, "store"), *REPLAY], "pickled Python objects", "store"),
    ("huge encoder", lambda s: ["replay", t(s, "traj"), "--states", t(s, "huge.pt"), "--store", t(s, "store"),
                                *REPLAY], "do not fit the encoder", "store"),
    ("inspect a model without its means", lambda s: ["inspect", t(s, "no_means.pt")], "lacks arrays/gmm_means",
     "store"),
    ("inspect a huge encoder", lambda s: ["inspect", t(s, "huge.pt")], "do not fit the encoder", "store"),
    ("check every 0 frames", lambda s: replay_args(s, "--check-every-frames", "0"), "", "store"),
    ("confidence 2", lambda s: replay_args(s, "--confidence", "2"), "", "store"),
    ("negative equilibration", lambda s: replay_args(s, "--equilibrate-ps", "-1"), "", "store"),
    ("committed beyond the rows", lambda s: ["replay", t(s, "traj"), "--states", t(s, "model"), "--store",
                                             t(s, "raised"), *REPLAY], "40 frames are committed but", "raised"),
    ("analyze, source out of range", lambda s: ["analyze", t(s, "store"), "--source", "99"], "--source", "store"),
    ("analyze, lag not stored", lambda s: ["analyze", t(s, "store"), "--lag-ps", "0.3"], "", "store"),
    ("analyze, no store there", lambda s: ["analyze", t(s, "nothing.zarr")], "", "nothing.zarr"),
    ("report, lag not stored", lambda s: ["report", t(s, "store"), "-o", t(s, "rep"), "--lag-ps", "7"], "",
     "store"),
    ("run, empty structure", lambda s: ["run", t(s, "empty.extxyz"), "--model", "bundled", "--states",
                                        t(s, "model"), "--store", t(s, "new.zarr"), "--steps", "10"],
     "Cannot read a structure", "new.zarr"),
    ("run, garbage structure", lambda s: ["run", t(s, "garbage.extxyz"), "--model", "bundled", "--states",
                                          t(s, "model"), "--store", t(s, "new.zarr"), "--steps", "10"], "",
     "new.zarr"),
    ("run, infinite time step", lambda s: ["run", t(s, "traj"), "--model", "bundled", "--states", t(s, "model"),
                                           "--store", t(s, "new.zarr"), "--steps", "10", "--timestep-fs", "inf"],
     "", "new.zarr"),
    ("run, no such potential", lambda s: ["run", t(s, "traj"), "--model", t(s, "none.model"), "--states",
                                          t(s, "model"), "--store", t(s, "new.zarr"), "--steps", "10"],
     "No MACE model file", "new.zarr"),
    ("temperature not a number", lambda s: other(s, "--temperature-K", "nan"), "positive, finite number of kelvin",
     "store"),
    ("store name of 300 characters", lambda s: replay_args(s, store="x" * 300), "file systems take at most 255",
     "store"),
    ("analyze, store name of 300 characters", lambda s: ["analyze", t(s, "x" * 300)], "Cannot open the store",
     "store"),
    ("check, store name of 300 characters", lambda s: ["check", t(s, "x" * 300)], "Cannot open the store",
     "store"),
    ("run, CUDA on a CPU torch", lambda s: ["run", t(s, "traj"), "--model", "bundled", "--states", t(s, "model"),
                                            "--store", t(s, "new.zarr"), "--steps", "10", "--device", "cuda"],
     "--device option is 'cuda', but", "new.zarr"),
    # refused before the trajectory is read: the garbage file would give another error if it were
    ("source out of range, before reading", lambda s: ["replay", t(s, "garbage.extxyz"), "--states", t(s, "model"),
                                                       "--store", t(s, "new.zarr"), *REPLAY, "--source", "99"],
     "--source option must hold", "new.zarr"),
    ("analysis lag not counted, before reading", lambda s: ["replay", t(s, "garbage.extxyz"), "--states",
                                                            t(s, "model"), "--store", t(s, "new.zarr"), *REPLAY,
                                                            "--lag-ps", "0.3"], "must be one of", "new.zarr"),
]


@pytest.mark.parametrize(("args", "words", "kept"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_input_is_refused_in_one_line_and_changes_nothing(setting, args, words, kept):
    kept_path = setting["dir"] / kept if kept not in setting else setting[kept]
    before = tree(kept_path) if kept_path.exists() else None
    result = CliRunner().invoke(main, args(setting))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("Error:") and words in lines[-1], result.output
    assert "Traceback" not in result.output and len([x for x in lines if x.startswith("Error")]) == 1, result.output
    if before is None:
        assert not kept_path.exists(), f"{kept_path} was made"
    else:
        assert tree(kept_path) == before, "the store changed"


def test_a_second_writer_is_refused_at_once_while_the_first_holds_the_store(setting):
    store = setting["store"]
    code = (f"import time; from pathlib import Path; from getsei_live.store.run_store import RunStore; "
            f"s = RunStore.open(Path({str(store)!r}), 'a'); print('holding', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        before = tree(store)
        began = time.perf_counter()
        result = CliRunner().invoke(main, replay_args(setting))
        waited = time.perf_counter() - began
        assert result.exit_code == 2 and "only one writer at a time" in result.output.strip().splitlines()[-1]
        assert tree(store) == before
        print(f"second writer refused in {waited:.2f} s")
    finally:
        holder.kill()
        holder.wait()


def test_states_bundled_names_the_shipped_state_model_and_a_missing_file_says_what_to_give(tmp_path):
    """'bundled' is the shipped state model for trying the tool; 'demo', its old name, still works and warns (the
    demo itself uses the state model of its interphase: two things must not share one name)."""
    from getsei_live.md.calculators import bundled_file
    from getsei_live.states.model import StateModel

    card = json.loads(CliRunner().invoke(main, ["inspect", "bundled", "--json"]).output)
    assert card["fingerprint"] == StateModel.load(bundled_file("demo_states.pt")).fingerprint
    assert card["n_states"] == 6
    old = CliRunner().invoke(main, ["inspect", "demo", "--json"])
    assert old.exit_code == 0 and "the state model 'demo' is called 'bundled'" in old.output
    missing = CliRunner().invoke(main, ["inspect", str(tmp_path / "missing.pt")])
    assert missing.exit_code == 2 and "'bundled' for the shipped state model)" in missing.output
    refused = CliRunner().invoke(main, ["replay", str(tmp_path / "a.xyz"), "--states", str(tmp_path / "missing.pt"),
                                        "--interval-steps", "50"])
    assert refused.exit_code == 2
    assert "'bundled' for the shipped state model, or 'auto' to train one in the run)" in refused.output


def test_run_refuses_bad_settings_before_torch_or_mace_load(setting):
    """What the settings alone decide (lags against the frame spacing, a resume with other settings) is refused
    before torch is imported, so in about a second, and names the options as typed."""
    store, structure = t(setting, "store"), t(setting, "traj")
    cases = [([*("--store", t(setting, "new.zarr")), "--interval-steps", "50", "--lags-ps", "0.1,0.25"],
              "Each lag of the --lags-ps option must be a positive multiple of the frame interval (0.1 ps)"),
             (["--store", store, "--interval-steps", "25", "--lags-ps", "0.1,0.2"], "belongs to a different run")]
    for extra, words in cases:
        args = ["run", structure, "--model", "bundled", "--states", t(setting, "model"), "--steps", "10", *extra]
        code = ("import sys; from click.testing import CliRunner; from getsei_live.cli import main; "
                f"r = CliRunner().invoke(main, {args!r}); "
                "print(r.exit_code, 'torch' in sys.modules, 'mace' in sys.modules); print(r.output)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.splitlines()[0] == "2 False False" and words in out, out
