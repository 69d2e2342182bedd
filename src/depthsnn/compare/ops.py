"""Dense multiply-accumulate count of an ANN :class:`~depthsnn.models.DepthNet` per inference.

Counted by running one zero input of batch 1 through the model with forward hooks on every
convolution: a conv producing ``N`` output elements does ``N * Cin / groups * kH * kW`` MACs
(a transposed conv: input elements ``* Cout / groups * kH * kW``). This is what the exported
ONNX graph computes, because the ANN does the same work for every input. Biases, activations,
upsampling and additions are not MACs; ``activations`` (conv output elements, one activation
each) is reported alongside for reference. Each conv's shapes are kept as
:class:`~depthsnn.simulate.counts.LayerCounts` (graded input) for profiles that price memory
traffic (:mod:`depthsnn.hw_profiles.memory`); a conv whose output feeds a batch norm counts as
biased, because the export folds the norm into the conv's bias. ``kernels``: the aten ops of the
forward pass that launch work (one GPU kernel each in eager mode), for the launch floor of
:mod:`depthsnn.hw_profiles.dense`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ..simulate.counts import LayerCounts


@dataclass
class MacCount:
    """MACs of one inference, in total and per conv layer (module name -> MACs); ``convs``: each
    conv's per-step shapes, ``timesteps``: the steps the ANN runs (1 when it sums the bins)."""

    macs: int
    activations: int
    layers: dict[str, int] = field(default_factory=dict)
    convs: list[LayerCounts] = field(default_factory=list)
    timesteps: int = 1
    kernels: int = 0

    def to_dict(self) -> dict:
        return {"macs": self.macs, "activations": self.activations, "layers": dict(self.layers),
                "kernels": self.kernels}


# aten ops that only reshape, alias or allocate: no kernel of their own on a GPU.
_NO_KERNEL = frozenset({"view", "_unsafe_view", "reshape", "t", "transpose", "permute", "expand", "as_strided",
                        "detach", "alias", "unsqueeze", "squeeze", "slice", "select", "split", "split_with_sizes",
                        "unbind", "empty", "empty_like", "empty_strided", "lift_fresh", "unflatten", "flatten",
                        "new_empty", "_reshape_alias"})


def _kernel_counter():
    """A TorchDispatchMode counting the aten ops that launch work (one GPU kernel each, in eager mode)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func.__name__.split(".")[0] not in _NO_KERNEL:
                self.n += 1
            return func(*args, **(kwargs or {}))

    return Count()


def dense_macs(model: nn.Module, input_hw: tuple[int, int], num_bins: int) -> MacCount:
    """MACs of one inference of ``model`` (a DepthNet) on frames [1, num_bins, C, H, W] of ``input_hw``.

    The input is padded by the model as in deployment, so the count is that of the padded size.
    """
    layers: dict[str, int] = {}
    convs: list[LayerCounts] = []
    steps = 1
    outputs = 0

    def hook(name: str):
        def count(module: nn.modules.conv._ConvNd, inputs, output) -> None:
            nonlocal outputs
            kernel = math.prod(module.kernel_size)
            if module.transposed:  # each input element is scattered to Cout/groups * k outputs
                n = inputs[0].numel() * module.out_channels // module.groups * kernel
            else:
                n = output.numel() * module.in_channels // module.groups * kernel
            layers[name] = layers.get(name, 0) + int(n)
            outputs += int(output.numel())
            nonlocal steps
            x = inputs[0]
            steps = int(x.shape[0]) if getattr(module, "step_mode", "s") == "m" else 1
            weights = module.weight.numel() + (0 if module.bias is None else module.bias.numel())
            convs.append(LayerCounts(name, "conv", weights=int(weights), fan_in=module.in_channels // module.groups
                                     * kernel, c_out=module.out_channels, kernel=int(module.kernel_size[0]),
                                     stride=int(module.stride[0]), in_size=x.numel() // steps,
                                     out_size=output.numel() // steps, bias=module.bias is not None, graded=True))
            by_output[id(output)] = convs[-1]
        return count

    by_output: dict[int, LayerCounts] = {}

    def norm_hook(module: nn.modules.batchnorm._BatchNorm, inputs, output) -> None:
        lc = by_output.get(id(inputs[0]))
        if lc is not None and not lc.bias:  # folded at export: the norm becomes this conv's bias
            lc.bias = True
            lc.weights += module.num_features

    handles = [m.register_forward_hook(hook(name)) for name, m in model.named_modules()
               if isinstance(m, nn.modules.conv._ConvNd)]
    handles += [m.register_forward_hook(norm_hook) for m in model.modules()
                if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    counter = _kernel_counter()
    try:
        x = torch.zeros(1, num_bins, model.cfg.channels, *input_hw)
        with torch.no_grad(), counter:
            model.eval()(x)
    finally:
        for h in handles:
            h.remove()
    return MacCount(sum(layers.values()), outputs, layers, convs, steps, counter.n)
