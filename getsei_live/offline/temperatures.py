"""``getsei-live arrhenius``: rates of runs at several temperatures, fitted activation energies, extrapolation.

Stores at one temperature are replicas (an ``Ensemble``); every store must
use one state model, so that a state means the same at every temperature.
"""

from __future__ import annotations

import dataclasses

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..analysis import strict_json
from ..analysis.arrhenius import (
    ArrheniusFit,
    RatesAtTemperature,
    arrhenius_fit,
    rates_at_temperature,
)
from ..analysis.criteria import ConvergenceCriteria
from ..analysis.koopman import fit_by_lag
from ..analysis.markov import markov_test
from ..analysis.uncertainty import resample_counts, resampling_units
from ..errors import ParameterError
from ..store.ensemble import Ensemble, run_counts

__all__ = ["ArrheniusAnalysis", "TemperatureLine", "arrhenius_stores"]


@dataclass(frozen=True, slots=True)
class TemperatureLine:
    """The runs at one temperature: their stores, how long they ran, how many state changes they counted at the
    lag of the fits, and whether that lag passes their Markov test."""

    temperature_K: float
    stores: tuple[str, ...]
    n_runs: int
    simulated_ps: float
    state_changes: int
    markovian: bool

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "stores": list(self.stores)}


@dataclass(frozen=True, slots=True)
class ArrheniusAnalysis:
    """Rates at every temperature and their Arrhenius fits.

    Attributes
    ----------
    lag_ps : float
        The lag of the Koopman matrices the rates come from.
    at_K : float
        Temperature the fits are extrapolated to.
    temperatures : tuple of TemperatureLine
        Per temperature: stores, runs, simulated ps, changes of state at the lag, Markov verdict at the lag.
    escape : tuple of ArrheniusFit
        One per state: its escape rate (1/ps).
    transitions : tuple of ArrheniusFit
        One per pair of states with a rate at two temperatures or more.
    notes : list of str
    """

    lag_ps: float
    at_K: float
    temperatures: tuple[TemperatureLine, ...]
    escape: tuple[ArrheniusFit, ...]
    transitions: tuple[ArrheniusFit, ...]
    notes: list[str]

    def to_dict(self) -> dict:
        return strict_json({"lag_ps": self.lag_ps, "at_K": self.at_K, "temperatures": [t.to_dict() for t in self.temperatures],
                            "escape": [f.to_dict() for f in self.escape],
                            "transitions": [f.to_dict() for f in self.transitions], "notes": self.notes})


def _by_temperature(paths: Sequence[str | Path]) -> dict[float, Ensemble]:
    runs = [run_counts(p) for p in paths]
    missing = [run.path for run in runs if run.temperature_K is None]
    if missing:
        raise ParameterError(f"{', '.join(missing)} record no temperature. Stores from 'run', 'demo' and "
                             f"'attach' (with a thermostat) record it; for 'replay' give --temperature-K.")
    models = {run.spec.fingerprint for run in runs}
    if len(models) > 1:
        raise ParameterError("States must mean the same at every temperature, but these stores use "
                             f"{len(models)} state models: "
                             + "; ".join(f"{run.path}: {run.spec.fingerprint[:12]}" for run in runs)
                             + ". Label every temperature with one state model (replay the others with it).")
    groups: dict[float, list] = {}
    for run in runs:
        key = next((t for t in groups if np.isclose(t, run.temperature_K, rtol=1e-9)), run.temperature_K)
        groups.setdefault(key, []).append(run)
    if len(groups) < 2:
        raise ParameterError(f"All stores are at {runs[0].temperature_K:g} K; an Arrhenius fit needs two "
                             f"temperatures or more.")
    return {t: Ensemble(tuple(group)) for t, group in sorted(groups.items())}


def _markovian(ensembles: dict[float, Ensemble], schemes: dict[float, dict], n_bootstrap: int,
               rng: np.random.Generator) -> dict[float, dict[float, bool]]:
    """Per temperature, whether each counted lag (ps) passes the live monitor's Markov test (its criteria's
    defaults, resampling the same units as the live intervals)."""
    c = ConvergenceCriteria()
    out = {}
    for T, e in ensembles.items():
        lags, fits = e.spec.lags_ps, fit_by_lag(e.counts)
        active = [np.zeros(0, dtype=int) if fit is None else fit.active_set for fit in fits]
        resamples = [resample_counts(u, lags, active, n_resamples=n_bootstrap, rng=rng, method=m, strata=strata)
                     for m, (u, strata) in schemes[T].items()]
        markov = markov_test(e.counts, lags, resamples, confidence=c.confidence, ck_tolerance=c.ck_tolerance,
                             plateau_rtol=c.plateau_rtol, n_timescales=c.n_timescales, fits=fits)
        out[T] = {v.lag: v.markovian for v in markov.verdicts}
    return out


def _lag(ensembles: dict[float, Ensemble], markovian: dict[float, dict[float, bool]],
         lag_ps: float | None) -> tuple[float, list[str]]:
    """The lag to use: given, or the shortest lag all temperatures count that passes the Markov test at each."""
    lags = [e.spec.lags_ps for e in ensembles.values()]
    common = sorted(v for v in lags[0] if all(any(np.isclose(v, w) for w in other) for other in lags[1:]))
    if lag_ps is not None:
        if not any(np.isclose(lag_ps, v) for v in common):
            raise ParameterError(f"A lag of {lag_ps:g} ps is not counted at every temperature; the lags all "
                                 f"count are {', '.join(f'{v:g}' for v in common) or 'none'} ps.")
        return float(lag_ps), []
    if not common:
        raise ParameterError("The stores share no lag (in ps): count a common lag at every temperature.")
    passing = [v for v in common if all(_at(verdicts, v) for verdicts in markovian.values())]
    if passing:
        return passing[0], []
    return common[-1], [f"No common lag passes the Markov test at every temperature; using the longest, "
                        f"{common[-1]:g} ps. Count longer lags."]


def _at(verdicts: dict[float, bool], lag: float) -> bool:
    return next(v for k, v in verdicts.items() if np.isclose(k, lag))


def arrhenius_stores(paths: Sequence[str | Path], *, lag_ps: float | None = None, at_K: float = 300.0,
                     n_bootstrap: int = 200, confidence: float = 0.9, min_blocks: int = 8,
                     seed: int = 0) -> ArrheniusAnalysis:
    """Escape and state-to-state rates of runs at several temperatures, with their Arrhenius fits.

    Parameters
    ----------
    paths : sequence of path
        Run stores that record their temperature; several at one temperature are replicas.
    lag_ps : float, optional
        Lag of the rates (ps); default the shortest lag every temperature counts
        that passes the Markov test at each (the longest common lag when none does).
    at_K : float, default 300
        Temperature to extrapolate to (K).
    n_bootstrap : int, default 200
        Resamples per scheme and temperature.
    confidence : float, default 0.9
    min_blocks : int, default 8
        Fewer blocks of time than this at a temperature: time is not resampled there.
    seed : int, default 0
    """
    if not at_K > 0:
        raise ParameterError.of("at_K", f"must be a positive temperature. Got {at_K!r} instead.")
    ensembles = _by_temperature(paths)
    rng = np.random.default_rng(seed)
    schemes = {T: resampling_units(e.per_li_counts, e.block_counts, min_blocks=min_blocks,
                                 replica_counts=e.replica_counts, n_li=e.n_li) for T, e in ensembles.items()}
    markovian = _markovian(ensembles, schemes, n_bootstrap, rng)
    lag, notes = _lag(ensembles, markovian, lag_ps)
    at_t: list[RatesAtTemperature] = []
    rows = []
    for T, e in ensembles.items():
        lags = e.spec.lags_ps
        k = int(np.argmin(np.abs(np.array(lags) - lag)))
        at_t.append(rates_at_temperature(T, e.counts, schemes[T], lags_ps=lags, lag_index=k, n_resamples=n_bootstrap,
                                         rng=rng))
        rows.append(TemperatureLine(T, tuple(run.path for run in e.runs), e.n_runs, e.simulated_ps,
                                    int(e.counts[k].sum() - np.trace(e.counts[k])), bool(_at(markovian[T], lag))))
    temperatures = [r.temperature_K for r in at_t]
    generators = np.stack([r.generator for r in at_t])  # (m, n, n)
    samples = np.stack([r.samples for r in at_t])  # (m, schemes, R, n, n)
    n = generators.shape[-1]

    def fit(name: str, i: int, j: int, sign: float) -> ArrheniusFit:
        return arrhenius_fit(temperatures, sign * generators[:, i, j], sign * samples[..., i, j], name=name,
                             confidence=confidence, at_K=at_K)

    escape = tuple(fit(f"escape S{i}", i, i, -1.0) for i in range(n))
    pairs = tuple(fit(f"S{i} -> S{j}", i, j, 1.0) for i in range(n) for j in range(n)
                  if i != j and np.sum(generators[:, i, j] > 0) >= 2)
    return ArrheniusAnalysis(float(lag), float(at_K), tuple(rows), escape, pairs, notes)
