"""StateModel: feature scaler + GAT encoder + Gaussian mixture, in a physical state order; train, save, load, assign."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from sklearn.mixture import GaussianMixture

from . import model_file
from .encoder import GATEncoder, TrainingConfig
from .environments import StateDescription, centre_descriptor_array
from .graphs import FeatureSchema, LiGraphArrays, LiGraphBuilder
from .inference import MixtureLabels, graph_tensors, resolve_device, sparse_embed
from .training import FIT_PERCENTILE, embed_arrays, train_parts

__all__ = ["StateModel"]

log = logging.getLogger(__name__)



class StateModel:
    """Labels Li environments with states S0..Sn: standardise -> GAT encoder -> Gaussian mixture.

    Build one with ``StateModel.train`` or ``StateModel.load``; use ``assign``
    in the observers. See ``train`` for the parameters.
    """

    def __init__(self, schema: FeatureSchema, encoder: GATEncoder, scaler_mean: np.ndarray, scaler_scale: np.ndarray,
                 mixture: GaussianMixture, order: np.ndarray, *, training: dict, states: Sequence[StateDescription],
                 silhouette: float, silhouette_by_k: dict[int, float], device: str | torch.device = "cpu") -> None:
        self.schema = schema
        self.builder = LiGraphBuilder.from_schema(schema)
        self.encoder = encoder.eval()
        self.scaler_mean = np.asarray(scaler_mean, dtype=np.float32)
        self.scaler_scale = np.asarray(scaler_scale, dtype=np.float32)
        self.mixture = mixture
        self.order = np.asarray(order, dtype=np.int64)
        self._rank = np.argsort(self.order)  # raw component -> physical state number
        self.training = training
        self.states = tuple(states)
        self.silhouette = float(silhouette)
        self.silhouette_by_k = {int(k): float(v) for k, v in silhouette_by_k.items()}
        self.to(device)

    @property
    def n_states(self) -> int:
        return int(self.order.size)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n_states={self.n_states}, elements={self.schema.elements}, "
                f"silhouette={self.silhouette:.3f}, fingerprint={self.fingerprint[:12]})")

    # ---------------------------------------------------------------- inference
    def to(self, device: str | torch.device = "auto") -> StateModel:
        """Label on ``device`` ("auto": CUDA when torch sees a GPU, else the CPU); returns the model."""
        self.device = resolve_device(device)
        self.encoder.to(self.device)
        self._scaler = tuple(torch.as_tensor(a, device=self.device) for a in (self.scaler_mean, self.scaler_scale))
        self._labels = MixtureLabels(self.mixture, self.device) if hasattr(self.mixture, "means_") else None
        return self

    def _embed_arrays(self, x: np.ndarray, edge_index: np.ndarray, batch: np.ndarray,
                      centre: np.ndarray) -> np.ndarray:
        """Embeddings through ``GATEncoder.forward`` (``GATLayer``, PyTorch Geometric's ``GATConv`` written out), as
        in training."""
        return embed_arrays(self.encoder, self.scaler_mean, self.scaler_scale, (x, edge_index, batch, centre))

    def _embed_tensor(self, graphs: LiGraphArrays) -> torch.Tensor:
        with torch.inference_mode():
            return sparse_embed(self.encoder, graph_tensors(graphs, *self._scaler, self.device))

    def embed(self, atoms: Atoms) -> np.ndarray:
        """(n_Li, embedding_dim) float32 embeddings of the Li atoms of a frame, in atom-index order."""
        return self._embed_tensor(self.builder.arrays(atoms)).cpu().numpy()

    def _label(self, z: torch.Tensor) -> np.ndarray:
        if z.shape[0] == 0:
            return np.zeros(0, dtype=np.int8)
        return self._rank[self._labels(z).cpu().numpy()].astype(np.int8)

    def label_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        """(n,) int8 physical state numbers of embeddings (the mixture's ``predict``, computed in torch)."""
        return self._label(torch.as_tensor(np.asarray(embeddings), device=self.device))

    def check(self, atoms: Atoms) -> None:
        """Raise StructureError or FeatureSchemaError for a frame this model cannot label (``Labeller``)."""
        self.builder.arrays(atoms)

    def describe(self) -> dict:
        """What a store records of the model (``Labeller``)."""
        return {"fingerprint": self.fingerprint, "feature_schema": self.schema.to_dict(),
                "states": [s.to_dict() for s in self.states], "silhouette": self.silhouette,
                "fit_threshold": self.fit_threshold}

    def assign(self, atoms: Atoms) -> np.ndarray:
        """(n_Li,) int8 state of every Li atom of a frame, in atom-index order.

        The graphs are built on the CPU; features, encoder and mixture run on
        ``device`` and only the labels come back.
        """
        return self._label(self._embed_tensor(self.builder.arrays(atoms)))

    def assign_with_fit(self, atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
        """``assign``'s states and the mixture's log-likelihood of every Li environment (float64), for the drift
        guard: an environment below ``fit_threshold`` lies outside what the model saw in training."""
        return self._label_with_fit(self.builder.arrays(atoms))

    def _label_with_fit(self, graphs: LiGraphArrays) -> tuple[np.ndarray, np.ndarray]:
        z = self._embed_tensor(graphs)
        if z.shape[0] == 0:
            return np.zeros(0, dtype=np.int8), np.zeros(0)
        labels, log_likelihood = self._labels.labels_and_fit(z)
        return self._rank[labels.cpu().numpy()].astype(np.int8), log_likelihood.cpu().numpy()

    def environments(self, atoms: Atoms, labels: np.ndarray) -> dict:
        """The mean environment of the Li in each state of a labelled frame, from the same graphs the labels come
        from: ``elements``, ``li`` (Li atoms in each state), ``mean_counts`` (n_states, n_elements: atoms of each
        element within the shell) and ``mean_neighbour_distance_A`` (n_states,); NaN for a state no Li is in. The
        fields of ``analysis.records.Environments``."""
        return self._environments(self.builder.arrays(atoms), labels)

    def label_with_environments(self, atoms: Atoms) -> tuple[np.ndarray, np.ndarray, dict]:
        """``assign_with_fit`` and ``environments`` of a frame from one build of its graphs."""
        graphs = self.builder.arrays(atoms)
        labels, log_likelihood = self._label_with_fit(graphs)
        return labels, log_likelihood, self._environments(graphs, labels)

    def _environments(self, graphs: LiGraphArrays, labels: np.ndarray) -> dict:
        centre = centre_descriptor_array(graphs, self.schema)
        labels = np.asarray(labels, dtype=np.intp)
        n_el = len(self.schema.elements)
        li = np.bincount(labels, minlength=self.n_states)
        sums = np.zeros((self.n_states, centre.shape[1]))
        np.add.at(sums, labels, centre)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / li[:, None]
        return {"elements": tuple(self.schema.elements), "li": li, "mean_counts": means[:, :n_el],
                "mean_neighbour_distance_A": means[:, n_el]}

    @functools.cached_property
    def fit_threshold(self) -> float:
        """Log-likelihood of the 1st percentile of the training environments (recorded at training). For a model
        trained before it was recorded: the 1st percentile of 20,000 draws from the mixture itself, which was
        fitted to those environments."""
        recorded = self.training.get("fit_threshold")
        if recorded is not None:
            return float(recorded)
        m, rng = self.mixture, np.random.default_rng(0)
        counts = rng.multinomial(20_000, m.weights_)
        draws = np.concatenate([rng.multivariate_normal(mean, cov, size=k, method="cholesky")
                                for mean, cov, k in zip(m.means_, m.covariances_, counts)])
        return float(np.percentile(m.score_samples(draws), FIT_PERCENTILE))

    # ---------------------------------------------------------------- training
    @classmethod
    def train(
        cls,
        trajectories: Sequence[Sequence[Atoms]],
        n_states: int | str = 6,
        frame_fraction: float = 0.2,
        *,
        config: TrainingConfig | None = None,
        schema: FeatureSchema | None = None,
        k_range: tuple[int, int] = (2, 10),
        device: str = "cpu",
        progress: Callable[[int, int, float], None] | None = None,
        n_seeds: int = 1,
        frame_dt_ps: float | None = None,
    ) -> StateModel:
        """Train the encoder contrastively and fit the Gaussian mixture.

        Parameters
        ----------
        trajectories : sequence of sequences of ase.Atoms
            One or more trajectories (lists of frames).
        n_states : int or "auto", default 6
            Number of states; "auto" weighs every number in ``k_range`` by its silhouette, its cross-seed
            agreement and (with ``frame_dt_ps``) the metastability of its states (``states.selection``).
        frame_fraction : float, default 0.2
            Fraction of each trajectory's frames used, evenly spaced (paper: 20%).
        config : TrainingConfig, optional
            Encoder and training hyper-parameters (paper defaults).
        schema : FeatureSchema, optional
            Radii and element vocabulary (paper defaults).
        k_range : (int, int), default (2, 10)
            Inclusive range of state numbers scored by silhouette.
        device : str, default "cpu"
        progress : callable(epoch, n_epochs, loss), optional
        n_seeds : int, default 1
            Encoders trained (seeds ``config.seed``, ``+1``, ...). With several,
            the states are their consensus (see ``getsei_live.states.consensus``) and
            ``training["seed_agreement"]`` records the cross-seed adjusted Rand
            index; the model keeps the medoid seed's encoder.
        frame_dt_ps : float, optional
            Time between the frames of each trajectory (ps): with ``n_states="auto"`` the labels of every frame,
            in time order, are core-tested for each number of states (``states.selection``), so that the number
            picked gives metastable states; ``training["selection"]`` records the evidence and the rule.

        Returns
        -------
        StateModel
        """
        parts = train_parts(trajectories, n_states, frame_fraction, config=config or TrainingConfig(),
                            schema=schema or FeatureSchema(), k_range=k_range, device=device, progress=progress,
                            n_seeds=n_seeds, frame_dt_ps=frame_dt_ps)
        return cls(**parts, device=device)

    # ---------------------------------------------------------------- files (the format: getsei_live.states.model_file)
    def _payload(self) -> dict:
        return model_file.payload(self)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the configuration and every weight and array: equal models, equal fingerprints."""
        return model_file.fingerprint(self._payload())

    def save(self, path: str | Path) -> Path:
        """Write the model as one file of plain types and tensors (loads with ``weights_only=True``)."""
        return model_file.write(self._payload(), path)

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device = "auto") -> StateModel:
        """Read a saved model; files that are not one, hold pickled objects, or come from a newer schema are refused.

        ``device``: where ``assign`` runs; "auto" picks CUDA when torch sees a GPU (as the MACE calculator does).
        """
        return cls(**model_file.read(path), device=device)
