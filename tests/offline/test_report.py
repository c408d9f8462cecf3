"""getsei-live report: every figure is a real PNG with content, summary.json equals analyze --json."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import TRAJECTORIES, shared_file
from matplotlib.image import imread

from getsei_live import RunStore
from getsei_live.cli import main

FIGURES = {"implied_timescales", "rate_matrix", "mobility", "fluxes", "network", "pathways", "convergence",
           "populations", "features", "state_model_fit", "core_lengths", "forecast"}


@pytest.fixture(scope="module")
def replay_store(tiny_model_file, tmp_path_factory):
    trajectory = shared_file(TRAJECTORIES / "Li6PS5Cl_AIMD_500K_50pct_run1_XDATCAR.gz")
    store = tmp_path_factory.mktemp("report") / "replay.zarr"
    result = CliRunner().invoke(main, ["replay", str(trajectory), "--states", str(tiny_model_file), "--store",
                                       str(store), "--timestep-fs", "2", "--interval-steps", "50", "--lags-ps",
                                       "0.1,0.2,0.5,1", "--lag-ps", "1", "--check-every-frames", "20"])
    assert result.exit_code == 0, result.output
    return store


def test_report_of_a_real_trajectory_replay(replay_store, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["report", str(replay_store), "-o", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["figures"]) == FIGURES and not summary["partial"]
    html = (out / "index.html").read_text()
    for name, file in summary["figures"].items():
        path = out / file
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        pixels = imread(path)
        assert min(pixels.shape[:2]) > 200, name
        assert pixels[..., :3].std() > 0.05, f"{name} looks blank"
        assert html.count("data:image/png;base64,") == len(FIGURES)
    analyzed = json.loads(CliRunner().invoke(main, ["analyze", str(replay_store), "--json"]).output)
    for key, value in analyzed.items():
        assert summary[key] == value, key
    assert "S0" in html and "Pathways" in html and "PARTIAL" not in html
    store = RunStore.open(replay_store)
    checks = store.snapshots()
    assert sum(summary["environments"]["li"]) == store.spec.n_li * len(checks)  # the run's own Li, every check
    assert "Mean environments in this run" in html and "Mean first-passage time" in html
    assert "rate-limiting step" in html and f"{store.spec.n_li} Li" in summary["context"]


def test_report_of_a_store_being_written_says_partial(replay_store, tmp_path):
    with RunStore.open(replay_store, "a") as store:
        store.set_status("running")
        result = CliRunner().invoke(main, ["report", str(replay_store), "-o", str(tmp_path / "r")])
        store.set_status("finished")
    assert result.exit_code == 0 and "PARTIAL" in result.output
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["partial"] is True
    assert "PARTIAL" in (tmp_path / "r" / "index.html").read_text()


def test_report_numbers_follow_the_lag_option(replay_store, tmp_path):
    result = CliRunner().invoke(main, ["report", str(replay_store), "-o", str(tmp_path / "r"), "--lag-ps", "0.5"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["model"]["lag_ps"] == 0.5
    assert summary["markov"]["ck"]["lag_ps"] == 0.5 and summary["markov"]["ck"]["multiples"] == [2]
    assert set(summary["figures"]) == FIGURES | {"chapman_kolmogorov"}
    intervals = np.array(summary["timescale_intervals_by_lag"], dtype=float)
    timescales = np.array(summary["timescales_by_lag"], dtype=float)
    assert intervals.shape == (*timescales.shape, 2)
    inside = (intervals[..., 0] <= timescales) & (timescales <= intervals[..., 1])
    assert inside.mean() > 0.8  # the point estimate sits inside its own 90% resampling interval


@pytest.mark.slow
def test_report_of_a_short_demo_run(tmp_path):
    store = tmp_path / "demo.zarr"
    result = CliRunner().invoke(main, ["demo", "--system", "lpscl-li", "--store", str(store), "--ps", "1.2",
                                       "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "Demo finished" in result.output and "States, ordered by" in result.output
    out = tmp_path / "report"
    assert CliRunner().invoke(main, ["report", str(store), "-o", str(out)]).exit_code == 0
    summary = json.loads((out / "summary.json").read_text())
    # the CK figure is drawn when the analysis lag has a stored multiple to test against; the demo's two states
    # give no escape-rate-against-environment figure (a correlation across two points says nothing)
    assert len(summary["model"]["transition"]["active_set"]) == 2
    assert set(summary["figures"]) == (FIGURES - {"features"}) | (
        {"chapman_kolmogorov"} if summary["markov"]["ck"] else set())
    assert "a correlation across 2 states says nothing" in (out / "index.html").read_text()
    for file in summary["figures"].values():
        pixels = imread(out / file)
        assert (out / file).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pixels[..., :3].std() > 0.05
    analyzed = json.loads(CliRunner().invoke(main, ["analyze", str(store), "--json"]).output)
    for key, value in analyzed.items():
        assert summary[key] == value, key


def test_report_figures_from_python_are_the_reports(replay_store, tmp_path):
    """report_figures gives the report's figures as matplotlib Figures, each headed by what the run is, and leaves
    the user's backend and pyplot's figures alone (a notebook's inline plots go on working after it)."""
    import matplotlib
    import matplotlib.pyplot as plt

    from getsei_live.offline.report import report_figures, run_context

    before = matplotlib.get_backend()
    matplotlib.use("svg")  # a backend of the user's, not Agg
    try:
        figures = report_figures(replay_store)
        assert matplotlib.get_backend() == "svg" and not plt.get_fignums()
    finally:
        matplotlib.use(before)
    assert set(figures) == FIGURES
    store = RunStore.open(replay_store)
    for name, fig in figures.items():  # the run's figures say what the run is; the model's also name the lag
        assert fig.get_suptitle().endswith((run_context(store), run_context(store, 1.0))), name
    assert "lag 1 ps" in figures["pathways"].get_suptitle()
