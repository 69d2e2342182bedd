"""Mixed precision that keeps spikingjelly's fused neuron kernels: bf16 convolutions, fp32 neuron state.

Why this module exists (design.md s.10): under plain ``torch.autocast(bfloat16)`` a convolution
hands its neuron a bf16 input, spikingjelly's ``BaseNode.materialize_states`` gives the membrane
``v`` that dtype, and ``if_multi_step`` only runs its fused CUDA/Triton op on an fp32 state: with
an explicitly requested implementation it raises (``... cannot run this execution profile``), with
``auto`` it silently drops to the slow torch reference loop. Both the crash and the silent
slowdown come from one fact, so one plan fixes both:

* on CUDA with the triton implementation, spikingjelly's own precision API
  (``activation_based.precision.prepare_model_for_precision`` with
  ``PrecisionConfig(mode="bf16", neuron_storage="fp32")``) marks every IF/LIF node to keep an fp32
  state and run the Triton mixed-precision kernel on bf16 input;
* everywhere else (CPU autocast, the torch reference implementation, neurons the API does not
  convert) a forward pre-hook casts the neuron's input to fp32, so its state is fp32 and it runs
  the ordinary fp32 kernel; the next convolution casts back under autocast.

The :class:`~depthsnn.models.blocks.Integrator` (the depth read-out) always accumulates in fp32.
:func:`neuron_support` tells, without a GPU, whether every neuron of a model has a fused kernel
(exact IF/LIF type, multi-step mode, a surrogate with a Triton implementation); what does not is
a :class:`NeuronFallbackWarning` naming the layer and the reason.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field

import torch
from spikingjelly.activation_based import neuron
from torch import nn

from .blocks import is_spiking

# spikingjelly 2.0 converts exactly these classes (precision/convert.py: ``type(module) in ...``).
_FUSED_TYPES = (neuron.IFNode, neuron.LIFNode, neuron.ParametricLIFNode)


class NeuronFallbackWarning(UserWarning):
    """A spiking layer will not run spikingjelly's fused kernel (the message says which and why)."""


def fused_kernel_blocker(module: nn.Module) -> str | None:
    """Why ``module`` (a spiking neuron) cannot run a fused CUDA kernel, or None when it can."""
    from spikingjelly.activation_based.functional.neuron import _surrogate_spec

    if type(module) not in _FUSED_TYPES:
        return f"{type(module).__name__} has no fused kernel (only IFNode, LIFNode, ParametricLIFNode)"
    if getattr(module, "step_mode", "s") != "m":
        return "single-step mode (fused kernels are multi-step)"
    try:
        spec = _surrogate_spec(module.surrogate_function)
    except (TypeError, ValueError) as exc:
        spec, why = None, str(exc)
    else:
        why = ""
    if spec is None:
        return f"surrogate {type(module.surrogate_function).__name__} has no Triton kernel {why}".rstrip()
    return None


def neuron_support(model: nn.Module) -> dict[str, str | None]:
    """Per spiking layer name: None when it has a fused kernel, else the reason it falls back."""
    return {name: fused_kernel_blocker(m) for name, m in model.named_modules() if is_spiking(m)}


def warn_fallbacks(model: nn.Module, device: torch.device) -> dict[str, str]:
    """Warn once per layer that will not run a fused kernel on ``device`` (CUDA only); return them."""
    if torch.device(device).type != "cuda":
        return {}
    slow = {k: v for k, v in neuron_support(model).items() if v is not None}
    for name, why in slow.items():
        warnings.warn(f"neuron layer {name} falls back to spikingjelly's torch reference loop: {why}",
                      NeuronFallbackWarning, stacklevel=2)
    return slow


@dataclass
class PrecisionPlan:
    """How a model runs: ``mode`` ``fp32`` or ``bf16`` (autocast with fp32 neuron state).

    ``neurons`` says how the neuron state is kept fp32: ``spikingjelly`` (the precision API's Triton
    mixed-precision kernels), ``cast`` (fp32 input cast by a pre-hook), or ``none`` (fp32 mode).
    """

    mode: str
    device_type: str
    neurons: str = "none"
    converted: list[str] = field(default_factory=list)
    _handles: list = field(default_factory=list, repr=False)

    def autocast(self):
        """The forward context: bf16 autocast in ``bf16`` mode, else nothing."""
        if self.mode == "bf16":
            return torch.autocast(self.device_type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def describe(self) -> dict:
        return {"mode": self.mode, "neuron_state": "fp32", "neurons": self.neurons, "layers": len(self.converted)}

    def remove(self, model: nn.Module) -> None:
        """Undo the plan on ``model``: pre-hooks removed, spikingjelly's precision marks cleared (a
        marked neuron refuses to run on the CPU, where the precision kernels do not exist)."""
        for h in self._handles:
            h.remove()
        self._handles.clear()
        for m in model.modules():
            if getattr(m, "_neuron_precision", None) is not None:
                m._neuron_precision = None


def _to_fp32(module: nn.Module, args: tuple) -> tuple:
    x = args[0]
    if isinstance(x, torch.Tensor) and x.is_floating_point() and x.dtype != torch.float32:
        return (x.float(), *args[1:])
    return args


def prepare_precision(model: nn.Module, device: torch.device | str, amp: bool, backend: str = "torch",
                      *, cpu_autocast: bool = False) -> PrecisionPlan:
    """Make ``model`` safe for bf16 autocast on ``device`` and return the plan to run it with.

    ``amp`` False, or a device without bf16 support: fp32, nothing changed. The CPU trains in fp32
    (bf16 autocast is slower there) unless ``cpu_autocast`` (tests of the CUDA preconditions). ``backend`` is the
    concrete neuron implementation (:func:`~depthsnn.models.backend.select_backend`); on CUDA with
    ``triton`` the spikingjelly precision API is used, otherwise fp32 pre-hooks. Call it before
    building the optimizer (the precision API may replace modules).
    """
    dev = torch.device(device)
    bf16_ok = (dev.type == "cpu" and cpu_autocast) or (dev.type == "cuda" and torch.cuda.is_bf16_supported())
    if not amp or not bf16_ok:
        return PrecisionPlan("fp32", dev.type)
    spiking = [(n, m) for n, m in model.named_modules() if is_spiking(m)]
    plan = PrecisionPlan("bf16", dev.type, neurons="cast" if spiking else "none")
    if dev.type == "cuda" and backend == "triton" and spiking and all(
            fused_kernel_blocker(m) is None for _, m in spiking):
        from spikingjelly.activation_based.precision import PrecisionConfig, prepare_model_for_precision

        art = prepare_model_for_precision(model, dev, PrecisionConfig(mode="bf16", neuron_storage="fp32"))
        if art.model is not model:  # pragma: no cover - only its fp8 mode replaces modules
            raise RuntimeError("spikingjelly's precision API replaced the model; depthsnn expects it in place")
        plan.neurons = "spikingjelly"
        plan.converted = list(art.triton_report["converted_modules"])
        return plan
    for name, m in spiking:
        plan._handles.append(m.register_forward_pre_hook(_to_fp32))
        plan.converted.append(name)
    return plan
