"""Graph contrastive learning: the NT-Xent loss against a plain loop, batch selection against slicing, the
encoder's invariance to node order, its GAT layer against PyTorch Geometric's GATConv, the augmentations' limits,
and a training loss that falls."""

from __future__ import annotations

import numpy as np
import torch

from getsei_live.states.encoder import (
    GATEncoder,
    GATLayer,
    GraphSet,
    TrainingConfig,
    augment,
    nt_xent,
    train_encoder,
)
from getsei_live.states.graphs import LiGraphArrays


def random_graphs(rng: np.random.Generator, n_graphs: int, n_features: int = 5) -> LiGraphArrays:
    """Star-and-ring graphs of 3-6 nodes; node ptr[g] is each graph's centre."""
    xs, edges, sizes = [], [], rng.integers(3, 7, size=n_graphs)
    ptr = np.concatenate([[0], np.cumsum(sizes)])
    for g, size in enumerate(sizes):
        xs.append(rng.normal(size=(size, n_features)) + (g % 2) * 2.0)  # two kinds of graphs
        nodes = np.arange(ptr[g], ptr[g + 1])
        pairs = [(nodes[0], v) for v in nodes[1:]] + list(zip(nodes[1:], np.roll(nodes[1:], 1)))
        for a, b in pairs:
            edges += [(a, b), (b, a)]
    edge_index = np.unique(np.array(edges).T, axis=1)
    n = ptr[-1]
    return LiGraphArrays(np.concatenate(xs).astype(np.float32), edge_index.astype(np.int64),
                         np.repeat(np.arange(n_graphs), sizes), ptr, np.zeros((n, 3)), np.arange(n),
                         np.arange(n_graphs))


def test_nt_xent_matches_a_loop(fixed_seed):
    z1, z2 = (torch.from_numpy(fixed_seed.normal(size=(6, 4))) for _ in range(2))
    z = np.concatenate([z1.numpy(), z2.numpy()])
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    losses = []
    for i in range(12):
        positive = (i + 6) % 12
        logits = [z[i] @ z[k] / 0.5 for k in range(12) if k != i]
        losses.append(-(z[i] @ z[positive] / 0.5) + np.log(np.sum(np.exp(logits))))
    assert np.isclose(nt_xent(z1, z2, 0.5).item(), np.mean(losses))


def test_selecting_graphs_gives_their_own_nodes_and_edges(fixed_seed):
    frames = [random_graphs(fixed_seed, 4), random_graphs(fixed_seed, 3)]
    graphs = GraphSet(frames)
    owned = [(f, g) for f in frames for g in range(f.n_graphs)]
    chosen = np.array([5, 0, 3])
    x, edge_index, batch, centre = graphs.select(chosen)
    start = 0
    for local, index in enumerate(chosen):
        frame, g = owned[index]
        lo, hi = frame.ptr[g], frame.ptr[g + 1]
        np.testing.assert_array_equal(x[start:start + hi - lo], frame.x[lo:hi])
        mine = frame.edge_index[:, (frame.edge_index[0] >= lo) & (frame.edge_index[0] < hi)] - lo + start
        got = edge_index[:, (edge_index[0] >= start) & (edge_index[0] < start + hi - lo)]
        np.testing.assert_array_equal(got, mine)
        assert centre[local] == start and np.all(batch[start:start + hi - lo] == local)
        start += hi - lo


def test_the_encoder_does_not_depend_on_node_order(fixed_seed):
    torch.manual_seed(0)
    frame = random_graphs(fixed_seed, 1)
    encoder = GATEncoder(frame.x.shape[1], 8, 2, 4).eval()
    n = frame.x.shape[0]
    perm = np.concatenate([[0], 1 + fixed_seed.permutation(n - 1)])  # keep the centre first
    inverse = np.argsort(perm)
    args = [torch.from_numpy(frame.x), torch.from_numpy(frame.edge_index), torch.zeros(n, dtype=torch.long),
            torch.tensor([0])]
    permuted = [torch.from_numpy(frame.x[perm]), torch.from_numpy(inverse[frame.edge_index]), args[2], args[3]]
    with torch.no_grad():
        torch.testing.assert_close(encoder(*args), encoder(*permuted), rtol=1e-5, atol=1e-6)


def test_the_gat_layer_is_pytorch_geometrics_gatconv(fixed_seed):
    """The same parameters from the same seed (names, shapes, values), the same output and the same gradients as
    ``torch_geometric.nn.GATConv`` with its defaults, on graphs with and without a self-loop given; the encoder's
    readout is ``global_mean_pool`` and the centre."""
    from torch_geometric.nn import GATConv, global_mean_pool

    frame = random_graphs(fixed_seed, 5)
    x = torch.from_numpy(frame.x)
    edges = torch.from_numpy(frame.edge_index)
    with_loops = torch.cat([edges, torch.tensor([[0, 3], [0, 3]])], dim=1)
    for heads in (1, 4):
        torch.manual_seed(7)
        theirs = GATConv(x.shape[1], 6, heads=heads)
        torch.manual_seed(7)
        ours = GATLayer(x.shape[1], 6, heads=heads)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        for name, value in theirs.state_dict().items():
            torch.testing.assert_close(ours.state_dict()[name], value, rtol=0, atol=0)
        for edge_index in (edges, with_loops):
            a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
            out_ours, out_theirs = ours(a, edge_index), theirs(b, edge_index)
            torch.testing.assert_close(out_ours, out_theirs, rtol=1e-6, atol=1e-7)
            (out_ours ** 2).sum().backward()
            (out_theirs ** 2).sum().backward()
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-6)
            for name, parameter in ours.named_parameters():
                torch.testing.assert_close(parameter.grad, dict(theirs.named_parameters())[name].grad, rtol=1e-5,
                                           atol=1e-6)
            ours.zero_grad()
            theirs.zero_grad()
    torch.manual_seed(0)
    encoder = GATEncoder(x.shape[1], 8, 2, 4).eval()
    batch, centre = torch.from_numpy(frame.batch), torch.from_numpy(frame.ptr[:-1])
    with torch.no_grad():
        h = encoder.act(encoder.conv2(encoder.act(encoder.conv1(x, edges)), edges))
        pooled = torch.cat([global_mean_pool(h, batch, size=centre.numel()), h[centre]], dim=1)
        torch.testing.assert_close(encoder(x, edges, batch, centre), encoder.head(pooled), rtol=1e-6, atol=1e-7)


def test_augmentations_at_their_limits(fixed_seed):
    frame = random_graphs(fixed_seed, 3)
    x, e = torch.from_numpy(frame.x), torch.from_numpy(frame.edge_index)
    generator = torch.Generator().manual_seed(0)
    same_x, same_e = augment(x, e, edge_dropout=0.0, feature_mask=0.0, generator=generator)
    assert torch.equal(same_x, x) and torch.equal(same_e, e)
    none_x, none_e = augment(x, e, edge_dropout=1.0, feature_mask=1.0, generator=generator)
    assert not none_x.any() and none_e.shape[1] == 0


def test_training_lowers_the_contrastive_loss(fixed_seed):
    graphs = GraphSet([random_graphs(fixed_seed, 128)])
    config = TrainingConfig(epochs=6, batch_size=32, hidden_channels=8, heads=2, embedding_dim=8, seed=3)
    encoder, losses = train_encoder(graphs, config)
    assert len(losses) == 6 and losses[-1] < losses[0], losses
    assert not encoder.training
