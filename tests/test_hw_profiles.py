"""Hardware profiles: loading and validation, energy of a hand-computable network, fit check, report.

Expected energies are written from design.md s.7 figures (and the profiles' documented
estimates) as literals, independently of the profile files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from depthsnn.errors import ConfigError
from depthsnn.hw_profiles import (
    EnergyRow,
    ann_energy,
    builtin_profile_names,
    builtin_profiles,
    check_fit,
    energy_bar_chart,
    energy_json,
    energy_per_inference,
    energy_table,
    evaluate_profiles,
    get_profile,
    load_profile,
    write_energy_json,
)
from depthsnn.simulate.counts import LayerCounts, SimCounts

SHIPPED = {"loihi", "loihi2", "spinnaker", "spinnaker2", "truenorth", "speck", "cpu", "gpu",
           "asic45nm_fp32", "asic45nm_int8", "lemaire45nm", "gpu_h100", "jetson_orin_nano", "coral_edgetpu",
           "gpu_h200", "jetson_agx_orin", "jetson_tx1", "movidius_ncs", "gpu_blouw2019", "cpu_blouw2019",
           "akida_akd1000"}
PJ = 1e-9  # mJ per pJ


def small_counts(samples: int = 1) -> SimCounts:
    """One conv (1000 ACs, 5000 dense ops) into 50 IF neurons over 4 steps: 200 updates, 20 active, 12 spikes."""
    s = samples
    return SimCounts(
        [LayerCounts("conv1", "conv", acs=1000 * s, dense_ops=5000 * s, weights=300, fan_in=30, fan_out=10,
                     input_events=60 * s, c_out=2, kernel=3, stride=2, in_size=100, out_size=50),
         LayerCounts("if1", "if", neuron_updates=200 * s, active_neuron_updates=20 * s, spikes=12 * s,
                     neurons=50)],
        samples=s, timesteps=4)


# Hand-computed energy (pJ) of small_counts(): ACs, active and idle (180) updates, 12 spikes.
EXPECTED_PJ = {
    # Davies 2018: 23.6 pJ/synop, 81 pJ active; idle 52 pJ, 1.7 pJ/spike and 1 hop (estimates) + 3.5 pJ/hop;
    # 4 steps x 26.548 uJ per step (fitted on Blouw 2019's keyword spotter)
    "loihi": 1000 * 23.6 + 20 * 81 + 180 * 52 + 12 * (1.7 + 1 * 3.5) + 4 * 2.6548e7,
    # Loihi figures halved (estimate); 4 steps x 43.137 uJ per step (fitted on PilotNet LIF)
    "loihi2": 1000 * 11.8 + 20 * 40.5 + 180 * 26 + 12 * (0.85 + 1 * 1.75) + 4 * 4.3137e7,
    # Akida: 1000 binary events at the fitted 8.79 pJ per event-MAC; neuron and routing folded into it
    "akida_akd1000": 1000 * 8.79,
    # Hoppner 2019: 13.3 nJ/synop, 26 nJ per update, all neurons updated each step
    "spinnaker": 1000 * 13300 + 200 * 26000,
    "spinnaker2": 1000 * 450 + 200 * 2190,
    # Merolla 2014: 26 pJ per synaptic event, all else folded in
    "truenorth": 1000 * 26,
    # 36.431 pJ per synaptic event (fitted on Yao 2024's plain gesture net), 10 pJ per spike (estimate)
    "speck": 1000 * 36.431 + 12 * 10,
    # dense: 5000 dense ops as MACs + all 200 neuron updates
    "cpu": 5000 * 8600 + 200 * 8600,
    "gpu": 5000 * 300 + 200 * 300,
    "asic45nm_fp32": 5000 * 4.6 + 200 * 0.9,
    "asic45nm_int8": 5000 * (0.2 + 0.03) + 200 * 0.03,
    # modern ANN platforms, dense: board power / MAC rate at 50 % of peak, same figure per op
    "gpu_h100": 5200 * 2.83,
    "coral_edgetpu": 5200 * 2.0,
    # launch-floor profiles (hw_profiles.dense): dense ops x dynamic e_mac (neuron updates inside it)
    # + busy power over the launch floor: 1 kernel (conv1) + 1 neuron layer (if1)
    "jetson_orin_nano": 5000 * 2.615,
    "jetson_agx_orin": 5000 * 2.615,
    "gpu_h200": 5000 * 55.207,
    "gpu_blouw2019": 5000 * 55.0 + 22.946 * 2 * 1.443e-4 * 1e12,
    "cpu_blouw2019": 5000 * 100.0 + 11.4282 * 2 * 6.1252e-05 * 1e12,
    "jetson_tx1": 5000 * 10.0 + 2.3464 * 2 * 2.6518e-4 * 1e12,
    "movidius_ncs": 5000 * 1.0 + 0.45 * 2 * 3.7037e-4 * 1e12,
    # Lemaire 2022 (see LEMAIRE_PJ): ops, addressing, in/out, parameters, potentials
    "lemaire45nm": None,
}
# 60 input events, C_out 2, k 3, stride 2; an SRAM word costs 10 pJ * size / 8 KiB below 8 KiB.
_W = 10 / 8192  # pJ per word access per byte of memory size
LEMAIRE_PJ = {
    "ops": 60 * 2 * 2**2 * 0.1 + 12 * 0.1,              # synops C_out*ceil(3/2)^2 per event; one add per spike
    "addressing": 60 * 2 * 9 * 0.1 + 2 * 60 * 3.2,      # C_out*k^2 address adds and 2 MACs per event
    "inout": 60 * 4000 * _W + 12 * 4000 * _W,           # spikes in and out of 1000-word FIFOs
    "params": 60 * 2 * 9 * 1200 * _W,                   # one weight read per target, 300 weights
    "potential": 2 * 60 * 2 * 9 * 200 * _W + 2 * 200 * 200 * _W,  # conv targets, then every update
}
EXPECTED_PJ["lemaire45nm"] = sum(LEMAIRE_PJ.values())


@pytest.fixture(scope="module")
def profiles():
    return builtin_profiles()


def test_every_shipped_profile_loads(profiles):
    assert set(builtin_profile_names()) == SHIPPED
    for name, p in profiles.items():
        assert p.name == name
        assert p.e_syn_op_pj >= 0 and p.weight_bits > 0 and p.node_types
        # every value carries its source, estimates their reasoning
        for key, prov in p.provenance.items():
            assert prov.reasoning if prov.estimate else prov.source, (name, key)


@pytest.mark.parametrize("name, watts, peak_macs_per_s", [
    ("gpu_h100", 700.0, 989.4e12 / 2),       # H100/H200 SXM: 989.4 dense BF16 TFLOP/s, 700 W
    ("coral_edgetpu", 2.0, 4e12 / 2),        # Edge TPU: 4 TOPS at 2 W
])
def test_modern_platform_energy_follows_from_datasheet(profiles, name, watts, peak_macs_per_s):
    p = profiles[name]
    # energy per MAC = power / (utilisation * peak MAC rate), at the stated 50 % utilisation
    assert p.e_mac_pj == pytest.approx(watts / (0.5 * peak_macs_per_s) * 1e12, rel=0.01)
    assert p.throughput_ops_per_s == pytest.approx(0.5 * peak_macs_per_s, rel=0.01)
    assert p.provenance["energy.e_mac_pj"].estimate and "50 %" in p.provenance["energy.e_mac_pj"].reasoning


def test_titan_black_is_legacy(profiles):
    from depthsnn.compare.api import DEFAULT_ANN_PROFILES, REFERENCE_PROFILE

    assert "Legacy" in profiles["gpu"].description
    assert REFERENCE_PROFILE != "gpu" and "gpu" not in DEFAULT_ANN_PROFILES
    assert REFERENCE_PROFILE in DEFAULT_ANN_PROFILES
    assert not {"if", "integrator"} & profiles["coral_edgetpu"].node_types  # runs ANNs only


def test_loihi2_energies_are_marked_estimates(profiles):
    p = profiles["loihi2"]
    for key in ("e_syn_op_pj", "e_neuron_active_pj", "e_spike_pj", "e_hop_pj"):
        assert p.provenance[f"energy.{key}"].estimate


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_energy_matches_hand_computation(profiles, name):
    b = energy_per_inference(small_counts(), profiles[name])
    assert math.isclose(b.dynamic_mj, EXPECTED_PJ[name] * PJ, rel_tol=1e-9)
    # averaged over samples: two identical inferences cost the same per inference
    b2 = energy_per_inference(small_counts(samples=2), profiles[name])
    assert math.isclose(b2.total_mj, b.total_mj, rel_tol=1e-9)


def test_lemaire_breakdown_parts(profiles):
    b = energy_per_inference(small_counts(), profiles["lemaire45nm"])
    got = {"ops": b.ops_mj, "addressing": b.addressing_mj, "inout": b.memory_inout_mj,
           "params": b.memory_params_mj, "potential": b.memory_potential_mj}
    assert got == pytest.approx({k: v * PJ for k, v in LEMAIRE_PJ.items()}, rel=1e-12)
    assert b.memory_modelled and b.static_mj is None
    # profiles without [memory] say so, and report 0 for it
    g = energy_per_inference(small_counts(), profiles["gpu"])
    assert g.memory_mj == 0 and not g.memory_modelled and any("not modelled" in n for n in g.notes)


def test_memory_model_dense_execution(profiles):
    # The same counts run densely: the conv reads all T * out_size * fan_in inputs and weights,
    # and the neuron layer writes its whole 200-word output map instead of 12 spikes.
    import dataclasses

    p = dataclasses.replace(profiles["lemaire45nm"], execution="dense")
    b = energy_per_inference(small_counts(), p)
    macs = 4 * 50 * 30
    assert b.synaptic_mac_mj == pytest.approx(macs * 3.2 * PJ, rel=1e-12)
    assert b.addressing_mj == pytest.approx((4 * 100 + 4 * 50 + 2 * 9) * 0.1 * PJ, rel=1e-12)
    assert b.memory_params_mj == pytest.approx(macs * 1200 * _W * PJ, rel=1e-12)
    assert b.memory_inout_mj == pytest.approx((macs * 1600 * _W + 200 * 800 * _W) * PJ, rel=1e-12)
    assert b.memory_potential_mj == pytest.approx(2 * 200 * 200 * _W * PJ, rel=1e-12)


def test_lemaire_needs_layer_shapes(profiles):
    old = SimCounts([LayerCounts("conv1", "conv", acs=10, input_events=5)], samples=1, timesteps=1)
    with pytest.raises(ConfigError, match="conv1: counts without layer shapes"):
        energy_per_inference(old, profiles["lemaire45nm"])


def test_memory_section_must_be_complete(tmp_path):
    text = get_profile("lemaire45nm").path.read_text().replace("spike_fifo_words =", "# spike_fifo_words =")
    f = tmp_path / "half.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match="memory.spike_fifo_words: missing"):
        load_profile(f)


def test_breakdown_parts_loihi(profiles):
    b = energy_per_inference(small_counts(), profiles["loihi"])
    assert math.isclose(b.synaptic_mj, 1000 * 23.6 * PJ)
    assert math.isclose(b.neuron_mj, (20 * 81 + 180 * 52) * PJ)
    assert math.isclose(b.routing_mj, 12 * 5.2 * PJ)
    # per-step management and sync: 4 steps x 26.548 uJ; static: the fitted step time x 4 steps at 29 mW idle
    assert math.isclose(b.overhead_mj, 4 * 2.6548e7 * PJ)
    assert math.isclose(b.latency_s, 4 * 3.3784e-4) and math.isclose(b.static_mj, 0.029 * 4 * 3.3784e-4 * 1e3)
    assert b.per_map_mj is None  # no window given
    assert "energy.e_neuron_idle_pj" in b.estimated_fields
    assert not get_profile("truenorth").static_power_w  # a profile without static power says so
    t = energy_per_inference(small_counts(), get_profile("truenorth"))
    assert t.static_mj is None and any("static energy not included" in n for n in t.notes)


def test_static_energy_with_latency(profiles):
    # Speck 0.42 mW resting (Yao 2024) over a 50 ms window: 0.42e-3 W * 0.05 s = 2.1e-5 J = 2.1e-2 mJ
    b = energy_per_inference(small_counts(), profiles["speck"], latency_s=0.05)
    assert math.isclose(b.static_mj, 0.42e-3 * 0.05 * 1e3)
    assert math.isclose(b.total_mj, EXPECTED_PJ["speck"] * PJ + 2.1e-2)
    # SpiNNaker: 1 ms steps x 4 steps, but no static power given
    s = energy_per_inference(small_counts(), profiles["spinnaker"])
    assert math.isclose(s.latency_s, 0.004) and s.static_mj is None
    # CPU: static folded into the per-op figure, so 0 but included
    c = energy_per_inference(small_counts(), profiles["cpu"])
    assert c.static_mj == 0.0 and c.static_included


def test_graded_inputs(profiles):
    counts = SimCounts([LayerCounts("conv1", "conv", macs=400, dense_ops=800)], samples=1, timesteps=4,
                       metadata={"graded_input_mean": 2.5})
    # Loihi has no multiplier: each count is sent as repeated spikes -> 400 * 2.5 ACs
    assert math.isclose(energy_per_inference(counts, profiles["loihi"]).synaptic_mac_mj, 400 * 2.5 * 23.6 * PJ)
    # Loihi 2 graded spikes: one MAC each (estimate 23.6 pJ)
    assert math.isclose(energy_per_inference(counts, profiles["loihi2"]).synaptic_mac_mj, 400 * 23.6 * PJ)
    counts.metadata.clear()
    b = energy_per_inference(counts, profiles["loihi"])
    assert math.isclose(b.synaptic_mac_mj, 400 * 23.6 * PJ)
    assert any("lower bound" in n for n in b.notes)


def test_ann_energy(profiles):
    assert math.isclose(ann_energy(1e6, profiles["gpu"]).total_mj, 1e6 * 300 * PJ)
    assert math.isclose(ann_energy(1e6, profiles["asic45nm_fp32"]).total_mj, 1e6 * 4.6 * PJ)
    with pytest.raises(ValueError, match="no MAC"):
        ann_energy(1e6, profiles["loihi"])


# --- bad profile files -------------------------------------------------------------------------

LOIHI_TEXT = (Path(__file__).parents[1] / "src/depthsnn/hw_profiles/profiles/loihi.toml").read_text()
E_SYN = 'e_syn_op_pj = { value = 23.6, source = "Davies et al., IEEE Micro 2018, energy per synaptic spike op (as used in KerasSpiking ModelEnergy; design.md s.7)" }'
NPC = 'neurons_per_core = { value = 1024, source = "Davies et al., IEEE Micro 2018: 1024 compartments per core (design.md s.7)" }'
NODES = 'node_types = { value = ["conv", "upsample", "if", "lif", "integrator", "sumpool", "add"],'


@pytest.mark.parametrize("old,new,expect", [
    (E_SYN, "", "energy.e_syn_op_pj: missing"),
    (E_SYN, 'e_syn_op_pj = { value = -1.0, source = "x" }', "energy.e_syn_op_pj: must be >= 0"),
    (E_SYN, 'e_syn_op_nj = { value = 0.0236, source = "x" }', "energy.e_syn_op_nj: unknown field; units are part of the name: use e_syn_op_pj"),
    (E_SYN, 'e_syn_op_pj = { value = "23.6 pJ", source = "x" }', "energy.e_syn_op_pj: value must be a number"),
    (E_SYN, E_SYN + '\ne_synapse_pj = { value = 1.0, source = "x" }', "energy.e_synapse_pj: unknown field"),
    (E_SYN, "e_syn_op_pj = 23.6", "energy.e_syn_op_pj: write { value = 23.6, source"),
    (E_SYN, "e_syn_op_pj = { value = 23.6 }", "energy.e_syn_op_pj: no source"),
    (E_SYN, "e_syn_op_pj = { value = 23.6, estimate = true }", "energy.e_syn_op_pj: estimate = true needs reasoning"),
    (NPC, 'neurons_per_core = { value = 1024.5, source = "x" }', "capacity.neurons_per_core: value must be a whole number"),
    (NPC, 'neurons_per_core = { value = true, source = "x" }', "capacity.neurons_per_core: value must be a number"),
    (NPC, 'neurons_per_core = { value = 0, source = "x" }', "capacity.neurons_per_core: must be > 0"),
    (NODES, 'node_types = { value = ["conv", "conv3d"],', "capacity.node_types: unknown node type 'conv3d'"),
    ('kind = "neuromorphic"', 'kind = "fpga"', "kind: must be one of"),
    ('execution = { value = "event"', 'execution = { value = "sparse"', "model.execution: must be one of"),
    ('hops_per_spike = { value = 1.0,', 'hops = { value = 1.0,', "energy.hops: unknown field"),
    ('name = "loihi"', 'name = "loihi"\ne_syn_op_pj = 3', "unknown top-level key 'e_syn_op_pj' (it belongs in the [energy] section)"),
    ('name = "loihi"', 'name = "loihi"\n[energy', "not valid TOML"),
])
def test_bad_profile_gives_one_line_error(tmp_path, old, new, expect):
    assert old in LOIHI_TEXT
    path = tmp_path / "mychip.toml"
    path.write_text(LOIHI_TEXT.replace(old, new, 1))
    with pytest.raises(ConfigError) as exc:
        load_profile(path)
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: ")
    assert expect in msg, msg


def test_missing_hop_count_is_reported(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text("\n".join(line for line in LOIHI_TEXT.splitlines() if not line.startswith("hops_per_spike")))
    with pytest.raises(ConfigError, match="energy.hops_per_spike: missing"):
        load_profile(path)


def test_user_profile_and_lookup(tmp_path):
    path = tmp_path / "mychip.toml"
    path.write_text(LOIHI_TEXT.replace('name = "loihi"', 'name = "mychip"'))
    assert load_profile(path).name == "mychip"
    assert get_profile(path).name == "mychip"
    assert get_profile("speck").name == "speck"
    with pytest.raises(ConfigError, match="profile file not found"):
        load_profile(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="unknown hardware profile"):
        get_profile("loihi9")


# --- fit check ---------------------------------------------------------------------------------

def big_counts(n_conv: int = 12) -> SimCounts:
    """A StereoSpike-sized net: n_conv conv+IF pairs of 32 x 260 x 346 neurons, 5x5x32 kernels."""
    layers = []
    for i in range(n_conv):
        layers.append(LayerCounts(f"conv{i}", "conv", weights=5 * 5 * 32 * 32, fan_in=800, fan_out=800))
        layers.append(LayerCounts(f"if{i}", "if", neurons=32 * 260 * 346))
    return SimCounts(layers, samples=1, timesteps=4)


def test_oversized_network_does_not_fit_speck(profiles):
    rep = check_fit(big_counts(), profiles["speck"], {"conv", "if"})
    assert not rep.fits
    assert rep.cores_needed == 12 and rep.chips_needed == 2
    text = "\n".join(rep.lines())
    assert "12 conv layers, the chip holds at most 9" in text
    assert "neurons, one core holds 65536" in text
    assert "2 chips" in text and "does not fit" in text


def test_oversized_network_needs_many_loihi_chips(profiles):
    rep = check_fit(big_counts(), profiles["loihi"], {"conv", "if"})
    per_layer = math.ceil(32 * 260 * 346 / 1024)  # 2812 cores per layer
    assert rep.cores_needed == 12 * per_layer
    assert rep.chips_needed == math.ceil(12 * per_layer / 128)
    cap = [f for f in rep.findings if f.topic == "capacity"][0]
    assert cap.severity == "warning" and f"{rep.chips_needed} chips" in cap.message
    # float weights on an 8-bit chip: quantise, not unsupported
    prec = [f for f in rep.findings if f.topic == "precision"][0]
    assert prec.severity == "warning" and "quantise" in prec.message


def test_small_network_fits_one_chip(profiles):
    rep = check_fit(small_counts(), profiles["loihi"], {"conv", "if"})
    assert rep.fits and rep.cores_needed == 1 and rep.chips_needed == 1


def test_speck_node_types(profiles):
    rep = check_fit(small_counts(), profiles["speck"], {"conv", "if", "lif", "integrator", "upsample"})
    bad = {f.message.split(" ")[0] for f in rep.findings if f.severity == "unsupported"}
    assert not rep.fits
    assert {"LIF", "non-firing", "upsampling"} <= bad
    assert check_fit(small_counts(), profiles["loihi"], {"conv", "if", "lif", "integrator", "upsample"}).fits


def test_truenorth_fan_in_warning(profiles):
    rep = check_fit(big_counts(1), profiles["truenorth"], {"conv", "if"})
    fan = [f for f in rep.findings if f.topic == "fan-in"][0]
    assert fan.severity == "warning" and "800 > 256" in fan.message


# --- report ------------------------------------------------------------------------------------

def test_table_json_and_chart(tmp_path, profiles):
    ps = list(profiles.values())
    rows = evaluate_profiles(small_counts(), ps, {"conv", "if"})
    table = energy_table(rows)
    for name in SHIPPED:
        assert name in table
    assert "per map mJ" in table and "dynamic mJ" in table and "fits?" in table and "n/a" in table

    data = energy_json(rows, small_counts(), ps)
    json.dumps(data, allow_nan=False)
    loihi = next(e for e in data["profiles"] if e["energy"]["profile"] == "loihi")
    assert math.isclose(loihi["energy"]["dynamic_mj"], EXPECTED_PJ["loihi"] * PJ)
    assert loihi["sources"]["energy.e_syn_op_pj"]["estimate"] is False
    out = write_energy_json(tmp_path / "energy.json", rows, small_counts(), ps)
    assert json.loads(out.read_text())["unit"] == "mJ per inference"

    png = energy_bar_chart(rows, tmp_path / "sub" / "energy.png")
    raw = png.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 5000
    import matplotlib.image

    img = matplotlib.image.imread(png)
    assert img.ndim == 3 and img.shape[0] > 100
    assert not list(png.parent.glob(".*.tmp"))  # atomic write left no temporary behind


def test_chart_marks_unfit_and_rejects_empty(tmp_path, profiles):
    speck = profiles["speck"]
    row = EnergyRow(energy_per_inference(big_counts(), speck), check_fit(big_counts(), speck))
    energy_bar_chart([row], tmp_path / "one.png")  # all-zero energies still plot
    with pytest.raises(ValueError):
        energy_bar_chart([], tmp_path / "none.png")


def test_per_map_is_static_over_window_plus_dynamic(profiles):
    """per_map_mj = static power x window + dynamic (per-step costs included), by hand for small_counts()."""
    window = 0.05
    for name, static_w in (("loihi2", 0.232), ("loihi", 0.029), ("speck", 0.00042), ("akida_akd1000", 0.9085)):
        b = energy_per_inference(small_counts(), profiles[name], latency_s=window)
        own = b.latency_s
        assert own == pytest.approx(window)  # these counts take less than the window on every chip
        assert b.dynamic_mj == pytest.approx(EXPECTED_PJ[name] * PJ, rel=1e-9)
        assert b.per_map_mj == pytest.approx(static_w * window * 1e3 + EXPECTED_PJ[name] * PJ, rel=1e-9)
        assert b.to_dict()["per_map_mj"] == b.per_map_mj and b.to_dict()["dynamic_mj"] == b.dynamic_mj
    # Loihi 2 written out: 0.232 W x 50 ms = 11.6 mJ static; dynamic = per-op + 4 steps x 43.137 uJ
    b = energy_per_inference(small_counts(), profiles["loihi2"], latency_s=window)
    ops_pj = 1000 * 11.8 + 20 * 40.5 + 180 * 26 + 12 * (0.85 + 1.75)
    assert b.per_map_mj == pytest.approx(11.6 + (ops_pj + 4 * 4.3137e7) * PJ, rel=1e-9)
    # a window shorter than the chip's own latency: static over the own latency
    slow = energy_per_inference(small_counts(), profiles["loihi"], latency_s=1e-4)
    assert slow.static_mj == pytest.approx(0.029 * 4 * 3.3784e-4 * 1e3)


def test_chip_anchors_reproduced_from_profile_data():
    """Every chip anchor, priced from the stored counts and the shipped profiles: fit rows within 1 % at
    the fitted assumption, every row (fit or check, over the whole activity range) within 2x."""
    from depthsnn.hw_profiles.anchors import CHIP_ANCHORS, chip_anchor_rows, chip_fits

    rows = chip_anchor_rows()
    assert {r["key"] for r in rows} == {a.key for a in CHIP_ANCHORS}
    assert {r["profile"] for r in rows} >= {"loihi", "loihi2", "akida_akd1000", "speck"}
    assert {r["role"] for r in rows} == {"fit", "check"}
    for r in rows:
        assert r["within_2x"], r["key"]
        if r["role"] == "fit":
            for kind in ("total", "dynamic"):
                lo, hi = r[f"{kind}_ratio"]
                assert lo <= 1.01 and hi >= 0.99, (r["key"], kind, lo, hi)
    held_out = next(r for r in rows if r["key"] == "speck_attention")
    assert 0.8 < held_out["dynamic_ratio"][0] < 1.25  # the Speck check: 1.06x
    # the TOMLs carry what a refit on the stored counts gives, and name their anchor
    for key, value in chip_fits().items():
        name, fieldname = key.split(".")
        p = get_profile(name)
        assert getattr(p, fieldname) == pytest.approx(value, rel=1e-3), key
        section = next(k for k in p.provenance if k.endswith("." + fieldname))
        assert p.provenance[section].source.startswith("fitted:") and "[fit anchor]" in p.provenance[section].source
