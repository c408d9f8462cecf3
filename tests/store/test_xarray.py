"""A store opens in xarray: every array has named dimensions, the same name for the same axis."""

from __future__ import annotations

import json

import numpy as np
import pytest

from getsei_live.store.run_store import RunStore

xarray = pytest.importorskip("xarray")


def test_a_replayed_store_opens_in_xarray_with_named_dimensions_and_coordinates(aimd_stores):
    path = aimd_stores[0]
    store = RunStore.open(path)
    tree = xarray.open_datatree(path, engine="zarr", consolidated=False)  # written live: no consolidated metadata
    root = tree.to_dataset()
    assert root["states"].dims == ("frame", "li") and root["counts"].dims == ("lag_ps", "from_state", "to_state")
    # coordinates: the lags in ps, the Li atom indices, the states, each frame's MD step and time
    np.testing.assert_allclose(root["lag_ps"].values, store.spec.lags_ps)
    np.testing.assert_array_equal(root["li"].values, store.spec.li_indices)
    np.testing.assert_array_equal(root["states"]["time_ps"].values, store.times_ps())
    np.testing.assert_array_equal(root["states"]["step"].values, store.steps())
    np.testing.assert_array_equal(root["counts"].sel(lag_ps=store.spec.lags_ps[1]).values, store.counts().counts[1])
    first_li = int(store.spec.li_indices[0])
    np.testing.assert_array_equal(root["states"].sel(li=first_li).values, store.states()[:, 0])
    np.testing.assert_array_equal(root["states"].values, store.states())
    counts, per_li, _ = store.counts()
    np.testing.assert_array_equal(root["counts"].values, counts)
    np.testing.assert_array_equal(root["per_li_counts"].values, per_li)
    assert root.sizes["li"] == store.spec.n_li and root.sizes["lag_ps"] == len(store.spec.lags_frames)
    frames = tree["frames"].to_dataset()
    np.testing.assert_array_equal(frames["step"].values, store.steps())
    np.testing.assert_allclose(frames["time_ps"].values, store.times_ps())
    last = json.loads(str(root["snapshots"].values[-1]))  # each check is one JSON string
    assert last["frame"] == store.snapshots()[-1].frame
    flat = xarray.open_zarr(path, consolidated=False)  # the root group alone
    assert flat["block_counts"].dims == ("block", "lag_ps", "from_state", "to_state")


def test_the_store_s_discrete_trajectories_give_its_counts_in_deeptime(aimd_stores):
    """``RunStore.dtrajs``: deeptime's sliding-window counts of them are the store's counts at every stored lag, and
    its MSM's timescales (in frames, times the frame spacing) the snapshot's."""
    from deeptime.markov import TransitionCountEstimator
    from deeptime.markov.msm import MaximumLikelihoodMSM

    from getsei_live.offline.summary import analyze_store
    from getsei_live.store.run_store import RunStore

    store = RunStore.open(aimd_stores[0])
    dtrajs = store.dtrajs()
    assert len(dtrajs) == store.spec.n_li and store.spec.core_frames > 1
    stored = store.counts().counts
    for k, lag in enumerate(store.spec.lags_frames):
        counts = TransitionCountEstimator(lag, "sliding", n_states=store.spec.n_states).fit(dtrajs).fetch_model()
        np.testing.assert_array_equal(counts.count_matrix, stored[k])
    lag_index = 0
    counts = TransitionCountEstimator(store.spec.lags_frames[lag_index], "sliding",
                                      n_states=store.spec.n_states).fit(dtrajs).fetch_model()
    msm = MaximumLikelihoodMSM(reversible=False).fit(counts).fetch_model()
    ours = analyze_store(aimd_stores[0], lag_ps=store.spec.lags_ps[lag_index], n_bootstrap=0,
                         core_lengths_ps=None).snapshot.timescales
    n = min(len(ours), len(msm.timescales()))
    np.testing.assert_allclose(msm.timescales()[:n] * store.spec.frame_dt_ps, ours[:n], rtol=1e-8)
