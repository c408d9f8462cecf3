"""The state model: Li-centred graphs, the GAT encoder, the Gaussian mixture, training, consensus and its file (torch)."""
