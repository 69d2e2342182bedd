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
