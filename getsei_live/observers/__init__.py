"""ASE-facing parts of the live analysis: labelling frames, counting transitions, judging convergence."""

from __future__ import annotations

from ..analysis.convergence import ConvergenceCriteria, ConvergenceMonitor
from ..counting import TransitionCounter
from .distributed import replay_distributed
from .live import LiveMonitor, attach, replay

__all__ = ["ConvergenceCriteria", "ConvergenceMonitor", "LiveMonitor", "TransitionCounter", "attach", "replay",
           "replay_distributed"]
