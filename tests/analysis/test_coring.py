"""Core assignment against its definition written as a per-Li loop, in chunks and after a restore, and the counts
of cored labels against counting by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import core_loop, counts_by_definition

from getsei_live.analysis.coring import UNASSIGNED, CoreAssigner, core_frames_of, core_labels
from getsei_live.analysis.counting import RunCounter, TransitionCounter
from getsei_live.errors import ParameterError

LAGS = (1, 2, 5)


def flickering(rng: np.random.Generator, n_frames: int, n_li: int, n_states: int = 4) -> np.ndarray:
    """Labels that stay for a few frames and often jump away for a frame or two and back."""
    out = np.empty((n_frames, n_li), dtype=np.int64)
    state = rng.integers(0, n_states, n_li)
    for t in range(n_frames):
        state = np.where(rng.random(n_li) < 0.08, rng.integers(0, n_states, n_li), state)
        out[t] = np.where(rng.random(n_li) < 0.25, rng.integers(0, n_states, n_li), state)
    return out


@pytest.mark.parametrize("core_frames", [1, 2, 3, 5])
def test_core_labels_equal_the_definition(fixed_seed, core_frames):
    raw = flickering(fixed_seed, 200, 7)
    np.testing.assert_array_equal(core_labels(raw, core_frames), core_loop(raw, core_frames))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.lists(st.integers(0, 9), min_size=1, max_size=12), st.integers(0, 2**31))
def test_chunks_equal_one_call(core_frames, chunks, seed):
    raw = flickering(np.random.default_rng(seed), sum(chunks), 3)
    assigner = CoreAssigner(core_frames, 3)
    pieces, start = [], 0
    for size in chunks:
        pieces.append(assigner.push(raw[start:start + size]))
        start += size
    np.testing.assert_array_equal(np.concatenate(pieces), core_loop(raw, core_frames))
    assert assigner.n_emitted == max(0, raw.shape[0] - core_frames + 1)


def test_label_changes_removed_are_counted_by_hand(fixed_seed):
    raw = flickering(fixed_seed, 300, 5)
    assigner = CoreAssigner(3, 5)
    cored = assigner.push(raw)
    kept = raw[: cored.shape[0]]
    assert assigner.raw_changes == int(np.sum(kept[1:] != kept[:-1]))
    assert assigner.cored_changes == int(np.sum((cored[1:] != cored[:-1]) & (cored[:-1] != UNASSIGNED)))
    assert 0.5 < assigner.removed_share < 1.0


@pytest.mark.parametrize(("core_frames", "count_from"), [(1, 0), (3, 0), (3, 17), (4, 60)])
def test_run_counter_counts_cored_labels_by_definition(fixed_seed, core_frames, count_from):
    raw = flickering(fixed_seed, 150, 6)
    counter = RunCounter(4, LAGS, 6, core_frames=core_frames, count_from=count_from)
    counter.update_many(raw[:70])
    for row in raw[70:]:
        counter.update(row)
    expected = counts_by_definition(core_loop(raw, core_frames), LAGS, 4, count_from)
    np.testing.assert_array_equal(counter.counts(), expected)
    np.testing.assert_array_equal(counter.per_li_counts().sum(axis=0), expected)
    np.testing.assert_array_equal(counter.block_counts().sum(axis=0), expected)


def test_without_coring_the_counts_are_the_raw_counts(fixed_seed):
    raw = flickering(fixed_seed, 120, 5)
    plain = TransitionCounter(4, LAGS, 5)
    plain.update_many(raw)
    cored = RunCounter(4, LAGS, 5, core_frames=1)
    cored.update_many(raw)
    for a, b in ((plain.counts(), cored.counts()), (plain.per_li_counts(), cored.per_li_counts()),
                 (plain.block_counts(), cored.block_counts())):
        np.testing.assert_array_equal(a, b)
    assert cored.removed_share == 0.0


@pytest.mark.parametrize("split", [1, 2, 3, 40, 99])
def test_restore_from_a_tally_continues_exactly(fixed_seed, split):
    raw = flickering(fixed_seed, 100, 4)
    straight = RunCounter(4, LAGS, 4, core_frames=4, count_from=5)
    straight.update_many(raw)
    first = RunCounter(4, LAGS, 4, core_frames=4, count_from=5)
    first.update_many(raw[:split])
    resumed = RunCounter(4, LAGS, 4, core_frames=4, count_from=5)
    need = resumed.raw_rows_needed(split)  # the core probe (8 frames) needs more than the core (4)
    assert need == min(split, 2 * 8 - 2)
    resumed.restore(first.tally(), raw[split - need:split])
    resumed.update_many(raw[split:])
    np.testing.assert_array_equal(resumed.counts(), straight.counts())
    np.testing.assert_array_equal(resumed.block_counts(), straight.block_counts())
    np.testing.assert_array_equal(resumed.events(), straight.events())
    np.testing.assert_array_equal(resumed.probe_counts(), straight.probe_counts())
    assert (resumed.cores.raw_changes, resumed.cores.cored_changes) == (straight.cores.raw_changes,
                                                                        straight.cores.cored_changes)


def test_core_length_in_ps():
    assert core_frames_of(0.0, 0.1) == 1 and core_frames_of(0.3, 0.1) == 3 and core_frames_of(0.25, 0.1) == 3
    assert core_frames_of(0.3, 0.02) == 15
    with pytest.raises(ParameterError, match="'core_ps' parameter must be a time in ps >= 0"):
        core_frames_of(-0.1, 0.1)
