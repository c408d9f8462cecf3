"""How many states? The evidence for every number tried, and the rule that picks one.

The silhouette alone prefers two states on continuous data (a fully reacted interphase, bulk argyrodite): any
cloud splits best in two. A state model is for kinetics, so ``train --n-states auto`` weighs, for every number
of states k it tries:

- the silhouette of the mixture (how distinct the environments are; the paper calls 0.25 reasonable);
- the cross-seed agreement: the mean adjusted Rand index between the states of encoders trained with different
  seeds (states that another seed would draw elsewhere are not a property of the structure);
- on time-ordered trajectories with a known frame spacing, the core test (``analysis.metastability``) of the
  labels the k-state model gives every frame: cored over ``core_ps``, and over twice that, the slowest implied
  timescale at ``lag_ps`` must agree within ``rtol``; with the state changes per Li per ps.

**The rule.** Among the k whose states are metastable (where the trajectories can say) and reproducible (mean
cross-seed ARI at least ``MIN_AGREEMENT``, with several seeds), the best silhouette (ties: fewer states). When no
k qualifies, the best silhouette overall, and the training says so: kinetics of such states will not converge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..analysis.coring import DEFAULT_CORE_PS, core_frames_of
from ..analysis.counting import RunCounter
from ..analysis.metastability import core_test
from ..units import frames_at_least

__all__ = ["MIN_AGREEMENT", "StateNumber", "choose", "metastability_of"]

#: Least mean cross-seed adjusted Rand index of reproducible states.
MIN_AGREEMENT = 0.5

#: Lag (ps) of the core test of each k (rounded up to whole frames).
TEST_LAG_PS = 0.1


@dataclass(frozen=True, slots=True)
class StateNumber:
    """The evidence for one number of states.

    Attributes
    ----------
    k : int
    silhouette : float
    agreement : float or None
        Mean cross-seed adjusted Rand index (None with one seed).
    events_per_li_ps : float or None
        State changes of the cored labels per Li per ps (None without time-ordered frames).
    t1_ps, t1_doubled_ps : float or None
        The slowest implied timescale at the test lag, at the core length and at twice it.
    metastable : bool or None
        The core test passed (None without time-ordered frames, or where they are too short to judge it).
    chosen : bool
    """

    k: int
    silhouette: float
    agreement: float | None = None
    events_per_li_ps: float | None = None
    t1_ps: float | None = None
    t1_doubled_ps: float | None = None
    metastable: bool | None = None
    chosen: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> StateNumber:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__ if k in data})


def metastability_of(labels: Sequence[np.ndarray], n_states: int, frame_dt_ps: float, *,
                     core_ps: float = DEFAULT_CORE_PS, lag_ps: float = TEST_LAG_PS, rtol: float = 0.2,
                     min_events: float = 100.0) -> tuple[float, float, float, bool | None]:
    """The core test of time-ordered labels (one (n_frames, n_li) array per trajectory): state changes per Li per
    ps at the core length, t1 at ``lag_ps`` at the core length and at twice it (ps; NaN where unresolved), and
    whether it passed (None where the trajectories are too short to judge it: t1 longer than they are, or seen
    fewer than ``min_events`` times)."""
    core = max(2, core_frames_of(core_ps, frame_dt_ps))  # the test compares two core lengths: never raw labels
    lag = frames_at_least(lag_ps, frame_dt_ps, "lag_ps")
    changes, li_ps, counts, probe = 0, 0.0, 0, 0
    for frames in labels:
        run = RunCounter(n_states, (lag,), frames.shape[1], core_frames=core)
        run.update_many(frames)
        changes += int(run.events().sum())
        li_ps += frames.shape[1] * max(0, frames.shape[0] - core) * frame_dt_ps
        counts, probe = counts + run.counts()[0], probe + run.probe_counts()[0]
    n_li = sum(frames.shape[1] for frames in labels)
    observed = li_ps / n_li if n_li else 0.0
    test = core_test(counts, probe, lag_ps=lag * frame_dt_ps, core_ps=core * frame_dt_ps,
                     probe_core_ps=2 * core * frame_dt_ps, n_timescales=1, rtol=rtol, observed_ps=observed,
                     n_li=n_li, min_events=min_events)
    return (changes / li_ps if li_ps else float("nan"), float(test.timescales[0]) if test.timescales.size else np.nan,
            float(test.probe_timescales[0]) if test.probe_timescales.size else np.nan,
            test.passed if test.judged else None)


def choose(evidence: Sequence[StateNumber]) -> tuple[int, str]:
    """The number of states the rule picks, and why in words."""
    qualified = [e for e in evidence if e.metastable is not False
                 and (e.agreement is None or e.agreement >= MIN_AGREEMENT)]
    pool = qualified or list(evidence)
    best = max(pool, key=lambda e: (round(e.silhouette, 6), -e.k))
    timed = any(e.t1_ps is not None for e in evidence)
    seeds = any(e.agreement is not None for e in evidence)
    tests = " and ".join([*(["metastable (core test)"] if timed else []),
                          *([f"reproducible (cross-seed ARI >= {MIN_AGREEMENT:g})"] if seeds else [])])
    unjudged = ("; metastability not judged for " + ", ".join(str(e.k) for e in evidence if e.metastable is None)
                + " states (the trajectories are too short for their slowest process)"
                if timed and any(e.metastable is None for e in evidence) else "")
    if qualified and tests:
        return best.k, (f"{best.k} states: the best silhouette ({best.silhouette:.3f}) among the numbers whose states "
                        f"are {tests}{unjudged}")
    if qualified:
        return best.k, f"{best.k} states: the best silhouette ({best.silhouette:.3f})"
    why = ("their slow timescales depend on the core length: fluctuations of one environment rather than sites, or "
           "flicker longer than the core" if timed and not any(e.metastable is not False for e in evidence) else
           "other seeds draw other states")
    return best.k, (f"{best.k} states by silhouette ({best.silhouette:.3f}), but no number of states tried gave "
                    f"states that are {tests}: the kinetics of these states will not converge ({why}); try other "
                    f"trajectories (distinct regions), features or a longer core")
