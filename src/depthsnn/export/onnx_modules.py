"""Traceable torch modules that the ONNX exports are made from, and the model preparation steps.

The exports use the TorchScript tracer, which records one concrete run: everything that must
not become a constant (the batch size) is read from tensor shapes inside ``forward``, and
everything that is fixed per file (input size, padding, number of time bins) is a plain Python
int computed at construction.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from spikingjelly.activation_based import functional
from torch import nn

from ..errors import ConfigError
from ..models.fold import fold_norms
from .executor import GraphExecutor
from .graph import host_output

WeightTransform = Callable[[str, np.ndarray], np.ndarray]


def prepared_copy(model: nn.Module, weight_transform: WeightTransform | None = None) -> nn.Module:
    """Eval-mode CPU copy of ``model`` with batch norms folded and ``weight_transform`` applied.

    ``weight_transform(name, weight)`` receives each convolution's state-dict key (for a
    ``DepthNet``: ``core.encoders.0.conv.weight``) and its float32 weight array and returns the
    replacement (same shape), e.g. an int8 round trip for a hardware profile. Transforming the
    torch copy, not the ONNX file, keeps the reference the export is verified against identical
    to what was exported.
    """
    m = fold_norms(copy.deepcopy(model).cpu().eval())
    if weight_transform is None:
        return m
    for name, mod in m.named_modules():
        if not isinstance(mod, nn.Conv2d):
            continue
        key = f"{name}.weight"
        w = mod.weight.detach().numpy().astype(np.float32)
        new = np.asarray(weight_transform(key, w.copy()), dtype=np.float32)
        if new.shape != w.shape:
            raise ConfigError(f"weight_transform changed the shape of {key} from {w.shape} to {new.shape}")
        with torch.no_grad():
            mod.weight.copy_(torch.from_numpy(new))
    return m


def _pad(frames: torch.Tensor, input_hw: tuple[int, int], padded_hw: tuple[int, int]) -> torch.Tensor:
    # Zeros at the bottom/right = pixels without events, exactly as DepthNet pads.
    (h, w), (ph, pw) = input_hw, padded_hw
    return F.pad(frames, (0, pw - w, 0, ph - h)) if (ph, pw) != (h, w) else frames


class AnnDepth(nn.Module):
    """``frames`` [B, T, C, H, W] -> ``depth`` [B, H, W]: DepthNet's ANN forward, traceable.

    Tracing DepthNet itself fails in two ways: it reads H, W from the input (the tracer
    records shape arithmetic for the padding and crop), and spikingjelly's multi-step layers
    ``unflatten`` with the traced batch size baked in as a constant, which breaks the dynamic
    batch. So the (stateless) ANN runs here in single-step mode on the T*B frames stacked as
    one batch, with the UNetCore's walk repeated, and the integrator's time sum done with a
    ``-1`` (dynamic) batch dimension. ``core`` is switched to single-step mode: pass a copy.
    """

    def __init__(self, core: nn.Module, num_bins: int, input_hw: tuple[int, int], padded_hw: tuple[int, int]):
        super().__init__()
        functional.set_step_mode(core, "s")
        self.core = core
        self.steps = 1 if core.cfg.ann_time == "sum" else num_bins
        self.input_hw = tuple(input_hw)
        self.padded_hw = tuple(padded_hw)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        core = self.core
        if self.steps == 1:
            frames = frames.sum(1, keepdim=True)
        x = _pad(frames, self.input_hw, self.padded_hw)
        x = x.reshape(-1, *x.shape[2:])  # [B*T, C, Hp, Wp], sample-major
        # Same walk and summation order as UNetCore.forward (verification checks it).
        x = core.bottom(x)
        skips = [x]
        for enc in core.encoders:
            x = enc(x)
            skips.append(x)
        skips.pop()
        x = core.bottleneck(x)
        heads = []
        for dec, head in zip(core.decoders, core.heads, strict=True):
            x = dec(x) + skips.pop()
            heads.append(head(x))
        y = torch.stack(heads).sum(0)  # [B*T, 1, Hp, Wp]
        # The integrator's potential after the last step: cumulative sum over time, as Integrator.
        v = torch.cumsum(y.reshape(-1, self.steps, *y.shape[1:]), dim=1)[:, -1]
        h, w = self.input_hw
        return v[:, 0, :h, :w]


class UnrolledSnn(nn.Module):
    """``frames`` [B, T, C, H, W] -> ``depth`` [B, H, W]: T steps of a :class:`GraphExecutor`.

    The output is the integrator potential after the last step, padded and cropped like
    DepthNet. T is fixed (the loop is unrolled by the tracer); the batch is not.
    """

    def __init__(self, executor: GraphExecutor, num_bins: int, input_hw: tuple[int, int]):
        super().__init__()
        self.executor = executor
        self.num_bins = num_bins
        self.input_hw = tuple(input_hw)
        self.padded_hw = tuple(executor.graph.input.shape[1:])

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = _pad(frames, self.input_hw, self.padded_hw)
        state = self.executor.init_state(x.shape[0], x.device)
        out = x.new_zeros(())
        for t in range(self.num_bins):
            out, state, _ = self.executor.step(x[:, t], state)
        out = host_output(self.executor.graph, out)  # portable nets: the host's upsampling (a Resize)
        h, w = self.input_hw
        return out[:, 0, :h, :w]


class StepSnn(nn.Module):
    """One time step with explicit state: ``(x, *state) -> (out, *new_state[, *spikes])``.

    ``x`` is [B, C, Hp, Wp] (already padded), the states are the membrane potentials of the
    executor's stateful nodes in graph order; with ``with_spikes`` every neuron node's binary
    output of this step follows.
    """

    def __init__(self, executor: GraphExecutor, with_spikes: bool = False):
        super().__init__()
        self.executor = executor
        self.spike_nodes = [n.name for n in executor.graph.of_op("if", "lif")] if with_spikes else []

    def forward(self, x: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out, new_state, spikes = self.executor.step(x, list(state))
        # ``out`` is also the integrator's new state; a separate tensor keeps the two ONNX
        # outputs distinct values rather than one value under two names.
        return (out.clone(), *new_state, *(spikes[n] for n in self.spike_nodes))


def grid_snap(bits: int) -> WeightTransform:
    """Weight transform rounding each tensor to the grid ``2**(ceil(log2(max|w|)) - bits)``.

    Products of such weights with small integers (events, spikes) and their sums are exact in
    float32 while they need fewer than 24 significant bits, so any summation order gives the
    same result: used to check spiking exports bit for bit.
    """

    def snap(_name: str, w: np.ndarray) -> np.ndarray:
        peak = float(np.abs(w).max()) if w.size else 0.0
        if peak == 0.0:
            return w.astype(np.float32)
        q = 2.0 ** (np.ceil(np.log2(peak)) - bits)
        return (np.round(w / q) * q).astype(np.float32)

    return snap
