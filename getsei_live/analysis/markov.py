"""Is the lag long enough for a Markov model? Implied-timescale plateau and the Chapman-Kolmogorov test.

At a Markovian lag tau, the Koopman matrix at k tau is the k-th power of the
one at tau, so (1) the implied timescales no longer change with the lag, and
(2) ``K(tau)^k`` predicts the estimated ``K(k tau)`` (Chapman-Kolmogorov; Prinz
et al. 2011; deeptime's ``ck_test``). Both are judged with the resampling
intervals of ``uncertainty``, on the lags the run counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._result import Result, frozen_array, nan_array, nan_padded, strict_json
from .koopman import TransitionMatrix, fit_by_lag
from .spectral import timescales_by_lag
from .uncertainty import PROBABILITY, TIME, Resamples, envelope, percentile_interval

__all__ = ["ChapmanKolmogorov", "LagVerdict", "MarkovRecord", "MarkovTest", "fit_by_lag", "markov_test"]


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
        No entry's difference interval lies wholly outside ``+-tolerance``.
    tolerance : float
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
    """

    verdicts: tuple[LagVerdict, ...]

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
                passed=frozen_array(ck["passed"], bool), tolerance=float(ck["tolerance"]), **arrays)
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
        resamples: Sequence[Resamples], *, confidence: float, tolerance: float) -> ChapmanKolmogorov | None:
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
    predicted_ci, estimated_ci, difference_ci = (envelope(ci[key]) for key in ("p", "e", "d"))
    both = np.isfinite(predicted) & np.isfinite(estimated)
    deviation = np.where(both, np.abs(predicted - estimated), 0.0)
    outside = both & ((difference_ci[..., 0] > tolerance) | (difference_ci[..., 1] < -tolerance))
    return ChapmanKolmogorov(
        lag=float(lags[a]), multiples=tuple(k for _, k in multiples), predicted=frozen_array(predicted),
        estimated=frozen_array(estimated), predicted_ci=frozen_array(predicted_ci),
        estimated_ci=frozen_array(estimated_ci), difference_ci=frozen_array(difference_ci),
        max_deviation=frozen_array(deviation.reshape(len(multiples), -1).max(axis=1)),
        passed=frozen_array(~outside.reshape(len(multiples), -1).any(axis=1), bool), tolerance=float(tolerance))


def markov_test(counts: np.ndarray, lags: Sequence[float], resamples: Sequence[Resamples], *,
                confidence: float = 0.9, ck_tolerance: float = 0.05, timescale_rtol: float = 0.2,
                n_timescales: int = 2, fits: Sequence[TransitionMatrix | None] | None = None) -> MarkovTest:
    """Judge every stored lag: slowest process resolved, timescales on a plateau, Chapman-Kolmogorov passed.

    A lag passes when (1) its slowest implied timescale is longer than the
    lag itself (otherwise ``K(tau)`` has almost forgotten where each Li was
    and says little about rates); (2) each of its ``n_timescales`` slowest
    timescales that are longer than the lag agrees with the same process at
    every longer stored lag where that process is still resolved: intervals
    overlap, or the relative difference is below ``timescale_rtol``; (3) for
    every stored multiple ``k tau``, no entry of ``K(tau)^k - K(k tau)`` has its
    interval wholly outside ``+-ck_tolerance``. A lag with no stored multiple
    cannot be tested and does not pass.

    Parameters
    ----------
    counts : (n_lags, n, n) ndarray
    lags : sequence of float
        Increasing lags (ps).
    resamples : sequence of Resamples
        From ``resample_counts`` over the same lags; intervals are their envelope.
    confidence : float
    ck_tolerance : float
        Probability difference accepted in the Chapman-Kolmogorov test.
    timescale_rtol : float
    n_timescales : int
    fits : sequence of TransitionMatrix or None, optional
        ``fit_by_lag(counts)``, when the caller has it already.

    Returns
    -------
    MarkovTest
    """
    n = counts.shape[-1]
    fits = fit_by_lag(counts) if fits is None else fits
    point = timescales_by_lag(counts, lags, fits=fits)
    padded = nan_padded(point, n - 1)
    ts_ci = envelope([percentile_interval(r.timescales, confidence, estimate=padded, n_units=r.n_units,
                                          limits=TIME) for r in resamples]) if resamples else None
    verdicts = []
    for a, lag in enumerate(lags):
        reasons = []
        t = point[a]
        if t.size == 0 or not t[0] > lag:
            slowest = f"{t[0]:.3g} ps" if t.size else "none"
            reasons.append(f"slowest process not resolved (t1 = {slowest}, not longer than the lag {lag:g} ps)")
        reasons += _off_plateau(point, ts_ci, lags, a, n_timescales=n_timescales, rtol=timescale_rtol)
        ck = _ck(fits, n, lags, a, resamples, confidence=confidence, tolerance=ck_tolerance)
        if ck is None:
            reasons.append("no stored multiple of this lag for a Chapman-Kolmogorov test")
        elif not ck.passed.all():
            k = int(np.argmax(~ck.passed))
            reasons.append(f"Chapman-Kolmogorov test failed at {ck.multiples[k]} x {lag:g} ps "
                           f"(largest difference {ck.max_deviation[k]:.3f} > {ck_tolerance:g})")
        verdicts.append(LagVerdict(float(lag), not reasons, tuple(reasons), ck))
    return MarkovTest(tuple(verdicts))


def _off_plateau(point: list[np.ndarray], ts_ci: np.ndarray | None, lags: Sequence[float], a: int, *,
                 n_timescales: int, rtol: float) -> list[str]:
    """Why lag ``a``'s slowest resolved timescales are not on a plateau: one reason per process that moves."""
    reasons, t = [], point[a]
    for m in range(min(n_timescales, t.size)):
        if not t[m] > lags[a]:
            break
        for b in range(a + 1, len(lags)):
            if point[b].size <= m or not point[b][m] > lags[b]:
                continue
            lo_a, hi_a = ts_ci[a, m] if ts_ci is not None else (t[m], t[m])
            lo_b, hi_b = ts_ci[b, m] if ts_ci is not None else (point[b][m], point[b][m])
            apart = hi_a < lo_b or hi_b < lo_a
            if apart and abs(point[b][m] - t[m]) > rtol * t[m]:
                reasons.append(f"t{m + 1} moves from {t[m]:.3g} ps to {point[b][m]:.3g} ps at lag "
                               f"{lags[b]:g} ps (intervals apart)")
                break
    return reasons
