"""Building blocks shared by the SNN, HNN and ANN variants of the depth U-Net.

All blocks work in spikingjelly's multi-step mode on ``[T, B, C, H, W]`` tensors. Only
operations that NIR and ONNX can express are used: Conv2d, addition, nearest upsampling,
IF/LIF neurons and a non-firing integrator (ReLU for ANN and analog HNN layers).
"""

from __future__ import annotations

import math

import torch
from spikingjelly.activation_based import base, layer, neuron, surrogate
from torch import nn

from .presets import ModelConfig
from .threshold_gain import ThresholdGain


def _wide(x: torch.Tensor) -> torch.Tensor:
    """fp16/bf16 (autocast) -> fp32; fp32 and fp64 unchanged: the depth read-out never accumulates in 16 bits."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


class Integrator(base.MemoryModule):
    """Non-firing integrate neuron (NIR node ``I``): ``v[t] = v[t-1] + x[t]``, never resets.

    Equivalent to an IF neuron with an infinite threshold. Its membrane potential is the
    predicted depth. The state ``v`` is a registered memory, so
    ``spikingjelly.activation_based.functional.reset_net`` clears it.
    """

    v_threshold = math.inf

    def __init__(self, step_mode: str = "m"):
        super().__init__()
        self.register_memory("v", 0.0)
        self.step_mode = step_mode

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        """One step: add ``x`` [B, ...] to the potential and return the potential (fp32, also under autocast)."""
        self.v = self.v + _wide(x)
        return self.v

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """``x_seq`` [T, B, ...] -> potential after each step [T, B, ...] (fp32, also under autocast)."""
        v_seq = self.v + torch.cumsum(_wide(x_seq), dim=0)
        self.v = v_seq[-1]
        return v_seq


def spiking_neuron(cfg: ModelConfig) -> nn.Module:
    """IF or LIF neuron with StereoSpike's settings (hard reset to 0, ATan surrogate of sharpness
    ``cfg.surrogate_alpha``)."""
    common = dict(
        v_threshold=cfg.v_threshold,
        v_reset=0.0,
        surrogate_function=surrogate.ATan(alpha=cfg.surrogate_alpha),
        detach_reset=cfg.detach_reset,
        step_mode="m",
    )
    if cfg.neuron == "lif":
        return neuron.LIFNode(tau=cfg.tau, **common)
    return neuron.IFNode(**common)


def make_activation(cfg: ModelConfig, index: int) -> nn.Module:
    """Activation for activation layer number ``index`` (0 = first encoder layer).

    The single place where SNN, HNN and ANN differ: spiking neuron, ReLU, or (analog HNN
    with ``hnn_analog='identity'``) no non-linearity at all.
    """
    if cfg.kind == "ann":
        return nn.ReLU()
    if cfg.kind == "hnn" and index < cfg.hnn_analog_layers:
        return nn.ReLU() if cfg.hnn_analog == "relu" else nn.Identity()
    return spiking_neuron(cfg)


def is_spiking(module: nn.Module) -> bool:
    """True for spikingjelly neuron modules (binary outputs)."""
    return isinstance(module, (neuron.BaseNode, neuron.SimpleBaseNode))


class MembraneNoise:
    """Forward pre-hook adding N(0, sigma**2) to a neuron's input current in training mode only.

    A hook rather than a module so that eval-mode traces, the exporters and the simulator see the
    unchanged neuron, and spikingjelly's fused kernels (any backend) still run the neuron itself.
    """

    def __init__(self, sigma: float):
        self.sigma = sigma

    def __call__(self, module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...] | None:
        if not module.training:
            return None
        (x,) = args
        return (x + self.sigma * torch.randn_like(x),)


def add_membrane_noise(model: nn.Module, sigma: float) -> int:
    """Register :class:`MembraneNoise` on every spiking neuron of ``model``; returns how many."""
    nodes = [m for m in model.modules() if is_spiking(m)]
    for m in nodes:
        m.register_forward_pre_hook(MembraneNoise(sigma))
    return len(nodes)


def conv(cin: int, cout: int, kernel: int, stride: int, bias: bool) -> nn.Module:
    """Multi-step 2-D convolution with 'same' padding for odd kernels."""
    return layer.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=bias, step_mode="m")


def upsample(factor: int) -> nn.Module:
    """Multi-step nearest-neighbour upsampling by an integer factor."""
    return layer.Upsample(scale_factor=factor, mode="nearest", step_mode="m")


def batch_norm(channels: int) -> nn.Module:
    """Multi-step BatchNorm2d (statistics over time steps and batch), for the ANN recipe."""
    return layer.BatchNorm2d(channels, step_mode="m")


def norm_layer(norm: str, channels: int) -> nn.Module | None:
    """What follows a hidden convolution: a batch norm (``batch``), a learnable per-channel
    threshold (``threshold``, :class:`ThresholdGain`) or nothing (``none``, and ``weight``, whose
    reparametrisation is put on the convolution itself by the U-Net). All fold into the
    convolution (:mod:`depthsnn.models.fold`)."""
    if norm == "batch":
        return batch_norm(channels)
    if norm == "threshold":
        return ThresholdGain(channels)
    return None


def conv_norm(cin: int, cout: int, kernel: int, stride: int, bias: bool, norm: str) -> nn.Module:
    """A convolution, followed by its norm layer unless ``norm == 'none'`` (as one sequence, so
    :func:`~depthsnn.models.fold.fold_norms` finds the pair)."""
    c = conv(cin, cout, kernel, stride, bias and norm == "none")
    n = norm_layer(norm, cout)
    return c if n is None else nn.Sequential(c, n)


class ConvUnit(nn.Sequential):
    """Conv (5x5, stride 1 or 2), optional norm (``bn``: batch norm or threshold gain), activation: one encoder stage."""

    def __init__(self, cin: int, cout: int, stride: int, act: nn.Module, bias: bool, kernel: int = 5,
                 norm: str = "none"):
        super().__init__()
        self.conv = conv(cin, cout, kernel, stride, bias and norm == "none")
        if (n := norm_layer(norm, cout)) is not None:
            self.bn = n
        self.act = act


class UpConvUnit(nn.Sequential):
    """Nearest upsample x2, 5x5 conv, optional norm (``bn``), activation: one decoder stage."""

    def __init__(self, cin: int, cout: int, act: nn.Module, bias: bool, kernel: int = 5, norm: str = "none"):
        super().__init__()
        self.up = upsample(2)
        self.conv = conv(cin, cout, kernel, 1, bias and norm == "none")
        if (n := norm_layer(norm, cout)) is not None:
            self.bn = n
        self.act = act


class SEWBlock(nn.Module):
    """Spike-element-wise residual block with ADD connect: ``x + act(conv(act(conv(x))))``."""

    def __init__(self, channels: int, act1: nn.Module, act2: nn.Module, bias: bool, norm: str = "none"):
        super().__init__()
        self.conv1 = conv_norm(channels, channels, 3, 1, bias, norm)
        self.act1 = act1
        self.conv2 = conv_norm(channels, channels, 3, 1, bias, norm)
        self.act2 = act2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [T, B, C, H, W] -> same shape."""
        return x + self.act2(self.conv2(self.act1(self.conv1(x))))


class Head(nn.Sequential):
    """Prediction head: nearest upsample to full size, then 3x3 conv to one channel."""

    def __init__(self, cin: int, factor: int, bias: bool):
        super().__init__()
        # An x1 upsample would be a no-op module the exporter has to skip; leave it out.
        if factor > 1:
            self.up = upsample(factor)
        self.conv = conv(cin, 1, 3, 1, bias)
