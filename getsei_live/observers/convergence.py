"""Moved to ``getsei_live.analysis.convergence``; kept so that old imports work."""

from ..analysis.convergence import (
    ConvergenceCriteria,
    ConvergenceMonitor,
    conditions,
    explain,
    snapshot,
)

__all__ = ["ConvergenceCriteria", "ConvergenceMonitor", "conditions", "explain", "snapshot"]
