"""The full offline analysis of a run store, shared by ``getsei-live analyze`` and ``getsei-live report``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .analysis import KineticModel, kinetic_model, timescales_by_lag
from .errors import ParameterError
from .observers.live import committed_counter
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
    """

    info: dict
    model: KineticModel
    counts: np.ndarray
    per_li_counts: np.ndarray
    lag_index: int

    def to_dict(self) -> dict:
        """What ``getsei-live analyze --json`` prints."""
        return {**self.info, "model": self.model.to_dict()}


def analyze_store(path: str | Path, *, lag_ps: float | None = None, source=None, target=None,
                  reversible: bool = False, n_pathways: int = 5) -> StoreAnalysis:
    """Analyse the committed frames of a store (read-only; fine while another process writes it).

    Parameters
    ----------
    path : str or Path
    lag_ps : float, optional
        One of the store's lags; default the run's analysis lag.
    source, target : state(s), optional
        Default: the least and the most mobile state.
    reversible : bool, default False
    n_pathways : int, default 5
    """
    store = RunStore.open(path, "r")
    lags_ps = store.spec.lags_ps
    if lag_ps is None:
        lag_ps = store.analysis.get("lag_ps", max(lags_ps))
    matches = [k for k, v in enumerate(lags_ps) if np.isclose(v, lag_ps)]
    if not matches:
        raise ParameterError(f"The store counts lags {', '.join(f'{v:g}' for v in lags_ps)} ps; "
                             f"a lag of {lag_ps:g} ps is not one of them.")
    counter, _ = committed_counter(store)
    counts = counter.counts()
    n = store.committed_frames
    simulated = float(store.times_ps()[-1]) if n else 0.0
    if counts[matches[0]].sum() == 0:
        raise ParameterError(f"The lag ({lag_ps:g} ps) is longer than the run so far ({n} frames, {simulated:g} ps): "
                             f"no transitions at that lag yet.")
    model = kinetic_model(counts[matches[0]], lag_ps, source=source, target=target, reversible=reversible,
                          n_pathways=n_pathways)
    by_lag = [t.tolist() for t in timescales_by_lag(counts, lags_ps, reversible=reversible)]
    info = {"store": str(path), "status": store.status, "stop_reason": store.stop_reason, "committed_frames": n,
            "simulated_ps": simulated, "lags_ps": list(lags_ps), "timescales_by_lag": by_lag}
    return StoreAnalysis(info, model, counts, counter.per_li_counts(), matches[0])
