"""Early stop calibrated on a Markov chain with a known answer, through the real observer on real ASE dynamics.

The chain's Li share one environment that switches slowly between two regimes, as Li at a changing interface do:
their transitions are correlated across atoms, which intervals from resampling Li atoms alone cannot see. The old
criterion (point estimates unchanged for 3 checks, Li-only intervals) is read off the same runs.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from _chains import chains, judge_replica, run_replica  # noqa: E402

from getsei_live.analysis.criteria import ConvergenceCriteria  # noqa: E402


@pytest.mark.slow
def test_new_criterion_covers_the_truth_where_the_old_one_does_not(tmp_path):
    chain = replace(next(c for c in chains() if c.regimes), n_li=48, budget_frames=2000)
    truth = chain.truth()
    criteria = ConvergenceCriteria()
    logging.disable(logging.WARNING)
    try:
        rows = [judge_replica(chain, run_replica(chain, seed, criteria, workdir=tmp_path), truth,
                              patience=criteria.patience, seed=seed) for seed in range(8)]
    finally:
        logging.disable(logging.NOTSET)
    new = np.mean([r["new"]["t1_cover"] for r in rows])
    old = np.mean([r["old"]["t1_cover"] for r in rows])
    print(f"\nslowest-timescale coverage by 90% intervals at the stop: new {new:.2f}, old {old:.2f}; "
          f"old stops at {np.median([r['old']['stop'] for r in rows]):.2f} of the budget, new at "
          f"{np.median([r['new']['stop'] for r in rows]):.2f}")
    assert new >= old + 0.4
