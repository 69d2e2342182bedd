"""Measured energy anchors of dense platforms (design.md s.10-11) and what the profiles estimate.

Each anchor is a measurement with its source, the workload behind it (MACs, kernels, neuron
layers per forward pass), and its role: ``fit`` (a profile number was fitted to it, named in
that profile's TOML) or ``check`` (held out: the profile never saw it). :func:`dense_anchor_rows`
prices every anchor on its profile (:func:`~depthsnn.hw_profiles.dense.dense_estimate`) and
returns measured, estimated and their ratio for total and dynamic energy; the chip anchors
(Loihi, Loihi 2, Speck, ...) need the simulator and live in ``benchmarks/chip_anchors.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .dense import DenseWorkload, dense_estimate
from .profile import get_profile

H200_SOURCE = "shared/measurements/h200-2026-12-04.jsonl (NVML, this project)"
BLOUW = "Blouw et al. 2019 (arXiv 1812.01739) Table 1"
MLPERF_ORIN = "MLPerf Inference v3.1 closed, Orin_TRT_MaxQ, ResNet-50 SingleStream"

#: ann-tiny / snn-tiny at 260x346, T=1 (the measurement's input [B,1,C,260,346]): dense MACs from
#: compare.ops.dense_macs; kernels = aten ops per forward pass that launch work, counted on the
#: CPU by dense_macs (ann-tiny: 17 conv, 13 batch norm, 13 ReLU, 7 add, 7 upsample, sums, cumsum,
#: pad, stack, cat; snn-tiny: the same without batch norm and ReLU, 13 neuron layers instead).
ANN_TINY = DenseWorkload("ann-tiny", 1_932_496_896, kernels=68)
SNN_TINY = DenseWorkload("snn-tiny (T=1, triton neurons)", 1_932_496_896, kernels=42, neuron_layers=13)
#: 390-256-256-29 fully connected (Blouw 2019): 172,800 MACs; 3 layers x (matmul, bias, nonlinearity).
KWS = DenseWorkload("keyword spotter 390-256-256-29", 390 * 256 + 256 * 256 + 256 * 29, kernels=9)
#: ResNet-50 at 224x224: 4.1 GMACs; 57 kernels after TensorRT's fusion (estimate).
RESNET50 = DenseWorkload("ResNet-50 (TensorRT INT8)", 4.1e9, kernels=57)


@dataclass(frozen=True)
class DenseAnchor:
    """One measurement: per-inference total and dynamic energy (mJ) and latency (ms)."""

    platform: str
    profile: str
    workload: DenseWorkload
    batch: int
    total_mj: float
    dynamic_mj: float | None
    ms: float
    role: str  # fit | check | outside
    source: str
    note: str = ""


DENSE_ANCHORS: tuple[DenseAnchor, ...] = (
    DenseAnchor("NVIDIA H200, torch fp32 (TF32 convs)", "gpu_h200", ANN_TINY, 1, 425.728, 106.688, 2.5919, "fit",
                H200_SOURCE, "fits e_mac_pj, kernel_launch_s, throughput"),
    DenseAnchor("NVIDIA H200, torch fp32 (TF32 convs)", "gpu_h200", ANN_TINY, 32, 141.826, 106.862, 0.27264, "fit",
                H200_SOURCE, "fits throughput, busy_power_w (0)"),
    DenseAnchor("NVIDIA H200, torch fp32, triton IF neurons", "gpu_h200", SNN_TINY, 1, 641.241, 88.668, 4.4351, "fit",
                H200_SOURCE, "fits neuron_layer_s"),
    DenseAnchor("NVIDIA H200, torch fp32, triton IF neurons", "gpu_h200", SNN_TINY, 32, 131.444, 93.129, 0.27684,
                "check", H200_SOURCE),
    DenseAnchor("NVIDIA H200, torch bf16 autocast", "gpu_h200", ANN_TINY, 32, 144.799, 104.365, 0.29910, "check",
                H200_SOURCE, "bf16 priced with the fp32 fit"),
    DenseAnchor("NVIDIA H200, torch bf16 autocast", "gpu_h200", ANN_TINY, 1, 667.245, 297.372, 2.9949, "outside",
                H200_SOURCE, "autocast at batch 1: cast kernels per layer and 2.8x the dynamic energy; not modelled"),
    DenseAnchor("GPU (Blouw 2019)", "gpu_blouw2019", KWS, 1, 29.8 + 15.0 / 770 * 1e3, 29.8, 1e3 / 770, "fit", BLOUW),
    DenseAnchor("CPU (Blouw 2019)", "cpu_blouw2019", KWS, 1, 6.3 + 17.0 / 1814 * 1e3, 6.3, 1e3 / 1814, "fit", BLOUW),
    DenseAnchor("Jetson TX1 (Blouw 2019)", "jetson_tx1", KWS, 1, 5.6 + 2.64 / 419 * 1e3, 5.6, 1e3 / 419, "fit", BLOUW),
    DenseAnchor("Movidius NCS (Blouw 2019)", "movidius_ncs", KWS, 1, 1.5 + 0.21 / 300 * 1e3, 1.5, 1e3 / 300, "fit",
                BLOUW),
    DenseAnchor("Jetson AGX Orin MaxQ", "jetson_agx_orin", RESNET50, 1, 13.85 / 694.8 * 1e3, (13.85 - 6.4) / 694.8 * 1e3,
                1e3 / 694.8, "fit", MLPERF_ORIN, "13.3-14.4 W wall (mid 13.85), idle 5.8-7 W (mid 6.4)"),
)


def dense_anchor_rows() -> list[dict]:
    """Every dense anchor beside the model's estimate on its profile (ratios = estimate / measured)."""
    rows = []
    for a in DENSE_ANCHORS:
        e = dense_estimate(a.workload, get_profile(a.profile), a.batch)
        rows.append({
            "platform": a.platform, "profile": a.profile, "workload": a.workload.name, "batch": a.batch,
            "role": a.role, "source": a.source, "note": a.note,
            "measured_total_mj": a.total_mj, "estimate_total_mj": e.total_mj, "total_ratio": e.total_mj / a.total_mj,
            "measured_dynamic_mj": a.dynamic_mj, "estimate_dynamic_mj": e.dynamic_mj,
            "dynamic_ratio": None if a.dynamic_mj is None else e.dynamic_mj / a.dynamic_mj,
            "measured_ms": a.ms, "estimate_ms": e.ms_per_inference, "latency_ratio": e.ms_per_inference / a.ms,
        })
    return rows


# ---------------------------------------------------------------------------------------------
# Chip anchors: published measurements on neuromorphic chips (design.md s.7, s.11) and the
# per-inference counts of the rebuilt networks, as ``benchmarks/chip_anchors.py`` simulates them
# (random weights scaled to an assumed activity; the script re-simulates and checks these numbers).
# Each anchor is priced on its profile at several activity assumptions: ``fit_on`` names the one a
# profile number was fitted to (named in the TOML, ``[fit anchor]``), the others give the range.

BLOUW_LOIHI = "Blouw et al. 2019 (arXiv 1812.01739) Table 1, Loihi row"
LAVA_PILOTNET = "lava-dl tutorials/lava/lib/dl/netx/pilotnet_snn/benchmark.ipynb (stored Loihi 2 outputs; design.md s.11)"
AKIDA_DOCS = "BrainChip Akida docs, AkidaNet/ImageNet example, `akida` statistics of a 10-frame run (design.md s.11)"
YAO_SPECK = "Yao et al., Nat. Commun. 15:4464 (2024), Table 1"


@dataclass(frozen=True)
class ChipWorkload:
    """Per-inference counts of one rebuilt network at one activity assumption.

    ``acs``: synaptic accumulates of binary spikes; ``macs``: synaptic events with a graded value
    (priced per the profile's ``graded_input``; ``graded_mean`` = mean count per graded input);
    neuron updates (all / with input), spikes routed, time steps per inference.
    """

    label: str
    acs: float
    macs: float
    neuron_updates: float
    active_updates: float
    spikes: float
    timesteps: int
    graded_mean: float = 1.0

    def counts(self):
        from ..simulate.counts import LayerCounts, SimCounts

        layers = [LayerCounts("synapses", "conv", acs=round(self.acs), macs=round(self.macs)),
                  LayerCounts("neurons", "lif", neuron_updates=round(self.neuron_updates),
                              active_neuron_updates=round(self.active_updates), spikes=round(self.spikes))]
        return SimCounts(layers, samples=1, timesteps=self.timesteps,
                         metadata={"graded_input_mean": self.graded_mean})


@dataclass(frozen=True)
class ChipAnchor:
    """One chip measurement: per-inference total and dynamic energy (mJ; a (low, high) pair where
    the source gives a range), the time one inference occupies the chip (``period_s``: 1 / rate, or
    the input window), the workload key and the assumption fitted on."""

    key: str
    platform: str
    profile: str
    network: str
    workload: str
    role: str  # fit | check
    total_mj: float | tuple[float, float]
    dynamic_mj: float | None
    period_s: float
    source: str
    note: str = ""
    fit_on: str | None = None


#: Counts of the rebuilt networks per activity assumption (benchmarks/chip_anchors.py --print-workloads).
CHIP_WORKLOADS: dict[str, tuple[ChipWorkload, ...]] = {
    "kws": (
        ChipWorkload("2% activity", 14563.2, 20198.4, 5410, 4880.05, 101.8, 10, 1),
        ChipWorkload("10% activity", 73135.4, 99904, 5410, 5347.2, 513.35, 10, 1),
        ChipWorkload("30% activity", 218845, 299379, 5410, 5394.3, 1535.2, 10, 1),
    ),
    "pilotnet": (
        ChipWorkload("2% activity", 5.02842e+06, 0, 2.57915e+06, 1.62173e+06, 51310, 16, 1),
        ChipWorkload("10% activity", 2.54384e+07, 0, 2.57915e+06, 2.40074e+06, 257674, 16, 1),
        ChipWorkload("30% activity", 7.62653e+07, 0, 2.57915e+06, 2.54143e+06, 773252, 16, 1),
    ),
    "akidanet": (
        ChipWorkload("30% non-zero activations", 0, 1.08944e+08, 2.02058e+06, 606175, 606175, 1, 1),
        ChipWorkload("45% non-zero activations", 0, 1.60706e+08, 2.02058e+06, 909263, 909263, 1, 1),
        ChipWorkload("60% non-zero activations", 0, 2.12469e+08, 2.02058e+06, 1.21235e+06, 1.21235e+06, 1, 1),
    ),
    "speck_plain": (
        ChipWorkload("50k input events", 9.96232e+07, 1.21639e+07, 3.93216e+06, 3.87533e+06, 997240, 20, 1.15891),
        ChipWorkload("200k input events", 9.85013e+07, 3.25952e+07, 3.93216e+06, 3.87034e+06, 1.00284e+06, 20, 1.73049),
    ),
    "speck_attention": (
        ChipWorkload("20k input events", 3.87604e+07, 5.31747e+06, 3.93216e+06, 3.44019e+06, 399211, 20, 1.06084),
        ChipWorkload("80k input events", 3.9197e+07, 1.78786e+07, 3.93216e+06, 3.7311e+06, 400893, 20, 1.26155),
    ),
}

CHIP_ANCHORS: tuple[ChipAnchor, ...] = (
    ChipAnchor("kws", "Loihi", "loihi", "keyword spotter 390-256-256-29 LIF, 10 steps", "kws", "fit",
               0.110 / 296 * 1e3, 0.27, 1 / 296, BLOUW_LOIHI,
               "0.110 W running, 0.029 W idle, 0.081 W dynamic, 296 inferences/s; fits e_step_pj and time_step_s",
               fit_on="10% activity"),
    ChipAnchor("pilotnet", "Loihi 2", "loihi2", "PilotNet LIF 200x66x3, 16 steps/frame", "pilotnet", "fit",
               0.679 / 409 * 1e3, 0.447 / 409 * 1e3, 1 / 409, LAVA_PILOTNET,
               "409 fps, 0.679 W total (static 0.232 W, dynamic 0.447 W); fits e_step_pj and time_step_s",
               fit_on="10% activity"),
    ChipAnchor("pilotnet_static", "Loihi 2", "loihi2", "PilotNet LIF, static power of other runs", "pilotnet",
               "check", (0.447 / 409 * 1e3 + 0.17 / 409 * 1e3, 0.447 / 409 * 1e3 + 0.34 / 409 * 1e3), None, 1 / 409,
               LAVA_PILOTNET, "static 0.17-0.34 W across runs against the profile's 0.232 W (one run)",
               fit_on="10% activity"),
    ChipAnchor("akidanet", "Akida AKD1000", "akida_akd1000", "AkidaNet 0.5 224x224 (counted, not simulated)",
               "akidanet", "fit", 0.981 / 51.3 * 1e3, ((0.981 - 0.912) / 51.3 * 1e3, (0.981 - 0.905) / 51.3 * 1e3),
               1 / 51.3, AKIDA_DOCS, "floor 905-912 mW, 51.3 fps at 981 mW; fits e_mac_pj and throughput",
               fit_on="45% non-zero activations"),
    ChipAnchor("speck_plain", "Speck", "speck", "DVS gesture 32C3-32C3S2-32C3-AP4-32FC, plain SNN", "speck_plain",
               "fit", 9.5 * 0.540, (9.5 - 0.42) * 0.540, 0.540, YAO_SPECK,
               "9.5 mW total, 0.42 mW resting, 1.0 M spikes per 540 ms sample; fits e_syn_op_pj on the mean of both "
               "input rates"),
    ChipAnchor("speck_attention", "Speck", "speck", "DVS gesture, attention-masked (dynamic) SNN", "speck_attention",
               "check", 3.8 * 0.540, (3.8 - 0.42) * 0.540, 0.540, YAO_SPECK,
               "3.8 mW total, 0.42 mW resting, 0.4 M spikes per sample"),
)


def chip_estimate(anchor: ChipAnchor, workload: ChipWorkload, profile=None):
    """Energy breakdown of ``workload`` on the anchor's profile, one inference per ``period_s``."""
    from .energy import energy_per_inference

    p = profile if profile is not None else get_profile(anchor.profile)
    return energy_per_inference(workload.counts(), p, latency_s=anchor.period_s)


def _bounds(x: float | tuple[float, float] | None) -> tuple[float, float] | None:
    if x is None:
        return None
    return (x, x) if isinstance(x, (int, float)) else (float(x[0]), float(x[1]))


@dataclass(frozen=True)
class _MeanBreakdown:
    total_mj: float
    dynamic_mj: float
    static_mj: float
    overhead_mj: float
    ops_mj: float


def chip_anchor_rows(workloads: dict[str, tuple[ChipWorkload, ...]] | None = None) -> list[dict]:
    """Every chip anchor beside the estimate on its profile at each activity assumption.

    Per row: the measured total/dynamic (low, high), the estimate at the fitted assumption (or the
    mean over the assumptions when none is named) and its range over all assumptions, and ratio ranges (estimate / measured; a
    measured range widens the ratio range). ``within_2x``: every ratio of the range in [0.5, 2].
    """
    wl = CHIP_WORKLOADS if workloads is None else workloads
    rows = []
    for a in CHIP_ANCHORS:
        p = get_profile(a.profile)
        ests = {w.label: chip_estimate(a, w, p) for w in wl[a.workload]}
        labels = [w.label for w in wl[a.workload]]
        tot = [e.total_mj for e in ests.values()]
        dyn = [e.dynamic_mj for e in ests.values()]
        if a.fit_on is None:  # the mean over the assumptions (Speck's two input rates)
            main = "mean"
            ests["mean"] = _MeanBreakdown(sum(tot) / len(tot), sum(dyn) / len(dyn),
                                          *(sum(getattr(e, k) or 0.0 for e in ests.values()) / len(ests)
                                            for k in ("static_mj", "overhead_mj", "ops_mj")))
        else:
            main = a.fit_on
        row = {"key": a.key, "platform": a.platform, "profile": a.profile, "network": a.network, "role": a.role,
               "source": a.source, "note": a.note, "assumptions": labels, "main": main,
               "measured_total_mj": _bounds(a.total_mj), "measured_dynamic_mj": _bounds(a.dynamic_mj),
               "estimate_total_mj": ests[main].total_mj, "estimate_dynamic_mj": ests[main].dynamic_mj,
               "estimate_total_range": (min(tot), max(tot)), "estimate_dynamic_range": (min(dyn), max(dyn)),
               "static_mj": ests[main].static_mj, "overhead_mj": ests[main].overhead_mj,
               "ops_mj": ests[main].ops_mj}
        for kind in ("total", "dynamic"):
            m = row[f"measured_{kind}_mj"]
            if m is None:
                row[f"{kind}_ratio"] = row[f"{kind}_ratio_range"] = None
                continue
            lo, hi = row[f"estimate_{kind}_range"]
            row[f"{kind}_ratio"] = (row[f"estimate_{kind}_mj"] / m[1], row[f"estimate_{kind}_mj"] / m[0])
            row[f"{kind}_ratio_range"] = (lo / m[1], hi / m[0])
        ratios = [r for k in ("total", "dynamic") if row[f"{k}_ratio_range"] for r in row[f"{k}_ratio_range"]]
        row["within_2x"] = all(0.5 <= r <= 2.0 for r in ratios)
        rows.append(row)
    return rows


def _dynamic_without(anchor: ChipAnchor, workload: ChipWorkload, field_name: str) -> tuple[float, object]:
    """Dynamic energy (mJ) of ``workload`` with the profile's ``field_name`` set to 0, and the profile."""
    import dataclasses

    p = dataclasses.replace(get_profile(anchor.profile), **{field_name: 0.0})
    return chip_estimate(anchor, workload, p).dynamic_mj, p


def chip_fits(workloads: dict[str, tuple[ChipWorkload, ...]] | None = None) -> dict[str, float]:
    """The profile numbers fitted to the ``fit`` anchors, from the workloads' counts and the
    profiles' other numbers (``profile.field`` -> value): what the TOML files carry.

    - Loihi / Loihi 2: ``e_step_pj`` = (measured dynamic - per-op dynamic at the fitted activity) /
      steps per inference; ``time_step_s`` = period / steps.
    - Akida: ``e_mac_pj`` = measured dynamic / MACs at the fitted activation density (its other
      energies are 0: one measurement, one number); ``throughput_ops_per_s`` = MACs / period.
    - Speck: ``e_syn_op_pj`` such that the mean dynamic energy of the two input-rate assumptions
      equals the measurement (``e_spike_pj`` stays its estimate).
    """
    wl = CHIP_WORKLOADS if workloads is None else workloads
    out: dict[str, float] = {}
    for a in CHIP_ANCHORS:
        if a.role != "fit":
            continue
        ws = {w.label: w for w in wl[a.workload]}
        meas = _bounds(a.dynamic_mj)
        target = (meas[0] + meas[1]) / 2
        if a.profile in ("loihi", "loihi2"):
            w = ws[a.fit_on]
            rest, _ = _dynamic_without(a, w, "e_step_pj")
            out[f"{a.profile}.e_step_pj"] = (target - rest) / w.timesteps * 1e9
            out[f"{a.profile}.time_step_s"] = a.period_s / w.timesteps
        elif a.profile == "akida_akd1000":
            w = ws[a.fit_on]
            rest, _ = _dynamic_without(a, w, "e_mac_pj")
            out["akida_akd1000.e_mac_pj"] = (target - rest) / w.macs * 1e9
            out["akida_akd1000.throughput_ops_per_s"] = (w.acs + w.macs) / a.period_s
        elif a.profile == "speck":
            rest = sum(_dynamic_without(a, w, "e_syn_op_pj")[0] for w in ws.values())
            events = sum(w.acs + w.macs * w.graded_mean for w in ws.values())
            out["speck.e_syn_op_pj"] = (len(ws) * target - rest) / events * 1e9
    return out
