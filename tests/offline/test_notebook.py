"""What a notebook shows of a result: short reprs, HTML tables, pandas frames with the record's own numbers."""

from __future__ import annotations

import numpy as np
import pytest

from getsei_live.display import TABLES
from getsei_live.offline.summary import analyze_store

pandas = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def analysis(aimd_stores):
    return analyze_store(aimd_stores[0], n_bootstrap=50)


def test_reprs_are_one_short_line(analysis):
    for value in (analysis, analysis.snapshot, analysis.model):
        text = repr(value)
        assert "\n" not in text and len(text) < 200, text
    assert f"lag {analysis.snapshot.lag_ps:g} ps" in repr(analysis.snapshot)


def test_tables_hold_the_snapshots_numbers(analysis):
    snap = analysis.snapshot
    states = analysis.to_pandas("states")
    np.testing.assert_array_equal(states["population"], snap.stationary_distribution)
    np.testing.assert_array_equal(states["escape_rate_per_ps"], snap.escape_rates)
    assert list(states["state"]) == [f"S{s}" for s in range(len(snap.stationary_distribution))]
    assert states["population"].sum() == pytest.approx(1.0)
    paths = snap.to_pandas("pathways")
    assert list(paths["share"]) == [p.fraction for p in snap.pathways]
    np.testing.assert_array_equal(paths[["share_lower", "share_upper"]].to_numpy(),
                                  snap.intervals.pathway_fraction_ci)
    times = snap.to_pandas("timescales")
    assert list(times["lag_ps"]) == list(snap.lags_ps)
    np.testing.assert_array_equal(times["t1_ps"], snap.timescales_by_lag[:, 0])
    np.testing.assert_array_equal(times[["t1_lower", "t1_upper"]].to_numpy(), snap.intervals.timescales_by_lag_ci[:, 0])
    assert list(times["markovian"]) == list(snap.markov.markovian)
    model = analysis.model.to_pandas("states")
    np.testing.assert_allclose(model["population"], analysis.model.transition.stationary_distribution)
    with pytest.raises(ValueError, match="the tables are states, pathways, timescales"):
        snap.to_pandas("rates")


def test_html_shows_every_table(analysis):
    page = analysis._repr_html_()
    for table in TABLES:
        assert f"<b>{table.capitalize()}</b>" in page
    assert page.count("<tr>") >= 1 + len(analysis.snapshot.lags_ps)
    assert "<table>" in analysis.model._repr_html_()
