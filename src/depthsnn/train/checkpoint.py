"""Training checkpoints: everything needed to continue a run exactly.

A checkpoint holds the model, optimizer and scheduler states, the RNG states of python, numpy
and torch, the epoch just finished, the best validation MDE so far and the full configuration
(so ``evaluate`` and ``export`` can rebuild the model without being told its architecture).
Files are written atomically: a run killed mid-save keeps the previous checkpoint.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import atomic_path
from ..errors import DataError

FORMAT = "depthsnn-checkpoint"
FORMAT_VERSION = 1


def rng_state() -> dict[str, Any]:
    state = {
        "python": random.getstate(),
        # The legacy global numpy RNG is saved on purpose: user code and libraries may draw from it.
        "numpy": np.random.get_state(),  # noqa: NPY002
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, **payload: Any) -> Path:
    """Write ``payload`` (model, optimizer, scheduler, epoch, config, ...) atomically to ``path``."""
    path = Path(path)
    data = {"format": FORMAT, "version": FORMAT_VERSION, "rng": rng_state(), **payload}
    with atomic_path(path) as tmp:
        torch.save(data, tmp)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, with a one-line error otherwise."""
    path = Path(path)
    if not path.is_file():
        raise DataError("checkpoint not found", path)
    try:
        # weights_only=False: the checkpoint holds numpy RNG state and plain config dicts; only
        # load checkpoints you trust (as with any torch pickle).
        data = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # torch raises many types for corrupt/truncated files
        raise DataError(f"not a readable checkpoint ({type(exc).__name__}: {exc})", path) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataError("not a depthsnn checkpoint (unknown format)", path)
    if data.get("version", 0) > FORMAT_VERSION:
        raise DataError(f"checkpoint format version {data['version']} is newer than this depthsnn", path)
    for key in ("model", "config"):
        if key not in data:
            raise DataError(f"checkpoint lacks '{key}'", path)
    return data


def model_from_checkpoint(path: str | Path, device: str | torch.device = "cpu"):
    """Rebuild the trained model of a checkpoint: returns ``(model, train_config, checkpoint)``.

    The architecture comes from the checkpoint's saved ``model_config``; a state dict that does
    not fit it (edited or foreign checkpoint) is a one-line :class:`DataError`.
    """
    from ..config import from_dict
    from ..errors import ConfigError
    from ..models import DepthNet, ModelConfig
    from .config import config_from_dict

    ckpt = load_checkpoint(path, map_location=device)
    try:
        cfg = config_from_dict(ckpt["config"])
        mcfg = from_dict(ModelConfig, ckpt.get("model_config") or {}) if "model_config" in ckpt else cfg.model_config()
    except ConfigError as exc:
        raise DataError(f"checkpoint configuration is invalid: {exc}", path) from None
    model = DepthNet(mcfg)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise DataError(f"weights do not fit the architecture {cfg.model}: {detail}", path) from None
    return model.to(device).eval(), cfg, ckpt
