"""getsei-live: GET-SEI analysis of lithium transport while an ASE molecular-dynamics run is going.

The kinetics core (``getsei_live.analysis``) needs only numpy and scipy; the
names that need torch (``LiGraphBuilder`` and what builds on it) are imported
on first use, so ``import getsei_live.analysis`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .errors import FeatureSchemaError, GetseiError, ParameterError, StructureError

try:
    __version__ = version("getsei-live")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

_LAZY = {
    "LiGraphBuilder": "getsei_live.states.graphs",
    "FeatureSchema": "getsei_live.states.graphs",
    "TransitionCounter": "getsei_live.analysis.counting",
    "ConvergenceCriteria": "getsei_live.analysis.criteria",
    "Snapshot": "getsei_live.analysis.records",
    "Verdict": "getsei_live.analysis.records",
    "MDSettings": "getsei_live.md.run",
    "run_live_md": "getsei_live.md.run",
    "LiveMonitor": "getsei_live.observers.monitor",
    "MonitorSettings": "getsei_live.observers.settings",
    "AnalysisSettings": "getsei_live.observers.settings",
    "ExecutionSettings": "getsei_live.observers.settings",
    "attach": "getsei_live.observers.live",
    "replay": "getsei_live.observers.live",
    "replay_distributed": "getsei_live.observers.distributed",
    "analyze_store": "getsei_live.offline.summary",
    "arrhenius_stores": "getsei_live.offline.temperatures",
    "StateModel": "getsei_live.states.model",
    "RunStore": "getsei_live.store.run_store",
    "RunSpec": "getsei_live.store.spec",
}

__all__ = ["FeatureSchemaError", "GetseiError", "ParameterError", "StructureError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'getsei_live' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
