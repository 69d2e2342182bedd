"""Latency and power of dense platforms (GPUs, Jetson-class boards, CPUs, int8 edge accelerators).

Per-op figures (board power / peak op rate) put a batch-1 U-Net on an H200 at 5.5 mJ; NVML
measured 426 mJ (design.md s.10-11). What they leave out: the board's idle power, which runs
for as long as the inference takes, and the launch floor, the host-side dispatch and launch of
every kernel, which sets the batch-1 latency of a small network. The model here, for a network
of ``kernels`` device kernels (plus ``neuron_layers`` fused spiking-neuron layers) and ``macs``
MACs per sample, at batch ``B``::

    floor        = kernels * kernel_launch_s + neuron_layers * neuron_layer_s
    latency(B)   = floor + B * macs / throughput_ops_per_s          (per batch)
    dynamic      = macs * e_mac_pj + busy_power_w * floor / B       (per sample, above idle)
    back-to-back = dynamic + static_power_w * latency(B) / B        (per sample)
    per map      = dynamic(B=1) + static_power_w * max(window, latency(1))

``static_power_w`` is the measured idle power, ``throughput_ops_per_s`` the sustained MAC rate
of batched work on this kind of network, ``e_mac_pj`` the dynamic energy per MAC, and
``busy_power_w`` the dynamic power while the launch floor runs (host-bound work: framework
overhead keeps the device clocked up). Each profile says which measurement fitted each number
(``benchmarks/dense_fit.py`` reproduces the fit and checks it on held-out measurements).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from .profile import HardwareProfile

#: Graph/layer operations that are spiking-neuron layers (one fused kernel each on a GPU).
NEURON_OPS = frozenset({"if", "lif", "integrator"})
#: Graph operations that launch no kernel of their own.
NO_KERNEL_OPS = frozenset({"input", "output"})


def layer_kernels(layers: Iterable) -> tuple[int, int]:
    """(kernels, neuron layers) of one forward pass, from simulator layer counts or graph nodes
    (anything with an ``op``): one kernel per conv/upsample/pool/add, one neuron layer per
    IF/LIF/integrator."""
    kernels = neurons = 0
    for layer in layers:
        if layer.op in NEURON_OPS:
            neurons += 1
        elif layer.op not in NO_KERNEL_OPS:
            kernels += 1
    return kernels, neurons


def launch_floor_s(profile: HardwareProfile, kernels: int, neuron_layers: int) -> float:
    """Seconds of launch floor per forward pass (0 for profiles without a launch model)."""
    if not profile.launch_model:
        return 0.0
    per_neuron = profile.neuron_layer_s if profile.neuron_layer_s is not None else profile.kernel_launch_s
    return kernels * profile.kernel_launch_s + neuron_layers * per_neuron


@dataclass(frozen=True)
class DenseWorkload:
    """What one forward pass asks of a dense platform: MACs per sample, kernels and neuron layers
    per pass (independent of the batch), and (optionally) neuron updates per sample."""

    name: str
    macs: float
    kernels: int
    neuron_layers: int = 0
    neuron_updates: float = 0.0


@dataclass(frozen=True)
class DenseEstimate:
    """The model's figures for one workload at one batch size (energies per sample, mJ)."""

    profile: str
    workload: str
    batch: int
    latency_s: float  # per batch
    ms_per_inference: float
    dynamic_mj: float
    total_mj: float  # back to back, per sample
    idle_w: float
    batch1_latency_s: float

    def per_map_mj(self, window_s: float) -> float:
        """Energy per depth map at one map per ``window_s`` (batch 1, idle between maps)."""
        return self.dynamic_mj_batch1 + self.idle_w * max(window_s, self.batch1_latency_s) * 1e3

    dynamic_mj_batch1: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def dense_estimate(workload: DenseWorkload, profile: HardwareProfile, batch: int = 1) -> DenseEstimate:
    """Latency and energy of ``workload`` on a launch-model profile at ``batch`` (see the module doc)."""
    if not profile.launch_model:
        raise ValueError(f"profile {profile.name} has no launch model (timing.kernel_launch_s)")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    assert profile.e_mac_pj is not None and profile.throughput_ops_per_s is not None
    floor = launch_floor_s(profile, workload.kernels, workload.neuron_layers)
    busy = profile.busy_power_w or 0.0
    idle = profile.static_power_w or 0.0
    per_sample_pj = workload.macs * profile.e_mac_pj + workload.neuron_updates * profile.e_neuron_active_pj

    def dynamic(b: int) -> float:
        return per_sample_pj * 1e-9 + busy * floor / b * 1e3

    def latency(b: int) -> float:
        return floor + b * workload.macs / profile.throughput_ops_per_s

    lat = latency(batch)
    dyn = dynamic(batch)
    return DenseEstimate(profile=profile.name, workload=workload.name, batch=batch, latency_s=lat,
                         ms_per_inference=lat / batch * 1e3, dynamic_mj=dyn, total_mj=dyn + idle * lat / batch * 1e3,
                         idle_w=idle, batch1_latency_s=latency(1), dynamic_mj_batch1=dynamic(1))
