"""Kinetics of discrete Li states: Koopman matrix, spectrum, rates, TPT fluxes and pathways.

Pure numpy and scipy: importing this package never imports torch.

>>> from getsei_live import analysis
>>> counts = [[90, 10], [5, 95]]             # transitions counted at a lag of 0.1 ps
>>> tm = analysis.transition_matrix(counts)
>>> rates = analysis.rate_matrix(tm.transition_matrix, lag=0.1)
>>> round(float(analysis.implied_timescales(tm.transition_matrix, lag=0.1).timescales[0]), 4)  # -0.1 / ln(0.85)
0.6153
"""

from __future__ import annotations

from ._result import nan_padded, strict_json
from .koopman import (
    TransitionMatrix,
    largest_connected_set,
    stationary_distribution,
    transition_matrix,
)
from .model import KineticModel, kinetic_model
from .pathways import Pathway, pathways
from .rates import RateMatrix, nearest_generator, rate_matrix
from .spectral import ImpliedTimescales, implied_timescales, timescales_by_lag
from .tpt import ReactiveFlux, committor, reactive_flux

__all__ = [
    "ImpliedTimescales",
    "KineticModel",
    "Pathway",
    "RateMatrix",
    "ReactiveFlux",
    "TransitionMatrix",
    "committor",
    "implied_timescales",
    "kinetic_model",
    "largest_connected_set",
    "nan_padded",
    "nearest_generator",
    "pathways",
    "rate_matrix",
    "reactive_flux",
    "stationary_distribution",
    "strict_json",
    "timescales_by_lag",
    "transition_matrix",
]
