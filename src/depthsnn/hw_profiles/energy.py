"""Energy per inference of a simulated network on a hardware profile.

Event-driven profiles (``model.execution = "event"``)::

    synaptic = ACs * e_syn_op + graded * e_mac            (graded: see below)
    neuron   = active * e_neuron_active [+ idle * e_neuron_idle   if neuron_update_mode = "all"]
    routing  = spikes * (e_spike + hops_per_spike * e_hop)
    static   = static_power * latency                      (only when both are known)

with ``idle = neuron_updates - active_neuron_updates``; ``e_neuron_idle`` defaults to
``e_neuron_active``. Dense profiles (CPU, GPU, 45 nm arithmetic; ``execution = "dense"``) run the
network as an ANN would: every ``dense_ops`` synapse at every step is a MAC and every neuron is
updated every step; no spikes are routed.

Graded (non-binary) inputs, the ``macs`` of the simulator, are handled per ``model.graded_input``:
``mac`` - the chip multiplies (cost ``e_mac``); ``spike_count`` - a chip without multipliers
receives an event count ``n`` as ``n`` repeated spikes, so each MAC becomes ``n`` ACs. The mean
``n`` per non-zero input is read from ``counts.metadata["graded_input_mean"]`` when the simulator
provides it, else 1 is used (a lower bound, said in the notes); ``unsupported`` - MAC energy is
left out and the notes say so.

Profiles with a ``[memory]`` section (``lemaire45nm``) are priced by the Lemaire et al. 2022
dataflow of :mod:`.memory` instead, which counts its own operations (synaptic adds, dense MACs,
one add per spike, a MAC per LIF leak), the addressing arithmetic, and the memory accesses to
parameters, inputs/outputs and potentials, each priced by memory size. Every breakdown reports
``ops`` (synaptic + neuron + routing), ``addressing`` and ``memory`` (params, in/out, potentials);
the last two are 0 for profiles without memory figures, and the notes say they were not modelled.

Dense profiles with a launch floor (``timing.kernel_launch_s``: gpu_h200, the Blouw et al. 2019
platforms, Jetson AGX Orin) add a latency-and-power model calibrated on measurements
(:mod:`.dense`)::

    latency  = kernels * kernel_launch_s + neuron_layers * neuron_layer_s + MACs / throughput
    dynamic  = MACs * e_mac + busy_power * (launch floor)          (above idle)
    static   = idle (static_power_w) * max(window, latency)

Time-stepped chips with ``energy.e_step_pj`` pay it once per time step (management cores,
barrier synchronisation): the ``overhead_mj`` part of the dynamic energy.

Two figures come out of every breakdown (design.md s.11): ``dynamic_mj`` (above idle) and, when
a window is given (``latency_s``: one depth map per window, the board idling in between),
``per_map_mj`` = dynamic + static power over max(window, own latency): what a battery pays.

All energies are per inference (counts are divided by ``counts.samples``) and in millijoules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..simulate.counts import LayerCounts, SimCounts
from .dense import launch_floor_s, layer_kernels
from .memory import MemoryTraffic, memory_traffic
from .profile import HardwareProfile

PJ_TO_MJ = 1e-9  # 1 pJ = 1e-12 J = 1e-9 mJ


@dataclass
class EnergyBreakdown:
    """Energy of one inference on one profile, in mJ, with what was and was not included.

    ``static_mj`` and ``latency_s`` are None when unknown; then ``total_mj`` excludes static
    energy and ``static_included`` is False. ``estimated_fields`` lists the profile numbers used
    that are estimates rather than published figures. ``addressing_mj`` and the ``memory_*_mj``
    parts are 0 unless the profile models memory (``memory_modelled``); ``traffic`` then holds
    the access counts behind them.
    """

    profile: str
    synaptic_ac_mj: float
    synaptic_mac_mj: float
    neuron_mj: float
    routing_mj: float
    static_mj: float | None
    latency_s: float | None
    notes: list[str] = field(default_factory=list)
    estimated_fields: list[str] = field(default_factory=list)
    addressing_mj: float = 0.0
    memory_params_mj: float = 0.0
    memory_inout_mj: float = 0.0
    memory_potential_mj: float = 0.0
    memory_modelled: bool = False
    traffic: dict | None = None
    overhead_mj: float = 0.0
    window_s: float | None = None

    @property
    def synaptic_mj(self) -> float:
        return self.synaptic_ac_mj + self.synaptic_mac_mj

    @property
    def ops_mj(self) -> float:
        """Arithmetic: synaptic, neuron and routing energy."""
        return self.synaptic_mj + self.neuron_mj + self.routing_mj

    @property
    def memory_mj(self) -> float:
        return self.memory_params_mj + self.memory_inout_mj + self.memory_potential_mj

    @property
    def dynamic_mj(self) -> float:
        """Energy above idle: ops, addressing, memory and per-step / launch overheads."""
        return self.ops_mj + self.addressing_mj + self.memory_mj + self.overhead_mj

    @property
    def per_map_mj(self) -> float | None:
        """Energy per depth map at the sensor's rate (dynamic + static over the window); None
        without a window or without a static power."""
        if self.window_s is None or self.static_mj is None:
            return None
        return self.total_mj

    @property
    def static_included(self) -> bool:
        return self.static_mj is not None

    @property
    def total_mj(self) -> float:
        return self.dynamic_mj + (self.static_mj or 0.0)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(synaptic_mj=self.synaptic_mj, ops_mj=self.ops_mj, memory_mj=self.memory_mj,
                 dynamic_mj=self.dynamic_mj, total_mj=self.total_mj, per_map_mj=self.per_map_mj,
                 static_included=self.static_included)
        return d


def per_map_mj(b: EnergyBreakdown) -> float:
    """Energy per depth map at the sensor's rate: the breakdown's per-map figure, or its total
    (= dynamic) when the profile gives no static power or no window was given."""
    return b.per_map_mj if b.per_map_mj is not None else b.total_mj


def _used_estimates(profile: HardwareProfile, names: list[str]) -> list[str]:
    return sorted({k for k, p in profile.provenance.items() if p.estimate and k.split(".", 1)[1] in names})


def estimate_latency(counts: SimCounts, profile: HardwareProfile) -> float | None:
    """Seconds per inference from the profile's timing, or None when it gives none.

    A time-stepped chip takes ``time_step_s * timesteps``; otherwise, given a throughput, the
    operations (dense ops for dense profiles, ACs + MACs for event ones) over that throughput.
    """
    if profile.time_step_s is not None:
        return profile.time_step_s * counts.timesteps
    if profile.launch_model and profile.execution == "dense":
        kernels, neurons = layer_kernels(counts.layers)
        return launch_floor_s(profile, kernels, neurons) + counts.per_inference("dense_ops") / profile.throughput_ops_per_s
    if profile.throughput_ops_per_s is not None:
        if profile.execution == "dense":
            ops = counts.per_inference("dense_ops")
        else:
            ops = counts.per_inference("acs") + counts.per_inference("macs")
        return ops / profile.throughput_ops_per_s
    return None


def energy_per_inference(counts: SimCounts, profile: HardwareProfile,
                         latency_s: float | None = None) -> EnergyBreakdown:
    """Energy breakdown (mJ) of one inference described by ``counts`` on ``profile``.

    ``latency_s`` (e.g. the input window for a real-time chip) overrides the profile's own
    latency estimate; static energy is included only when a latency and a static power are known.
    """
    if latency_s is not None and latency_s < 0:
        raise ValueError(f"latency_s must be >= 0, got {latency_s}")
    if profile.models_memory:
        t = memory_traffic(counts.layers, counts.timesteps, counts.samples, profile)
        latency = latency_s if latency_s is not None else estimate_latency(counts, profile)
        return _memory_breakdown(t, profile, latency, ["the SNN's convs with spike input are priced per "
                                                       "input event, those with graded input densely"], latency_s)
    notes: list[str] = []
    overhead_mj = 0.0
    used = ["e_syn_op_pj", "e_neuron_active_pj"]
    updates = counts.per_inference("neuron_updates")
    active = counts.per_inference("active_neuron_updates")
    idle = max(updates - active, 0.0)

    if profile.execution == "dense":
        assert profile.e_mac_pj is not None  # guaranteed by validation
        used = ["e_mac_pj", "e_neuron_active_pj", "e_neuron_idle_pj"]
        ac_pj = 0.0
        mac_pj = counts.per_inference("dense_ops") * profile.e_mac_pj
        e_idle = profile.e_neuron_active_pj if profile.e_neuron_idle_pj is None else profile.e_neuron_idle_pj
        neuron_pj = active * profile.e_neuron_active_pj + idle * e_idle
        routing_pj = 0.0
        notes.append("dense execution: every synapse at every step costs one MAC (dense_ops)")
        if profile.launch_model:
            kernels, neurons = layer_kernels(counts.layers)
            overhead_mj = (profile.busy_power_w or 0.0) * launch_floor_s(profile, kernels, neurons) * 1e3
            used += ["kernel_launch_s", "neuron_layer_s", "busy_power_w", "throughput_ops_per_s"]
            notes.append(f"launch floor: {kernels} kernels + {neurons} neuron layers per forward pass")
    else:
        ac_pj = counts.per_inference("acs") * profile.e_syn_op_pj
        macs = counts.per_inference("macs")
        mac_pj = 0.0
        if macs:
            if profile.graded_input == "mac":
                assert profile.e_mac_pj is not None
                mac_pj = macs * profile.e_mac_pj
                used.append("e_mac_pj")
            elif profile.graded_input == "spike_count":
                mean = float(counts.metadata.get("graded_input_mean", 1.0))
                mac_pj = macs * mean * profile.e_syn_op_pj
                if "graded_input_mean" in counts.metadata:
                    notes.append(f"graded inputs sent as repeated spikes (mean count {mean:g} per input)")
                else:
                    notes.append("graded inputs sent as repeated spikes, counted once each "
                                 "(lower bound: the mean input count was not recorded)")
            else:
                notes.append(f"{macs:.0f} MACs on graded inputs not included: the chip cannot process them")
        if profile.neuron_update_mode == "all":
            e_idle = profile.e_neuron_active_pj if profile.e_neuron_idle_pj is None else profile.e_neuron_idle_pj
            neuron_pj = active * profile.e_neuron_active_pj + idle * e_idle
            used.append("e_neuron_idle_pj")
        else:
            neuron_pj = active * profile.e_neuron_active_pj
        per_spike = profile.e_spike_pj
        used.append("e_spike_pj")
        if profile.e_hop_pj is not None and profile.hops_per_spike is not None:
            per_spike += profile.hops_per_spike * profile.e_hop_pj
            used += ["e_hop_pj", "hops_per_spike"]
        routing_pj = counts.per_inference("spikes") * per_spike
        if profile.e_step_pj is not None:
            overhead_mj = profile.e_step_pj * counts.timesteps * PJ_TO_MJ
            used.append("e_step_pj")
            notes.append(f"per-time-step management and synchronisation: {counts.timesteps} steps")

    own = estimate_latency(counts, profile)
    if own is not None:
        used.append("time_step_s" if profile.time_step_s is not None else "throughput_ops_per_s")
    latency = _static_latency(latency_s, own)
    static_mj: float | None = None
    if profile.static_power_w is None:
        notes.append("static energy not included: the profile gives no static power")
    elif latency is None:
        notes.append("static energy not included: no latency (pass latency_s, e.g. the input window)")
    else:
        static_mj = profile.static_power_w * latency * 1e3  # W * s = J -> mJ
        used.append("static_power_w")

    notes.append(NO_MEMORY_NOTE)
    return EnergyBreakdown(
        profile=profile.name,
        synaptic_ac_mj=ac_pj * PJ_TO_MJ,
        synaptic_mac_mj=mac_pj * PJ_TO_MJ,
        neuron_mj=neuron_pj * PJ_TO_MJ,
        routing_mj=routing_pj * PJ_TO_MJ,
        static_mj=static_mj,
        latency_s=latency,
        notes=notes,
        estimated_fields=_used_estimates(profile, used),
        overhead_mj=overhead_mj,
        window_s=latency_s,
    )


def _static_latency(window_s: float | None, own_s: float | None) -> float | None:
    """Time static power is paid per inference: the window (one map per window), or the platform's
    own latency when it is longer (it cannot keep up); the own latency when no window is given."""
    if window_s is None:
        return own_s
    return window_s if own_s is None else max(window_s, own_s)


NO_MEMORY_NOTE = ("memory traffic and addressing not modelled: the profile's per-op figures are all "
                  "it costs (a profile with a [memory] section, e.g. lemaire45nm, prices them)")
_MEMORY_FIELDS = ["e_syn_op_pj", "e_mac_pj", "e_spike_pj", "word_bits", "e_sram_8kib_pj", "e_sram_32kib_pj", "e_sram_1mib_pj",
                  "spike_fifo_words", "memory_dataflow", "static_power_w"]


def _memory_breakdown(t: MemoryTraffic, profile: HardwareProfile, latency: float | None,
                      notes: list[str], window_s: float | None = None) -> EnergyBreakdown:
    """Breakdown of a Lemaire-dataflow inference: adds (synaptic, bias, address) cost ``e_syn_op_pj``,
    MACs (dense, LIF leak, address) ``e_mac_pj``, each emitted spike ``e_spike_pj``."""
    assert profile.e_mac_pj is not None  # a [memory] profile prices MACs (validated at load)
    add, mac = profile.e_syn_op_pj, profile.e_mac_pj
    static_mj = None
    if profile.static_power_w is not None and latency is not None:
        static_mj = profile.static_power_w * latency * 1e3
    else:
        notes = [*notes, "static energy not included"]
    return EnergyBreakdown(
        profile=profile.name,
        synaptic_ac_mj=(t.synops + t.bias_adds) * add * PJ_TO_MJ,
        synaptic_mac_mj=t.macs * mac * PJ_TO_MJ,
        neuron_mj=t.leak_macs * mac * PJ_TO_MJ,
        routing_mj=t.spikes * profile.e_spike_pj * PJ_TO_MJ,
        static_mj=static_mj,
        latency_s=latency,
        notes=[*notes, f"memory traffic priced by the {profile.memory_dataflow} dataflow ({profile.word_bits}-bit "
                       "words, energy per access by memory size)"],
        estimated_fields=_used_estimates(profile, _MEMORY_FIELDS),
        addressing_mj=(t.acc_addr * add + t.mac_addr * mac) * PJ_TO_MJ,
        memory_params_mj=t.params_pj * PJ_TO_MJ,
        memory_inout_mj=t.inout_pj * PJ_TO_MJ,
        memory_potential_mj=t.potential_pj * PJ_TO_MJ,
        memory_modelled=True,
        traffic=t.to_dict(),
        window_s=window_s,
    )


def ann_latency_s(dense_macs: float, profile: HardwareProfile, kernels: int = 0) -> float | None:
    """Seconds per dense ANN inference of ``dense_macs`` MACs from the profile's own timing: the
    launch floor of ``kernels`` device kernels (profiles with one) plus the MACs over the
    throughput; None when the profile gives no throughput."""
    if profile.launch_model:
        return launch_floor_s(profile, kernels, 0) + dense_macs / profile.throughput_ops_per_s
    if profile.throughput_ops_per_s is not None:
        return dense_macs / profile.throughput_ops_per_s
    return None


def ann_energy(dense_macs: float, profile: HardwareProfile, activations: float = 0.0,
               latency_s: float | None = None, layers: list[LayerCounts] | None = None,
               timesteps: int = 1, kernels: int = 0) -> EnergyBreakdown:
    """Energy (mJ) of a dense ANN inference of ``dense_macs`` MACs on ``profile``.

    ``activations`` (outputs computed) cost one neuron update each. Profiles without a MAC figure
    (chips that only accumulate spikes) cannot run an ANN: ValueError. A profile with a
    ``[memory]`` section needs the ANN's conv ``layers`` (per-step shapes, ``timesteps`` steps;
    :func:`depthsnn.compare.ops.dense_macs` gives them) to price its memory traffic.
    ``latency_s``: the window (one inference per window; static power is paid over it, or over
    the platform's own latency when longer). ``kernels``: device kernels per forward pass, for
    profiles with a launch floor (``MacCount.kernels``).
    """
    if profile.e_mac_pj is None:
        raise ValueError(f"profile {profile.name} has no MAC energy (e_mac_pj): it cannot run a dense ANN")
    overhead_mj = 0.0
    if profile.launch_model:
        overhead_mj = (profile.busy_power_w or 0.0) * launch_floor_s(profile, kernels, 0) * 1e3
    latency = _static_latency(latency_s, ann_latency_s(dense_macs, profile, kernels))
    if profile.models_memory:
        if layers is None:
            raise ValueError(f"profile {profile.name} prices memory traffic: pass the ANN's conv layers")
        t = memory_traffic(layers, timesteps, 1, profile)
        return _memory_breakdown(t, profile, latency, ["ANN convs priced densely (activations and batch norm "
                                                       "are not costed, as in spikingjelly)"], latency_s)
    notes = [NO_MEMORY_NOTE]
    static_mj = None
    if profile.static_power_w is not None and latency is not None:
        static_mj = profile.static_power_w * latency * 1e3
    else:
        notes.append("static energy not included")
    return EnergyBreakdown(
        profile=profile.name,
        synaptic_ac_mj=0.0,
        synaptic_mac_mj=dense_macs * profile.e_mac_pj * PJ_TO_MJ,
        neuron_mj=activations * profile.e_neuron_active_pj * PJ_TO_MJ,
        routing_mj=0.0,
        static_mj=static_mj,
        latency_s=latency,
        notes=notes,
        estimated_fields=_used_estimates(profile, ["e_mac_pj", "e_neuron_active_pj", "static_power_w",
                                                   "throughput_ops_per_s", "kernel_launch_s", "busy_power_w"]),
        overhead_mj=overhead_mj,
        window_s=latency_s,
    )
