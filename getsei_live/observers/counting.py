"""Moved to ``getsei_live.counting``; kept so that old imports work."""

from ..counting import TransitionCounter, committed_counter, recount

__all__ = ["TransitionCounter", "committed_counter", "recount"]
