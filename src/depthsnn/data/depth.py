"""Depth targets: metric depth with a validity mask, optional hole filling and log normalisation.

MVSEC depth maps are float32 metres with NaN where the lidar gave nothing. A target is
``(depth, mask)``: ``mask`` is True where the (possibly hole-filled) depth is finite and > 0, and
``depth`` is 0 wherever ``mask`` is False so that no NaN can reach a loss.

Log normalisation (DDES / StereoSpike): ``D_hat = log(D / D_max) / alpha + 1``, so ``D_max`` maps
to 1 and ``D_max * exp(-alpha)`` (0.25 m with the defaults) to 0; ``denormalize_depth`` inverts it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from skimage.morphology import area_closing

D_MAX = 10.0
ALPHA = 3.7


@dataclass(frozen=True)
class DepthConfig:
    """How a depth map becomes a training target.

    ``normalize``: return log-normalised depth instead of metres (``d_max``, ``alpha`` as above).
    ``fill_holes``: fill NaN holes smaller than ``fill_area`` pixels by morphological area closing
    (StereoSpike did this before computing the loss); only former holes change, measured pixels
    keep their value.
    ``clip_min`` / ``clip_max``: clip valid depths (metres) into this range before normalising.
    """

    normalize: bool = False
    d_max: float = D_MAX
    alpha: float = ALPHA
    fill_holes: bool = False
    fill_area: int = 64
    clip_min: float | None = None
    clip_max: float | None = None

    def __post_init__(self) -> None:
        if not (self.d_max > 0 and self.alpha > 0):
            raise ValueError("d_max and alpha must be > 0")
        if self.fill_area < 1:
            raise ValueError(f"fill_area must be >= 1, got {self.fill_area}")
        if self.clip_min is not None and self.clip_max is not None and self.clip_min > self.clip_max:
            raise ValueError(f"clip_min {self.clip_min} > clip_max {self.clip_max}")


def normalize_depth(depth, d_max: float = D_MAX, alpha: float = ALPHA):
    """Metres -> ``log(D / d_max) / alpha + 1`` (inputs must be > 0); numpy array or torch tensor."""
    if isinstance(depth, torch.Tensor):
        return torch.log(depth / d_max) / alpha + 1.0
    return (np.log(np.asarray(depth) / d_max) / alpha + 1.0).astype(np.asarray(depth).dtype, copy=False)


def denormalize_depth(d_hat, d_max: float = D_MAX, alpha: float = ALPHA):
    """Inverse of :func:`normalize_depth`: ``d_max * exp(alpha * (D_hat - 1))`` in metres."""
    if isinstance(d_hat, torch.Tensor):
        return d_max * torch.exp(alpha * (d_hat - 1.0))
    return (d_max * np.exp(alpha * (np.asarray(d_hat) - 1.0))).astype(np.asarray(d_hat).dtype, copy=False)


def fill_holes(depth: np.ndarray, area: int = 64) -> np.ndarray:
    """Fill invalid (NaN or <= 0) regions smaller than ``area`` pixels by area closing.

    Holes are set to 0 (the darkest value) so that area closing raises each small dark
    component to the level of its surroundings; larger holes stay invalid (NaN). Valid pixels
    are returned unchanged, so a genuine small near object is never flattened.
    """
    depth = np.asarray(depth, dtype=np.float32)
    invalid = ~(np.isfinite(depth) & (depth > 0))
    if not invalid.any() or invalid.all():
        return depth.copy()
    base = np.where(invalid, np.float32(0), depth)
    closed = area_closing(base, area_threshold=area, connectivity=1)
    out = depth.copy()
    filled = invalid & (closed > 0)
    out[filled] = closed[filled]
    out[invalid & ~filled] = np.nan
    return out


def depth_target(depth: np.ndarray, cfg: DepthConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(target float32 (H, W), mask bool (H, W))`` from a metric depth map with NaN holes."""
    cfg = cfg or DepthConfig()
    d = np.asarray(depth, dtype=np.float32)
    if cfg.fill_holes:
        d = fill_holes(d, cfg.fill_area)
    mask = np.isfinite(d) & (d > 0)
    d = np.where(mask, d, np.float32(1.0))  # placeholder keeps log() quiet; zeroed below
    if cfg.clip_min is not None or cfg.clip_max is not None:
        d = np.clip(d, cfg.clip_min, cfg.clip_max)
    if cfg.normalize:
        d = normalize_depth(d, cfg.d_max, cfg.alpha)
    target = np.where(mask, d, np.float32(0)).astype(np.float32)
    return target, mask
