"""Learnable per-channel firing thresholds, trained as a gain on each channel's input current.

Scope: spiking U-Nets with ``norm = "threshold"`` (IF or LIF neurons, hard reset to 0). Idea from
learnable-threshold SNNs (e.g. Wang et al., "LTMD: Learning Improvement of Spiking Neural
Networks with Learnable Thresholding Neurons and Moderate Dropout", NeurIPS 2022), here per
output channel.

Why a gain and not the neuron's ``v_threshold``: an IF/LIF neuron with threshold ``theta`` fed
``g * I`` fires exactly where one with threshold ``theta / g`` fed ``I`` fires, at every time
step, because charge, leak and reset to 0 are linear in the membrane potential and commute with
the scale. So the per-channel threshold ``theta / g_c`` is trained as ``g_c = exp(s_c)`` (positive
by construction; ``s_c = 0`` at initialisation is the plain network) and folded into the
convolution's output channels when a model is loaded for inference and at export
(:mod:`depthsnn.models.fold`): the exported graph keeps one threshold per layer, which the
simulator, the quantiser and the vendor mappers need.
"""

from __future__ import annotations

import torch
from torch import nn


class ThresholdGain(nn.Module):
    """``x * exp(log_gain)`` per channel, on ``[T, B, C, H, W]`` or ``[B, C, H, W]`` tensors."""

    def __init__(self, channels: int):
        super().__init__()
        self.log_gain = nn.Parameter(torch.zeros(channels))

    def scale(self) -> torch.Tensor:
        """The per-channel gain ``exp(log_gain)`` [C] (the threshold it stands for is ``v_threshold / scale``)."""
        return self.log_gain.exp()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale channel ``c`` (dimension -3) by ``exp(log_gain[c])``; keeps ``x``'s dtype under autocast."""
        return x * self.scale().to(x.dtype).view(-1, 1, 1)

    def extra_repr(self) -> str:
        return f"channels={self.log_gain.numel()}"
