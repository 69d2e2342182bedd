"""Depth metrics in metres: MDE (cm) and the standard monocular-depth set.

Each metric is computed per frame over its valid pixels (mask, finite positive ground
truth, and ``gt <= cutoff`` when a cutoff is given), then averaged over frames; frames
without valid pixels are skipped. Networks trained on log-normalised depth convert with
:func:`denormalize_depth` (or any callable) first.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

METRICS = ("mde_cm", "abs_rel", "sq_rel", "rmse", "rmse_log", "si_log", "delta1", "delta2", "delta3")
# Predictions are clamped to this (metres) before logs and ratios.
MIN_DEPTH_M = 1e-3


def frame_metrics(
    pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, cutoff: float | None = None
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Per-frame metrics of ``pred``, ``gt`` [B, H, W] in metres.

    Returns ``(metrics, has_pixels)``: each metric a [B] tensor (0 where a frame has no valid
    pixel), and the [B] boolean tensor of frames that count. ``si_log`` is
    ``sqrt(mean d^2 - mean(d)^2)`` with ``d = log pred - log gt`` (Eigen et al. 2014);
    ``delta_k`` is the fraction of pixels with ``max(pred/gt, gt/pred) < 1.25**k``.
    """
    pred = pred.detach().double()
    gt = gt.detach().double()
    valid = mask & torch.isfinite(gt) & (gt > 0) & torch.isfinite(pred)
    if cutoff is not None:
        valid = valid & (gt <= cutoff)
    w = valid.double()
    n = w.sum(dim=(-2, -1))
    n1 = n.clamp(min=1.0)
    gt_s = torch.where(valid, gt, torch.ones_like(gt))
    p = torch.where(valid, pred, torch.ones_like(pred)).clamp(min=MIN_DEPTH_M)

    def mean(x: torch.Tensor) -> torch.Tensor:
        return (x * w).sum(dim=(-2, -1)) / n1

    err = p - gt_s
    d = torch.log(p) - torch.log(gt_s)
    ratio = torch.maximum(p / gt_s, gt_s / p)
    out = {
        "mde_cm": 100.0 * mean(err.abs()),
        "abs_rel": mean(err.abs() / gt_s),
        "sq_rel": mean(err**2 / gt_s),
        "rmse": mean(err**2).sqrt(),
        "rmse_log": mean(d**2).sqrt(),
        "si_log": (mean(d**2) - mean(d) ** 2).clamp(min=0.0).sqrt(),
        "delta1": mean((ratio < 1.25).double()),
        "delta2": mean((ratio < 1.25**2).double()),
        "delta3": mean((ratio < 1.25**3).double()),
    }
    return out, n > 0


class DepthMetrics:
    """Accumulates per-frame metrics over batches; :meth:`compute` gives frame means.

    ``to_metres`` converts network outputs and ground truth to metres (identity if None),
    e.g. ``functools.partial(denormalize_depth, d_max=10.0, alpha=3.7)``.
    """

    def __init__(
        self,
        cutoff: float | None = None,
        to_metres: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        self.cutoff = cutoff
        self.to_metres = to_metres
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated."""
        self._sums = dict.fromkeys(METRICS, 0.0)
        self.frames = 0

    def update(self, pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> None:
        """Add a batch: ``pred``, ``gt`` [B, H, W] (network units), ``mask`` [B, H, W] bool."""
        if self.to_metres is not None:
            pred, gt = self.to_metres(pred), self.to_metres(gt)
        per_frame, counted = frame_metrics(pred, gt, mask, self.cutoff)
        for k, v in per_frame.items():
            self._sums[k] += float(v[counted].sum())
        self.frames += int(counted.sum())

    def compute(self) -> dict[str, float]:
        """Mean of each metric over counted frames (NaN before any frame), plus ``frames``."""
        out = {k: (s / self.frames if self.frames else math.nan) for k, s in self._sums.items()}
        out["frames"] = self.frames
        return out
