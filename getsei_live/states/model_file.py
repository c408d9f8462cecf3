"""The state-model file: one torch archive of plain values and tensors (loads with ``weights_only=True``), and the
fingerprint that identifies a model.

``StateModel.save`` / ``StateModel.load`` use it; this module knows the layout, the class knows the labelling.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.mixture import GaussianMixture

from .. import __version__
from ..errors import ModelFileError
from .encoder import GATEncoder
from .environments import StateDescription
from .graphs import FeatureSchema

__all__ = ["FILE_KIND", "SCHEMA_VERSION", "fingerprint", "payload", "read", "write"]

#: Version of the saved-file layout; files from a newer version are refused.
SCHEMA_VERSION = 1
FILE_KIND = "getsei-live state model"


def payload(model: Any) -> dict:
    """What the file holds of a ``StateModel``: a JSON configuration, the encoder's weights, the arrays."""
    config = {
        "kind": FILE_KIND,
        "schema_version": SCHEMA_VERSION,
        "package_version": __version__,
        "feature_schema": model.schema.to_dict(),
        "encoder": {"in_channels": model.encoder.in_channels, "hidden_channels": model.encoder.hidden_channels,
                    "heads": model.encoder.heads, "embedding_dim": model.encoder.embedding_dim},
        "training": model.training,
        "states": [s.to_dict() for s in model.states],
        "silhouette": model.silhouette,
        "silhouette_by_k": {str(k): v for k, v in model.silhouette_by_k.items()},
    }
    m = model.mixture
    arrays = {
        "scaler_mean": model.scaler_mean, "scaler_scale": model.scaler_scale, "order": model.order,
        "gmm_weights": m.weights_, "gmm_means": m.means_, "gmm_covariances": m.covariances_,
        "gmm_precisions_cholesky": m.precisions_cholesky_,
    }
    return {"config": json.dumps(config, sort_keys=True),
            "encoder": {k: v.detach().cpu().clone() for k, v in model.encoder.state_dict().items()},
            "arrays": {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}}


def fingerprint(data: dict) -> str:
    """SHA-256 of a payload's configuration (less the package version) and every weight and array."""
    config = json.loads(data["config"])
    config.pop("package_version")
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for group in ("encoder", "arrays"):
        for name in sorted(data[group]):
            tensor = data[group][name].contiguous()
            digest.update(f"{group}/{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
            digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def write(data: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)
    return path


ARRAYS = ("scaler_mean", "scaler_scale", "order", "gmm_weights", "gmm_means", "gmm_covariances",
          "gmm_precisions_cholesky")
CONFIG = ("feature_schema", "encoder", "training", "states", "silhouette", "silhouette_by_k")
ENCODER = ("in_channels", "hidden_channels", "heads", "embedding_dim")


def _check_contents(path: Path, data: dict, config: dict) -> dict:
    """The encoder's sizes, once the file holds every part of a model and its weights fit the encoder its
    configuration describes (built without memory first: a damaged configuration must not allocate)."""
    try:
        missing = [k for k in CONFIG if k not in config] + [f"arrays/{k}" for k in ARRAYS if k not in data["arrays"]]
        weights = data["encoder"]
        sizes = {k: int(config["encoder"][k]) for k in ENCODER} if "encoder" in config else {}
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{path} is a damaged state model: it lacks {error}.") from None
    if missing:
        raise ModelFileError(f"{path} is a damaged state model: it lacks {', '.join(missing)}.")
    if any(v < 1 for v in sizes.values()):
        raise ModelFileError(f"{path} is a damaged state model: encoder sizes {sizes}.")
    try:
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in GATEncoder(**sizes).state_dict().items()}
    except Exception as error:
        raise ModelFileError(f"{path} is a damaged state model: its encoder {sizes} cannot be built "
                             f"({type(error).__name__}).") from None
    stored = {k: tuple(v.shape) for k, v in weights.items()} if isinstance(weights, dict) else None
    if stored != expected:
        raise ModelFileError(f"{path} is a damaged state model: its encoder weights do not fit the encoder its "
                             f"configuration describes ({', '.join(f'{k} {v}' for k, v in sizes.items())}).")
    return sizes


def _load(path: Path) -> tuple[dict, dict]:
    """The payload and its configuration; refuses files that are not one, hold pickled objects, or are newer."""
    if not path.is_file():
        raise ModelFileError(f"No state-model file at {path}.")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path} is not a getsei-live state model (not a torch archive).")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = [line.strip().split(" was not an allowed global")[0].removeprefix("WeightsUnpickler error: ")
                 for line in str(error).splitlines() if "Unsupported global" in line]
        raise ModelFileError(
            f"{path} contains pickled Python objects, which could run code when loaded; refusing it. "
            f"State models hold only plain values and tensors.{' (' + found[0] + ')' if found else ''}"
        ) from None
    except Exception as error:  # torch raises many types for files that are not archives
        raise ModelFileError(f"{path} is not a getsei-live state model (unreadable: {error}).") from None
    try:
        config = json.loads(data["config"])
        kind, version = config["kind"], int(config["schema_version"])
    except (TypeError, KeyError, ValueError):
        raise ModelFileError(f"{path} is not a getsei-live state model.") from None
    if kind != FILE_KIND:
        raise ModelFileError(f"{path} is not a getsei-live state model (it says {kind!r}).")
    if version > SCHEMA_VERSION:
        raise ModelFileError(
            f"{path} uses state-model schema {version}, newer than this getsei-live ({__version__}) reads "
            f"(schema {SCHEMA_VERSION}); upgrade getsei-live."
        )
    return data, config


def read(path: str | Path) -> dict:
    """The ``StateModel`` constructor's arguments (all but ``device``) from a saved file."""
    data, config = _load(Path(path))
    sizes = _check_contents(Path(path), data, config)
    arrays = {k: v.numpy() for k, v in data["arrays"].items()}
    encoder = GATEncoder(**sizes)
    encoder.load_state_dict(data["encoder"])
    mixture = GaussianMixture(n_components=arrays["gmm_weights"].size, covariance_type="full")
    mixture.weights_ = arrays["gmm_weights"]
    mixture.means_ = arrays["gmm_means"]
    mixture.covariances_ = arrays["gmm_covariances"]
    mixture.precisions_cholesky_ = arrays["gmm_precisions_cholesky"]
    return dict(schema=FeatureSchema.from_dict(config["feature_schema"]), encoder=encoder,
                scaler_mean=arrays["scaler_mean"], scaler_scale=arrays["scaler_scale"], mixture=mixture,
                order=arrays["order"], training=config["training"],
                states=[StateDescription(**s) for s in config["states"]], silhouette=config["silhouette"],
                silhouette_by_k={int(k): v for k, v in config["silhouette_by_k"].items()})
