"""Are the states places Li stays? The core test: the slow timescales must not move when the core length doubles.

Core assignment (``analysis.coring``) removes label changes that do not last
``core_frames`` frames. Where the states are metastable, sites or regions that
Li stay in for much longer than the core, the changes it removes are flicker,
and the slow processes barely notice a longer core. Where the "states" are
fluctuations of one environment (labels cut from a continuous variable), every
longer core removes more of the changes that remain, and the slowest implied
timescale grows with the core: measured on a fully reacted Li6PS5Cl/Li
interphase, t1 at lag 0.1 ps was 0.20, 0.59, 1.82, 3.01, 5.6 and 15.1 ps at
cores of 0, 0.1, 0.2, 0.3, 0.5 and 1 ps, while every lag test passed. Such a
t1 is a property of the core length, not of the material.

The test mirrors the Markov test's plateau in the lag: at the analysis lag, the
``n_timescales`` slowest timescales longer than the lag, counted at the run's
core length, must agree within ``rtol`` with those counted at twice it (the
*core probe* the counter keeps, ``counting.RunCounter``). A shorter core is not
asked to agree: it lets flicker back in, which is what coring is for. Without
core assignment there is no core length for an answer to depend on, and the
test is not made (the Markov test alone judges the raw labels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import GetseiError
from ._result import Result, frozen_array, nan_array, strict_json
from .koopman import transition_matrix
from .spectral import implied_timescales

__all__ = ["CoreTest", "core_test"]


@dataclass(frozen=True, slots=True)
class CoreTest(Result):
    """The slow timescales at the analysis lag at the run's core length and at twice it.

    Attributes
    ----------
    lag_ps : float
    core_ps, probe_core_ps : float
        The run's core length and twice it (ps).
    timescales, probe_timescales : (m,) ndarray
        The slowest implied timescales (ps) at each core length, slowest first (NaN where undefined).
    rtol : float
        Relative difference accepted.
    passed : bool
    reasons : tuple of str
        Why not, in words (empty when it passed).
    judged : bool
        Whether the data could judge it: t1 shorter than the time each Li was observed and seen about
        ``min_events`` times (as the Markov test asks). A slow process the run has barely seen has timescales too
        uncertain to compare, so an unjudged test fails as "not judged yet", which more data closes, not as "not
        metastable".
    """

    lag_ps: float
    core_ps: float
    probe_core_ps: float
    timescales: np.ndarray
    probe_timescales: np.ndarray
    rtol: float
    passed: bool
    reasons: tuple[str, ...]
    judged: bool = True

    def to_dict(self) -> dict:
        return strict_json({"lag_ps": self.lag_ps, "core_ps": self.core_ps, "probe_core_ps": self.probe_core_ps,
                            "timescales": self.timescales.tolist(), "probe_timescales": self.probe_timescales.tolist(),
                            "rtol": self.rtol, "passed": self.passed, "reasons": list(self.reasons),
                            "judged": self.judged})

    @classmethod
    def from_dict(cls, data: dict) -> CoreTest:
        return cls(float(data["lag_ps"]), float(data["core_ps"]), float(data["probe_core_ps"]),
                   nan_array(data["timescales"]), nan_array(data["probe_timescales"]), float(data["rtol"]),
                   bool(data["passed"]), tuple(data.get("reasons", ())), bool(data.get("judged", True)))


#: What a scientist can do about an answer that depends on the core length.
REMEDY = ("the answer depends on the core length: either these states are fluctuations of one environment, not "
          "sites Li stays in (fewer states, other features or a structure with distinct regions), or the core is "
          "too short to remove the labels' flicker (a longer core_ps; analyze's table of t1 against the core "
          "length shows whether t1 levels off)")


def _timescales(counts: np.ndarray, lag_ps: float) -> np.ndarray:
    try:
        return implied_timescales(transition_matrix(counts).transition_matrix, lag_ps).timescales
    except GetseiError:
        return np.zeros(0)


def _moves(before: float, after: float) -> str:
    ratio = after / before
    if ratio >= 1.8:
        return "doubles" if ratio < 2.5 else f"grows {ratio:.1f}-fold"
    return f"grows by {100 * (ratio - 1):.0f}%" if ratio > 1 else f"shrinks by {100 * (1 - ratio):.0f}%"


def core_test(counts: np.ndarray, probe_counts: np.ndarray, *, lag_ps: float, core_ps: float, probe_core_ps: float,
              n_timescales: int = 2, rtol: float = 0.2, observed_ps: float | None = None, n_li: int | None = None,
              min_events: float = 100.0) -> CoreTest:
    """Judge whether the slow processes at the analysis lag are those of metastable states.

    Parameters
    ----------
    counts, probe_counts : (n, n) ndarray
        Counts at the analysis lag of the labels cored with the run's core length and with twice it.
    lag_ps, core_ps, probe_core_ps : float
    n_timescales : int, default 2
        Slowest timescales judged (those longer than the lag).
    rtol : float, default 0.2
        Relative difference accepted (the Markov test's ``plateau_rtol``).
    observed_ps, n_li : float, int, optional
        Time each Li was observed and the Li observed: the test is judged only once t1 is shorter than
        ``observed_ps`` and ``n_li * observed_ps / t1`` reaches ``min_events`` (none of this without them).
    min_events : float, default 100

    Returns
    -------
    CoreTest
    """
    width = max(counts.shape[-1] - 1, 0)
    t = np.full(width, np.nan)
    probe = np.full(width, np.nan)
    found, found_probe = _timescales(counts, lag_ps), _timescales(probe_counts, lag_ps)
    t[:found.size], probe[:found_probe.size] = found, found_probe
    reasons = []
    judged = [m for m in range(min(n_timescales, width)) if t[m] > lag_ps]
    if not judged:
        reasons.append(f"cannot be judged at lag {lag_ps:g} ps: no timescale longer than the lag to compare across "
                       f"core lengths")
    elif observed_ps is not None and not t[0] < observed_ps:
        reasons.append(f"not judged yet: t1 = {t[0]:.3g} ps is longer than each Li was observed ({observed_ps:.3g} "
                       f"ps)")
    elif observed_ps is not None and n_li is not None and n_li * observed_ps / t[0] < min_events:
        reasons.append(f"not judged yet: the Li had room for only about {n_li * observed_ps / t[0]:.0f} events of "
                       f"t1 = {t[0]:.3g} ps (need {min_events:g})")
    if reasons:
        return CoreTest(float(lag_ps), float(core_ps), float(probe_core_ps), frozen_array(t), frozen_array(probe),
                        float(rtol), False, tuple(reasons), judged=False)
    for m in judged:
        name = f"t{m + 1}"
        if not probe[m] > lag_ps:
            reasons.append(f"{name} = {t[m]:.3g} ps at core {core_ps:g} ps is not resolved at core {probe_core_ps:g} "
                           f"ps: {REMEDY}")
            break
        if abs(probe[m] - t[m]) > rtol * t[m]:
            reasons.append(f"{name} {_moves(t[m], probe[m])} when the core doubles ({t[m]:.3g} -> {probe[m]:.3g} ps "
                           f"at cores {core_ps:g} and {probe_core_ps:g} ps; at most {100 * rtol:g}%): {REMEDY}")
            break
    return CoreTest(float(lag_ps), float(core_ps), float(probe_core_ps), frozen_array(t), frozen_array(probe),
                    float(rtol), not reasons, tuple(reasons))
