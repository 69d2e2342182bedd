"""Run a depth model over a data set: depth metrics in metres plus per-layer spike statistics.

Shared by validation during training and by ``depthsnn evaluate``; it lives with the models (below
``train`` and ``evaluate``) so that training imports no higher layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from ..metrics import DepthMetrics
from .stats import SpikeRecorder
from .unet import DepthNet


@dataclass
class EvalResult:
    """Outcome of :func:`evaluate_model`.

    ``metrics``: frame-averaged depth metrics (``mde_cm``, ``abs_rel`` ... and ``frames``).
    ``firing_rate``: spikes per neuron per time step over all spiking layers (None without any).
    ``sparsity``: NeuroBench activation sparsity over all activation layers.
    ``layers``: per activation layer ``{spikes, neuron_steps, rate, sparsity, spiking}``.
    ``frame_mde_cm``: MDE of every frame, in data set order (NaN for frames without valid depth).
    """

    metrics: dict[str, float]
    firing_rate: float | None
    sparsity: float
    layers: dict[str, dict[str, float]]
    samples: int
    frame_mde_cm: list[float] = field(default_factory=list)


def predict_depth(model: DepthNet, frames: torch.Tensor) -> torch.Tensor:
    """Depth ``[B, H, W]`` in network units (float32) for ``frames [B, T, C, H, W]``.

    The one forward pass that ``evaluate`` scores and ``predict`` writes out.
    """
    return model(frames).depth.float()


def depth_in_metres(pred: torch.Tensor, to_metres: Callable[[torch.Tensor], torch.Tensor] | None) -> np.ndarray:
    """One prediction ``[H, W]`` in network units -> float32 metres on the CPU (figures, videos,
    ``predict``'s output)."""
    x = pred.detach().float().cpu()
    return (to_metres(x) if to_metres is not None else x).numpy()


@torch.no_grad()
def evaluate_model(
    model: DepthNet,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    *,
    device: torch.device | str = "cpu",
    to_metres: Callable[[torch.Tensor], torch.Tensor] | None = None,
    cutoff: float | None = None,
    progress: bool | str = False,
    on_batch: Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], None] | None = None,
) -> EvalResult:
    """Evaluate ``model`` on ``batches`` of ``(frames [B,T,C,H,W], depth [B,H,W], mask [B,H,W])``.

    ``to_metres`` converts network units (e.g. log-normalised depth) to metres for the metrics.
    ``on_batch(index, frames, depth, mask, pred)`` is called for each batch (figures, videos).
    """
    was_training = model.training
    model.eval()
    acc = DepthMetrics(cutoff=cutoff, to_metres=to_metres)
    per_frame = DepthMetrics(cutoff=cutoff, to_metres=to_metres)
    frame_mde: list[float] = []
    samples = 0
    desc = progress if isinstance(progress, str) else "evaluate"
    it = tqdm(batches, desc=desc, leave=False, disable=not progress, unit="batch")
    try:
        with SpikeRecorder(model, track_grad=False) as rec:
            for i, (frames, depth, mask) in enumerate(it):
                frames, depth, mask = frames.to(device), depth.to(device), mask.to(device)
                pred = predict_depth(model, frames)
                acc.update(pred, depth, mask)
                for b in range(pred.shape[0]):
                    per_frame.reset()
                    per_frame.update(pred[b : b + 1], depth[b : b + 1], mask[b : b + 1])
                    frame_mde.append(per_frame.compute()["mde_cm"])
                samples += pred.shape[0]
                if on_batch is not None:
                    on_batch(i, frames, depth, mask, pred)
        stats = rec.stats()
        total = rec.total()
    finally:
        model.train(was_training)
    layers = {
        name: {
            "spikes": s.spikes,
            "neuron_steps": s.neuron_steps,
            "rate": s.rate,
            "sparsity": s.sparsity,
            "spiking": s.spiking,
        }
        for name, s in stats.items()
    }
    all_steps = sum(s.neuron_steps for s in stats.values())
    nonzero = sum(s.nonzero for s in stats.values())
    return EvalResult(
        metrics=acc.compute(),
        firing_rate=total.rate if total.neuron_steps else None,
        sparsity=1.0 - nonzero / all_steps if all_steps else 1.0,
        layers=layers,
        samples=samples,
        frame_mde_cm=frame_mde,
    )
