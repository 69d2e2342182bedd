"""Operation counts of one simulated inference: the interface between the simulator and the
energy model.

Definitions follow NeuroBench (Yik et al., 2024) where it has one:

- ``acs`` (NeuroBench *Effective_ACs*): synaptic accumulates caused by binary inputs, i.e. for
  every input spike the number of synapses it reaches (its fan-out in that layer).
- ``macs`` (*Effective_MACs*): multiply-accumulates caused by non-binary (graded) inputs, counted
  only for non-zero input values (the event frames into the first layer, analog HNN layers).
- ``dense_ops`` (*Dense*): what the layer would cost run densely (every input, every synapse,
  every step) - the ANN-style count.
- ``neuron_updates`` (*MembraneUpdates*): membrane updates of all neurons at all steps;
  ``active_neuron_updates``: those whose input was non-zero at that step (an event-driven chip
  only touches these).
- ``spikes``: spikes emitted (each routed once to the next layer).

Counts are totals over the ``samples`` inferences simulated; ``per_inference`` divides them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class LayerCounts:
    """Counts of one graph node over all simulated steps and samples.

    ``op``: the NetGraph operation (conv, upsample, if, lif, integrator). Synaptic counts sit on
    ``conv`` nodes; neuron counts on ``if``/``lif``/``integrator`` nodes.
    ``neurons``: neurons in the layer (C*H*W) for neuron nodes; ``weights``: parameters of a conv;
    ``fan_in``/``fan_out``: the largest per-neuron fan-in of the conv's targets and per-source
    fan-out, for the hardware mapping check.
    """

    name: str
    op: str
    acs: int = 0
    macs: int = 0
    dense_ops: int = 0
    neuron_updates: int = 0
    active_neuron_updates: int = 0
    spikes: int = 0
    neurons: int = 0
    weights: int = 0
    fan_in: int = 0
    fan_out: int = 0
    input_events: int = 0  # non-zero inputs that reached this node
    c_out: int = 0
    kernel: int = 0
    stride: int = 0
    in_size: int = 0
    out_size: int = 0
    bias: bool = False
    graded: bool = False


@dataclass
class SimCounts:
    """Counts of a whole network, per layer and in total, over ``samples`` inferences of ``timesteps`` steps."""

    layers: list[LayerCounts]
    samples: int
    timesteps: int
    state_variables: int = 0  # membrane potentials held (footprint)
    metadata: dict = field(default_factory=dict)

    def total(self, key: str) -> int:
        return int(sum(getattr(layer, key) for layer in self.layers))

    def per_inference(self, key: str) -> float:
        return self.total(key) / max(self.samples, 1)

    @property
    def weights(self) -> int:
        return self.total("weights")

    @property
    def neurons(self) -> int:
        return int(sum(layer.neurons for layer in self.layers if layer.op in ("if", "lif", "integrator")))

    def firing_rate(self) -> float:
        """Spikes per spiking neuron per step (integrators never fire and are excluded)."""
        spiking = [layer for layer in self.layers if layer.op in ("if", "lif")]
        steps = sum(layer.neuron_updates for layer in spiking)
        return sum(layer.spikes for layer in spiking) / steps if steps else 0.0

    def merge(self, other: SimCounts) -> SimCounts:
        """Add ``other``'s counts (same network) into this one; returns self."""
        if [layer.name for layer in self.layers] != [layer.name for layer in other.layers]:
            raise ValueError("cannot merge counts of different networks")
        self.samples += other.samples
        for a, b in zip(self.layers, other.layers, strict=True):
            for key in ("acs", "macs", "dense_ops", "neuron_updates", "active_neuron_updates", "spikes",
                        "input_events"):
                setattr(a, key, getattr(a, key) + getattr(b, key))
        return self

    def to_dict(self) -> dict:
        return {
            "samples": self.samples,
            "timesteps": self.timesteps,
            "state_variables": self.state_variables,
            "metadata": self.metadata,
            "layers": [asdict(layer) for layer in self.layers],
            "per_inference": {k: self.per_inference(k) for k in (
                "acs", "macs", "dense_ops", "neuron_updates", "active_neuron_updates", "spikes")},
            "firing_rate": self.firing_rate(),
            "weights": self.weights,
            "neurons": self.neurons,
        }

    @classmethod
    def from_dict(cls, d: dict) -> SimCounts:
        return cls([LayerCounts(**layer) for layer in d["layers"]], d["samples"], d["timesteps"],
                   d.get("state_variables", 0), d.get("metadata", {}))
