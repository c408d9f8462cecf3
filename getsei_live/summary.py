"""The full offline analysis of a run store, shared by ``getsei-live analyze`` and ``getsei-live report``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .analysis import KineticModel, kinetic_model, timescales_by_lag
from .analysis.convergence import ConvergenceCriteria, snapshot
from .counting import committed_counter
from .errors import ParameterError
from .store import RunStore

__all__ = ["StoreAnalysis", "analyze_store"]


@dataclass(frozen=True, slots=True)
class StoreAnalysis:
    """A store's committed data analysed at one lag.

    Attributes
    ----------
    info : dict
        Store, status, committed frames, simulated time, lags and the implied timescales at every lag.
    model : KineticModel
    counts : (n_lags, n, n) ndarray
    per_li_counts : (n_li, n_lags, n, n) ndarray
    lag_index : int
    snapshot : dict
        The live monitor's analysis of the same counts: intervals from resampling
        Li atoms and blocks of time, and the Markov test at every lag
        (``snapshot["markov"]``, with the Chapman-Kolmogorov test at the lag used).
    """

    info: dict
    model: KineticModel
    counts: np.ndarray
    per_li_counts: np.ndarray
    lag_index: int
    snapshot: dict

    def to_dict(self) -> dict:
        """What ``getsei-live analyze --json`` prints."""
        intervals = {k: self.snapshot.get(k) for k in ("confidence", "interval_method", "pathway_fraction_ci",
                                                       "top_route_resolved", "timescales_ci",
                                                       "timescales_by_lag_ci")}
        return {**self.info, "markov": self.snapshot["markov"], "intervals": intervals,
                "model": self.model.to_dict()}


def analyze_store(path: str | Path, *, lag_ps: float | str | None = None, source=None, target=None,
                  reversible: bool = False, n_pathways: int = 5, n_bootstrap: int = 200,
                  seed: int = 0) -> StoreAnalysis:
    """Analyse the committed frames of a store (read-only; fine while another process writes it).

    Parameters
    ----------
    path : str or Path
    lag_ps : float or "auto", optional
        One of the store's lags, or "auto" for the shortest lag that passes the
        Markov test; default the run's analysis lag.
    source, target : state(s), optional
        Default: the least and the most mobile state that holds a real share of the Li.
    reversible : bool, default False
    n_pathways : int, default 5
    n_bootstrap : int, default 200
        Resamples of Li atoms and of blocks of time for the intervals.
    seed : int, default 0
    """
    store = RunStore.open(path, "r")
    lags_ps = store.spec.lags_ps
    live = store.analysis
    if lag_ps is None:
        lag_ps = live.get("lag_ps", max(lags_ps))
    counter, _ = committed_counter(store)
    counts = counter.counts()
    n = store.committed_frames
    simulated = float(store.times_ps()[-1]) if n else 0.0
    if lag_ps == "auto":
        lag_index = None
        if counts[0].sum() == 0:
            raise ParameterError(f"The run is shorter than its shortest lag ({n} frames, {simulated:g} ps).")
    else:
        matches = [k for k, v in enumerate(lags_ps) if np.isclose(v, lag_ps)]
        if not matches:
            raise ParameterError(f"The store counts lags {', '.join(f'{v:g}' for v in lags_ps)} ps; "
                                 f"a lag of {lag_ps:g} ps is not one of them.")
        lag_index = matches[0]
        if counts[lag_index].sum() == 0:
            raise ParameterError(f"The lag ({lag_ps:g} ps) is longer than the run so far ({n} frames, "
                                 f"{simulated:g} ps): no transitions at that lag yet.")
    stored = live.get("criteria") or {}
    criteria = ConvergenceCriteria.from_dict({**stored, "n_pathways": n_pathways, "n_bootstrap": n_bootstrap})
    snap = snapshot(counts, counter.per_li_counts(), counter.block_counts(), lags_ps=lags_ps, lag_index=lag_index,
                    source=source, target=target, criteria=criteria, rng=np.random.default_rng(seed),
                    block_ps=counter.block_frames * store.spec.frame_dt_ps)
    lag_index = lags_ps.index(snap["lag_ps"])
    model = kinetic_model(counts[lag_index], snap["lag_ps"], source=source, target=target, reversible=reversible,
                          n_pathways=n_pathways, min_population=criteria.min_population,
                          min_transitions_out=criteria.min_transitions)
    by_lag = [t.tolist() for t in timescales_by_lag(counts, lags_ps, reversible=reversible)]
    info = {"store": str(path), "status": store.status, "stop_reason": store.stop_reason, "committed_frames": n,
            "simulated_ps": simulated, "lags_ps": list(lags_ps), "timescales_by_lag": by_lag}
    return StoreAnalysis(info, model, counts, counter.per_li_counts(), lag_index, snap)
