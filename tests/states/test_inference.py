"""Inference on a device: the sparse-attention encoder equals PyG's GATConv, the torch mixture equals scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture

from getsei_live.md.calculators import bundled_file
from getsei_live.states.inference import MixtureLabels, graph_tensors, resolve_device, sparse_embed
from getsei_live.states.model import StateModel
from getsei_live.states.training import embed_arrays
from getsei_live.structures.builders import build_interface

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def demo_model():
    return StateModel.load(bundled_file("demo_states.pt"), device="cpu")


@pytest.fixture(scope="module", params=["lgps-li", "lpscl-li", "llzo-li"])
def interface_graphs(request, demo_model):
    return demo_model.builder.arrays(build_interface(request.param, "demo").atoms)


def pyg_embeddings(model, g) -> np.ndarray:
    """The reference: the encoder's own forward (PyTorch Geometric's GATConv), as in training."""
    return embed_arrays(model.encoder, model.scaler_mean, model.scaler_scale, (g.x, g.edge_index, g.batch, g.ptr[:-1]))


def sparse_embeddings(model, g) -> torch.Tensor:
    """What ``StateModel.assign`` labels: the sparse-attention encoder on the model's device."""
    with torch.inference_mode():
        return sparse_embed(model.encoder, graph_tensors(g, model.scaler_mean, model.scaler_scale, model.device))


def test_sparse_encoder_equals_gatconv_on_real_interfaces(demo_model, interface_graphs):
    ours = sparse_embeddings(demo_model, interface_graphs).numpy()
    theirs = pyg_embeddings(demo_model, interface_graphs)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=5e-6 * np.abs(theirs).max())


def test_labels_equal_the_scikit_learn_path(demo_model, interface_graphs):
    embeddings = pyg_embeddings(demo_model, interface_graphs)
    physical = np.argsort(demo_model.order)  # the mixture's component -> the physical state number
    expected = physical[demo_model.mixture.predict(embeddings.astype(np.float64))]
    np.testing.assert_array_equal(demo_model.label_embeddings(embeddings), expected)


def test_mixture_log_density_equals_scikit_learn(fixed_seed):
    data = np.concatenate([fixed_seed.normal(m, s, size=(300, 5)) for m, s in [(0, 1), (3, 0.5), (-2, 2)]])
    mixture = GaussianMixture(3, covariance_type="full", random_state=0).fit(data)
    labels = MixtureLabels(mixture, CPU)
    z = torch.from_numpy(data)
    weighted = np.stack([np.log(w) + multivariate_normal(m, c).logpdf(data)  # each component, from scipy
                         for w, m, c in zip(mixture.weights_, mixture.means_, mixture.covariances_)], axis=1)
    np.testing.assert_allclose(labels.log_prob(z).numpy(), weighted, rtol=1e-10)
    np.testing.assert_array_equal(labels(z).numpy(), mixture.predict(data))


def test_attention_shift_falls_back_per_node_when_scores_would_underflow(demo_model, interface_graphs):
    """Scaled attention vectors make some nodes' scores lie far below the largest: the per-node shift must
    take over and the encoder must still equal GATConv's."""
    conv = demo_model.encoder.conv1
    original = conv.att_src.detach().clone(), conv.att_dst.detach().clone()
    try:
        with torch.no_grad():
            conv.att_src.mul_(400.0)
            conv.att_dst.mul_(400.0)
        ours = sparse_embeddings(demo_model, interface_graphs)
        theirs = pyg_embeddings(demo_model, interface_graphs)
    finally:
        with torch.no_grad():
            conv.att_src.copy_(original[0])
            conv.att_dst.copy_(original[1])
    assert torch.isfinite(ours).all()
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())


def test_device_auto_is_the_cpu_without_a_gpu_and_models_move(demo_model):
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == CPU
    assert demo_model.device == CPU and next(demo_model.encoder.parameters()).device == CPU


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (the CPU tests above cover the code)")
def test_cuda_labels_equal_cpu_labels(demo_model, interface_graphs):
    gpu = StateModel.load(bundled_file("demo_states.pt"), device="cuda")
    on_gpu = gpu.label_embeddings(sparse_embeddings(gpu, interface_graphs).cpu().numpy())
    on_cpu = demo_model.label_embeddings(sparse_embeddings(demo_model, interface_graphs).numpy())
    np.testing.assert_array_equal(on_gpu, on_cpu)


def test_an_empty_frame_of_graphs_labels_to_nothing(demo_model):
    assert demo_model.label_embeddings(np.zeros((0, demo_model.encoder.embedding_dim), np.float32)).size == 0
