"""StereoSpike-style U-Net (:class:`UNetCore`) and its padding/reset wrapper (:class:`DepthNet`).

``UNetCore`` is the network a later stage exports to NIR/ONNX: it takes ``[T, B, C, H, W]``
with H and W divisible by ``2**levels`` and has no data-dependent control flow.
``DepthNet`` adapts the data pipeline's ``[B, T, C, H, W]`` batches: it resets neuron state,
pads to the next multiple with zeros (no events, hence semantically neutral), runs the core
and crops back. For ``arch = "portable"`` the core is :class:`~depthsnn.models.portable.PortableCore`
and DepthNet adds the host step (not on chip): the coarse map is upsampled to full size, then cropped.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from spikingjelly.activation_based import functional
from torch import nn

from ..errors import ConfigError
from .akida2 import Akida2Core
from .akida2 import host_upsample as akida2_upsample
from .blocks import ConvUnit, Head, Integrator, SEWBlock, UpConvUnit, add_membrane_noise, make_activation
from .portable import PortableCore, host_upsample
from .portable import padded_size as portable_padded_size
from .presets import ModelConfig, preset, with_overrides
from .weight_norm import apply_weight_norm


class DepthOutput(NamedTuple):
    """What :class:`DepthNet` returns.

    ``depth`` [B, H, W]: integrator potential at the last time step (the prediction).
    ``heads``: tuple of ``levels`` tensors [B, H, W], coarse to fine, where ``heads[k]`` is
    the potential an integrator fed only heads 0..k would reach; ``heads[-1]`` is ``depth``.
    Sum the loss over ``heads`` for StereoSpike's multi-scale training.
    """

    depth: torch.Tensor
    heads: tuple[torch.Tensor, ...]


class UNetCore(nn.Module):
    """Encoder - SEW bottleneck - decoder with additive skips and accumulated heads.

    Input ``[T, B, C, H, W]`` (H, W divisible by ``cfg.multiple``); output
    ``[K, B, H, W]``: the cumulative head predictions (K = ``cfg.levels``), coarse to fine,
    time-integrated; the last one equals the integrator potential at the last step.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        w, n, bias = cfg.base_channels, cfg.levels, cfg.bias
        idx = iter(range(cfg.num_activations))

        def act() -> nn.Module:
            return make_activation(cfg, next(idx))

        ch = [w * 2**i for i in range(n + 1)]
        norm = cfg.norm
        self.bottom = ConvUnit(cfg.channels, ch[0], 1, act(), bias, norm=norm)
        self.encoders = nn.ModuleList(ConvUnit(ch[i], ch[i + 1], 2, act(), bias, norm=norm) for i in range(n))
        self.bottleneck = nn.Sequential(
            *(SEWBlock(ch[n], act(), act(), bias, norm) for _ in range(cfg.residual_blocks))
        )
        # Decoder and heads are listed coarse to fine (decoders[0] works at 1/2**(n-1)).
        self.decoders = nn.ModuleList(
            UpConvUnit(ch[i + 1], ch[i], act(), bias, norm=norm) for i in reversed(range(n))
        )
        self.heads = nn.ModuleList(Head(ch[i], 2**i, bias) for i in reversed(range(n)))
        self.integrator = Integrator()
        functional.set_step_mode(self, "m")
        self._init_weights()
        if norm == "weight":  # after the init: the reparametrisation starts at the drawn weights
            apply_weight_norm(self._hidden_convs())

    def _hidden_convs(self) -> list[nn.Conv2d]:
        """Every convolution but the heads' (the ones the init and the norms act on)."""
        heads = {id(m) for m in self.heads.modules()}
        return [m for m in self.modules() if isinstance(m, nn.Conv2d) and id(m) not in heads]

    def _init_weights(self) -> None:
        # Hidden convs only; heads keep PyTorch's small default so initial depths stay small.
        for m in self._hidden_convs():
            fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups
            nn.init.normal_(m.weight, 0.0, self.cfg.gain / fan_in**0.5)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        """Channel dropout during training (``cfg.dropout``), one mask per sample and channel
        shared by all T steps (as spikingjelly's multi-step ``layer.Dropout2d``). Functional and
        behind ``self.training``, not a module: an eval-mode trace, the NIR/ONNX exporters and the
        simulator then see no node at all."""
        p = self.cfg.dropout
        if not self.training or p == 0.0:
            return x
        keep = torch.rand(x.shape[1:3], device=x.device) >= p
        return x * (keep.to(x.dtype) / (1.0 - p))[None, :, :, None, None]

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """``x_seq`` [T, B, C, H, W] -> cumulative head predictions [K, B, H, W]."""
        x = self._drop(self.bottom(x_seq))
        skips = [x]
        for enc in self.encoders:
            x = self._drop(enc(x))
            skips.append(x)
        skips.pop()  # the deepest encoder output feeds the bottleneck, not a skip
        x = self.bottleneck(x)
        head_seqs = []
        for dec, head in zip(self.decoders, self.heads, strict=True):
            x = self._drop(dec(x)) + skips.pop()
            head_seqs.append(head(x))  # [T, B, 1, H, W]
        # All heads feed one integrator (edges sum at the target node, as in NIR).
        v_seq = self.integrator(torch.stack(head_seqs).sum(0))
        # Cumulative predictions: time-summed heads 0..k. Finest equals the potential.
        depth = v_seq[-1].squeeze(1).unsqueeze(0)
        if len(head_seqs) == 1:
            return depth
        per_head = torch.stack([h.sum(0) for h in head_seqs[:-1]]).squeeze(2)
        return torch.cat([torch.cumsum(per_head, 0), depth], 0)


class DepthNet(nn.Module):
    """The model used for training and evaluation: reset, pad, run :class:`UNetCore`, crop.

    ``forward(frames)`` takes ``[B, T, C, H, W]`` float frames of any H, W and returns a
    :class:`DepthOutput`. Neuron state is reset at the start of every call, so samples are
    independent. The exportable network is ``self.core``; a portable core's coarse output is
    upsampled here, on the host (``ModelConfig.host_upsample``), outside the exported graph.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        cores = {"portable": PortableCore, "akida2": Akida2Core}
        self.core = cores.get(cfg.arch, UNetCore)(cfg)
        if cfg.membrane_noise > 0:
            add_membrane_noise(self.core, cfg.membrane_noise)

    def padded_size(self, height: int, width: int) -> tuple[int, int]:
        """(H, W) the core sees for an input of (height, width): next multiple of 2**levels
        (portable: next ``2**levels * m + 1``, see :mod:`depthsnn.models.portable`)."""
        if self.cfg.arch == "portable":
            return portable_padded_size(self.cfg, height, width)
        m = self.cfg.multiple
        return -(-height // m) * m, -(-width // m) * m

    def forward(self, frames: torch.Tensor) -> DepthOutput:
        """``frames`` [B, T, C, H, W] -> :class:`DepthOutput` (depth [B, H, W] and heads)."""
        if frames.ndim != 5 or frames.shape[2] != self.cfg.channels:
            raise ConfigError(
                f"model expects frames [B, T, {self.cfg.channels}, H, W] "
                f"({self.cfg.modality}), got {list(frames.shape)}"
            )
        if self.cfg.kind == "ann" and self.cfg.ann_time == "sum":
            frames = frames.sum(1, keepdim=True)
        functional.reset_net(self.core)
        h, w = frames.shape[-2:]
        ph, pw = self.padded_size(h, w)
        # Zero padding at the bottom/right = pixels without events.
        x = F.pad(frames, (0, pw - w, 0, ph - h)) if (ph, pw) != (h, w) else frames
        out = self.core(x.transpose(0, 1).contiguous())
        if self.cfg.arch == "portable":
            out = host_upsample(out, (ph, pw), self.cfg.host_upsample)
        elif self.cfg.arch == "akida2":  # the host's x2 step after the chip's 1/2-resolution map
            out = akida2_upsample(out, (ph, pw))
        out = out[..., :h, :w]
        heads = tuple(out.unbind(0))
        return DepthOutput(depth=heads[-1], heads=heads)


def build_model(
    name_or_config: str | ModelConfig, modality: str | None = None, **overrides: object
) -> DepthNet:
    """Build a :class:`DepthNet` from a preset name (``'snn-tiny'``, ``'ann-paper'`` ...) or config.

    ``modality`` (``'binocular'`` | ``'monocular'``) and field ``overrides`` replace the
    corresponding :class:`ModelConfig` fields.
    """
    if isinstance(name_or_config, ModelConfig):
        fields = dict(overrides)
        if modality is not None:
            fields["modality"] = modality
        cfg = with_overrides(name_or_config, **fields)
    else:
        cfg = preset(name_or_config, modality=modality or "binocular", **overrides)
    return DepthNet(cfg)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
