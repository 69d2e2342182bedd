"""Training loss of StereoSpike: scale-invariant loss + multi-scale gradient matching.

All functions take ``pred``, ``gt`` [B, H, W] and a boolean ``mask`` [B, H, W] of valid
pixels; invalid pixels never contribute, and a sample without valid pixels contributes 0
(no NaN). Per-sample terms are averaged over the samples that have valid pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# Sobel kernels normalised by 1/8 so a unit-slope ramp has gradient 1 (as kornia does).
_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0


def _masked_mean_over_samples(per_sample: torch.Tensor, has_pixels: torch.Tensor) -> torch.Tensor:
    """Mean of ``per_sample`` over samples with ``has_pixels``; 0 (with graph) if none."""
    w = has_pixels.to(per_sample.dtype)
    return (per_sample * w).sum() / w.sum().clamp(min=1.0)


def scale_invariant_loss(
    pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, si_lambda: float = 1.0
) -> torch.Tensor:
    """``mean(R^2) - si_lambda * mean(R)^2`` over valid pixels per sample (R = pred - gt), batch-averaged.

    With ``si_lambda=1`` (StereoSpike's formula) a constant offset between ``pred`` and ``gt``
    costs nothing, so the absolute depth level is never learned; Eigen et al. (2014) train
    with 0.5, which keeps most of the invariance but pins the offset.
    """
    m = mask.to(pred.dtype)
    n = m.sum(dim=(-2, -1))
    r = torch.where(mask, pred - gt, torch.zeros_like(pred))
    n1 = n.clamp(min=1.0)
    per_sample = (r * r).sum(dim=(-2, -1)) / n1 - si_lambda * ((r.sum(dim=(-2, -1)) / n1) ** 2)
    return _masked_mean_over_samples(per_sample, n > 0)


def gradient_matching_loss(
    pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, scales: int = 4
) -> torch.Tensor:
    """Multi-scale gradient matching (MiDaS, Ranftl et al. 2020) with Sobel gradients.

    At scale k the residual and mask are subsampled with stride ``2**k``; the L1 norm
    ``|dR/dx| + |dR/dy|`` (normalised Sobel) is averaged over pixels whose whole 3x3
    neighbourhood is valid, per sample. Scales are summed, samples averaged.
    """
    kx = _SOBEL_X.to(device=pred.device, dtype=pred.dtype)
    kernels = torch.stack([kx, kx.t()]).unsqueeze(1)  # [2, 1, 3, 3]
    r_full = torch.where(mask, pred - gt, torch.zeros_like(pred)).unsqueeze(1)
    m_full = mask.unsqueeze(1).to(pred.dtype)
    total = pred.new_zeros(())
    for k in range(scales):
        s = 2**k
        r, m = r_full[..., ::s, ::s], m_full[..., ::s, ::s]
        if r.shape[-1] < 3 or r.shape[-2] < 3:
            break
        g = F.conv2d(r, kernels).abs().sum(1)  # [B, H-2, W-2]
        # A gradient is valid only where all 9 taps are valid: erode the mask.
        valid = -F.max_pool2d(-m, 3, stride=1).squeeze(1)
        n = valid.sum(dim=(-2, -1))
        per_sample = (g * valid).sum(dim=(-2, -1)) / n.clamp(min=1.0)
        total = total + _masked_mean_over_samples(per_sample, n > 0)
    return total


@dataclass(frozen=True)
class LossTerms:
    """Loss and its parts (summed over heads), for logging. ``total`` is what to backprop."""

    total: torch.Tensor
    scale_invariant: torch.Tensor
    gradient: torch.Tensor
    rate: torch.Tensor


@dataclass(frozen=True)
class DepthLoss:
    """StereoSpike loss: sum over heads of SI + ``grad_weight`` x gradient matching,
    plus ``rate_weight`` x mean firing rate (a spike penalty; 0 disables it).

    ``si_lambda`` defaults to 0.5 (Eigen et al. 2014) rather than StereoSpike's 1.0 so that
    the network learns metric depth, not depth up to an offset (see
    :func:`scale_invariant_loss`).
    """

    grad_weight: float = 0.5
    scales: int = 4
    rate_weight: float = 0.0
    si_lambda: float = 0.5

    def __call__(
        self,
        heads: Sequence[torch.Tensor] | torch.Tensor,
        gt: torch.Tensor,
        mask: torch.Tensor,
        rate: torch.Tensor | None = None,
    ) -> LossTerms:
        """``heads``: one [B, H, W] prediction or a sequence of them (e.g. ``DepthOutput.heads``).

        ``rate``: differentiable mean firing rate (``SpikeRecorder.rate_penalty()``).
        """
        if isinstance(heads, torch.Tensor):
            heads = (heads,)
        si = sum(scale_invariant_loss(h, gt, mask, self.si_lambda) for h in heads)
        gm = sum(gradient_matching_loss(h, gt, mask, self.scales) for h in heads)
        si_t = torch.as_tensor(si, device=gt.device)
        gm_t = torch.as_tensor(gm, device=gt.device)
        rate_t = rate if rate is not None else gt.new_zeros(())
        total = si_t + self.grad_weight * gm_t
        if self.rate_weight:
            total = total + self.rate_weight * rate_t.to(total.device)
        return LossTerms(total=total, scale_invariant=si_t, gradient=gm_t, rate=rate_t)
