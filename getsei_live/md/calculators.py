"""MACE calculators: a model file (the bundled one included) or a foundation-model name, on a chosen device."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from pathlib import Path

from ..errors import GetseiError, ParameterError, failure_text

__all__ = ["FOUNDATION_MODELS", "bundled_file", "default_device", "mace_calculator", "resolve_device"]

log = logging.getLogger(__name__)

#: Names mace-torch's ``mace_mp`` resolves to downloadable foundation models.
FOUNDATION_MODELS = ("small", "medium", "large", "medium-mpa-0", "medium-omat-0", "medium-matpes-pbe-0",
                     "mace-mpa-0-medium", "small-0b", "medium-0b", "small-0b2", "medium-0b2", "large-0b2",
                     "medium-0b3")


def default_device() -> str:
    """"cuda" when a GPU is visible to torch, else "cpu"."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_device(device: str) -> str:
    """``device`` ("auto", "cpu", "cuda", "cuda:1") as torch will use it: "auto" is ``default_device()``; a CUDA
    device this torch cannot use is refused in one line (a CPU build, or no GPU visible)."""
    if device == "auto":
        return default_device()
    if str(device).startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            reason = "this torch is a CPU build" if torch.version.cuda is None else "torch sees no CUDA GPU"
            raise ParameterError.of("device", f"is {device!r}, but {reason} (torch {torch.__version__}); "
                                 f"use 'cpu' or 'auto'.")
    return str(device)


def _import_mace():
    """Import mace-torch quietly: it prints a notice about optional CUDA kernels on import (kept at debug level).

    mace is imported before anything imports e3nn: with torch 2.13 the reverse order fails (weights_only default).
    """
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured), warnings.catch_warnings():
        # mace and e3nn load their own trusted files; torch warns that mace's environment variable applies.
        warnings.filterwarnings("ignore", message="Environment variable TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
        from mace.calculators import MACECalculator, mace_mp
    if captured.getvalue().strip():
        log.debug("mace-torch: %s", captured.getvalue().strip())
    return MACECalculator, mace_mp


def bundled_file(name: str) -> Path:
    """A file shipped in ``getsei_live/data`` (the bundled potential, the demo state model, their cards)."""
    path = Path(__file__).resolve().parents[1] / "data" / name
    if not path.is_file():
        raise GetseiError(f"The bundled file {name} is missing from this installation ({path}).")
    return path


def bundled_core_repulsion():
    """The bundled potential's ZBL repulsion below the shortest distance of each element pair in its data (its card's
    ``core_repulsion``), or None for a card without one."""
    from .core_repulsion import CoreRepulsion

    spec = json.loads(bundled_file("bundled_mace.json").read_text()).get("core_repulsion")
    return None if spec is None else CoreRepulsion(spec["onsets_A"], width_A=spec["width_A"])


def mace_calculator(model: str | Path, *, device: str | None = None, dtype: str = "auto", trust: bool = False):
    """A MACE calculator from a ``.model`` file, ``"bundled"``, or a mace-torch foundation-model name.

    ``"bundled"`` is the small demo potential distilled from CHGNet that ships
    with getsei-live (see ``getsei_live/data/bundled_mace.json``); its file is
    checked against the SHA-256 in that card, and it comes with the card's ZBL core repulsion below the shortest
    distance of each element pair in its training data (``core_repulsion.CoreRepulsion``). A model file is unpickled without
    running code from it (``potential_file.load_mace_model``): one that needs
    more than a MACE model does is refused, unless ``trust`` (the user trusts
    its source). Foundation models are downloaded by mace-torch on first use; on
    a machine without internet that fails with a message saying so.

    ``dtype`` is MACE's precision: "auto" (default) keeps a model file's own (the bundled model is float32; a
    foundation model runs in float64), "float32" or "float64" converts it.
    """
    if dtype not in ("auto", "float32", "float64"):
        raise ParameterError.of("dtype", f"must be 'auto', 'float32' or 'float64'. Got {dtype!r} instead.")
    from .potential_file import UnsafeModelFile, load_mace_model, sha256

    path = bundled_file("bundled_mace.model") if str(model) == "bundled" else Path(model)
    if not path.is_file():
        if path.suffix == ".model" or "/" in str(model):
            raise ParameterError(f"No MACE model file at {path}.")
        if str(model) not in FOUNDATION_MODELS:
            raise ParameterError(f"Unknown MACE model {model!r}: give a .model file, 'bundled', or one of the "
                                 f"foundation models "
                                 f"{', '.join(FOUNDATION_MODELS)}.")
    elif str(model) == "bundled":
        expected = json.loads(bundled_file("bundled_mace.json").read_text()).get("sha256")
        if expected is not None and sha256(path) != expected:
            raise GetseiError(f"The bundled potential {path} is not the file getsei-live shipped (its SHA-256 "
                              f"differs from the card's); reinstall getsei-live.")
    _, mace_mp = _import_mace()
    from .mace_calculator import MDCalculator

    device = device or default_device()
    if path.is_file():
        try:
            loaded = load_mace_model(path, device=device, trust=trust)
        except UnsafeModelFile:
            raise
        except GetseiError:
            raise
        except Exception as error:
            raise GetseiError(f"Cannot load the MACE model {path}: {failure_text(error)}") from None
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Environment variable TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
                own = str(next(loaded.parameters()).dtype).removeprefix("torch.")
                return MDCalculator(models=loaded, device=device, default_dtype=own if dtype == "auto" else dtype,
                                    core_repulsion=bundled_core_repulsion() if str(model) == "bundled" else None)
        except Exception as error:
            raise GetseiError(f"Cannot load the MACE model {path}: {failure_text(error)}") from None
    try:
        return mace_mp(model=str(model), device=device, default_dtype="float64" if dtype == "auto" else dtype)
    except Exception as error:
        raise GetseiError(
            f"Cannot get the MACE foundation model {model!r} ({failure_text(error)}). mace-torch downloads "
            f"it on first use, which needs internet; offline, pass the path of a .model file instead."
        ) from None
