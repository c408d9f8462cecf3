"""Labelling on a device: the GAT encoder with sparse matrix products, and the mixture's labels in torch.

``GATEncoder.forward`` (``GATLayer``: PyTorch Geometric's ``GATConv``) gathers a 128-wide
message per edge and scatters it back. For inference the same arithmetic is
cheaper as one sparse attention matrix per head (CSR, rows = targets, one
self-loop per node, softmax over each row) times the node features: no
per-edge copies of the features, MKL or cuSPARSE does the products. 2-3x
faster on a CPU; on a GPU one batch per frame. Training keeps ``forward``; the
tests hold the two equal.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from torch.nn import functional as F

from .encoder import GATEncoder
from .graphs import LiGraphArrays

__all__ = ["GraphTensors", "MixtureLabels", "graph_tensors", "resolve_device", "sparse_embed"]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"`` (or None): CUDA when torch sees a GPU, else the CPU; otherwise the device named."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass(frozen=True, slots=True)
class GraphTensors:
    """A frame's graphs on a device: standardised features ``x`` (N, F); the edges with a self-loop per node in
    CSR order (``crow`` (N + 1,), ``src`` and ``dst`` (M,)); ``batch`` (N,) and ``centre`` (G,)."""

    x: torch.Tensor
    crow: torch.Tensor
    src: torch.Tensor
    dst: torch.Tensor
    batch: torch.Tensor
    centre: torch.Tensor


def graph_tensors(graphs: LiGraphArrays, scaler_mean: np.ndarray | torch.Tensor,
                  scaler_scale: np.ndarray | torch.Tensor, device: torch.device) -> GraphTensors:
    """Move a frame's graphs to ``device`` (one transfer of features, one of indices) in the layout of
    ``sparse_embed``. Edges are stored in both directions sorted by source, so swapping the two rows sorts them by
    target; each target's self-loop goes first in its row."""
    n = graphs.x.shape[0]
    target, source = graphs.edge_index[1], graphs.edge_index[0]
    if target.size and np.any(np.diff(target) < 0):  # not symmetric: sort by target
        order = np.argsort(target, kind="stable")
        target, source = target[order], source[order]
    degree = np.bincount(target, minlength=n) + 1
    crow = np.concatenate([[0], np.cumsum(degree)])
    rank = np.arange(target.size) - (np.cumsum(degree - 1) - (degree - 1))[target]
    src = np.empty(crow[-1], dtype=np.int64)
    src[crow[:-1]] = np.arange(n)
    src[crow[target] + 1 + rank] = source
    dst = np.repeat(np.arange(n), degree)
    index = np.concatenate([crow, src, dst, graphs.batch, graphs.ptr[:-1]]).astype(np.int64)
    index = torch.from_numpy(index).to(device, non_blocking=True)
    crow_t, src_t, dst_t, batch_t, centre_t = torch.split(index, [crow.size, src.size, dst.size, n,
                                                                  graphs.n_graphs])
    x = torch.from_numpy(graphs.x).to(device, non_blocking=True)
    x = (x - torch.as_tensor(scaler_mean, device=device)) / torch.as_tensor(scaler_scale, device=device)
    return GraphTensors(x, crow_t, src_t, dst_t, batch_t, centre_t)


def _folded(conv) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``conv.lin``'s weight with two rows per head appended that give the attention scores directly:
    ``a . (W x)_h = (a_h^T W_h) x``, so one product yields features and scores."""
    heads, channels = conv.heads, conv.out_channels
    weight = conv.lin.weight.view(heads, channels, -1)
    rows = [conv.lin.weight, torch.einsum("hc,hcf->hf", conv.att_src[0], weight),
            torch.einsum("hc,hcf->hf", conv.att_dst[0], weight)]
    return torch.cat(rows), conv.bias


def _sparse_gat(conv, x: torch.Tensor, g: GraphTensors) -> torch.Tensor:
    """``GATConv`` (self-loops, LeakyReLU attention, softmax over incoming edges, concatenated heads, bias),
    followed by the encoder's ELU. Scores are kept head-major, (H, M), so that every gather is one-dimensional
    and each head's row is the CSR values as they are."""
    n, heads, channels = x.shape[0], conv.heads, conv.out_channels
    weight, bias = _folded(conv)
    both = x @ weight.T  # (N, H C + 2 H)
    width = heads * channels
    z = both[:, :width]
    scores = both[:, width:].T.contiguous()  # (2 H, N): sources, then targets
    score = F.leaky_relu(scores[:heads].index_select(1, g.src) + scores[heads:].index_select(1, g.dst),
                         conv.negative_slope)  # (H, M)
    # Softmax over each node's incoming edges. Shifting by the largest score of each head (rather than of each
    # node) saves a scatter and a gather; should a node's scores all lie so far below it that they underflow,
    # shift per node as GATConv does.
    attention = (score - score.amax(dim=1, keepdim=True)).exp_()
    total = torch.zeros(heads, n, dtype=x.dtype, device=x.device).index_add_(1, g.dst, attention)
    if not bool((total > 0).all()):
        peak = torch.full((heads, n), float("-inf"), dtype=x.dtype, device=x.device).scatter_reduce_(
            1, g.dst.expand_as(score), score, "amax", include_self=True)
        attention = (score - peak.index_select(1, g.dst)).exp_()
        total = torch.zeros_like(peak).index_add_(1, g.dst, attention)
    attention /= total.index_select(1, g.dst)
    out = torch.empty(n, width, dtype=x.dtype, device=x.device)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        for h in range(heads):
            matrix = torch.sparse_csr_tensor(g.crow, g.src, attention[h], size=(n, n), check_invariants=False)
            out[:, h * channels:(h + 1) * channels] = matrix @ z[:, h * channels:(h + 1) * channels]
    if bias is not None:
        out += bias
    return F.elu(out, inplace=True)


def sparse_embed(encoder: GATEncoder, g: GraphTensors) -> torch.Tensor:
    """(G, D) embeddings, equal to ``encoder(x, edge_index, batch, centre)`` to float32 rounding."""
    if not isinstance(encoder.act, torch.nn.ELU):
        raise TypeError(f"sparse_embed implements the ELU encoder, not {encoder.act!r}.")
    h = _sparse_gat(encoder.conv2, _sparse_gat(encoder.conv1, g.x, g), g)
    n_graphs = g.centre.numel()
    sizes = torch.diff(torch.cat([g.centre, g.centre.new_tensor([h.shape[0]])])).to(h.dtype)
    mean = torch.zeros(n_graphs, h.shape[1], dtype=h.dtype, device=h.device).index_add_(0, g.batch, h) / sizes[:, None]
    return encoder.head(torch.cat([mean, h[g.centre]], dim=1))


class MixtureLabels:
    """The most probable component of a fitted full-covariance ``GaussianMixture``, computed in torch (float64).

    The scikit-learn parameters stay the source of truth; the labels equal
    ``GaussianMixture.predict`` (the same weighted log-density from the weights,
    means and Cholesky factors of the precisions).
    """

    def __init__(self, mixture: GaussianMixture, device: torch.device) -> None:
        if mixture.covariance_type != "full":
            raise ValueError(f"Only full-covariance mixtures are supported, not {mixture.covariance_type!r}.")

        def tensor(a):
            return torch.as_tensor(np.asarray(a, dtype=np.float64), device=device)

        self.precisions_cholesky = tensor(mixture.precisions_cholesky_)  # (K, D, D)
        self.shift = torch.einsum("kd,kde->ke", tensor(mixture.means_), self.precisions_cholesky)
        log_det = np.log(np.diagonal(mixture.precisions_cholesky_, axis1=1, axis2=2)).sum(axis=1)
        self.offset = tensor(np.log(mixture.weights_) + log_det - 0.5 * mixture.means_.shape[1] * np.log(2 * np.pi))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """(n, K) weighted log-densities ``log w_k + log N(z | mu_k, Sigma_k)``."""
        y = torch.einsum("nd,kde->nke", z.to(torch.float64), self.precisions_cholesky) - self.shift
        return self.offset - 0.5 * (y * y).sum(-1)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return self.log_prob(z).argmax(dim=1)

    def labels_and_fit(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The most probable component and the log-likelihood of each embedding under the whole mixture
        (``GaussianMixture.score_samples``)."""
        weighted = self.log_prob(z)
        return weighted.argmax(dim=1), torch.logsumexp(weighted, dim=1)
