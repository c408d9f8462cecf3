"""TransitionCounter against deeptime's sliding-window counts and a plain loop; chunking never matters."""

from __future__ import annotations

import numpy as np
import pytest
from deeptime.markov import TransitionCountEstimator
from hypothesis import given, settings
from hypothesis import strategies as st

from getsei_live import ParameterError
from getsei_live.analysis.counting import TransitionCounter

LAGS = (1, 3, 7)


def sample_labels(rng, n_frames, n_li, n_states):
    K = rng.random((n_states, n_states)) + 3 * np.eye(n_states)
    cumulative = np.cumsum(K / K.sum(axis=1, keepdims=True), axis=1)
    labels = np.empty((n_frames, n_li), dtype=np.int64)
    labels[0] = rng.integers(0, n_states, n_li)
    for t in range(1, n_frames):
        labels[t] = (rng.random(n_li)[:, None] > cumulative[labels[t - 1]]).sum(axis=1).clip(max=n_states - 1)
    return labels


def test_equals_deeptime_sliding_counts(fixed_seed):
    labels = sample_labels(fixed_seed, 120, 9, 5)
    counter = TransitionCounter(5, LAGS, 9)
    for frame in labels:
        counter.update(frame)
    for k, lag in enumerate(LAGS):
        dtrajs = [np.ascontiguousarray(labels[:, i]) for i in range(9)]
        model = TransitionCountEstimator(lagtime=lag, count_mode="sliding", n_states=5).fit(dtrajs).fetch_model()
        np.testing.assert_array_equal(counter.counts()[k], model.count_matrix)
        for i in range(9):
            single = TransitionCountEstimator(lagtime=lag, count_mode="sliding", n_states=5).fit(dtrajs[i])
            np.testing.assert_array_equal(counter.per_li_counts()[i, k], single.fetch_model().count_matrix)
    assert counter.n_frames == 120


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_frames=st.integers(0, 40),
    cuts=st.lists(st.integers(0, 40), max_size=6),
)
def test_counting_in_chunks_equals_counting_at_once(seed, n_frames, cuts):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=(n_frames, 3))
    whole = TransitionCounter(4, LAGS, 3, max_blocks=4)
    whole.update_many(labels)
    chunked = TransitionCounter(4, LAGS, 3, max_blocks=4)
    for block in np.split(labels, sorted(c for c in cuts if c <= n_frames)):
        chunked.update_many(block)
    block_frames = min(LAGS)
    while n_frames > 4 * block_frames:  # blocks double until the run fits into 4 of them
        block_frames *= 2
    expected = np.zeros((len(LAGS), 4, 4), dtype=np.int64)
    blocks = np.zeros((-(-n_frames // block_frames), len(LAGS), 4, 4), dtype=np.int64)
    events = np.zeros((-(-n_frames // block_frames), 4, 4), dtype=np.int64)
    per_li_events = np.zeros(3, dtype=np.int64)
    for k, lag in enumerate(LAGS):  # the definition, written out
        for t in range(lag, n_frames):
            for i in range(3):
                expected[k, labels[t - lag, i], labels[t, i]] += 1
                blocks[t // block_frames, k, labels[t - lag, i], labels[t, i]] += 1
    for i in range(3):  # events: each change of label once, per Li
        for t in range(1, n_frames):
            if labels[t, i] != labels[t - 1, i]:
                events[t // block_frames, labels[t - 1, i], labels[t, i]] += 1
                per_li_events[i] += 1
    for counter in (whole, chunked):
        np.testing.assert_array_equal(counter.block_events(), events)
        np.testing.assert_array_equal(counter.per_li_events(), per_li_events)
        np.testing.assert_array_equal(counter.events(), events.sum(axis=0))
    assert chunked.block_frames == whole.block_frames == block_frames
    np.testing.assert_array_equal(chunked.block_counts(), blocks)
    np.testing.assert_array_equal(whole.block_counts(), blocks)
    np.testing.assert_array_equal(chunked.counts(), expected)
    np.testing.assert_array_equal(whole.counts(), expected)
    np.testing.assert_array_equal(chunked.per_li_counts(), whole.per_li_counts())
    np.testing.assert_array_equal(chunked.per_li_counts().sum(axis=0), expected)
    np.testing.assert_array_equal(chunked.recent_frames(), labels[max(0, n_frames - max(LAGS)):])


def test_restore_continues_without_double_counting(fixed_seed):
    labels = sample_labels(fixed_seed, 50, 4, 3)
    straight = TransitionCounter(3, LAGS, 4)
    straight.update_many(labels)
    first = TransitionCounter(3, LAGS, 4)
    first.update_many(labels[:23])
    resumed = TransitionCounter(3, LAGS, 4)
    resumed.restore(labels[23 - max(LAGS):23], first.counts(), first.per_li_counts(), 23, first.block_counts(),
                    first.block_frames)
    resumed.update_many(labels[23:])
    np.testing.assert_array_equal(resumed.counts(), straight.counts())
    np.testing.assert_array_equal(resumed.block_counts(), straight.block_counts())
    np.testing.assert_array_equal(resumed.per_li_counts(), straight.per_li_counts())


def test_memory_does_not_grow():
    counter = TransitionCounter(6, (1, 10, 100), 50)
    counter.update_many(np.zeros((1000, 50), dtype=int))
    assert counter.recent_frames().shape == (100, 50)
    counter.update_many(np.zeros((100_000, 50), dtype=int))
    assert 8 <= counter.block_counts().shape[0] <= 16 and counter.block_counts().sum() == counter.counts().sum()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"lags_frames": ()}, "'lags_frames' parameter"), ({"lags_frames": (0, 2)}, "'lags_frames' parameter"),
     ({"n_li": 0}, "must be positive")],
)
def test_bad_counter_parameters(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        TransitionCounter(**{"n_states": 3, "lags_frames": (1,), "n_li": 2, **kwargs})


def test_wrong_frame_shape():
    with pytest.raises(ParameterError, match=r"shape \(n_frames, 2\)"):
        TransitionCounter(3, (1,), 2).update(np.zeros(3, dtype=int))


def test_the_old_names_of_the_lags_warn_and_count_the_same():
    """0.1's ``lags`` (frames in the counters, ps in the kinetics) and ``units`` still work, each with a
    GetseiDeprecationWarning that names the new parameter and points at the caller's line."""
    from getsei_live.analysis.counting import RunCounter
    from getsei_live.analysis.spectral import timescales_by_lag
    from getsei_live.analysis.uncertainty import resample_counts
    from getsei_live.errors import GetseiDeprecationWarning

    labels = np.random.default_rng(0).integers(0, 2, size=(50, 3))
    new, run = TransitionCounter(2, lags_frames=(1, 2), n_li=3), RunCounter(2, lags_frames=(1,), n_li=3)
    with pytest.warns(GetseiDeprecationWarning) as caught:
        old, old_run = TransitionCounter(2, lags=(1, 2), n_li=3), RunCounter(2, lags=(1,), n_li=3)
        old_timescales = timescales_by_lag(np.ones((1, 2, 2)) + np.eye(2), lags=(0.1,))
        old_resample = resample_counts(units=np.ones((3, 1, 2, 2)), lags=(0.1,), active_sets=[np.arange(2)],
                                       n_resamples=4, rng=np.random.default_rng(1), method="li")
    assert sorted({str(w.message) for w in caught}) == [
        "'lags' is deprecated since getsei-live 0.2; use 'lags_frames'.",
        "'lags' is deprecated since getsei-live 0.2; use 'lags_ps'.",
        "'units' is deprecated since getsei-live 0.2; use 'unit_counts'."]
    assert all(w.filename == __file__ for w in caught)
    for counter in (new, old, run, old_run):
        counter.update_many(labels)
    np.testing.assert_array_equal(old.counts(), new.counts())
    np.testing.assert_array_equal(old_run.counts(), run.counts())
    assert old.lags_frames == (1, 2)
    np.testing.assert_array_equal(old_timescales[0], timescales_by_lag(np.ones((1, 2, 2)) + np.eye(2), (0.1,))[0])
    np.testing.assert_array_equal(old_resample.timescales, resample_counts(
        np.ones((3, 1, 2, 2)), (0.1,), [np.arange(2)], n_resamples=4, rng=np.random.default_rng(1),
        method="li").timescales)
