"""Is the lag long enough for a Markov model? Implied-timescale plateau and the Chapman-Kolmogorov test.

At a Markovian lag tau, the Koopman matrix at k tau is the k-th power of the
one at tau, so (1) the implied timescales no longer change with the lag, and
(2) ``K(tau)^k`` predicts the estimated ``K(k tau)`` (Chapman-Kolmogorov; Prinz
et al. 2011; deeptime's ``ck_test``). Both are judged on point estimates, on
the lags the run counts: wide intervals are no evidence that a model is
Markovian, so they can only make a test stricter. A slow process counts only
when the run has seen it many times.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..deprecation import renamed_parameters
from ._result import Result, frozen_array, nan_array, nan_padded, strict_json
from .koopman import TransitionMatrix, fit_by_lag
from .spectral import timescales_by_lag
from .uncertainty import PROBABILITY, TIME, Resamples, envelope, percentile_interval

__all__ = ["DEFAULT_LAGS_PS", "ChapmanKolmogorov", "LagVerdict", "MarkovRecord", "MarkovTest", "markov_test"]


#: Lags counted by default (ps): a doubling series, so that every lag but the longest has a stored multiple for the
#: Chapman-Kolmogorov test.
DEFAULT_LAGS_PS = (0.1, 0.2, 0.4, 0.8, 1.6)


@dataclass(frozen=True, slots=True)
class ChapmanKolmogorov(Result):
    """Predicted ``K(tau)^k`` against estimated ``K(k tau)`` for the stored multiples k of one lag.

    Attributes
    ----------
    lag : float
    multiples : tuple of int
        The k with ``k * lag`` among the stored lags.
    predicted, estimated : (n_k, n, n) ndarray
        NaN for states outside either model.
    predicted_ci, estimated_ci, difference_ci : (n_k, n, n, 2) ndarray
        Intervals of the prediction, the estimate, and their paired difference.
    max_deviation : (n_k,) ndarray
        Largest ``|predicted - estimated|`` over the states of both models.
    passed : (n_k,) ndarray of bool
        No entry differs by more than ``tolerance`` (nor has its difference interval wholly outside it), and no
        state's probability of leaving it differs by more than ``leave_rtol`` of the estimated one.
    tolerance : float
    leave_deviation : (n_k, n) ndarray
        ``|predicted - estimated|`` probability of leaving each state, relative to the estimated one (NaN for
        states outside either model).
    leave_rtol : float
    """

    lag: float
    multiples: tuple[int, ...]
    predicted: np.ndarray
    estimated: np.ndarray
    predicted_ci: np.ndarray
    estimated_ci: np.ndarray
    difference_ci: np.ndarray
    max_deviation: np.ndarray
    passed: np.ndarray
    tolerance: float
    leave_deviation: np.ndarray = dataclasses.field(default_factory=lambda: frozen_array(np.zeros((0, 0))))
    leave_rtol: float = np.inf


@dataclass(frozen=True, slots=True)
class LagVerdict(Result):
    """Whether one stored lag gives a Markov model, and why not.

    Attributes
    ----------
    lag : float
    markovian : bool
    reasons : tuple of str
        Empty when it passes.
    ck : ChapmanKolmogorov or None
        None when no multiple of the lag is stored.
    """

    lag: float
    markovian: bool
    reasons: tuple[str, ...]
    ck: ChapmanKolmogorov | None


@dataclass(frozen=True, slots=True)
class MarkovTest(Result):
    """The verdict at every stored lag.

    Attributes
    ----------
    verdicts : tuple of LagVerdict
        One per stored lag, shortest first.
    timescales_ci : (n_lags, n - 1, 2) ndarray or None
        The resampled intervals of the implied timescales at every lag (None without resamples).
    """

    verdicts: tuple[LagVerdict, ...]
    timescales_ci: np.ndarray | None = None

    @property
    def suggested_lag(self) -> float | None:
        """The shortest stored lag that passes, or None."""
        return next((v.lag for v in self.verdicts if v.markovian), None)

    def at(self, lag: float) -> LagVerdict:
        return min(self.verdicts, key=lambda v: abs(v.lag - lag))

    def record(self, lag: float) -> MarkovRecord:
        """What a snapshot keeps: the verdict at every lag, and the Chapman-Kolmogorov test at ``lag``."""
        return MarkovRecord(tuple(v.lag for v in self.verdicts), tuple(v.markovian for v in self.verdicts),
                            tuple(v.reasons for v in self.verdicts), self.suggested_lag, self.at(lag).ck)


#: The Chapman-Kolmogorov arrays a snapshot stores (``difference_ci`` is not stored).
_CK_ARRAYS = ("predicted", "estimated", "predicted_ci", "estimated_ci")


@dataclass(frozen=True, slots=True)
class MarkovRecord(Result):
    """The Markov test as a snapshot keeps it.

    Attributes
    ----------
    lags_ps : tuple of float
    markovian : tuple of bool
        Per stored lag.
    reasons : tuple of tuple of str
        Why each lag fails (empty where it passes).
    suggested_lag_ps : float or None
        The shortest stored lag that passes.
    ck : ChapmanKolmogorov or None
        The test at the analysis lag; read back from a store its ``difference_ci`` is NaN.
    """

    lags_ps: tuple[float, ...]
    markovian: tuple[bool, ...]
    reasons: tuple[tuple[str, ...], ...]
    suggested_lag_ps: float | None
    ck: ChapmanKolmogorov | None

    def passes(self, lag: float) -> bool:
        return self.markovian[self.lags_ps.index(lag)]

    def to_dict(self) -> dict:
        ck = self.ck
        return {
            "lags_ps": list(self.lags_ps), "markovian": list(self.markovian),
            "reasons": [list(r) for r in self.reasons], "suggested_lag_ps": self.suggested_lag_ps,
            "ck": None if ck is None else strict_json({
                "lag_ps": ck.lag, "multiples": list(ck.multiples), "tolerance": ck.tolerance,
                "passed": ck.passed.tolist(), "max_deviation": ck.max_deviation.tolist(),
                "leave_deviation": ck.leave_deviation.tolist(), "leave_rtol": ck.leave_rtol,
                **{name: getattr(ck, name).tolist() for name in _CK_ARRAYS}}),
        }

    @classmethod
    def from_dict(cls, data: dict) -> MarkovRecord:
        ck = data.get("ck")
        if ck is not None:
            arrays = {name: nan_array(ck[name]) for name in _CK_ARRAYS}
            ck = ChapmanKolmogorov(
                lag=float(ck["lag_ps"]), multiples=tuple(int(k) for k in ck["multiples"]),
                difference_ci=frozen_array(np.full(arrays["predicted_ci"].shape, np.nan)),
                max_deviation=frozen_array([np.nan if d is None else d for d in ck["max_deviation"]]),
                passed=frozen_array(ck["passed"], bool), tolerance=float(ck["tolerance"]),
                leave_deviation=frozen_array(nan_array(ck.get("leave_deviation", []))),
                leave_rtol=float(ck.get("leave_rtol") or np.inf), **arrays)
        return cls(tuple(float(v) for v in data.get("lags_ps", ())), tuple(bool(v) for v in data.get("markovian", ())),
                   tuple(tuple(r) for r in data.get("reasons", ())), data.get("suggested_lag_ps"), ck)


def _full_matrix(fit: TransitionMatrix | None, n: int) -> np.ndarray:
    """The fitted matrix in the original numbering, NaN for states outside it."""
    full = np.full((n, n), np.nan)
    if fit is not None:
        full[np.ix_(fit.active_set, fit.active_set)] = fit.transition_matrix
    return full


def _power(K: np.ndarray, k: int) -> np.ndarray:
    """``K^k`` of (..., n, n) matrices with NaN rows/columns for absent states, kept NaN."""
    absent = np.isnan(K)
    power = np.linalg.matrix_power(np.where(absent, 0.0, K), k)
    return np.where(absent, np.nan, power)


def _ck(fits: Sequence[TransitionMatrix | None], n: int, lags: Sequence[float], a: int,
        resamples: Sequence[Resamples], *, confidence: float, tolerance: float,
        leave_rtol: float) -> ChapmanKolmogorov | None:
    multiples = [(b, int(round(lags[b] / lags[a]))) for b in range(len(lags))
                 if lags[b] > lags[a] and abs(lags[b] / lags[a] - round(lags[b] / lags[a])) < 1e-6]
    if not multiples:
        return None
    K = _full_matrix(fits[a], n)
    predicted = np.stack([_power(K, k) for _, k in multiples])
    estimated = np.stack([_full_matrix(fits[b], n) for b, _ in multiples])
    ci = {"p": [], "e": [], "d": []}
    for res in resamples:
        p = np.stack([_power(res.transition_matrices[:, a], k) for _, k in multiples], axis=1)
        e = res.transition_matrices[:, [b for b, _ in multiples]]
        for key, value, limits in (("p", p, PROBABILITY), ("e", e, PROBABILITY), ("d", p - e, (-1.0, 1.0))):
            ci[key].append(percentile_interval(value, confidence, n_units=res.n_units, limits=limits))
    shape = (*predicted.shape, 2)
    predicted_ci, estimated_ci, difference_ci = (envelope(ci[key]) if resamples else np.full(shape, np.nan)
                                                 for key in ("p", "e", "d"))
    both = np.isfinite(predicted) & np.isfinite(estimated)
    deviation = np.where(both, np.abs(predicted - estimated), 0.0)
    # the point deviation decides; an interval wholly outside the tolerance can only fail a test more
    outside = both & ((deviation > tolerance) | (difference_ci[..., 0] > tolerance)
                      | (difference_ci[..., 1] < -tolerance))
    leave = _leaving_deviation(predicted, estimated)
    return ChapmanKolmogorov(
        lag=float(lags[a]), multiples=tuple(k for _, k in multiples), predicted=frozen_array(predicted),
        estimated=frozen_array(estimated), predicted_ci=frozen_array(predicted_ci),
        estimated_ci=frozen_array(estimated_ci), difference_ci=frozen_array(difference_ci),
        max_deviation=frozen_array(deviation.reshape(len(multiples), -1).max(axis=1)),
        passed=frozen_array(~outside.reshape(len(multiples), -1).any(axis=1)
                            & ~(np.nan_to_num(leave, nan=0.0) > leave_rtol).any(axis=1), bool),
        tolerance=float(tolerance), leave_deviation=frozen_array(leave), leave_rtol=float(leave_rtol))


def _leaving_deviation(predicted: np.ndarray, estimated: np.ndarray) -> np.ndarray:
    """(n_k, n) |predicted - estimated| probability of leaving each state within k lags, relative to the estimated
    one (NaN for states outside either model; inf where only the prediction leaves)."""
    stay_p = np.diagonal(predicted, axis1=1, axis2=2)
    stay_e = np.diagonal(estimated, axis1=1, axis2=2)
    leave_p, leave_e = 1.0 - stay_p, 1.0 - stay_e
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(leave_p - leave_e) / leave_e
    rel = np.where(leave_e > 0, rel, np.where(np.abs(leave_p) > 1e-12, np.inf, 0.0))
    return np.where(np.isfinite(stay_p) & np.isfinite(stay_e), rel, np.nan)


@renamed_parameters(lags="lags_ps", timescale_rtol="plateau_rtol")
def markov_test(counts: np.ndarray, lags_ps: Sequence[float], resamples: Sequence[Resamples], *,
                confidence: float = 0.9, ck_tolerance: float = 0.05, leave_rtol: float = 0.25,
                plateau_rtol: float = 0.2, n_timescales: int = 2,
                fits: Sequence[TransitionMatrix | None] | None = None, observed_ps: float | None = None,
                n_li: int | None = None, min_slow_events: float = 100.0) -> MarkovTest:
    """Judge every stored lag: slowest process resolved and seen often, timescales on a plateau, Chapman-Kolmogorov
    passed.

    A lag passes when

    1. its slowest implied timescale t1 is longer than the lag (otherwise ``K(tau)`` has almost forgotten where
       each Li was and says little about rates), shorter than the time each Li was observed (``observed_ps``: a
       process slower than the run was never seen), and the data had room for at least ``min_slow_events``
       such events (about ``n_li * observed_ps / t1``);
    2. each of its ``n_timescales`` slowest timescales that are longer than the lag agrees, as a point estimate,
       within ``plateau_rtol`` with the same process at every longer stored lag that still resolves it, and at
       least one longer lag resolves t1 (a plateau that cannot be seen is not a plateau; overlapping intervals
       are no evidence of one);
    3. for every stored multiple ``k tau``, no entry of ``K(tau)^k - K(k tau)`` differs by more than
       ``ck_tolerance`` (the point estimate decides; an interval wholly outside the tolerance fails it too), and
       for every state the predicted probability of leaving it within ``k tau`` is within ``leave_rtol`` of the
       estimated one, relative to it (so that a nearly diagonal matrix cannot pass on small absolute numbers).

    A lag with no stored multiple cannot be tested and does not pass.

    Parameters
    ----------
    counts : (n_lags, n, n) ndarray
    lags_ps : sequence of float
        Increasing lags (ps).
    resamples : sequence of Resamples
        From ``resample_counts`` over the same lags; intervals are their envelope.
    confidence : float
    ck_tolerance : float
        Probability difference accepted in the Chapman-Kolmogorov test.
    leave_rtol : float
        Relative difference accepted between predicted and estimated probabilities of leaving a state.
    plateau_rtol : float
        Relative difference accepted between a slow timescale at this lag and at each longer lag (the plateau);
        ``ConvergenceCriteria.plateau_rtol``. (Its old name here, ``timescale_rtol``, still works and warns: it is
        the criteria's between-checks tolerance.)
    n_timescales : int
    fits : sequence of TransitionMatrix or None, optional
        ``fit_by_lag(counts)``, when the caller has it already.
    observed_ps : float, optional
        Time each Li was observed (counted), in ps; None skips rule 1's checks against it.
    n_li : int, optional
        Li atoms observed (default: none of rule 1's event count).
    min_slow_events : float, default 100

    Returns
    -------
    MarkovTest
    """
    n = counts.shape[-1]
    fits = fit_by_lag(counts) if fits is None else fits
    lags = lags_ps
    point = timescales_by_lag(counts, lags, fits=fits)
    padded = nan_padded(point, n - 1)
    ts_ci = envelope([percentile_interval(r.timescales, confidence, estimate=padded, n_units=r.n_units,
                                          limits=TIME) for r in resamples]) if resamples else None
    verdicts = []
    for a, lag in enumerate(lags):
        reasons = _unresolved(point[a], lag, observed_ps=observed_ps, n_li=n_li, min_events=min_slow_events)
        reasons += _off_plateau(point, lags, a, n_timescales=n_timescales, rtol=plateau_rtol)
        ck = _ck(fits, n, lags, a, resamples, confidence=confidence, tolerance=ck_tolerance, leave_rtol=leave_rtol)
        if ck is None:
            reasons.append("no stored multiple of this lag for a Chapman-Kolmogorov test")
        elif not ck.passed.all():
            reasons.append(_ck_reason(ck, lag))
        verdicts.append(LagVerdict(float(lag), not reasons, tuple(reasons), ck))
    return MarkovTest(tuple(verdicts), ts_ci)


def _unresolved(t: np.ndarray, lag: float, *, observed_ps: float | None, n_li: int | None,
                min_events: float) -> list[str]:
    """Why the slowest process at this lag is not resolved by the data (empty: it is)."""
    if t.size == 0 or not t[0] > lag:
        slowest = f"{t[0]:.3g} ps" if t.size else "none"
        return [f"slowest process not resolved (t1 = {slowest}, not longer than the lag {lag:g} ps)"]
    if observed_ps is None:
        return []
    if not t[0] < observed_ps:
        return [f"t1 = {t[0]:.3g} ps is longer than each Li was observed ({observed_ps:.3g} ps): the slowest "
                f"process has not been seen"]
    if n_li is not None and n_li * observed_ps / t[0] < min_events:
        return [f"t1 = {t[0]:.3g} ps: the {n_li} Li had room for only about {n_li * observed_ps / t[0]:.0f} such "
                f"events in {observed_ps:.3g} ps (need {min_events:g})"]
    return []


def _ck_reason(ck: ChapmanKolmogorov, lag: float) -> str:
    k = int(np.argmax(~ck.passed))
    if ck.max_deviation[k] > ck.tolerance or np.isnan(ck.leave_deviation[k]).all():
        return (f"Chapman-Kolmogorov test failed at {ck.multiples[k]} x {lag:g} ps (largest difference "
                f"{ck.max_deviation[k]:.3f} > {ck.tolerance:g})")
    leave = np.nan_to_num(ck.leave_deviation[k], nan=0.0)
    if not (leave > ck.leave_rtol).any():
        return (f"Chapman-Kolmogorov test failed at {ck.multiples[k]} x {lag:g} ps (the interval of a difference "
                f"lies wholly outside +-{ck.tolerance:g})")
    s = int(np.argmax(leave))
    stay_p, stay_e = ck.predicted[k, s, s], ck.estimated[k, s, s]
    apart = f"{100 * leave[s]:.0f}% apart" if leave[s] < 100 else "over 100 times apart"
    return (f"Chapman-Kolmogorov test failed at {ck.multiples[k]} x {lag:g} ps: S{s} is left with probability "
            f"{1 - stay_p:.3g} predicted, {1 - stay_e:.3g} estimated ({apart}, at most {100 * ck.leave_rtol:g}%)")


def _off_plateau(point: list[np.ndarray], lags: Sequence[float], a: int, *, n_timescales: int,
                 rtol: float) -> list[str]:
    """Why lag ``a``'s slowest resolved timescales are not on a plateau: one reason per process that moves, or
    that no longer lag resolves (t1)."""
    reasons, t = [], point[a]
    for m in range(min(n_timescales, t.size)):
        if not t[m] > lags[a]:
            break
        seen = False
        for b in range(a + 1, len(lags)):
            if point[b].size <= m or not point[b][m] > lags[b]:
                continue
            seen = True
            if abs(point[b][m] - t[m]) > rtol * t[m]:
                reasons.append(f"t{m + 1} moves from {t[m]:.3g} ps to {point[b][m]:.3g} ps at lag {lags[b]:g} ps "
                               f"(more than {100 * rtol:g}%)")
                break
        if m == 0 and not seen and a + 1 < len(lags):
            reasons.append(f"no longer stored lag resolves t1 ({t[0]:.3g} ps): its plateau cannot be seen")
    return reasons
