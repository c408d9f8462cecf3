"""ASE-facing parts of the live analysis: labelling frames, counting transitions, judging convergence."""

from __future__ import annotations

from .counting import TransitionCounter

__all__ = ["TransitionCounter"]
