"""The steps of ``StateModel.train``: training graphs, an encoder per seed, the mixture, and the consensus of seeds."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from ase import Atoms
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture

from ..errors import ParameterError
from .consensus import agreement as agreement_of
from .consensus import consensus, mixture_from_labels
from .encoder import GATEncoder, GraphSet, TrainingConfig, train_encoder
from .environments import StateDescription, centre_descriptor_array, physical_order
from .graphs import FeatureSchema, LiGraphArrays, LiGraphBuilder
from .selection import StateNumber, choose, metastability_of

__all__ = ["EncoderFit", "FIT_PERCENTILE", "fit_encoder", "fit_states", "train_parts", "training_graphs"]

#: Percentile of the training environments' log-likelihood below which an environment is out of distribution.
FIT_PERCENTILE = 1.0

log = logging.getLogger(__name__)

SILHOUETTE_SAMPLE = 4000


def training_graphs(trajectories: Sequence[Sequence[Atoms]], frame_fraction: float,
                    schema: FeatureSchema) -> list[LiGraphArrays]:
    """The graphs of ``frame_fraction`` of each trajectory's frames, evenly spaced."""
    builder = LiGraphBuilder.from_schema(schema)
    frames = []
    for trajectory in trajectories:
        n = len(trajectory)
        take = max(1, int(round(frame_fraction * n)))
        for index in np.unique(np.linspace(0, n - 1, take).round().astype(int)):
            frames.append(builder.arrays(trajectory[index]))
    return frames


def embed_arrays(encoder: GATEncoder, mean: np.ndarray, scale: np.ndarray, arrays: tuple) -> np.ndarray:
    """Embeddings of one batch ``(x, edge_index, batch, centre)`` through ``GATEncoder.forward``."""
    x, *rest = arrays
    device = next(encoder.parameters()).device
    with torch.inference_mode():
        z = encoder(*(torch.from_numpy(a).to(device) for a in ((x - mean) / scale, *rest)))
    return z.cpu().numpy()


def embed_graph_set(encoder: GATEncoder, mean: np.ndarray, scale: np.ndarray, graphs: GraphSet,
                     batch_graphs: int = 4096) -> np.ndarray:
    """Embeddings of many graphs (training data), a batch of ``batch_graphs`` at a time."""
    n = len(graphs)
    return np.concatenate([embed_arrays(encoder, mean, scale,
                                        graphs.select(np.arange(start, min(n, start + batch_graphs))))
                           for start in range(0, n, batch_graphs)])


@dataclass(frozen=True)
class EncoderFit:
    """One trained encoder, the feature scaling it was trained with, its losses and the training embeddings."""

    encoder: GATEncoder
    mean: np.ndarray
    scale: np.ndarray
    losses: list[float]
    embeddings: np.ndarray
    seed: int


def fit_encoder(graphs: GraphSet, config: TrainingConfig, *, device: str,
                progress: Callable[[int, int, float], None] | None) -> EncoderFit:
    mean = graphs.x.mean(axis=0)
    scale = graphs.x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    raw_x = graphs.x
    graphs.x = ((raw_x - mean) / scale).astype(np.float32)
    try:
        encoder, losses = train_encoder(graphs, config, device=device, progress=progress)
    finally:
        graphs.x = raw_x
    embeddings = embed_graph_set(encoder.eval(), mean.astype(np.float32), scale.astype(np.float32),
                                  graphs).astype(np.float64)
    return EncoderFit(encoder, mean, scale, [float(v) for v in losses], embeddings, config.seed)


def _mixtures(embeddings: np.ndarray, ks: Sequence[int], seed: int,
              score: bool = True) -> dict[int, tuple[GaussianMixture, float]]:
    """A full-covariance mixture and its silhouette score (on a sample; NaN unless ``score``) for every number of
    states in ``ks``."""
    sample = np.random.default_rng(seed).choice(len(embeddings), size=min(SILHOUETTE_SAMPLE, len(embeddings)),
                                                replace=False)
    out = {}
    for k in ks:
        gmm = GaussianMixture(n_components=k, covariance_type="full", n_init=2, random_state=seed).fit(embeddings)
        labels = gmm.predict(embeddings[sample]) if score else None
        out[k] = gmm, (float(silhouette_score(embeddings[sample], labels) if len(set(labels)) > 1 else -1.0)
                       if score else float("nan"))
    return out


def _evidence(fits: Sequence[EncoderFit], first: dict, ks: Sequence[int],
              timeline: Sequence[tuple[GraphSet, int]], frame_dt_ps: float | None) -> dict[int, StateNumber]:
    """The evidence for every number of states (``selection``): silhouette, cross-seed agreement, and the core
    test of the labels of every frame of the time-ordered trajectories (with the first seed's encoder)."""
    others = [_mixtures(f.embeddings, ks, f.seed, score=False) for f in fits[1:]]
    frames = []
    if timeline and frame_dt_ps:
        fit = fits[0]
        mean, scale = fit.mean.astype(np.float32), fit.scale.astype(np.float32)
        frames = [(embed_graph_set(fit.encoder.eval(), mean, scale, g).astype(np.float64), len(g) // n_frames)
                  for g, n_frames in timeline]
    evidence = {}
    for k in ks:
        mixture, silhouette = first[k]
        agreement = None
        if others:
            labelings = [mixture.predict(fits[0].embeddings)] + [o[k][0].predict(f.embeddings)
                                                                 for o, f in zip(others, fits[1:])]
            pairs = agreement_of(labelings)
            agreement = float(pairs[np.triu_indices(len(labelings), 1)].mean())
        timed = {}
        if frames:
            labels = [mixture.predict(z).reshape(-1, n_li).astype(np.int8) for z, n_li in frames]
            rate, t1, doubled, passed = metastability_of(labels, k, frame_dt_ps)
            timed = dict(events_per_li_ps=rate, t1_ps=t1, t1_doubled_ps=doubled, metastable=passed)
        evidence[k] = StateNumber(k, silhouette, agreement, **timed)
        log.info("%d states: silhouette %.3f, cross-seed ARI %s%s", k, silhouette,
                 "-" if agreement is None else f"{agreement:.3f}",
                 f", {timed['events_per_li_ps']:.3g} changes per Li per ps, t1 {timed['t1_ps']:.3g} -> "
                 f"{timed['t1_doubled_ps']:.3g} ps at twice the core: "
                 f"{ {True: 'metastable', False: 'not metastable', None: 'not judged'}[timed['metastable']] }"
                 if timed else "")
    return evidence


def fit_states(graphs: GraphSet, n_states: int | str, k_range: tuple[int, int], config: TrainingConfig,
               n_seeds: int, *, device: str, progress, timeline: Sequence[tuple[GraphSet, int]] = (),
               frame_dt_ps: float | None = None) -> tuple[EncoderFit, GaussianMixture, dict, dict, dict]:
    """Encoders of ``n_seeds`` consecutive seeds and their mixtures; with several, the consensus (``consensus``).

    With ``n_states="auto"`` every number in ``k_range`` is weighed by ``selection`` (``timeline``: the graphs of
    every frame of each time-ordered trajectory and its number of frames, ``frame_dt_ps`` apart, for the core
    test of each number).

    Returns the encoder kept, its mixture, the silhouette by number of states, what the seeds agreed
    (``{"seeds", "pairwise_ari", "mean_ari", "medoid_seed", "ari_to_consensus"}``; empty for one seed) and the
    selection (``{"evidence": [StateNumber.to_dict()...], "rule": why}``; empty unless "auto").
    """
    lo, hi = k_range
    ks = list(range(lo, hi + 1)) if n_states == "auto" else [int(n_states)]
    fits = [fit_encoder(graphs, replace(config, seed=config.seed + s), device=device, progress=progress)
            for s in range(n_seeds)]
    first = _mixtures(fits[0].embeddings, ks, config.seed)
    scores = {k: s for k, (_, s) in first.items()}
    selection = {}
    if n_states == "auto":
        evidence = _evidence(fits, first, ks, timeline, frame_dt_ps)
        chosen, why = choose(list(evidence.values()))
        evidence[chosen] = replace(evidence[chosen], chosen=True)
        selection = {"evidence": [e.to_dict() for e in evidence.values()], "rule": why}
        log.info("Chosen: %s.", why)
    else:
        chosen = ks[0]
    if n_seeds == 1:
        return fits[0], first[chosen][0], scores, {}, selection
    mixtures = [first[chosen][0]] + [_mixtures(f.embeddings, [chosen], f.seed)[chosen][0] for f in fits[1:]]
    labelings = [m.predict(f.embeddings) for m, f in zip(mixtures, fits)]
    medoid, labels, ari = consensus(labelings, chosen)
    kept = fits[medoid]
    mixture = mixture_from_labels(kept.embeddings, labels, chosen, kept.seed)
    upper = ari[np.triu_indices(n_seeds, 1)]
    agreement = {"seeds": [f.seed for f in fits], "pairwise_ari": upper.round(4).tolist(),
                 "mean_ari": float(upper.mean()), "medoid_seed": kept.seed,
                 "ari_to_consensus": float(agreement_of([labels, mixture.predict(kept.embeddings)])[0, 1])}
    log.info("Cross-seed ARI of %d encoders: mean %.3f (min %.3f); the model keeps seed %d.", n_seeds,
             agreement["mean_ari"], upper.min(), kept.seed)
    return kept, mixture, scores, agreement, selection


def describe_states(labels: np.ndarray, centre: np.ndarray, order: np.ndarray,
                    schema: FeatureSchema) -> list[StateDescription]:
    """The mean environment of each state's central Li, in physical order."""
    n_el = len(schema.elements)
    states = []
    for number, component in enumerate(order):
        mine = centre[labels == component]
        states.append(StateDescription(
            index=number, population=float(mine.shape[0] / centre.shape[0]),
            mean_counts={e: float(mine[:, k].mean()) if mine.size else 0.0 for k, e in enumerate(schema.elements)},
            mean_neighbour_distance_A=float(mine[:, n_el].mean()) if mine.size else 0.0))
    return states


def centre_descriptors(frames: list[LiGraphArrays], schema: FeatureSchema) -> np.ndarray:
    return np.concatenate([centre_descriptor_array(f, schema) for f in frames])


def train_parts(trajectories: Sequence[Sequence[Atoms]], n_states: int | str, frame_fraction: float, *,
                config: TrainingConfig, schema: FeatureSchema, k_range: tuple[int, int], device: str,
                progress: Callable[[int, int, float], None] | None, n_seeds: int,
                frame_dt_ps: float | None = None) -> dict:
    """The ``StateModel`` constructor's arguments (all but ``device``) of a newly trained model; see
    ``StateModel.train``."""
    if not 0 < frame_fraction <= 1:
        raise ParameterError.of("frame_fraction", f"must lie in (0, 1]. Got {frame_fraction!r} instead.")
    if n_states != "auto" and (isinstance(n_states, bool) or not isinstance(n_states, int) or n_states < 2):
        raise ParameterError.of("n_states", f"must be an integer >= 2 or 'auto'. Got {n_states!r}.")
    lo, hi = k_range
    if not 2 <= lo <= hi:
        raise ParameterError.of("k_range", f"must be (low, high) with 2 <= low <= high. Got {k_range!r}.")
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1:
        raise ParameterError.of("n_seeds", f"must be a positive integer. Got {n_seeds!r} instead.")
    if frame_dt_ps is not None and not frame_dt_ps > 0:
        raise ParameterError.of("frame_dt_ps", f"must be a positive time between frames in ps. "
                             f"Got {frame_dt_ps!r} instead.")
    frames = training_graphs(trajectories, frame_fraction, schema)
    graphs = GraphSet(frames)
    log.info("Training on %d Li environments from %d frames.", len(graphs), len(frames))
    timeline = ([(GraphSet(training_graphs([t], 1.0, schema)), len(t)) for t in trajectories]
                if n_states == "auto" and frame_dt_ps else [])
    fit, mixture, scores, agreement, selection = fit_states(graphs, n_states, (lo, hi), config, n_seeds,
                                                            device=device, progress=progress, timeline=timeline,
                                                            frame_dt_ps=frame_dt_ps)
    labels = mixture.predict(fit.embeddings)
    centre = centre_descriptors(frames, schema)
    order = physical_order(labels, centre, schema, mixture.n_components)
    training = {
        **replace(config, seed=fit.seed).to_dict(),
        "frame_fraction": float(frame_fraction),
        "n_frames": len(frames),
        "n_environments": len(graphs),
        "losses": fit.losses,
        "k_range": [int(lo), int(hi)],
        "n_states_requested": n_states if n_states == "auto" else int(n_states),
        "fit_threshold": float(np.percentile(mixture.score_samples(fit.embeddings), FIT_PERCENTILE)),
        **({"seed_agreement": agreement} if agreement else {}),
        **({"selection": selection} if selection else {}),
        **({"frame_dt_ps": float(frame_dt_ps)} if frame_dt_ps else {}),
    }
    return dict(schema=schema, encoder=fit.encoder, scaler_mean=fit.mean, scaler_scale=fit.scale, mixture=mixture,
                order=order, training=training, states=describe_states(labels, centre, order, schema),
                silhouette=scores.get(mixture.n_components, scores[max(scores)]), silhouette_by_k=scores)
