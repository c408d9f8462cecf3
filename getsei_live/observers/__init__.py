"""ASE-facing live analysis: settings, frame capture, the worker, the monitor, the drift guard, the warm-up, the replays.

Nothing is imported here, so ``import getsei_live.observers`` costs nothing; ``attach`` and ``replay`` live in
``getsei_live.observers.live`` (and at the top level, ``getsei_live.attach``).
"""
