"""A depth model ready for ``predict``: a checkpoint run in torch, or a graph run in the dense
executor or the event-driven simulator (an exported NIR file, or a checkpoint's graph).

:class:`Predictor` turns one window's frames ``[T, C, H, W]`` into depth ``[H, W]`` in metres.
The checkpoint path is :func:`~depthsnn.evaluate.runner.predict_depth` +
:func:`~depthsnn.evaluate.runner.depth_in_metres`, the very code ``evaluate`` runs, so both give
the same bits for the same frames. A NIR file carries its input options (window, time bins,
depth units) in its metadata since this version of ``depthsnn export``; for older files they
come from the command line.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.dataset import DataConfig
from ..data.depth import denormalize_depth
from ..data.encoding import CAMERA_MODES, EncodingConfig
from ..device import resolve_device
from ..errors import ConfigError, DataError
from ..evaluate.runner import depth_in_metres, predict_depth

ENGINES = ("auto", "torch", "executor", "simulator")


@dataclass(frozen=True)
class InputSpec:
    """What the model consumes: cameras, frame size (H, W before internal padding), encoding."""

    encoding: EncodingConfig
    height: int
    width: int

    @property
    def cameras(self) -> tuple[str, ...]:
        return self.encoding.camera_names


@dataclass
class Predictor:
    name: str
    source: Path
    engine: str  # torch | executor | simulator
    spec: InputSpec
    to_metres: Callable[[torch.Tensor], torch.Tensor] | None
    run: Callable[[torch.Tensor], torch.Tensor]  # frames [T, C, H, W] -> [H, W] network units

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Depth ``[H, W]`` float32 metres for ``frames`` float32 ``[T, C, H, W]``."""
        with torch.no_grad():
            return depth_in_metres(self.run(torch.from_numpy(frames)), self.to_metres)


def _encoding(window_ms: float, num_bins: int, channels: int, rectify: bool, max_count,
              presentation: str = EncodingConfig.presentation) -> EncodingConfig:
    cameras = {2 * len(c): m for m, c in CAMERA_MODES.items()}.get(channels)
    if cameras is None:
        raise ConfigError(f"the model takes {channels} input channels; expected 2 (monocular) or 4 (binocular)")
    return EncodingConfig(window_ms=window_ms, num_bins=num_bins, cameras=cameras, rectify=rectify,
                          max_count=max_count, presentation=presentation)


def load_predictor(path: str | Path, *, engine: str = "auto", device: str = "cpu",
                   window_ms: float | None = None, normalized_depth: bool | None = None) -> Predictor:
    """Checkpoint (``.pt``) or NIR file (``.nir``) -> :class:`Predictor`.

    ``engine``: ``torch`` (checkpoints only), ``executor`` (dense NetGraph executor),
    ``simulator`` (event-driven); ``auto`` is torch for a checkpoint, executor for NIR.
    ``window_ms`` overrides the model's window; ``normalized_depth`` says, for a NIR file
    without stored options, whether it predicts log-normalised depth.
    """
    path = Path(path)
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if not path.is_file():
        raise DataError("model file not found", path)
    is_nir = path.suffix.lower() == ".nir"
    if engine == "auto":
        engine = "executor" if is_nir else "torch"
    if is_nir and engine == "torch":
        raise ConfigError("a NIR file runs in the executor or the simulator, not as a torch model", path)
    if engine == "torch":
        return _checkpoint_predictor(path, device, window_ms)
    return _graph_predictor(path, engine, window_ms, normalized_depth)


def _checkpoint_predictor(path: Path, device: str, window_ms: float | None) -> Predictor:
    from ..train.checkpoint import model_from_checkpoint

    dev = resolve_device(device)
    model, cfg, ckpt = model_from_checkpoint(path, dev)
    h, w = (int(v) for v in (ckpt.get("input_hw") or (260, 346)))
    d = cfg.data
    enc = _encoding(window_ms or d.window_ms, d.num_bins, model.cfg.channels, d.rectify, d.max_count,
                    d.presentation)

    def run(frames: torch.Tensor) -> torch.Tensor:
        return predict_depth(model, frames[None].to(dev))[0]

    return Predictor(str(ckpt.get("name") or cfg.model), path, "torch", InputSpec(enc, h, w), d.to_metres(), run)


def _graph_predictor(path: Path, engine: str, window_ms: float | None,
                     normalized_depth: bool | None) -> Predictor:
    from ..export.executor import GraphExecutor
    from ..export.graph import host_output
    from ..simulate.engine import EventSimulator
    from ..simulate.pipeline import load_network, pad_frames, stored_encoding

    net = load_network(path, normalized_depth=bool(normalized_depth))
    graph = net.graph
    h, w = net.input_hw
    if net.data is not None:  # a checkpoint's graph: its own training options
        d = net.data
        to_m = net.to_metres
    else:  # a NIR file: the options its export stored
        d = DataConfig(**stored_encoding(graph))
        stored = graph.metadata.get("data") or {}
        norm = stored.get("normalize_depth") if normalized_depth is None else normalized_depth
        to_m = (functools.partial(denormalize_depth, d_max=stored.get("d_max", 10.0), alpha=stored.get("alpha", 3.7))
                if norm else None)
    enc = _encoding(window_ms or d.window_ms, net.num_bins, graph.input.shape[0], d.rectify, d.max_count,
                    d.presentation)
    shape = graph.input.shape
    if engine == "executor":
        ex = GraphExecutor(graph)

        def run(frames: torch.Tensor) -> torch.Tensor:
            out = ex(pad_frames(frames, shape)[:, None])  # [T, 1, 1, H', W']
            return host_output(graph, out[-1, 0])[0, :h, :w]
    else:
        sim = EventSimulator(graph)

        def run(frames: torch.Tensor) -> torch.Tensor:
            res = sim.run(pad_frames(frames, shape).numpy())
            return torch.as_tensor(host_output(graph, res.final)[0, :h, :w], dtype=torch.float32)

    return Predictor(net.name, path, engine, InputSpec(enc, h, w), to_m, run)
