"""Graph contrastive learning: GAT encoder, graph augmentations, NT-Xent loss and the training loop."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ParameterError, check_fields
from .graphs import LiGraphArrays

__all__ = ["GATEncoder", "GATLayer", "GraphSet", "TrainingConfig", "augment", "nt_xent", "train_encoder"]

log = logging.getLogger(__name__)


class GATLayer(nn.Module):
    """One graph attention layer: PyTorch Geometric's ``GATConv(in_channels, out_channels, heads)`` with its
    defaults (a self-loop per node, LeakyReLU(0.2) scores, softmax over each node's incoming edges, heads
    concatenated, a bias, no dropout), its parameter names (``lin.weight``, ``att_src``, ``att_dst``, ``bias``) and
    its initialisation (Glorot; zero bias), so that weights saved by either load into the other.

    Written here because importing PyTorch Geometric takes 4 s (it imports ``torch._dynamo``) in every process that
    labels: the command line, each Dask worker, each test that starts Python. ``tests/states/test_encoder.py`` holds
    it to ``GATConv``: the same parameters from the same seed, the same output.

    Shapes
    ------
    forward(x: (n_nodes, in_channels), edge_index: (2, n_edges) sources then targets) -> (n_nodes, heads * out)
    """

    negative_slope = 0.2

    def __init__(self, in_channels: int, out_channels: int, heads: int = 1) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.heads = in_channels, out_channels, heads
        self.lin = nn.Linear(in_channels, heads * out_channels, bias=False)
        self.att_src = nn.Parameter(torch.empty(1, heads, out_channels))
        self.att_dst = nn.Parameter(torch.empty(1, heads, out_channels))
        self.bias = nn.Parameter(torch.empty(heads * out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            for weight in (self.lin.weight, self.att_src, self.att_dst):  # Glorot over the last two dimensions
                bound = math.sqrt(6.0 / (weight.size(-2) + weight.size(-1)))
                weight.uniform_(-bound, bound)
            self.bias.zero_()

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        n, heads, channels = x.size(0), self.heads, self.out_channels
        z = self.lin(x).view(n, heads, channels)
        score_src, score_dst = (z * self.att_src).sum(-1), (z * self.att_dst).sum(-1)  # (N, H)
        loops = torch.arange(n, device=x.device)
        kept = edge_index[0] != edge_index[1]  # any self-loop given is replaced by the one added
        src = torch.cat([edge_index[0][kept], loops])
        dst = torch.cat([edge_index[1][kept], loops])
        score = F.leaky_relu(score_src.index_select(0, src) + score_dst.index_select(0, dst), self.negative_slope)
        at_target = dst.view(-1, 1).expand_as(score)
        peak = score.new_zeros(n, heads).scatter_reduce_(0, at_target, score.detach(), "amax", include_self=False)
        weight = (score - peak.index_select(0, dst)).exp()
        total = weight.new_zeros(n, heads).scatter_add_(0, at_target, weight) + 1e-16
        alpha = weight / total.index_select(0, dst)
        message = alpha.unsqueeze(-1) * z.index_select(0, src)  # (M, H, C)
        out = z.new_zeros(n, heads, channels).scatter_add_(0, dst.view(-1, 1, 1).expand_as(message), message)
        return out.view(n, heads * channels) + self.bias

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.in_channels}, {self.out_channels}, heads={self.heads})"


class GATEncoder(nn.Module):
    """Two GAT layers, graph readout and a projection head to the embedding.

    The readout concatenates the mean over the graph's nodes with the central
    Li node, since the centre is what the graph describes.

    Parameters
    ----------
    in_channels : int
        Node feature size.
    hidden_channels : int, default 32
        Channels per attention head.
    heads : int, default 4
    embedding_dim : int, default 32

    Shapes
    ------
    forward(x: (n_nodes, in_channels), edge_index: (2, n_edges), batch: (n_nodes,), centre: (n_graphs,))
    -> (n_graphs, embedding_dim)
    """

    def __init__(self, in_channels: int, hidden_channels: int = 32, heads: int = 4, embedding_dim: int = 32) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.heads = heads
        self.embedding_dim = embedding_dim
        width = hidden_channels * heads
        self.conv1 = GATLayer(in_channels, hidden_channels, heads=heads)
        self.conv2 = GATLayer(width, hidden_channels, heads=heads)
        self.act = nn.ELU()
        self.head = nn.Sequential(nn.Linear(2 * width, width), nn.ELU(), nn.Linear(width, embedding_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.conv1.reset_parameters()
        self.conv2.reset_parameters()
        for layer in self.head:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor,
                centre: torch.Tensor) -> torch.Tensor:
        h = self.act(self.conv1(x, edge_index))
        h = self.act(self.conv2(h, edge_index))
        n_graphs = centre.numel()
        count = h.new_zeros(n_graphs).scatter_add_(0, batch, h.new_ones(batch.numel())).clamp(min=1)
        mean = h.new_zeros(n_graphs, h.size(1)).scatter_add_(0, batch.view(-1, 1).expand_as(h), h) / count[:, None]
        readout = torch.cat([mean, h[centre]], dim=1)
        return self.head(readout)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(in_channels={self.in_channels}, hidden_channels={self.hidden_channels}, "
                f"heads={self.heads}, embedding_dim={self.embedding_dim})")


class GraphSet:
    """Many Li graphs (from many frames) as concatenated arrays, with fast selection of mini-batches.

    Parameters
    ----------
    frames : sequence of LiGraphArrays
    """

    def __init__(self, frames: Sequence[LiGraphArrays]) -> None:
        if not frames:
            raise ParameterError("No graphs to train on: the frame list is empty.")
        node_offsets = np.cumsum([0] + [f.x.shape[0] for f in frames])
        self.x = np.concatenate([f.x for f in frames])
        self.edge_index = np.concatenate([f.edge_index + o for f, o in zip(frames, node_offsets)], axis=1)
        self.ptr = np.concatenate([[0]] + [f.ptr[1:] + o for f, o in zip(frames, node_offsets)])
        # Edges are sorted by source node, so each graph's edges are one contiguous run.
        self.edge_ptr = np.searchsorted(self.edge_index[0], self.ptr)

    def __len__(self) -> int:
        return self.ptr.size - 1

    def select(self, graphs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Gather graphs into one batch: ``(x, edge_index, batch, centre)`` with local numbering."""
        sizes = self.ptr[graphs + 1] - self.ptr[graphs]
        new_ptr = np.concatenate([[0], np.cumsum(sizes)])
        nodes = np.repeat(self.ptr[graphs] - new_ptr[:-1], sizes) + np.arange(new_ptr[-1])
        edge_sizes = self.edge_ptr[graphs + 1] - self.edge_ptr[graphs]
        edge_starts = np.concatenate([[0], np.cumsum(edge_sizes)])
        edges = np.repeat(self.edge_ptr[graphs] - edge_starts[:-1], edge_sizes) + np.arange(edge_starts[-1])
        shift = np.repeat(self.ptr[graphs] - new_ptr[:-1], edge_sizes)
        edge_index = self.edge_index[:, edges] - shift
        batch = np.repeat(np.arange(graphs.size), sizes)
        return self.x[nodes], edge_index, batch, new_ptr[:-1]


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    """Hyper-parameters of contrastive training (defaults: the paper's values where it gives them).

    Attributes
    ----------
    epochs : int
    batch_size : int
        Graphs per mini-batch; the other graphs of the batch are the negatives.
    learning_rate : float
    edge_dropout : float
        Probability of dropping each edge in a view (paper: 0.1).
    feature_mask : float
        Fraction of feature columns zeroed in a view (paper: 0.2).
    temperature : float
        NT-Xent temperature (paper: 0.5).
    hidden_channels, heads, embedding_dim : int
        Encoder size (paper: 2 GAT layers, 4 heads, 32-d embedding).
    seed : int
    """

    epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 1e-3
    edge_dropout: float = 0.1
    feature_mask: float = 0.2
    temperature: float = 0.5
    hidden_channels: int = 32
    heads: int = 4
    embedding_dim: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        check_fields(self, integers={"epochs": 1, "batch_size": 2, "hidden_channels": 1, "heads": 1,
                                     "embedding_dim": 1},
                     positive=("learning_rate", "temperature"), unit_interval=("edge_dropout", "feature_mask"))

    def to_dict(self) -> dict:
        return asdict(self)


def augment(x: torch.Tensor, edge_index: torch.Tensor, *, edge_dropout: float, feature_mask: float,
            generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One random view: drop each edge with probability ``edge_dropout`` and zero a random
    ``feature_mask`` fraction of the feature columns (features are standardised, so 0 is the mean)."""
    keep = torch.rand(edge_index.shape[1], generator=generator) >= edge_dropout
    columns = torch.rand(x.shape[1], generator=generator) >= feature_mask
    return x * columns.to(x.dtype), edge_index[:, keep]


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent (InfoNCE) loss with cosine similarity and in-batch negatives.

    ``z1[i]`` and ``z2[i]`` are the positive pair; the other 2(B - 1) embeddings
    of the batch are the negatives of each.

    Shapes: z1, z2: (B, d) -> scalar.
    """
    z = nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    similarity = z @ z.T / temperature
    similarity.fill_diagonal_(float("-inf"))
    b = z1.shape[0]
    positives = torch.cat([torch.arange(b, 2 * b), torch.arange(b)])
    return nn.functional.cross_entropy(similarity, positives)


def train_encoder(
    graphs: GraphSet,
    config: TrainingConfig,
    *,
    device: str = "cpu",
    progress: Callable[[int, int, float], None] | None = None,
) -> tuple[GATEncoder, list[float]]:
    """Train a GAT encoder contrastively on standardised graphs.

    Parameters
    ----------
    graphs : GraphSet
        Training graphs with standardised node features.
    config : TrainingConfig
    device : str
        "cpu" or "cuda".
    progress : callable(epoch, n_epochs, mean_loss), optional
        Called after every epoch.

    Returns
    -------
    encoder : GATEncoder
        In eval mode, on the CPU.
    losses : list of float
        Mean loss of every epoch.
    """
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    encoder = GATEncoder(graphs.x.shape[1], config.hidden_channels, config.heads, config.embedding_dim).to(device)
    optimiser = torch.optim.Adam(encoder.parameters(), lr=config.learning_rate)
    losses = []
    n = len(graphs)
    n_batches = max(1, n // config.batch_size)
    encoder.train()
    for epoch in range(1, config.epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(n)
        total = 0.0
        for k in range(n_batches):
            chosen = order[k * config.batch_size:(k + 1) * config.batch_size]
            x, edge_index, batch, centre = (torch.from_numpy(a) for a in graphs.select(chosen))
            views = [augment(x, edge_index, edge_dropout=config.edge_dropout, feature_mask=config.feature_mask,
                             generator=generator) for _ in range(2)]
            batch, centre = batch.to(device), centre.to(device)
            z1, z2 = (encoder(v.to(device), e.to(device), batch, centre) for v, e in views)
            loss = nt_xent(z1, z2, config.temperature)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item()
        losses.append(total / n_batches)
        log.info("epoch %d/%d  loss %.4f  (%.1f s)", epoch, config.epochs, losses[-1], time.perf_counter() - start)
        if progress is not None:
            progress(epoch, config.epochs, losses[-1])
    return encoder.cpu().eval(), losses
