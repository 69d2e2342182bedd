"""Launch-floor model of dense platforms: analytic cases and the calibration anchors (design.md s.11)."""

from __future__ import annotations

import pytest

from depthsnn.hw_profiles import energy_per_inference, get_profile, parse_profile
from depthsnn.hw_profiles.anchors import DENSE_ANCHORS, dense_anchor_rows
from depthsnn.hw_profiles.dense import DenseWorkload, dense_estimate, layer_kernels
from depthsnn.simulate.counts import LayerCounts, SimCounts


def _profile(**timing):
    data = {"name": "toy", "description": "toy", "kind": "gpu",
            "model": {"execution": {"value": "dense", "source": "s"}, "neuron_update_mode": {"value": "all", "source": "s"},
                      "graded_input": {"value": "mac", "source": "s"}},
            "energy": {"e_syn_op_pj": {"value": 10.0, "source": "s"}, "e_mac_pj": {"value": 10.0, "source": "s"},
                       "e_neuron_active_pj": {"value": 0.0, "source": "s"}, "e_spike_pj": {"value": 0.0, "source": "s"},
                       "static_power_w": {"value": 100.0, "source": "s"}, "busy_power_w": {"value": 20.0, "source": "s"}},
            "capacity": {"weight_bits": {"value": 32, "source": "s"}, "state_bits": {"value": 32, "source": "s"},
                         "node_types": {"value": ["conv", "if"], "source": "s"}},
            "timing": {k: {"value": v, "source": "s"} for k, v in timing.items()}}
    return parse_profile(data, "toy.toml")


def test_dense_estimate_is_the_stated_formula():
    p = _profile(kernel_launch_s=1e-5, neuron_layer_s=1e-4, throughput_ops_per_s=1e12)
    w = DenseWorkload("w", macs=1e9, kernels=50, neuron_layers=10)
    floor = 50 * 1e-5 + 10 * 1e-4  # 1.5 ms
    e1 = dense_estimate(w, p, 1)
    assert e1.latency_s == pytest.approx(floor + 1e-3)
    assert e1.dynamic_mj == pytest.approx(1e9 * 10 * 1e-9 + 20 * floor * 1e3)  # 10 mJ + 30 mJ
    assert e1.total_mj == pytest.approx(e1.dynamic_mj + 100 * 2.5e-3 * 1e3)
    assert e1.per_map_mj(0.05) == pytest.approx(40.0 + 100 * 50)
    assert e1.per_map_mj(0.001) == pytest.approx(40.0 + 100 * 2.5)  # cannot keep up: idle over its latency
    e8 = dense_estimate(w, p, 8)
    assert e8.latency_s == pytest.approx(floor + 8e-3)
    assert e8.dynamic_mj == pytest.approx(10.0 + 30.0 / 8)
    assert e8.ms_per_inference == pytest.approx((floor + 8e-3) / 8 * 1e3)


def test_ann_latency_is_the_launch_floor_plus_macs_over_throughput():
    from depthsnn.hw_profiles import ann_energy, ann_latency_s

    p = _profile(kernel_launch_s=1e-5, neuron_layer_s=1e-4, throughput_ops_per_s=1e12)
    assert ann_latency_s(1e9, p, kernels=50) == pytest.approx(50 * 1e-5 + 1e-3)  # an ANN has no neuron layers
    # static power is paid over the window, or over the platform's own latency when it is longer
    assert ann_energy(1e9, p, kernels=50, latency_s=0.05).static_mj == pytest.approx(100 * 0.05 * 1e3)
    assert ann_energy(1e9, p, kernels=50, latency_s=1e-4).static_mj == pytest.approx(100 * 1.5e-3 * 1e3)
    assert ann_latency_s(1e9, _profile()) is None  # no timing: no latency


def test_launch_model_needs_throughput_and_idle():
    from depthsnn.errors import ConfigError

    with pytest.raises(ConfigError, match="throughput_ops_per_s"):
        _profile(kernel_launch_s=1e-5)


def test_simulator_counts_use_the_same_model():
    p = _profile(kernel_launch_s=1e-5, neuron_layer_s=1e-4, throughput_ops_per_s=1e12)
    counts = SimCounts([LayerCounts("c", "conv", dense_ops=2_000_000), LayerCounts("n", "if", neuron_updates=100),
                        LayerCounts("u", "upsample")], samples=2, timesteps=1)
    assert layer_kernels(counts.layers) == (2, 1)
    b = energy_per_inference(counts, p, latency_s=0.05)
    floor = 2e-5 + 1e-4
    assert b.dynamic_mj == pytest.approx(1e6 * 10 * 1e-9 + 20 * floor * 1e3)
    assert b.per_map_mj == pytest.approx(b.dynamic_mj + 100 * 0.05 * 1e3)
    assert energy_per_inference(counts, p).per_map_mj is None  # no window: no per-map figure


def test_every_fitted_number_names_its_anchor():
    for name in {a.profile for a in DENSE_ANCHORS}:
        p = get_profile(name)
        for key, prov in p.provenance.items():
            if prov.source.startswith("fitted"):
                assert "[fit anchor]" in prov.source, (name, key)


def test_anchors_reproduced():
    rows = dense_anchor_rows()
    roles = {r["role"] for r in rows}
    assert {"fit", "check"} <= roles
    for r in rows:
        if r["role"] == "outside":
            continue
        bound = 1.25 if r["profile"] == "gpu_h200" else 2.0
        for key in ("total_ratio", "dynamic_ratio"):
            assert 1 / bound <= r[key] <= bound, (r["platform"], r["batch"], key, r[key])
    # the fit rows of single-measurement platforms are reproduced, not merely bounded
    for r in rows:
        if r["role"] == "fit" and r["profile"] != "gpu_h200":
            assert r["dynamic_ratio"] == pytest.approx(1.0, abs=0.005)
            assert r["latency_ratio"] == pytest.approx(1.0, abs=0.005)


def test_h200_replaces_the_per_op_figure_by_a_factor_of_78():
    """The old gpu_h100 per-op estimate (5.47 mJ) against the calibrated H200 at batch 1 (426 mJ measured)."""
    from depthsnn.hw_profiles.anchors import ANN_TINY

    old = ANN_TINY.macs * get_profile("gpu_h100").e_mac_pj * 1e-9
    new = dense_estimate(ANN_TINY, get_profile("gpu_h200"), 1).total_mj
    assert old == pytest.approx(5.469, rel=1e-3)
    assert new / old == pytest.approx(425.73 / 5.469, rel=0.01)
