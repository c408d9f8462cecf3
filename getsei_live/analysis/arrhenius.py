"""Rates against temperature: Arrhenius fits of escape and state-to-state rates, with resampled intervals.

``ln k(T) = ln A - E_a / (k_B T)``. At every temperature the rates come from
the generator of the Koopman matrix at one lag (``rate_matrix``), and their
spread from resampling that temperature's Li atoms and blocks of time (and
whole runs of an ensemble) exactly as the live intervals do. Temperatures are
independent runs, so the fit is repeated on the r-th resample of every
temperature; the percentiles of those fits are the intervals of the
activation energy, the prefactor and the rate extrapolated to ``at_K``.

The fit is weighted by the inverse resampled variance of ``ln k`` at each
temperature (a poorly sampled temperature counts less). For each rate and
temperature the resampling scheme with the widest spread is used, the
counterpart of the envelope the live intervals take.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..deprecation import renamed_parameters
from ._result import Result, frozen_array
from .koopman import transition_matrix
from .rates import generators, rate_matrix
from .uncertainty import percentile_interval, resample_counts

__all__ = ["BOLTZMANN_EV_PER_K", "ArrheniusFit", "RatesAtTemperature", "arrhenius_fit", "rates_at_temperature"]

#: Boltzmann's constant in eV/K (CODATA 2018, exact).
BOLTZMANN_EV_PER_K = 8.617333262e-5


@dataclass(frozen=True, slots=True)
class RatesAtTemperature(Result):
    """The generator at one temperature and its resamples.

    Attributes
    ----------
    temperature_K : float
    lag : float
        Lag of the Koopman matrix the rates come from (ps).
    generator : (n, n) ndarray
        Rates between states (1/ps; the diagonal is minus the escape rate); NaN outside the active set.
    samples : (n_schemes, n_resamples, n, n) ndarray
        The generator of each resample of each resampling scheme.
    schemes : tuple of str
    """

    temperature_K: float
    lag: float
    generator: np.ndarray
    samples: np.ndarray
    schemes: tuple[str, ...]

    @property
    def escape_rates(self) -> np.ndarray:
        return -np.diag(self.generator)


def _generator(K: np.ndarray, active: np.ndarray, lag: float, n: int) -> np.ndarray:
    out = np.full((n, n), np.nan)
    out[np.ix_(active, active)] = rate_matrix(K, lag).generator
    return out  # the point estimate goes through scipy's logm, exactly as the kinetic model's rates do


@renamed_parameters(units="schemes", lags="lags_ps")
def rates_at_temperature(temperature_K: float, counts: np.ndarray, schemes: Mapping[str, tuple], *,
                         lags_ps: Sequence[float], lag_index: int, n_resamples: int,
                         rng: np.random.Generator) -> RatesAtTemperature:
    """The generator at one lag and the generators of resampled counts.

    Parameters
    ----------
    temperature_K : float
    counts : (n_lags, n, n) ndarray
    schemes : mapping
        ``resampling_units``' output: method -> (unit_counts, strata).
    lags_ps : sequence of float
    lag_index : int
    n_resamples : int
    rng : numpy.random.Generator
    """
    counts = np.asarray(counts, dtype=float)
    n, lag = counts.shape[-1], float(lags_ps[lag_index])
    fit = transition_matrix(counts[lag_index])
    active = fit.active_set
    generator = _generator(fit.transition_matrix, active, lag, n)
    active_sets = [active if k == lag_index else np.zeros(0, dtype=int) for k in range(len(lags_ps))]
    samples = np.full((len(schemes), n_resamples, n, n), np.nan)
    for s, (method, (u, strata)) in enumerate(schemes.items()):
        resampled = resample_counts(u, lags_ps, active_sets, n_resamples=n_resamples, rng=rng, method=method,
                                    strata=strata).transition_matrices[:, lag_index][:, active][:, :, active]
        ok = np.all(np.isfinite(resampled), axis=(1, 2))
        full = np.full((int(ok.sum()), n, n), np.nan)
        full[:, active[:, None], active[None, :]] = generators(resampled[ok], lag)
        samples[s, ok] = full
    return RatesAtTemperature(float(temperature_K), lag, frozen_array(generator), frozen_array(samples),
                              tuple(schemes))


@dataclass(frozen=True, slots=True)
class ArrheniusFit(Result):
    """``ln k = ln A - E_a / (k_B T)`` for one rate.

    Attributes
    ----------
    name : str
        ``"escape S2"`` or ``"S2 -> S4"``.
    temperatures_K : (m,) ndarray
    rates : (m,) ndarray
        Rate at each temperature (1/ps); NaN where the rate is not estimated.
    rate_ci : (m, 2) ndarray
    activation_eV : float
        NaN with fewer than two temperatures that have the rate.
    activation_eV_ci : (2,) ndarray
    prefactor_per_ps : float
    prefactor_ci : (2,) ndarray
    at_K : float
    rate_at : float
        The fit's rate at ``at_K`` (1/ps).
    rate_at_ci : (2,) ndarray
    confidence : float
    """

    name: str
    temperatures_K: np.ndarray
    rates: np.ndarray
    rate_ci: np.ndarray
    activation_eV: float
    activation_eV_ci: np.ndarray
    prefactor_per_ps: float
    prefactor_ci: np.ndarray
    at_K: float
    rate_at: float
    rate_at_ci: np.ndarray
    confidence: float


def _weighted_line(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slopes and intercepts of weighted least-squares lines through the rows of ``y`` (..., m) at ``x`` (m,)."""
    sw = w.sum()
    xm = (w * x).sum() / sw
    ym = (y * w).sum(axis=-1) / sw
    slope = ((y - ym[..., None]) * w * (x - xm)).sum(axis=-1) / (w * (x - xm) ** 2).sum()
    return slope, ym - slope * xm


def arrhenius_fit(temperatures_K: Sequence[float], rates: np.ndarray, samples: np.ndarray, *, name: str = "",
                  confidence: float = 0.9, at_K: float = 300.0) -> ArrheniusFit:
    """Fit one rate against temperature; intervals from fitting the resamples.

    Parameters
    ----------
    temperatures_K : (m,) sequence of float
    rates : (m,) ndarray
        Estimated rate at each temperature (1/ps).
    samples : (m, n_schemes, n_resamples) ndarray
        Resampled rates at each temperature, by resampling scheme.
    name : str
    confidence : float, default 0.9
    at_K : float, default 300
        Temperature to extrapolate to.
    """
    T = np.asarray(temperatures_K, dtype=float)
    k = np.asarray(rates, dtype=float)
    samples = np.asarray(samples, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a scheme with no usable resample: NaN spread
        logs = np.where(samples > 0, np.log(samples), np.nan)
        spread = np.nanvar(logs, axis=2)  # (m, n_schemes)
    rate_ci = np.full((T.size, 2), np.nan)
    chosen = np.full((T.size, samples.shape[2]), np.nan)
    for i in range(T.size):
        if np.isfinite(spread[i]).any():
            widest = int(np.nanargmax(spread[i]))
            chosen[i] = logs[i, widest]
            rate_ci[i] = percentile_interval(samples[i, widest], confidence, estimate=k[i])
    usable = (k > 0) & np.isfinite(k) & (np.sum(np.isfinite(chosen), axis=1) >= 2)
    nan2 = np.full(2, np.nan)
    if usable.sum() < 2:
        return ArrheniusFit(name, frozen_array(T), frozen_array(k), frozen_array(rate_ci), np.nan, nan2, np.nan,
                            nan2, float(at_K), np.nan, nan2, confidence)
    x = 1.0 / (BOLTZMANN_EV_PER_K * T[usable])
    variance = np.nanvar(chosen[usable], axis=1)
    w = 1.0 / np.maximum(variance, 1e-12 * np.max(variance) + 1e-300)
    slope, intercept = _weighted_line(x, np.log(k[usable]), w)
    draws = chosen[usable].T  # (n_resamples, m_usable)
    complete = np.all(np.isfinite(draws), axis=1)
    slopes, intercepts = _weighted_line(x, draws[complete], w)
    x_at = 1.0 / (BOLTZMANN_EV_PER_K * at_K)
    return ArrheniusFit(
        name, frozen_array(T), frozen_array(k), frozen_array(rate_ci),
        activation_eV=float(-slope),
        activation_eV_ci=frozen_array(np.sort(-percentile_interval(slopes, confidence, estimate=slope))),
        prefactor_per_ps=float(np.exp(intercept)),
        prefactor_ci=frozen_array(np.exp(percentile_interval(intercepts, confidence, estimate=intercept))),
        at_K=float(at_K),
        rate_at=float(np.exp(intercept + slope * x_at)),
        rate_at_ci=frozen_array(np.exp(percentile_interval(intercepts + slopes * x_at, confidence,
                                                           estimate=intercept + slope * x_at))),
        confidence=confidence,
    )
