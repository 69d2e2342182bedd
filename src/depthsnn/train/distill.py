"""Distillation from a trained teacher (issue 22): the student also fits the teacher's depth map.

Why: the ground truth of event-camera depth is sparse (MVSEC's lidar, our renderer's valid mask)
and a frozen ANN twin gives a dense, smooth target everywhere, including pixels without a label;
distilling an ANN into an SNN is among the techniques reported to close the SNN/ANN gap on dense
regression (design.md s.3). The teacher is any depthsnn checkpoint (usually the trained ANN of
the same modality): its prediction, in the same network units, is a second target for every head,
scored with the same scale-invariant + gradient-matching loss over all pixels, weighted by
``distill_weight``. The teacher runs in eval mode without gradients on the same (augmented)
frames as the student.

Feature distillation (``distill_features`` > 0, U-Nets only): the student's decoder features, the
inputs of its prediction heads (spike counts averaged over time for a spiking student), also fit
the teacher's at the same level, through one trainable 1x1 convolution per level (FitNets, Romero
et al. ICLR 2015; used to distil ANNs into SNNs, e.g. Xu et al. CVPR 2023). The adapters exist
only in training: they map the student's binary code onto the teacher's real-valued one, so the
student is taught what its features must carry, not their values, and the exported network is
the student alone. Each level's squared error is divided by the teacher's mean squared feature
(every level weighs the same whatever its scale); the term is ``distill_features`` x the mean
over levels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import ConfigError
from ..models.unet import UNetCore
from .checkpoint import model_from_checkpoint
from .losses import DepthLoss


class FeatureTap:
    """Records the inputs of a U-Net's prediction heads (its decoder features, coarse to fine) at
    every forward: ``take()`` returns and clears them, each averaged over time ``[B, C, H, W]``.
    Forward pre-hooks, so the model's code and its exported graph stay as they are."""

    def __init__(self, model: nn.Module, who: str, training_only: bool = False):
        core = getattr(model, "core", None)
        if not isinstance(core, UNetCore):
            raise ConfigError(f"feature distillation needs U-Nets: the {who} is arch "
                              f"{getattr(getattr(model, 'cfg', None), 'arch', '?')!r}")
        self.channels = [h.conv.in_channels for h in core.heads]
        self.training_only = training_only  # the student's tap: validation forwards are not kept
        self._seen: list[torch.Tensor] = []
        self._handles = [h.register_forward_pre_hook(self._grab) for h in core.heads]

    def _grab(self, module, args) -> None:
        if self.training_only and not module.training:
            return
        self._seen.append(args[0].float().mean(0))  # [T, B, C, H, W] -> [B, C, H, W]

    def take(self) -> list[torch.Tensor]:
        seen, self._seen = self._seen, []
        return seen

    def close(self) -> None:
        for h in self._handles:
            h.remove()


def feature_loss(student: list[torch.Tensor], teacher: list[torch.Tensor], adapters: nn.ModuleList) -> torch.Tensor:
    """Mean over levels of ``|adapter(s) - t|^2 / mean(t^2)`` (``t`` carries no gradient)."""
    if len(student) != len(teacher) or len(student) != len(adapters):
        raise ValueError(f"{len(student)} student and {len(teacher)} teacher feature maps for {len(adapters)} adapters")
    terms = []
    for s, t, a in zip(student, teacher, adapters, strict=True):
        if s.shape[-2:] != t.shape[-2:]:
            raise ValueError(f"student features {tuple(s.shape)} and teacher features {tuple(t.shape)} differ in size")
        t = t.detach()
        terms.append(((a(s) - t) ** 2).mean() / (t.pow(2).mean() + 1e-8))
    return torch.stack(terms).mean()


@dataclass
class Teacher:
    """A frozen model whose depth (and, with ``feature_weight`` > 0, decoder features) the student
    also fits (:func:`load_teacher`)."""

    model: torch.nn.Module
    path: Path
    weight: float
    feature_weight: float = 0.0
    adapters: nn.ModuleList | None = None
    _tap: FeatureTap | None = field(default=None, repr=False)

    @torch.no_grad()
    def target(self, frames: torch.Tensor) -> torch.Tensor:
        """The teacher's depth ``[B, H, W]`` (network units, fp32) for ``frames [B, T, C, H, W]``."""
        return self.model(frames).depth.float()

    def attach(self, student: nn.Module) -> FeatureTap | None:
        """With feature distillation: taps on the student's and the teacher's heads and the adapters
        (one 1x1 conv per level, student channels -> teacher channels, on the teacher's device);
        returns the student's tap, which the training step hands to :meth:`loss`."""
        if self.feature_weight <= 0:
            return None
        tap = FeatureTap(student, "student", training_only=True)
        self._tap = FeatureTap(self.model, "teacher")
        if len(tap.channels) != len(self._tap.channels):
            raise ConfigError(f"feature distillation needs as many decoder levels in the teacher "
                              f"({len(self._tap.channels)}) as in the student ({len(tap.channels)})", self.path)
        device = next(self.model.parameters()).device
        self.adapters = nn.ModuleList(nn.Conv2d(cs, ct, 1) for cs, ct in zip(tap.channels, self._tap.channels,
                                                                             strict=True)).to(device)
        return tap

    def loss(self, loss_fn: DepthLoss, heads, frames: torch.Tensor,
             student_tap: FeatureTap | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(output term, feature term): ``weight`` x the student's loss against the teacher's depth
        over every pixel (no rate term), and ``feature_weight`` x :func:`feature_loss` of the
        features ``student_tap`` recorded in this step's forward (0 without feature distillation)."""
        target = self.target(frames)
        everywhere = torch.ones_like(target, dtype=torch.bool)
        terms = DepthLoss(grad_weight=loss_fn.grad_weight, scales=loss_fn.scales, si_lambda=loss_fn.si_lambda)(
            heads, target, everywhere)
        features = target.new_zeros(())
        if student_tap is not None and self._tap is not None and self.adapters is not None:
            features = self.feature_weight * feature_loss(student_tap.take(), self._tap.take(), self.adapters)
        elif self._tap is not None:
            self._tap.take()
        return self.weight * terms.total, features


def _fed(data) -> str:
    """How a network's frames are built, for messages: bins and presentation."""
    return f"{data.num_bins} {'cumulative' if data.running_sums else 'per_bin'}"


def load_teacher(path: str | Path, weight: float, student_data, device: torch.device,
                 feature_weight: float = 0.0) -> Teacher:
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
    if (td.running_sums or student_data.running_sums) and _fed(td) != _fed(student_data):
        # The teacher is fed the student's frames: running sums summed again (or per-bin frames read
        # as running sums) are another input than the one it was trained on.
        raise ConfigError(f"teacher is fed {_fed(td)} bins, the student {_fed(student_data)} (cumulative "
                          "frames teach only a teacher trained on the same cumulative bins)", path)
    for p in model.parameters():
        p.requires_grad_(False)
    return Teacher(model.eval(), path, weight, feature_weight)
