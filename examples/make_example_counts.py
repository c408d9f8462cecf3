"""Write a synthetic 6-state count matrix to try the kinetics analysis on (until the live demo exists).

The counts are sampled, not measured: 192 independent "Li atoms" follow a
Markov chain whose rates (1/ps) are invented to resemble the paper's LPSCl/Li
model in scale, observed every 80 ps for 400 lags. The analysis should give
back rates close to ``RATES_PER_PS`` below.

Usage: python examples/make_example_counts.py OUT.npy
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.linalg import expm

LAG_PS = 80.0
RATES_PER_PS = np.array([
    # to: S0      S1      S2      S3      S4      S5
    [0.0,    0.4e-3, 0.0,    0.3e-3, 0.6e-3, 1.2e-3],  # S0
    [0.3e-3, 0.0,    0.1e-3, 0.0,    0.5e-3, 0.4e-3],  # S1
    [0.0,    0.1e-3, 0.0,    0.5e-3, 0.7e-3, 0.0],     # S2
    [0.6e-3, 0.0,    0.4e-3, 0.0,    0.3e-3, 0.1e-3],  # S3
    [0.5e-3, 0.3e-3, 0.6e-3, 0.2e-3, 0.0,    0.9e-3],  # S4
    [1.9e-3, 1.6e-3, 0.0,    0.2e-3, 0.8e-3, 0.0],     # S5
])


def sample_counts(n_li: int = 192, n_lags: int = 400, seed: int = 7) -> np.ndarray:
    generator = RATES_PER_PS - np.diag(RATES_PER_PS.sum(axis=1))
    K = expm(generator * LAG_PS)
    rng = np.random.default_rng(seed)
    n = K.shape[0]
    state = rng.integers(0, n, size=n_li)
    counts = np.zeros((n, n), dtype=np.int64)
    cumulative = np.cumsum(K, axis=1)
    for _ in range(n_lags):
        new = (rng.random(n_li)[:, None] > cumulative[state]).sum(axis=1).clip(max=n - 1)
        np.add.at(counts, (state, new), 1)
        state = new
    return counts


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "example_counts.npy")
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, sample_counts())
    print(f"Wrote {out}: synthetic 6-state counts at a lag of {LAG_PS:g} ps (192 Li x 400 lags).")
