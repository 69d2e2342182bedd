"""The Akida 2.0 (IPv2) depth U-Net (``arch = "akida2"``): what BrainChip's IPv2 maps and runs equal.

:class:`Akida2Core` is a U-Net built only from layers Akida IPv2 executes on its neural processors
(probed on ``akida`` 2.19.3, :mod:`depthsnn.vendors.akida2` builds the Akida model from it):

* encoder: ``Conv2D`` 3x3 stride 1 (input -> ``base_channels``), then ``levels`` ``Conv2D`` 3x3
  stride 2 (channels ``base_channels * 2**i``), then ``residual_blocks`` ``Conv2D`` 3x3 stride 1 at
  the bottom (plain convolutions, no residual);
* decoder, coarse to fine, down to 1/2 resolution: ``Conv2DTranspose`` 4x4 stride 2 ("same"), an
  ``Add`` with the encoder output of the same size (the additive skip), a ``Conv2D`` 3x3 stride 1;
* readout: ``Conv2D`` 3x3 to one channel without activation, then Akida's ``Dequantizer``: a depth
  map at 1/2 resolution, which the host upsamples x2 bilinearly (:func:`host_upsample`, torch,
  outside the chip and its energy, as the chip-fit chain's x8 step).

Why 1/2 resolution: Akida's mapper (2.19.3, IPv2) cannot place a ``Conv2DTranspose`` whose output
is wider than 256 pixels ("Layer 'up0': Split by height is not supported", then "Bad mapping on
skip connection. Several branches" for its skip): a full-resolution decoder stage at the DAVIS
346's width (352 padded) does not map on any IPv2 virtual device, the same stage at 1/2 width does.

This is BrainChip's own layout for dense prediction on IPv2 (``akida_models`` CenterNet neck:
transposed conv 4x4 stride 2 then ``Add`` with the backbone output; a conv head without activation)
with every encoder level skipped to the decoder as in StereoSpike.

**What the network is on chip: not binary spikes.** IPv2 activations are multi-bit: every hidden
layer sends 8-bit graded events (integers 0..127 = ``ReLU`` clipped at ``127 * 2**ACT_EXP`` and
rounded to steps of ``2**ACT_EXP``); zeros are not sent (Akida is event-based on activation
sparsity). The network is stateless: the T time bins of a window are summed into one frame of
event counts (clipped to 0..127, Akida's 8-bit signed input), as the ANN baseline does.

Training runs the chip's integer arithmetic exactly (quantisation-aware, straight-through
gradients): weights 8-bit (integers -127..127) times one power-of-two scale per layer; biases
8-bit per channel times a power-of-two shift in accumulator units (Akida's ``bias << bias_shift``);
activations re-quantised by a right shift rounding half up (``floor(acc * 2**-k + 0.5)``, measured
on Akida's software backend) and clipped to 0..127; the skip ``Add`` of two activations on the same
scale saturates at 127; the readout is the head's 28-bit accumulator times its scale.
All scales are powers of two fixed by the design (:data:`ACT_EXP`) or by the weights, so in float64 this model computes exactly Akida's integers times those scales (and in
float32 too while partial sums stay below 2**24, which they do here): evaluation reports what
the chip computes. Padding: Akida's "same" padding of a stride-2 3x3 convolution on an even size
pads one row/column at the bottom/right only, so the stride-2 convolutions here pad (0, 1) too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .presets import ModelConfig

INPUT_MAX = 127  # Akida InputData with 8 bits is signed int8: event counts 0..127
WEIGHT_MAX = 127  # 8-bit weights, symmetric
BIAS_MAX = 127  # int8 bias, shifted left by a per-channel bias_shift
ACT_MAX = 127  # 8-bit ReLU output on IPv2 is int8: 0..127
ACT_EXP = -4  # hidden activations: integer * 2**-4 (0 .. 7.94, like BrainChip's ReLU7.5)
HEAD_BITS = 28  # readout: the signed 28-bit accumulator itself (IPv2 maps a layer without
# activation only with 8 or 28 output bits and output_shift 0), on the scale 2**(ACT_EXP + weight exponent)
TRANSPOSE_KERNEL = 4  # Conv2DTranspose 4x4 stride 2 "same" = torch padding 1, symmetric
OUTPUT_STRIDE = 2  # the decoder stops at 1/2 resolution (see the module doc); the host upsamples x2


def pow2_exponent(max_abs: float, qmax: int) -> int:
    """Smallest integer e with ``max_abs / 2**e <= qmax`` (0 for an all-zero tensor)."""
    if not max_abs > 0:
        return 0
    e = math.ceil(math.log2(max_abs / qmax))
    while max_abs / 2.0**e > qmax:  # guard against log2 rounding
        e += 1
    return e


def round_half_up(x: torch.Tensor) -> torch.Tensor:
    """Akida's rounding of a right shift: ``floor(x + 0.5)``."""
    return torch.floor(x + 0.5)


def _ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``q`` forward, identity gradient to ``x`` (straight-through estimator)."""
    return x + (q - x).detach()


class QuantReLU(nn.ReLU):
    """8-bit activation of IPv2: ``clamp(floor(x * 2**-exp + 0.5), 0, 127) * 2**exp``; gradient
    of the clipped ReLU. A subclass of ``nn.ReLU`` so activation statistics count it (graded
    events: non-zero outputs are the events Akida sends)."""

    def __init__(self, exp: int = ACT_EXP, qmax: int = ACT_MAX):
        super().__init__()
        self.exp, self.qmax = exp, qmax

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        step = 2.0**self.exp
        y = torch.clamp(x, 0.0, self.qmax * step)
        return _ste(y, torch.clamp(round_half_up(x / step), 0, self.qmax) * step)


@dataclass
class QuantParams:
    """The integers Akida stores for one conv layer: ``weight_q`` (torch layout), weight exponent,
    ``bias_q`` and ``bias_shift`` per channel (None: no bias), ``shift`` = the right shift from
    accumulator to output (``output_shift = -shift``; 0 for a layer without activation, whose
    output is the accumulator on scale ``2**acc_exp``)."""

    weight_q: torch.Tensor
    weight_exp: int
    bias_q: torch.Tensor | None
    bias_shift: torch.Tensor | None
    shift: int
    acc_exp: int


class QConv(nn.Module):
    """A conv (``Conv2D``, stride 1 or 2, 3x3) or transposed conv (``Conv2DTranspose`` 4x4 stride 2)
    with Akida IPv2's integer arithmetic: input on scale ``2**in_exp``, output on ``2**out_exp``,
    ReLU (8-bit, 0..127), or none: the signed 28-bit accumulator itself (``out_exp`` ignored)."""

    def __init__(self, cin: int, cout: int, *, transpose: bool = False, stride: int = 1, in_exp: int = ACT_EXP,
                 out_exp: int = ACT_EXP, relu: bool = True, out_bits: int = 8, bias: bool = True):
        super().__init__()
        self.transpose, self.stride, self.in_exp, self.out_exp = transpose, stride, in_exp, out_exp
        self.relu, self.out_bits = relu, out_bits
        self.act = QuantReLU(out_exp) if relu else None
        k = TRANSPOSE_KERNEL if transpose else 3
        shape = (cin, cout, k, k) if transpose else (cout, cin, k, k)
        self.weight = nn.Parameter(torch.empty(shape))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        fan_in = cin * 9 if not transpose else cin * k * k / 4  # each output sees k*k/4 taps per input channel
        nn.init.normal_(self.weight, 0.0, (2.0 / fan_in) ** 0.5)

    @property
    def out_channels(self) -> int:
        return self.weight.shape[1] if self.transpose else self.weight.shape[0]

    def quant(self) -> QuantParams:
        """The layer's integers as Akida stores them (computed from the float weights, no grad)."""
        with torch.no_grad():
            w = self.weight.detach()
            ew = pow2_exponent(float(w.abs().max()), WEIGHT_MAX)
            wq = torch.clamp(torch.round(w / 2.0**ew), -WEIGHT_MAX, WEIGHT_MAX)
            acc_exp = self.in_exp + ew
            bq = bs = None
            if self.bias is not None:
                b_acc = self.bias.detach().double() / 2.0**acc_exp
                bs = torch.tensor([max(0, pow2_exponent(float(abs(v)), BIAS_MAX)) for v in b_acc], dtype=torch.int64)
                bq = torch.clamp(torch.round(b_acc / 2.0**bs), -BIAS_MAX, BIAS_MAX)
            return QuantParams(wq, ew, bq, bs, self.out_exp - acc_exp if self.relu else 0, acc_exp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [B, C, H, W] on scale ``2**in_exp`` -> [B, C', H', W'] on ``2**out_exp``."""
        q = self.quant()
        w = _ste(self.weight, (q.weight_q * 2.0**q.weight_exp).to(self.weight.dtype))
        if self.transpose:
            y = F.conv_transpose2d(x, w, stride=2, padding=(TRANSPOSE_KERNEL - 2) // 2)
        elif self.stride == 2:
            y = F.conv2d(F.pad(x, (0, 1, 0, 1)), w, stride=2)  # Akida "same" on even sizes
        else:
            y = F.conv2d(x, w, padding=1)
        if self.bias is not None:
            acc_unit = 2.0 ** (self.in_exp + q.weight_exp)
            b = _ste(self.bias, (q.bias_q * 2.0**q.bias_shift * acc_unit).to(self.bias.dtype))
            y = y + b.view(1, -1, 1, 1)
        if self.act is not None:
            return self.act(y)
        top = (2 ** (self.out_bits - 1)) * 2.0**q.acc_exp  # saturation of the accumulator (never reached here)
        return torch.clamp(y, -top, top - 2.0**q.acc_exp)

    def extra_repr(self) -> str:
        kind = "transpose 4x4 s2" if self.transpose else f"3x3 s{self.stride}"
        return f"{kind}, exp {self.in_exp} -> {self.out_exp if self.relu else 'acc'}, " + (
            "relu8" if self.relu else f"int{self.out_bits}")


def saturating_add(a: torch.Tensor, b: torch.Tensor, exp: int = ACT_EXP) -> torch.Tensor:
    """Akida ``Add`` of two activations on the same scale ``2**exp`` (shifts 0): the sum saturates
    at 127 (8-bit output); clipped-ReLU gradient."""
    return torch.clamp(a + b, max=ACT_MAX * 2.0**exp)


def host_upsample(coarse: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The host step after the chip: ``coarse`` [K, B, h, w] -> [K, B, *size], bilinear x2
    (``align_corners=False``). Plain torch on the host CPU/GPU, never on Akida, in no chip energy."""
    k, b = coarse.shape[:2]
    y = F.interpolate(coarse.reshape(k * b, 1, *coarse.shape[-2:]), size=tuple(int(v) for v in size),
                      mode="bilinear", align_corners=False)
    return y.reshape(k, b, *y.shape[-2:])


@dataclass(frozen=True)
class Step:
    """One Akida layer of the plan: ``op`` ``conv`` | ``transpose`` | ``add`` | ``head``, its
    ``name`` (= the module name in ``Akida2Core.convs``, and the Akida layer's name) and ``inputs``."""

    name: str
    op: str
    inputs: tuple[str, ...]


class Akida2Core(nn.Module):
    """Encoder (strided ``Conv2D``) - bottom convs - decoder (``Conv2DTranspose`` + ``Add`` skip +
    ``Conv2D``) - ``Conv2D`` readout. Input ``[T, B, C, H, W]`` event counts (H, W divisible by
    ``2**levels``); output ``[1, B, H, W]``, the depth map (one head, full resolution).

    :attr:`plan` lists the Akida layers in order; :mod:`depthsnn.vendors.akida2` builds Akida's
    model from it and :meth:`forward` runs it, so both are the same network by construction.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        n, ch = cfg.levels, [cfg.base_channels * 2**i for i in range(cfg.levels + 1)]
        convs: dict[str, QConv] = {}
        plan: list[Step] = []
        convs["enc0"] = QConv(cfg.channels, ch[0], in_exp=0)
        plan.append(Step("enc0", "conv", ("input",)))
        for i in range(n):
            convs[f"enc{i + 1}"] = QConv(ch[i], ch[i + 1], stride=2)
            plan.append(Step(f"enc{i + 1}", "conv", (f"enc{i}",)))
        x = f"enc{n}"
        for j in range(cfg.residual_blocks):
            convs[f"mid{j}"] = QConv(ch[n], ch[n])
            plan.append(Step(f"mid{j}", "conv", (x,)))
            x = f"mid{j}"
        for i in reversed(range(1, n)):
            convs[f"up{i}"] = QConv(ch[i + 1], ch[i], transpose=True)
            plan.append(Step(f"up{i}", "transpose", (x,)))
            plan.append(Step(f"add{i}", "add", (f"up{i}", f"enc{i}")))
            convs[f"dec{i}"] = QConv(ch[i], ch[i])
            plan.append(Step(f"dec{i}", "conv", (f"add{i}",)))
            x = f"dec{i}"
        head = QConv(ch[1], 1, relu=False, out_bits=HEAD_BITS)
        nn.init.normal_(head.weight, 0.0, 0.01)
        with torch.no_grad():
            head.bias.fill_(0.5)  # the middle of the normalised log-depth range
        convs["head"] = head
        plan.append(Step("head", "head", (x,)))
        self.convs = nn.ModuleDict(convs)
        self.plan = tuple(plan)

    @property
    def stride(self) -> int:
        """Output stride: the chip's depth map is (H / 2, W / 2); the host upsamples it x2."""
        return OUTPUT_STRIDE

    def quantize_input(self, x_seq: torch.Tensor) -> torch.Tensor:
        """[T, B, C, H, W] -> [B, C, H, W]: the T bins summed into one frame of event counts,
        rounded and clipped to Akida's 8-bit signed input (0..127)."""
        return torch.clamp(torch.round(x_seq.sum(0)), 0, INPUT_MAX)

    def run(self, frame: torch.Tensor, upto: str | None = None) -> dict[str, torch.Tensor]:
        """Run the plan on one quantised frame [B, C, H, W]; every layer's output by name (up to
        and including ``upto``)."""
        out = {"input": frame}
        for step in self.plan:
            if step.op == "add":
                out[step.name] = saturating_add(*(out[i] for i in step.inputs))
            else:
                out[step.name] = self.convs[step.name](out[step.inputs[0]])
            if step.name == upto:
                break
        return out

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """``x_seq`` [T, B, C, H, W] -> the chip's depth map [1, B, H / 2, W / 2]."""
        y = self.run(self.quantize_input(x_seq))["head"]
        return y.squeeze(1).unsqueeze(0)
