"""Does a simulated network fit a chip? Plain-language findings, plus cores and chips needed.

Each :class:`Finding` has a severity: ``ok`` (fits), ``warning`` (fits with work: quantisation,
several chips, split layers) or ``unsupported`` (cannot run as is). The network fits when no
finding is ``unsupported``.

Core counting: layers are not assumed to share cores (as deep-SNN compilers for Loihi map them),
so each neuron layer needs ``ceil(neurons / neurons_per_core)`` cores. Synaptic memory counts each
conv weight once, i.e. assumes weight sharing; chips that store every synapse separately need more,
so the weight-limited core count is a lower bound.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ..simulate.counts import SimCounts
from .findings import Finding
from .profile import NODE_TYPES, HardwareProfile
from .structure import structure_findings

NEURON_OPS = ("if", "lif", "integrator")


@dataclass
class FitReport:
    """Result of :func:`check_fit` for one profile."""

    profile: str
    findings: list[Finding] = field(default_factory=list)
    cores_needed: int | None = None
    chips_needed: int | None = None

    @property
    def fits(self) -> bool:
        return not any(f.severity == "unsupported" for f in self.findings)

    @property
    def needs_work(self) -> bool:
        return any(f.severity == "warning" for f in self.findings)

    @property
    def verdict(self) -> str:
        """Short form for tables: ``yes``, ``yes*`` (with warnings) or ``no``."""
        if not self.fits:
            return "no"
        return "yes*" if self.needs_work else "yes"

    def lines(self) -> list[str]:
        head = f"{self.profile}: {'fits' if self.fits else 'does not fit'}"
        if self.cores_needed is not None:
            head += (f" ({self.cores_needed} core{'s' if self.cores_needed != 1 else ''} on "
                     f"{self.chips_needed} chip{'s' if self.chips_needed != 1 else ''})")
        return [head] + ["  " + f.line() for f in self.findings]

    def to_dict(self) -> dict:
        return {"profile": self.profile, "fits": self.fits, "verdict": self.verdict,
                "cores_needed": self.cores_needed, "chips_needed": self.chips_needed,
                "findings": [asdict(f) for f in self.findings]}


def _synapses_per_core(profile: HardwareProfile) -> int | None:
    if profile.synapses_per_core is not None:
        return profile.synapses_per_core
    if profile.synaptic_memory_kib_per_core is not None:
        return int(profile.synaptic_memory_kib_per_core * 1024 * 8 // profile.weight_bits)
    return None


def check_fit(counts: SimCounts, profile: HardwareProfile, node_ops: set[str] | None = None,
              graph=None) -> FitReport:
    """Check whether the network described by ``counts`` maps onto ``profile``.

    ``node_ops``: the graph's node operations (defaults to the ops in ``counts``). The model's
    weight precision is read from ``counts.metadata["weight_bits"]`` (default 32, float).
    ``graph`` (the :class:`~depthsnn.export.graph.NetGraph`): with it, a profile's ``[structure]``
    rules (its toolchain's topology, readout, sizes, per-core memories) are checked too
    (:func:`~depthsnn.hw_profiles.structure.structure_findings`).
    """
    rep = FitReport(profile.name)

    def add(severity: str, topic: str, message: str) -> None:
        rep.findings.append(Finding(severity, topic, message))

    ops = set(node_ops) if node_ops is not None else {layer.op for layer in counts.layers}
    neuron_layers = [layer for layer in counts.layers if layer.op in NEURON_OPS]
    conv_layers = [layer for layer in counts.layers if layer.op == "conv"]

    # Node types.
    for op in sorted(ops):
        if op in profile.node_types:
            continue
        if op not in NODE_TYPES:
            add("warning", "node types", f"{op!r} is not a node type the profiles know; check it by hand")
        elif op == "lif" and "if" in profile.node_types:
            add("unsupported", "node types", "LIF (leaky) neurons are not supported: only IF without leak; "
                "retrain with IF neurons")
        elif op == "integrator":
            add("unsupported", "node types", "non-firing integrator neurons (membrane read out as output) "
                "are not supported: output must be spikes (e.g. decode spike counts off-chip)")
        elif op == "upsample":
            add("unsupported", "node types", "upsampling is not supported: express it as a conv with "
                "repeated taps or run the decoder off-chip")
        else:
            add("unsupported", "node types", f"{op!r} nodes are not supported "
                f"(supported: {', '.join(sorted(profile.node_types))})")
    if ops <= profile.node_types:
        add("ok", "node types", f"all node types supported ({', '.join(sorted(ops))})")
    if graph is not None:
        rep.findings.extend(structure_findings(graph, profile))

    # Graded (non-spike) inputs.
    graded = [layer for layer in conv_layers if layer.macs > 0]
    if graded and profile.graded_input != "mac":
        first = conv_layers[0] if conv_layers else None
        for layer in graded:
            if layer is first and profile.graded_input == "spike_count":
                add("ok", "graded input", f"{layer.name}: event counts are fed as repeated input spikes "
                    "(the chip has no multiplier)")
            else:
                add("unsupported", "graded input", f"{layer.name} receives non-spike (graded) values but "
                    "the chip only accumulates spikes")

    # Layers.
    if profile.max_layers is not None:
        n = len(conv_layers)
        if n > profile.max_layers:
            add("unsupported", "layers", f"{n} conv layers, the chip holds at most {profile.max_layers}")
        else:
            add("ok", "layers", f"{n} conv layers of at most {profile.max_layers}")

    # Precision: quantisation is work, not a blocker.
    model_bits = int(counts.metadata.get("weight_bits", 32))
    model_float = bool(counts.metadata.get("weights_are_float", True))
    chip_fmt = f"{profile.weight_bits}-bit {'float' if profile.weights_are_float else 'integer'}"
    model_fmt = f"{model_bits}-bit {'float' if model_float else 'integer'}"
    if (model_float and not profile.weights_are_float) or model_bits > profile.weight_bits:
        add("warning", "precision", f"the model has {model_fmt} weights; the chip stores {chip_fmt} weights "
            f"and {profile.state_bits}-bit neuron state: quantise (and rescale thresholds) before "
            "deployment and re-check accuracy")
    else:
        add("ok", "precision", f"{model_fmt} weights run as {chip_fmt}")

    # Fan-in / fan-out: over the limit means the layer must be split, costing extra neurons/cores.
    for attr, limit in (("fan_in", profile.max_fan_in), ("fan_out", profile.max_fan_out)):
        if limit is None or not counts.layers:
            continue
        worst = max(counts.layers, key=lambda layer, a=attr: getattr(layer, a))
        value = getattr(worst, attr)
        label = attr.replace("_", "-")
        if value > limit:
            add("warning", label, f"{worst.name} has {label} {value} > {limit}: the layer must be split "
                "(partial sums over extra neurons/cores, not counted below)")
        elif value:
            add("ok", label, f"largest {label} {value} <= {limit}")

    # Cores and chips.
    npc, cpc = profile.neurons_per_core, profile.cores_per_chip
    spc = _synapses_per_core(profile)
    if npc is None or cpc is None:
        add("ok", "capacity", "no neuron/core limit modelled for this processor")
        return rep
    if profile.one_layer_per_core:
        for layer in neuron_layers:
            if layer.neurons > npc:
                add("unsupported", "feature map", f"{layer.name} has {layer.neurons} neurons, one core "
                    f"holds {npc}: reduce the feature map size or channels")
        if spc is not None:
            for layer in conv_layers:
                if layer.weights > spc:
                    add("unsupported", "weights", f"{layer.name} has {layer.weights} weights, one core "
                        f"holds {spc}")
        cores = len(conv_layers) or len(neuron_layers)
    else:
        cores = sum(math.ceil(layer.neurons / npc) for layer in neuron_layers)
        if spc is not None:
            weight_cores = math.ceil(counts.weights / spc)
            if weight_cores > cores:
                add("warning", "weights", f"{counts.weights} weights need at least {weight_cores} cores of "
                    f"synaptic memory ({spc} per core), more than the neurons need")
                cores = weight_cores
    chips = max(math.ceil(cores / cpc), 1)
    rep.cores_needed, rep.chips_needed = cores, chips
    total = counts.neurons
    if chips == 1:
        add("ok", "capacity", f"{total} neurons on {cores} of {cpc} cores ({npc} neurons per core)")
    elif profile.multi_chip:
        add("warning", "capacity", f"{total} neurons need {cores} cores ({npc} neurons per core) = {chips} chips "
            f"of {cpc} cores: a multi-chip system, with inter-chip traffic not in the energy figure")
    else:
        add("unsupported", "capacity", f"{total} neurons need {cores} cores = {chips} chips of {cpc} cores, "
            "and this chip does not chain")
    for text in profile.constraints:
        add("warning", "constraint", text)
    return rep
