"""The core test: metastable states keep their slow timescales when the core doubles; fluctuations of one variable
cut into "states" do not. The probe's counts against an independent counter, the timescales against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from getsei_live.analysis.counting import RunCounter
from getsei_live.analysis.metastability import CoreTest, core_test


def metastable_labels(rng, n_frames=3000, n_li=64):
    """Two sites Li stay in for about 200 frames, seen through labels that flicker in 10 % of the frames."""
    P = np.array([[0.995, 0.005], [0.005, 0.995]])
    true = np.empty((n_frames, n_li), dtype=np.int8)
    true[0] = rng.integers(0, 2, n_li)
    for t in range(1, n_frames):
        true[t] = np.where(rng.random(n_li) < P[true[t - 1], 1 - true[t - 1]], 1 - true[t - 1], true[t - 1])
    flicker = rng.random(true.shape) < 0.1
    flicker[1:] &= ~flicker[:-1]
    return np.where(flicker, 1 - true, true).astype(np.int8)


def fluctuating_labels(rng, n_frames=3000, n_li=64, a=0.97):
    """A continuous variable per Li (AR(1), correlation ``a`` per frame) cut at zero: no barrier, no sites."""
    x = np.empty((n_frames, n_li))
    x[0] = rng.standard_normal(n_li)
    for t in range(1, n_frames):
        x[t] = a * x[t - 1] + np.sqrt(1 - a * a) * rng.standard_normal(n_li)
    return (x > 0).astype(np.int8)


def counted(labels, core_frames, lags=(1, 2, 4)):
    counter = RunCounter(2, lags, labels.shape[1], core_frames=core_frames)
    counter.update_many(labels)
    return counter


def slowest(counts, lag):
    """t1 of a 2-state count matrix, written out: -lag / ln(1 - p01 - p10)."""
    P = counts / counts.sum(axis=1, keepdims=True)
    return -lag / np.log(abs(1 - P[0, 1] - P[1, 0]))


def test_the_probe_counts_the_labels_cored_twice_as_long(fixed_seed):
    labels = metastable_labels(fixed_seed, 500, 8)
    counter = counted(labels, 3)
    alone = RunCounter(2, (1, 2, 4), 8, core_frames=6, probe=False)
    alone.update_many(labels)
    np.testing.assert_array_equal(counter.probe_counts(), alone.counts())
    assert counted(labels, 1).probe is None  # no core, no core length to depend on


def test_metastable_sites_pass_and_fluctuations_fail_with_words(fixed_seed):
    sites = counted(metastable_labels(fixed_seed), 3)
    test = core_test(sites.counts()[0], sites.probe_counts()[0], lag_ps=0.1, core_ps=0.3, probe_core_ps=0.6,
                     n_timescales=1)
    assert test.passed and not test.reasons
    assert test.timescales[0] == pytest.approx(slowest(sites.counts()[0], 0.1), rel=1e-10)
    assert test.probe_timescales[0] == pytest.approx(slowest(sites.probe_counts()[0], 0.1), rel=1e-10)
    assert abs(test.probe_timescales[0] / test.timescales[0] - 1) < 0.2

    cut = counted(fluctuating_labels(fixed_seed), 3)
    failed = core_test(cut.counts()[0], cut.probe_counts()[0], lag_ps=0.1, core_ps=0.3, probe_core_ps=0.6,
                       n_timescales=1)
    ratio = failed.probe_timescales[0] / failed.timescales[0]
    assert not failed.passed and ratio > 1.2
    assert failed.reasons[0].startswith("t1 ") and "when the core doubles" in failed.reasons[0]
    assert "fluctuations of one environment, not sites Li stays in" in failed.reasons[0]
    assert CoreTest.from_dict(failed.to_dict()).reasons == failed.reasons


def test_nothing_slower_than_the_lag_is_no_evidence_of_metastability():
    fast = np.array([[50, 50], [50, 50]])  # forgets its state within one lag
    test = core_test(fast, fast, lag_ps=1.0, core_ps=0.3, probe_core_ps=0.6)
    assert not test.passed and "no timescale longer than the lag" in test.reasons[0]
    assert test.reasons[0].startswith("cannot be judged at lag 1 ps")
