"""The chip-fit network family (``arch = "portable"``): a plain chain of conv + neuron layers.

:class:`PortableCore` uses only what vendor toolchains execute (design.md s.9: lava-dl netx takes
conv/dense chains; Akida's AKD1000 takes conv layers with binary activations; Speck takes
conv -> IAF per core): ``levels`` stride-2 3x3 convolutions with channels ``base_channels * 2**i``,
then ``chain_convs`` stride-1 3x3 convolutions, each followed by an IF (or LIF) neuron, and a
3x3 convolution to one channel feeding the non-firing integrator (NIR ``I``), whose potential
after the last step is a coarse depth map of stride ``2**levels``. No upsampling, no skips, no
batch norm, no bias.

Sizes: the input is zero-padded (bottom/right, as the U-Net pads) to ``2**levels * m + 1`` pixels
per side (:func:`padded_size`), so every stride-2 convolution sees an odd size. Then torch's
symmetric padding of 1 equals the "same" padding of TensorFlow-style toolchains (Akida pads the
extra row at the bottom for even sizes), and coarse pixel ``i`` sits exactly on input pixel
``2**levels * i``: the coarse map has ``m + 1`` pixels per side and the host's bilinear upsampling
(``align_corners=True``) is geometrically exact.

The full-resolution map is made on the host by :func:`host_upsample` (torch ``interpolate``,
``bilinear`` or ``nearest`` per ``ModelConfig.host_upsample``): it is *not* part of the
exported NIR graph (the graph's output is the coarse map; ``NetGraph.metadata["host_upsample"]``
says what the host does with it), it runs on no chip and the energy report names it as a host
step outside the chip's energy. Training compares the upsampled prediction with full-resolution
ground truth, as for the U-Net.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from spikingjelly.activation_based import functional
from torch import nn

from .blocks import ConvUnit, Integrator, conv, make_activation
from .presets import ModelConfig

KERNEL = 3  # AKD1000 runs stride-2 convolutions with 3x3 kernels only; 3x3 everywhere keeps one rule.


class PortableCore(nn.Module):
    """Conv chain -> integrator. Input ``[T, B, C, H, W]`` (H, W divisible by ``cfg.multiple``);
    output ``[1, B, H / 2**levels, W / 2**levels]``: the integrator potential after the last step
    (the coarse depth map; same leading K = 1 axis as :class:`~depthsnn.models.unet.UNetCore`)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        idx = iter(range(cfg.num_activations))
        ch = cfg.channels
        layers = []
        for i in range(cfg.levels):
            out = cfg.base_channels * 2**i
            layers.append(ConvUnit(ch, out, 2, make_activation(cfg, next(idx)), False, kernel=KERNEL))
            ch = out
        for _ in range(cfg.chain_convs):
            layers.append(ConvUnit(ch, ch, 1, make_activation(cfg, next(idx)), False, kernel=KERNEL))
        self.layers = nn.ModuleList(layers)
        self.head = conv(ch, 1, KERNEL, 1, False)
        self.integrator = Integrator()
        functional.set_step_mode(self, "m")
        for m in self.modules():  # hidden convs as UNetCore; the head keeps PyTorch's small default
            if isinstance(m, nn.Conv2d) and m is not self.head:
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                nn.init.normal_(m.weight, 0.0, cfg.gain / fan_in**0.5)

    @property
    def stride(self) -> int:
        """Output stride: the depth map is (H / stride, W / stride)."""
        return 2**self.cfg.levels

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """``x_seq`` [T, B, C, H, W] -> coarse depth [1, B, H / stride, W / stride]."""
        x = x_seq
        for unit in self.layers:
            x = unit(x)
        v_seq = self.integrator(self.head(x))  # [T, B, 1, h, w]
        return v_seq[-1].squeeze(1).unsqueeze(0)


def padded_size(cfg: ModelConfig, height: int, width: int) -> tuple[int, int]:
    """(H, W) a portable core sees for an input of (height, width): the next ``2**levels * m + 1``."""
    s = 2**cfg.levels
    return tuple(s * max(-(-(n - 1) // s), 1) + 1 for n in (height, width))  # type: ignore[return-value]


def host_upsample(coarse: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """The host step of a portable network: ``coarse`` [..., h, w] -> [..., *size] by ``mode``
    (``bilinear`` with ``align_corners=True``: coarse pixel i lands on input pixel ``stride * i``;
    or ``nearest``). Runs on the host CPU/GPU, never on the neuromorphic chip."""
    lead = coarse.shape[:-2]
    x = coarse.reshape(-1, 1, *coarse.shape[-2:])
    kw = {"align_corners": True} if mode == "bilinear" else {}
    y = F.interpolate(x, size=tuple(int(s) for s in size), mode=mode, **kw)
    return y.reshape(*lead, *y.shape[-2:])


def host_step(cfg: ModelConfig, padded_hw: tuple[int, int]) -> dict[str, Any] | None:
    """What the host does after the chip for ``cfg`` (None for the U-Net): stored in the
    exported graph's metadata and named in reports."""
    if cfg.arch != "portable":
        return None
    return {"op": "upsample", "mode": cfg.host_upsample, "factor": 2**cfg.levels, "size": list(padded_hw),
            "where": "host (torch, outside the NIR graph; not counted in chip energy)"}


def apply_host_step(step: dict[str, Any] | None, out):
    """Apply a graph's ``metadata["host_upsample"]`` step to its output ``out`` [..., h, w]
    (torch tensor or numpy array; same type back). Identity when ``step`` is None."""
    if not step:
        return out
    if isinstance(out, torch.Tensor):
        return host_upsample(out, step["size"], step["mode"])
    t = torch.as_tensor(out)
    return host_upsample(t.double() if t.dtype == torch.float64 else t.float(), step["size"],
                         step["mode"]).numpy().astype(out.dtype, copy=False)


def host_step_cost(step: dict[str, Any] | None, coarse_hw: tuple[int, int]) -> dict[str, Any] | None:
    """Host-side work of ``step`` (a graph's ``metadata["host_upsample"]``) per inference: output
    pixels and multiply-accumulates (bilinear: 4 weighted taps per output pixel; nearest: copies,
    0 MACs). It runs on the host processor, so no chip energy row includes it; reports name it."""
    if not step:
        return None
    h, w = step["size"]
    pixels = int(h) * int(w)
    macs = 4 * pixels if step["mode"] == "bilinear" else 0
    return {**step, "from_hw": [int(v) for v in coarse_hw], "output_pixels": pixels, "host_macs": macs,
            "in_chip_energy": False,
            "text": f"{step['mode']} upsampling x{step['factor']} ({coarse_hw[0]}x{coarse_hw[1]} -> {h}x{w}), "
                    f"{macs:.3g} MACs per inference on the host CPU/GPU, outside the NIR graph: "
                    "not counted in any chip's energy"}
