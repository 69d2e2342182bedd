"""Distillation from a trained teacher (issue 22): the student also fits the teacher's depth map.

Why: the ground truth of event-camera depth is sparse (MVSEC's lidar, our renderer's valid mask)
and a frozen ANN twin gives a dense, smooth target everywhere, including pixels without a label;
distilling an ANN into an SNN is among the techniques reported to close the SNN/ANN gap on dense
regression (design.md s.3). The teacher is any depthsnn checkpoint (usually the trained ANN of
the same modality): its prediction, in the same network units, is a second target for every head,
scored with the same scale-invariant + gradient-matching loss over all pixels, weighted by
``distill_weight``. The teacher runs in eval mode without gradients on the same (augmented)
frames as the student.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import ConfigError
from .checkpoint import model_from_checkpoint
from .losses import DepthLoss


@dataclass
class Teacher:
    """A frozen model whose depth the student also fits (:func:`load_teacher`)."""

    model: torch.nn.Module
    path: Path
    weight: float

    @torch.no_grad()
    def target(self, frames: torch.Tensor) -> torch.Tensor:
        """The teacher's depth ``[B, H, W]`` (network units, fp32) for ``frames [B, T, C, H, W]``."""
        return self.model(frames).depth.float()

    def loss(self, loss_fn: DepthLoss, heads, frames: torch.Tensor) -> torch.Tensor:
        """``weight`` x the student's loss against the teacher's depth over every pixel (no rate term)."""
        target = self.target(frames)
        everywhere = torch.ones_like(target, dtype=torch.bool)
        terms = DepthLoss(grad_weight=loss_fn.grad_weight, scales=loss_fn.scales, si_lambda=loss_fn.si_lambda)(
            heads, target, everywhere)
        return self.weight * terms.total


def load_teacher(path: str | Path, weight: float, student_data, device: torch.device) -> Teacher:
    """The teacher of checkpoint ``path`` on ``device``, checked against the student's data options:
    the same cameras and the same depth units (a teacher trained on other units would teach a
    shifted target). A bad file is a one-line DataError naming it (:func:`model_from_checkpoint`)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("teacher checkpoint not found", path)
    model, cfg, _ = model_from_checkpoint(path, device)
    td = cfg.data
    units = ("normalize_depth", "d_max", "alpha")
    if td.cameras != student_data.cameras:
        raise ConfigError(f"teacher sees {td.cameras} input, the student {student_data.cameras}", path)
    if any(getattr(td, u) != getattr(student_data, u) for u in units):
        raise ConfigError("teacher predicts depth in other units (" + ", ".join(
            f"{u} {getattr(td, u)} vs {getattr(student_data, u)}" for u in units) + ")", path)
    mc = model.cfg
    if td.num_bins != student_data.num_bins and not (mc.kind == "ann" and mc.ann_time == "sum"):
        raise ConfigError(f"teacher takes {td.num_bins} time bins, the student {student_data.num_bins} "
                          "(only an ANN that sums its bins can teach another bin count)", path)
    for p in model.parameters():
        p.requires_grad_(False)
    return Teacher(model.eval(), path, weight)
