"""Per-layer firing rates and activation sparsity, recorded with forward hooks.

:class:`SpikeRecorder` hooks every activation module (spiking neurons, and ReLU/identity
analog layers) of a model. Counts accumulate over forwards until :meth:`SpikeRecorder.clear`.
For the loss, :meth:`SpikeRecorder.rate_penalty` gives a differentiable mean firing rate
of the last forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .blocks import is_spiking


@dataclass(frozen=True)
class LayerStats:
    """Counts for one activation layer.

    ``spikes``: sum of outputs (spike count for spiking layers); ``nonzero``: outputs != 0;
    ``neuron_steps``: neurons x time steps x samples observed; ``rate`` = spikes /
    neuron_steps (firing rate per neuron per step); ``sparsity`` = 1 - nonzero /
    neuron_steps (NeuroBench activation sparsity).
    """

    spikes: float
    nonzero: int
    neuron_steps: int
    spiking: bool

    @property
    def rate(self) -> float:
        return self.spikes / self.neuron_steps if self.neuron_steps else 0.0

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzero / self.neuron_steps if self.neuron_steps else 1.0

    def as_tuple(self) -> tuple[float, int, float]:
        """``(spikes, neuron_steps, rate)``."""
        return self.spikes, self.neuron_steps, self.rate


def activation_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every activation layer, in definition order."""
    return [
        (name, m)
        for name, m in model.named_modules()
        if is_spiking(m) or isinstance(m, (nn.ReLU, nn.Identity))
    ]


class SpikeRecorder:
    """Context manager recording activation statistics of ``model`` during forwards.

    ``with SpikeRecorder(model) as rec: model(x)`` then ``rec.stats()`` ->
    ``{layer_name: LayerStats}``; ``rec.rate_penalty()`` -> differentiable mean firing rate
    over spiking layers in the last forward (0 when there are none). Set ``track_grad=False``
    for evaluation to avoid keeping tensors alive.
    """

    def __init__(self, model: nn.Module, track_grad: bool = True):
        self.model = model
        self.track_grad = track_grad
        self._layers = activation_layers(model)
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._counts: dict[str, list] = {}  # name -> [spikes, nonzero (device tensors), neuron_steps, spiking]
        self._last_rates: dict[str, torch.Tensor] = {}

    def __enter__(self) -> SpikeRecorder:
        for name, module in self._layers:
            self._handles.append(module.register_forward_hook(self._hook(name, is_spiking(module))))
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the hooks (counts are kept)."""
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def clear(self) -> None:
        """Forget all counts."""
        self._counts.clear()
        self._last_rates.clear()

    def _hook(self, name: str, spiking: bool):
        def hook(module: nn.Module, inputs: object, output: torch.Tensor) -> None:
            out = output.detach()
            # Sums stay on the tensor's device (no host sync per layer and step; read in stats()).
            spikes, nonzero = out.sum(dtype=torch.float64), torch.count_nonzero(out)
            c = self._counts.get(name)
            if c is None:
                self._counts[name] = [spikes, nonzero, out.numel(), spiking]
            else:
                c[0], c[1], c[2] = c[0] + spikes, c[1] + nonzero, c[2] + out.numel()
            if spiking and self.track_grad and output.requires_grad:
                self._last_rates[name] = output.mean()

        return hook

    def stats(self) -> dict[str, LayerStats]:
        """Accumulated statistics per layer name (layers that ran at least once)."""
        return {n: LayerStats(float(c[0]), int(c[1]), c[2], c[3]) for n, c in self._counts.items()}

    def total(self) -> LayerStats:
        """Statistics summed over spiking layers."""
        spk = [s for s in self.stats().values() if s.spiking]
        return LayerStats(
            sum(s.spikes for s in spk), sum(s.nonzero for s in spk), sum(s.neuron_steps for s in spk), True
        )

    def rate_penalty(self, floor: float = 0.0) -> torch.Tensor:
        """Mean firing rate over spiking layers of the last forward, with gradient.

        ``floor`` > 0 turns each layer's term into a V with its minimum at ``floor``: a layer
        firing below it costs ``2 * floor - rate`` instead of ``rate``, so the penalty's gradient
        pushes it up as hard as it pushes busier layers down. A mean over layers otherwise lets
        the cheapest layers fall silent (on the sparsity frontier the two finest decoders fired
        1.0 and 0.0 %, leaving their heads nothing to read). Lower bounds on activity as in Zenke
        & Vogels 2021 (Neural Computation 33(4), "The remarkable robustness of surrogate gradient
        learning"); here per layer, not per neuron. ``floor = 0`` is the plain mean.
        """
        if not self._last_rates:
            return torch.zeros(())
        rates = torch.stack(list(self._last_rates.values()))
        if floor > 0:
            rates = rates + 2 * torch.relu(floor - rates)
        return rates.mean()
