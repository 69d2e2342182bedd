"""The exact fast path (simulate/fast.py) against the event-driven engine: bit for bit, or a fallback."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
import torch

from depthsnn.errors import ConfigError
from depthsnn.export.graph import NetGraph, Node, float32_below, from_model
from depthsnn.hw_profiles import builtin_profile_names, get_profile
from depthsnn.hw_profiles.assess import weight_bits_for
from depthsnn.models import build_model
from depthsnn.simulate import EventSimulator, QuantConfig
from depthsnn.simulate import fast as fast_mod
from depthsnn.simulate.fast import FastSimulator, weight_grid

# Every precision a built-in profile simulates at (None = float32 weights).
PRECISIONS = sorted({weight_bits_for(get_profile(p)) for p in builtin_profile_names()}, key=lambda b: b or 0)


def _graph(preset: str, hw=(32, 48), seed: int = 0) -> NetGraph:
    torch.manual_seed(seed)
    model = build_model(preset)
    return from_model(model.core, model.padded_size(*hw))


def _events(shape, density=0.15, seed=0) -> np.ndarray:
    """Event-count frames: Bernoulli positions with counts 1..3 (graded, like real frames)."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(shape, generator=g) < density).float() * torch.randint(1, 4, shape, generator=g).float()
    return x.numpy()


def _assert_same(a, b) -> None:
    """Same output bits, same spikes per layer and step, same value in every count field."""
    assert a.outputs.dtype == b.outputs.dtype and a.outputs.tobytes() == b.outputs.tobytes()
    assert a.spikes.keys() == b.spikes.keys() and a.spikes
    for k in a.spikes:
        assert np.array_equal(a.spikes[k], b.spikes[k]), k
    assert [asdict(x) for x in a.counts.layers] == [asdict(x) for x in b.counts.layers]
    assert (a.counts.samples, a.counts.timesteps, a.counts.state_variables, a.counts.metadata) == \
        (b.counts.samples, b.counts.timesteps, b.counts.state_variables, b.counts.metadata)


def test_builtin_precisions_are_covered():
    assert None in PRECISIONS and 8 in PRECISIONS and len(PRECISIONS) >= 3


@pytest.mark.parametrize("bits", PRECISIONS)
def test_bit_identical_at_profile_precisions(bits):
    graph = _graph("snn-tiny")
    x = _events((3, 4, 32, 48), seed=1)
    quant = None if bits is None else QuantConfig(weight_bits=bits)
    ref = EventSimulator(graph, np.float32, quant).run(x, record_spikes=True)
    sim = FastSimulator(graph, np.float32, quant)
    got = sim.run(x, record_spikes=True)
    assert sim.refusal is None and sim.fast_runs == 1 and not sim.fallbacks and sim.engine == "fast"
    assert ref.counts.total("acs") > 0 and ref.counts.total("macs") > 0 and ref.counts.firing_rate() > 0.01
    _assert_same(ref, got)


@pytest.mark.parametrize("preset,quant", [("snn-lif-tiny", None), ("snn-lif-tiny", QuantConfig(weight_bits=8)),
                                          ("snn-tiny", QuantConfig(weight_bits=8, state_bits=12)),
                                          ("snn-tiny", QuantConfig(weight_bits=8, scheme="power-of-two per-layer"))])
def test_bit_identical_lif_and_fixed_point_potentials(preset, quant):
    graph = _graph(preset, seed=3)
    x = _events((2, 4, 32, 48), density=0.3, seed=2)
    ref = EventSimulator(graph, np.float32, quant).run(x, record_spikes=True)
    sim = FastSimulator(graph, np.float32, quant)
    _assert_same(ref, sim.run(x, record_spikes=True))
    assert sim.fast_runs == 1 and not sim.fallbacks


def test_float64_state_and_no_spike_recording():
    graph = _graph("snn-tiny", seed=4)
    x = _events((2, 4, 32, 48), seed=5)
    ref = EventSimulator(graph, np.float64).run(x)
    got = FastSimulator(graph, np.float64).run(x)
    assert got.spikes == {} and got.outputs.dtype == np.float64
    assert got.outputs.tobytes() == ref.outputs.tobytes()
    assert got.counts.to_dict() == ref.counts.to_dict()


def test_weight_grid():
    q, g = weight_grid(np.array([0.75, -0.125, 3.0, 0.0]))
    assert g == 0.125 and q.tolist() == [6.0, -1.0, 24.0, 0.0]
    q, g = weight_grid(np.array([2.0 ** -30, 1.0], dtype=np.float32))
    assert g == 2.0 ** -30 and q.tolist() == [1.0, 2.0 ** 30]


# -- where exactness cannot be shown: the event-driven engine runs, and the result says so ------

def test_analog_layers_fall_back_to_the_event_engine():
    graph = _graph("hnn-tiny")
    x = _events((2, 4, 32, 48), seed=6)
    sim = FastSimulator(graph, np.float32, QuantConfig(weight_bits=8))
    assert sim.refusal is not None and "analog layer" in sim.refusal
    got = sim.run(x, record_spikes=True)
    _assert_same(EventSimulator(graph, np.float32, QuantConfig(weight_bits=8)).run(x, record_spikes=True), got)
    assert sim.fast_runs == 0 and sum(sim.fallbacks.values()) == 1
    assert "1 of 1 samples event-driven" in sim.engine


def test_non_integer_input_falls_back_per_sample():
    graph = _graph("snn-tiny", seed=7)
    sim = FastSimulator(graph)
    x = _events((2, 4, 32, 48), seed=8)
    sim.run(x)
    y = x * 0.5  # half counts: graded input no longer integer-valued
    _assert_same(EventSimulator(graph).run(y, record_spikes=True), sim.run(y, record_spikes=True))
    assert sim.fast_runs == 1 and dict(sim.fallbacks) == {"graded input input is not integer-valued": 1}
    assert "1 of 2 samples event-driven" in sim.engine


def _wide_graph(tiny: float, bias: np.ndarray | None = None) -> NetGraph:
    """input (1x6x6) -> conv 3x3 with weights 1.0 and ``tiny`` (and ``bias``) -> IF -> output."""
    th = float32_below(1.0)
    w = np.full((1, 1, 3, 3), 1.0, dtype=np.float32)
    w[0, 0, 0, 0] = tiny
    nodes = [Node("input", "input", [], {}, (1, 6, 6)),
             Node("conv", "conv", ["input"], {"weight": w, "bias": bias, "stride": 1, "padding": 1}, (1, 6, 6)),
             Node("a", "if", ["conv"], {"r": 1.0e4, "v_threshold": th, "v_reset": 0.0}, (1, 6, 6)),
             Node("output", "output", ["a"], {}, (1, 6, 6))]
    return NetGraph(nodes, dt=1e-4).validate()


@pytest.mark.parametrize("quant", [None, QuantConfig(weight_bits=8)])
def test_bias_is_added_as_the_engine_adds_it(quant):
    graph = _wide_graph(-0.3, bias=np.array([-0.7], dtype=np.float32))
    x = _events((3, 1, 6, 6), density=0.6, seed=11)
    sim = FastSimulator(graph, np.float32, quant)
    _assert_same(EventSimulator(graph, np.float32, quant).run(x, record_spikes=True), sim.run(x, record_spikes=True))
    assert sim.fast_runs == 1 and not sim.fallbacks


def test_float_weights_beyond_float64_integers_are_refused():
    # Weights 1 and 2**-60: a float64 sum of them depends on the order, no integer grid holds both.
    graph = _wide_graph(2.0 ** -60)
    sim = FastSimulator(graph)
    assert sim.refusal is not None and "binades" in sim.refusal
    x = np.ones((1, 1, 6, 6), dtype=np.float32)
    _assert_same(EventSimulator(graph).run(x, record_spikes=True), sim.run(x, record_spikes=True))
    assert sim.fast_runs == 0


def test_sums_beyond_float64_integers_fall_back_for_that_input():
    # Weights 1 and 2**-44 fit the grid (Q up to 2**44), but input counts of 2**10 push the sums
    # past 2**53 grid units, where the engine's float64 accumulation may round: that sample falls back.
    graph = _wide_graph(2.0 ** -44)
    sim = FastSimulator(graph)
    assert sim.refusal is None
    small = np.ones((1, 1, 6, 6), dtype=np.float32)
    big = np.full((1, 1, 6, 6), 2.0 ** 10, dtype=np.float32)
    for x in (small, big):
        _assert_same(EventSimulator(graph).run(x, record_spikes=True), sim.run(x, record_spikes=True))
    assert sim.fast_runs == 1
    assert list(sim.fallbacks) == ["synaptic sums of conv exceed float64's exact integers"]


def test_per_neuron_bound_keeps_sparse_large_inputs_on_the_fast_path():
    # Weights 1 and 2**-40: the per-layer bound (8 * 2**40 units x max input 1024) reaches 2**53,
    # but a lone input of 1024 gives per-neuron sums of at most 2**50 units: still exact.
    graph = _wide_graph(2.0 ** -40, bias=np.array([0.25], dtype=np.float32))
    sim = FastSimulator(graph)
    conv = sim.convs["conv"]
    assert conv.row_abs_max * 1024 >= 2.0 ** 53
    x = np.zeros((2, 1, 6, 6), dtype=np.float32)
    x[0, 0, 2, 3] = 1024.0
    x[1, 0, 4, 1] = 3.0
    _assert_same(EventSimulator(graph).run(x, record_spikes=True), sim.run(x, record_spikes=True))
    assert sim.fast_runs == 1 and not sim.fallbacks


def test_inexact_float32_convolution_is_caught(monkeypatch):
    """A conv kernel that loses low bits (as a bf16/tf32 mode would) trips the start-up check."""
    real = fast_mod.F.conv2d

    def lossy(x, w, *args, **kwargs):
        out = real(x, w, *args, **kwargs)
        return out.to(torch.bfloat16).to(out.dtype) if out.dtype == torch.float32 else out

    monkeypatch.setattr(fast_mod.F, "conv2d", lossy)
    graph = _graph("snn-tiny")
    sim = FastSimulator(graph)
    assert sim.refusal is not None and "not exact" in sim.refusal
    x = _events((1, 4, 32, 48), seed=9)
    monkeypatch.setattr(fast_mod.F, "conv2d", real)
    _assert_same(EventSimulator(graph).run(x, record_spikes=True), sim.run(x, record_spikes=True))
    assert sim.fast_runs == 0


def test_batch_input_is_run_by_the_engine():
    graph = _graph("snn-tiny")
    x = _events((2, 2, 4, 32, 48), seed=10)
    sim = FastSimulator(graph)
    got = sim.run(x)
    assert got.outputs.shape[:2] == (2, 2) and dict(sim.fallbacks) == {"batch input": 1}


def test_energy_cli_defaults_match_the_assessment():
    from depthsnn.cli import energy_cmd
    from depthsnn.hw_profiles import assess

    assert energy_cmd.SAMPLES == assess.DEFAULT_ENERGY_SAMPLES and energy_cmd.ENGINES == assess.ENGINES


def test_energy_stage_fast_parallel_equals_event_sequential(tiny_checkpoints):
    """assess_profiles: fast path in 2 worker processes == event-driven engine in this one."""
    from depthsnn.hw_profiles.assess import assess_profiles
    from depthsnn.simulate.pipeline import load_network, open_dataset

    net = load_network(tiny_checkpoints["snn-tiny"])
    ds = open_dataset(net, None, None, "test")
    profiles = [get_profile("cpu"), get_profile("loihi"), get_profile("spinnaker")]  # float32, int8, int16
    fast = assess_profiles(net, ds, profiles, samples=2, engine="fast", jobs=2)
    event = assess_profiles(net, ds, profiles, samples=2, engine="event", jobs=1)
    for a, b in zip(fast, event, strict=True):
        assert a.simulation.engine == "fast" and b.simulation.engine == "event"
        assert a.simulation.counts.to_dict() == b.simulation.counts.to_dict()
        assert a.simulation.metrics == b.simulation.metrics
        assert a.row.breakdown.to_dict() == b.row.breakdown.to_dict()
    assert {a.precision for a in fast} == {"float32", "int8 weights", "int16 weights"}
    with pytest.raises(ConfigError, match="engine"):
        assess_profiles(net, ds, profiles, samples=1, engine="dense")


def test_wrong_input_shape_is_the_engines_error():
    with pytest.raises(ConfigError, match="simulator expects input"):
        FastSimulator(_graph("snn-tiny")).run(np.zeros((1, 4, 16, 16), dtype=np.float32))


def test_energy_cli_engine_option_and_bad_jobs(tiny_checkpoints, tmp_path, capsys):
    import json

    from depthsnn.cli.main import main

    ck = str(tiny_checkpoints["snn-tiny"])
    assert main(["energy", ck, "--engine", "event", "--samples", "1", "--jobs", "1", "--profile", "loihi",
                 "--out", str(tmp_path / "e")]) == 0
    printed = capsys.readouterr().out
    rep = json.loads((tmp_path / "e" / "energy.json").read_text())
    assert rep["samples"] == 1 and rep["simulations"]["int8 weights"]["engine"] == "event"
    assert "Figures rest on 1 sample of the test subset" in printed and "int8 weights: event" in printed
    assert main(["energy", ck, "--jobs", "0", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--jobs must be >= 1" in err and len(err.splitlines()) == 1


def test_first_device_sample_is_checked_against_the_engine(monkeypatch):
    """The GPU path's start-up check, exercised on the CPU: the first sample is compared with the
    event-driven engine; a difference warns, moves the simulator to the CPU and returns the engine's
    result; later samples run the (CPU) fast path."""
    from depthsnn.simulate.fast import result_difference

    graph = _graph("snn-tiny", seed=6)
    x = _events((2, 4, 32, 48), seed=7)
    ref = EventSimulator(graph).run(x, record_spikes=True)

    ok = FastSimulator(graph)
    ok._checked = False  # as on a GPU
    assert result_difference(ref, ok.run(x, record_spikes=True)) is None
    assert ok._checked and ok.device_note is None and ok.fast_runs == 1

    bad = FastSimulator(graph)
    bad._checked = False
    real = bad._run

    def off_by_one_ulp(xs, record):
        res = real(xs, record)
        res.outputs = np.nextafter(res.outputs, np.inf)
        return res

    monkeypatch.setattr(bad, "_run", off_by_one_ulp)
    with pytest.warns(RuntimeWarning, match="differed from the event-driven engine"):
        got = bad.run(x)
    assert got.outputs.tobytes() == ref.outputs.tobytes() and got.spikes == {}
    assert bad.device.type == "cpu" and "differed" in bad.engine
    monkeypatch.setattr(bad, "_run", real)
    _assert_same(ref, bad.run(x, record_spikes=True))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")
def test_bit_identical_on_cuda():
    graph = _graph("snn-tiny", seed=8)
    x = _events((3, 4, 32, 48), seed=9)
    sim = FastSimulator(graph, np.float32, QuantConfig(weight_bits=8), device="cuda")
    got = sim.run(x, record_spikes=True)
    assert sim.device.type == "cuda" and sim.device_note is None, sim.engine
    _assert_same(EventSimulator(graph, np.float32, QuantConfig(weight_bits=8)).run(x, record_spikes=True), got)
