"""Structure verdicts: which graph structures each neuromorphic toolchain accepts.

Capacity (neurons, cores, energy) is :func:`~depthsnn.hw_profiles.mapping.check_fit`'s job; this
module answers the prior question, per toolchain: can its converter express the graph at all?
Rules are data, each with its source, in the profile's ``[structure]`` section:

* ``speck`` (profile ``speck``): sinabs 3.1 ``sinabs.backend.dynapcnn``, design.md s.7.
* ``loihi2-netx`` (profile ``loihi2``): lava-dl netx 0.6.0, design.md s.9.
* ``akida``: AKD1000 through :mod:`depthsnn.vendors.akida` (Akida's own layer set and mapper;
  the rules are the converter's, :func:`akida_structure` here, and the vendor check is Akida's
  mapper itself).

:func:`structure_findings` turns a profile's rules into fit-check findings (``check_fit`` adds
them when given the graph); :func:`toolchain_verdict` is the reusable per-toolchain answer:
accepted or not, with one reason per blocking structure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..export.graph import NetGraph
from .findings import Finding
from .profile import HardwareProfile, get_profile

#: Toolchain -> the profile holding its [structure] rules (None: rules live in the converter).
TOOLCHAINS: dict[str, str | None] = {"akida": None, "speck": "speck", "loihi2-netx": "loihi2"}


@dataclass
class StructureVerdict:
    """Whether ``toolchain`` can express a graph; ``reasons`` name each blocking structure."""

    toolchain: str
    source: str
    accepted: bool
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def structure_findings(graph: NetGraph, profile: HardwareProfile) -> list[Finding]:
    """Findings from ``profile``'s ``[structure]`` rules for ``graph`` (empty if it has none).

    ``unsupported`` for each rule the graph breaks, one ``ok`` line when it breaks none.
    """
    if not profile.has_structure:
        return []
    tc = profile.toolchain or profile.name
    out: list[Finding] = []

    def bad(topic: str, message: str) -> None:
        out.append(Finding("unsupported", topic, f"{message} ({tc})"))

    merges = [n for n in graph.nodes if len(n.inputs) > 1]
    if profile.ops is not None:
        used = {n.op for n in graph.nodes if n.op not in ("input", "output")}
        if merges:
            used.add("add")
        if profile.readout == "spikes":
            used.discard("integrator")  # the readout rule below names it
        for op in sorted(used - profile.ops):
            what = {"upsample": "upsampling layers", "integrator": "a non-firing integrator",
                    "lif": "leaky (LIF) neurons", "add": "additive merges (skips)"}.get(op, f"{op!r} nodes")
            bad("structure", f"{what}: not among the layers the toolchain converts ({', '.join(sorted(profile.ops))})")
    if profile.topology == "chain":
        if merges:
            bad("structure", f"{len(merges)} node(s) sum several inputs (skips/SEW blocks, e.g. {merges[0].name}): "
                "only chains are converted")
        branches = [n for n in graph.nodes if n.op != "output" and len(graph.consumers(n.name)) > 1]
        if branches:
            bad("structure", f"{len(branches)} node(s) feed several nodes (e.g. {branches[0].name}): only chains "
                "are converted")
    if profile.max_destinations is not None:
        for n in graph.of_op("if", "lif"):
            dests = len(graph.consumers(n.name))
            if dests > profile.max_destinations:
                bad("destinations", f"{n.name} sends to {dests} layers, at most {profile.max_destinations}")
    if profile.readout == "spikes" and graph.of_op("integrator"):
        bad("readout", "the output is a non-firing integrator's potential; every layer outputs spikes here "
            "(read depth as spike counts instead)")
    for n in graph.of_op("conv"):
        nxt = graph.consumers(n.name)
        if any(c.op == "conv" for c in nxt) or any(graph.node(i).op == "conv" for i in n.inputs):
            bad("structure", f"{n.name}: conv -> conv without a neuron between (graded values); a layer here is "
                "conv -> neuron")
            break
    if profile.max_kernel is not None:
        for n in graph.of_op("conv"):
            k = max(n.params["weight"].shape[-2:])
            if k > profile.max_kernel:
                bad("kernel", f"{n.name}: kernel {k} > {profile.max_kernel}")
    if profile.max_channels is not None:
        for n in graph.nodes:
            if n.op != "output" and n.shape and n.shape[0] > profile.max_channels:
                bad("channels", f"{n.name}: {n.shape[0]} channels > {profile.max_channels}")
                break
    if profile.max_input_hw is not None:
        _, h, w = graph.input.shape
        if max(h, w) > profile.max_input_hw:
            bad("input size", f"input {h}x{w} > {profile.max_input_hw}x{profile.max_input_hw}")
    if profile.max_output_hw is not None:
        big = [n for n in graph.of_op("if", "lif", "integrator") if max(n.shape[1:]) > profile.max_output_hw]
        if big:
            n = big[0]
            bad("feature map", f"{len(big)} layer(s) output more than {profile.max_output_hw}x{profile.max_output_hw} "
                f"(e.g. {n.name}: {n.shape[1]}x{n.shape[2]})")
    if profile.core_weight_memory is not None and profile.core_neuron_memory is not None:
        out.extend(_core_assignment(graph, profile, tc))
    if not out:
        out.append(Finding("ok", "structure", f"every layer and edge is one the toolchain converts ({tc})"))
    return out


def _core_assignment(graph: NetGraph, profile: HardwareProfile, tc: str) -> list[Finding]:
    """One core per conv layer (conv -> neuron), each within that core's weight and neuron memory:
    a bipartite matching (one entry per weight and per neuron; a necessary condition)."""
    layers = []
    for n in graph.of_op("conv"):
        w = n.params["weight"]
        target = graph.consumers(n.name)
        neurons = int(target[0].shape[0] * target[0].shape[1] * target[0].shape[2]) if target else 0
        layers.append((n.name, int(w.size), neurons))
    wm, nm = profile.core_weight_memory, profile.core_neuron_memory
    if len(layers) > len(wm):
        return [Finding("unsupported", "cores", f"{len(layers)} conv layers, {len(wm)} cores ({tc})")]
    fits = [[c for c in range(len(wm)) if wts <= wm[c] and nrn <= nm[c]] for _, wts, nrn in layers]
    owner: dict[int, int] = {}

    def place(i: int, seen: set[int]) -> bool:
        for c in fits[i]:
            if c not in seen:
                seen.add(c)
                if c not in owner or place(owner[c], seen):
                    owner[c] = i
                    return True
        return False

    unplaced = [layers[i] for i in range(len(layers)) if not place(i, set())]
    if unplaced:
        name, wts, nrn = unplaced[0]
        return [Finding("unsupported", "core memory", f"{len(unplaced)} layer(s) find no core with enough memory, "
                        f"e.g. {name}: {wts} weights, {nrn} neurons (largest core: {max(wm)} weights, {max(nm)} "
                        f"neurons) ({tc})")]
    return []


AKIDA_VERSION = "2.19"  # the akida release depthsnn.vendors.akida targets


def akida_structure(graph: NetGraph) -> list[str]:
    """Why ``graph`` cannot become an AKD1000 (IPv1) model: one line per blocking node (empty: it can).

    Accepted: input -> (conv 3x3 stride 1|2 padding 1 -> if)* -> conv -> integrator -> output,
    a chain (every node has one input and one consumer), no bias.
    """
    problems = []
    nodes = [n for n in graph.nodes if n.op not in ("input", "output")]
    for n in graph.nodes:
        if len(n.inputs) > 1:
            problems.append(f"{n.name}: {len(n.inputs)} converging edges (skip/SEW add): IPv1 has no add layer")
        if n.op != "output" and len(graph.consumers(n.name)) > 1:
            problems.append(f"{n.name}: feeds {len(graph.consumers(n.name))} nodes (a branch): Akida sequences "
                            "here are chains")
    for i, n in enumerate(nodes):
        prev = nodes[i - 1].op if i else "input"
        if n.op == "upsample":
            problems.append(f"{n.name}: upsampling has no IPv1 layer")
        elif n.op == "lif":
            problems.append(f"{n.name}: LIF (leaky) neuron: Akida layers are stateless")
        elif n.op == "conv":
            k, s, p = n.params["weight"].shape[-1], n.params["stride"], n.params["padding"]
            if prev == "conv":
                problems.append(f"{n.name}: conv -> conv without a neuron between (graded values)")
            if (k, p) != (3, 1) or s not in (1, 2) or n.params["weight"].shape[-2] != 3:
                problems.append(f"{n.name}: kernel {k}, stride {s}, padding {p}: only 3x3, stride 1|2, padding 1 "
                                "is mapped")
            if n.params.get("bias") is not None:
                problems.append(f"{n.name}: has a bias (not mapped)")
        elif n.op in ("if", "integrator") and prev != "conv":
            problems.append(f"{n.name}: {n.op} not fed by a conv")
    if nodes and nodes[-1].op != "integrator":
        problems.append(f"{nodes[-1].name}: the output must be the integrator (read out as Akida potentials)")
    if graph.of_op("integrator") and graph.of_op("integrator")[0] is not nodes[-1]:
        problems.append("integrator: not the last node")
    for n in graph.nodes:
        if n.op == "if" and n.params.get("v_reset", 0.0) != 0.0:
            problems.append(f"{n.name}: reset to {n.params['v_reset']}, not 0")
    return list(dict.fromkeys(problems))



def toolchain_verdict(graph: NetGraph, toolchain: str) -> StructureVerdict:
    """Can ``toolchain`` (one of :data:`TOOLCHAINS`) express ``graph``? Reasons name each blocking
    structure; a graph it accepts may still exceed capacity (see ``check_fit``/the vendor mapper)."""
    from ..errors import ConfigError

    if toolchain not in TOOLCHAINS:
        raise ConfigError(f"toolchain {toolchain!r} unknown (known: {', '.join(TOOLCHAINS)})")
    name = TOOLCHAINS[toolchain]
    if name is None:  # akida: the converter's own rules
        reasons = akida_structure(graph)
        return StructureVerdict(toolchain, f"depthsnn.vendors.akida (akida {AKIDA_VERSION}, AKD1000 IPv1 layers)",
                                not reasons, reasons)
    profile = get_profile(name)
    reasons = [f.message for f in structure_findings(graph, profile) if f.severity == "unsupported"]
    return StructureVerdict(toolchain, profile.toolchain or name, not reasons, reasons)


def toolchain_verdicts(graph: NetGraph) -> dict[str, StructureVerdict]:
    """:func:`toolchain_verdict` for every known toolchain."""
    return {t: toolchain_verdict(graph, t) for t in TOOLCHAINS}
