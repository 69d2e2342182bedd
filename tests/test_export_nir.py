"""NIR export: file round trip, spike parity with spikingjelly, validation, fuzzing, interop."""

from __future__ import annotations

import copy

import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spikingjelly.activation_based import functional, neuron

from depthsnn.errors import DataError
from depthsnn.export.executor import GraphExecutor
from depthsnn.export.graph import NetGraph, Node, float32_below, from_model
from depthsnn.export.nir_io import UPSAMPLE_TAG, from_nir, load, read_nir, to_nir, write_nir
from depthsnn.models import build_model
from depthsnn.models.fold import fold_norms, has_norms
from depthsnn.models.weight_norm import is_weight_normed

MODELS = ["snn-tiny", "snn-lif-tiny", "hnn-tiny"]


def _sj_reference(model, x):
    """spikingjelly's spikes per neuron layer (NetGraph names) and the core's output."""
    rec: dict[str, torch.Tensor] = {}
    hooks = [mod.register_forward_hook(lambda m, i, o, n=n: rec.__setitem__(n.removeprefix("core."), o.detach()))
             for n, mod in model.named_modules() if isinstance(mod, neuron.BaseNode)]
    try:
        with torch.no_grad():
            functional.reset_net(model.core)
            out = model.core(x)
    finally:
        for h in hooks:
            h.remove()
    return rec, out


def _assert_parity(model, x, path):
    """``model.core`` -> NetGraph -> NIR file -> GraphExecutor reproduces spikingjelly exactly."""
    rec, ref = _sj_reference(model, x)
    g = from_model(model.core, tuple(x.shape[-2:]))
    write_nir(path, g)
    out, spikes = load(path).run(x)
    assert set(spikes) == set(rec) and rec
    for name, s in spikes.items():
        assert torch.equal(s, rec[name]), f"{name}: {int((s != rec[name]).sum())} spikes differ"
    # Integrator potential at the last step = the finest cumulative head prediction.
    assert torch.allclose(out[-1, :, 0], ref[-1], atol=1e-5, rtol=0)
    return g


@pytest.mark.parametrize("name", MODELS)
def test_random_input_parity_and_exact_roundtrip(name, tmp_path):
    torch.manual_seed(0)
    model = build_model(name).eval()
    x = (torch.rand(4, 1, 4, 32, 48) < 0.15).float() * torch.randint(1, 3, (4, 1, 4, 32, 48)).float()
    g = _assert_parity(model, x, tmp_path / "m.nir")
    back = read_nir(tmp_path / "m.nir")
    assert [n.name for n in back.nodes] == [n.name for n in g.nodes] and back.dt == g.dt
    for a, b in zip(g.nodes, back.nodes, strict=True):
        assert (a.op, a.inputs, tuple(a.shape)) == (b.op, b.inputs, tuple(b.shape))
        for k, v in a.params.items():
            if isinstance(v, np.ndarray) or v is None:
                assert (v is None and b.params[k] is None) or np.array_equal(v, b.params[k]), (a.name, k)
            else:
                assert v == b.params[k], (a.name, k)
    assert back.metadata["model_config"] == g.metadata["model_config"]


@pytest.mark.parametrize("name", MODELS)
def test_real_sample_parity(name, tiny_synth, tmp_path):
    from depthsnn.data.dataset import EventDepthDataset
    from depthsnn.data.encoding import EncodingConfig

    frames = EventDepthDataset(tiny_synth, "synthetic", "train", encoding=EncodingConfig(num_bins=4))[0][0]
    assert frames.shape[0] == 4 and frames.sum() > 0
    torch.manual_seed(1)
    model = build_model(name).eval()
    h, w = frames.shape[-2:]
    ph, pw = model.padded_size(h, w)
    x = F.pad(frames, (0, pw - w, 0, ph - h))[:, None]  # [T, 1, C, H, W], zero pad as DepthNet does
    _assert_parity(model, x, tmp_path / "m.nir")


def _boundary_graph() -> NetGraph:
    w = np.ones((1, 1, 1, 1), np.float32)
    th = 1.0
    params = {"r": 1e4, "v_threshold": float32_below(th), "v_reset": 0.0, "threshold_sj": th}
    return NetGraph([
        Node("input", "input", [], {}, (1, 1, 3)),
        Node("conv", "conv", ["input"], {"weight": w, "bias": None, "stride": 1, "padding": 0}, (1, 1, 3)),
        Node("if", "if", ["conv"], params, (1, 1, 3)),
        Node("output", "output", ["if"], {}, (1, 1, 3)),
    ], dt=1e-4).validate()


def test_threshold_reached_exactly_fires_after_nir_roundtrip(tmp_path):
    """spikingjelly fires at v == threshold; the NIR file's strict ``>`` must too."""
    path = write_nir(tmp_path / "b.nir", _boundary_graph())
    stored = nir.read(path).nodes["if"].v_threshold
    assert np.all(stored == np.nextafter(np.float32(1.0), np.float32(-np.inf)))
    below = float(np.nextafter(np.float32(1.0), np.float32(0.0)))
    # neuron 0: v = 1 at t0; neuron 1: just below 1 then 0; neuron 2: 0.5 + 0.5 = 1 at t1.
    x = torch.tensor([[1.0, below, 0.5], [0.0, 0.0, 0.5]]).reshape(2, 1, 1, 1, 3)
    _, spikes = load(path).run(x)
    sj = neuron.IFNode(v_threshold=1.0, v_reset=0.0, step_mode="m")
    with torch.no_grad():
        ref = sj(x)
    expected = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]).reshape(2, 1, 1, 1, 3)
    assert torch.equal(ref, expected)
    assert torch.equal(spikes["if"], expected)


def test_file_loads_with_plain_nir_read(tmp_path):
    model = build_model("snn-tiny")
    g = from_model(model.core, (32, 48))
    path = write_nir(tmp_path / "m.nir", g, metadata={"run": "unit-test"})
    ng = nir.read(path)  # default type checking
    kinds = {type(n).__name__ for n in ng.nodes.values()}
    assert kinds == {"Input", "Output", "Conv2d", "IF", "I", "NIRGraph"}
    assert ng.metadata["producer"] == "depthsnn" and float(ng.metadata["dt"]) == g.dt
    act = ng.nodes["bottom.act"]
    assert act.metadata["layer"] == "bottom.act" and float(act.metadata["threshold_sj"]) == 1.0
    up = ng.nodes["decoders.0.up"]
    assert up.metadata["depthsnn_op"] == UPSAMPLE_TAG and int(up.metadata["scale_factor"]) == 2
    assert read_nir(path).metadata["run"] == "unit-test"
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left no temporary behind


def test_upsample_subgraph_phases_are_the_documented_depth_to_space():
    g = NetGraph([Node("input", "input", [], {}, (2, 3, 5)),
                  Node("up", "upsample", ["input"], {"scale": 2}, (2, 6, 10)),
                  Node("output", "output", ["up"], {}, (2, 6, 10))]).validate()
    sub = to_nir(g).nodes["up"]
    x = torch.randn(1, 2, 3, 5)
    ph = sub.nodes["phases"]
    phases = F.conv2d(x, torch.as_tensor(ph.weight))
    k = 2
    d2s = phases.reshape(1, 2, k, k, 3, 5).permute(0, 1, 4, 2, 5, 3).reshape(1, 2, 6, 10)
    assert torch.equal(d2s, F.interpolate(x, scale_factor=2.0, mode="nearest"))
    assert np.array_equal(sub.nodes["depth_to_space"].output_type["output"], [2, 6, 10])


@pytest.mark.parametrize("content", [b"", b"not an hdf5 file at all", None])
def test_bad_files_raise_data_error(tmp_path, content):
    path = tmp_path / "bad.nir"
    if content is None:  # truncated real file
        write_nir(path, _boundary_graph())
        path.write_bytes(path.read_bytes()[:300])
    else:
        path.write_bytes(content)
    with pytest.raises(DataError) as e:
        read_nir(path)
    assert e.value.path == path and "\n" not in str(e.value)
    with pytest.raises(DataError, match="not found"):
        read_nir(tmp_path / "missing.nir")


def test_unsupported_node_and_cycle_are_named(tmp_path):
    ng = to_nir(_boundary_graph())
    ng.nodes["if"] = nir.Threshold(np.ones((1, 1, 3)))
    path = tmp_path / "t.nir"
    nir.write(path, ng)
    with pytest.raises(DataError, match="unsupported NIR node type Threshold at node 'if'") as e:
        read_nir(path)
    assert e.value.path == path
    ng = to_nir(_boundary_graph())
    ng.edges.append(("if", "conv"))
    with pytest.raises(DataError, match="cycle"):
        from_nir(ng)


# ------------------------------------------------------------------------------------- fuzz


def _fuzz_base() -> NetGraph:
    """Small graph using every node kind: stride-2 conv, IF, LIF, upsample, skip, integrator."""
    rng = np.random.default_rng(0)

    def conv(name, inputs, cin, cout, stride, shape):
        wt = rng.normal(0, 0.5, (cout, cin, 3, 3)).astype(np.float32)
        return Node(name, "conv", inputs, {"weight": wt, "bias": np.zeros(cout, np.float32), "stride": stride,
                                           "padding": 1}, shape)

    ifp = {"r": 1e4, "v_threshold": float32_below(1.0), "v_reset": 0.0, "threshold_sj": 1.0}
    lifp = {"tau": 2e-4, "r": 1.0, "v_leak": 0.0, "v_threshold": float32_below(1.0), "v_reset": 0.0,
            "threshold_sj": 1.0}
    return NetGraph([
        Node("input", "input", [], {}, (2, 4, 4)),
        conv("c1", ["input"], 2, 3, 1, (3, 4, 4)),
        Node("n1", "if", ["c1"], ifp, (3, 4, 4)),
        conv("c2", ["n1"], 3, 3, 2, (3, 2, 2)),
        Node("n2", "lif", ["c2"], lifp, (3, 2, 2)),
        Node("up", "upsample", ["n2"], {"scale": 2}, (3, 4, 4)),
        conv("c3", ["up", "n1"], 3, 1, 1, (1, 4, 4)),
        Node("integ", "integrator", ["c3"], {"r": 1e4}, (1, 4, 4)),
        Node("output", "output", ["integ"], {}, (1, 4, 4)),
    ]).validate()


def _mutate(ng: nir.NIRGraph, data: st.DataObject) -> nir.NIRGraph:
    nodes, edges, meta = dict(ng.nodes), list(ng.edges), dict(ng.metadata)
    names = list(nodes)
    kind = data.draw(st.sampled_from([
        "drop_node", "drop_edge", "add_edge", "weight_shape", "conv_input_shape", "unsupported", "cycle",
        "neuron_shape", "nonuniform", "upsample_meta", "upsample_inner", "dt", "output_shape", "bias",
        "huge_shape",
    ]))
    pick = data.draw(st.sampled_from(names))
    convs = [k for k, n in nodes.items() if isinstance(n, nir.Conv2d)]
    neurons = [k for k, n in nodes.items() if isinstance(n, (nir.IF, nir.LIF))]
    has_up = isinstance(nodes.get("up"), nir.NIRGraph)
    if (kind in ("weight_shape", "conv_input_shape", "bias") and not convs) or (
            kind in ("neuron_shape", "nonuniform") and not neurons) or (kind.startswith("upsample") and not has_up):
        kind = "add_edge"  # the node this mutation targets was removed by an earlier one
    if kind == "drop_node":
        del nodes[pick]
        if data.draw(st.booleans()):
            edges = [e for e in edges if pick not in e]
    elif kind == "drop_edge" and edges:
        edges.pop(data.draw(st.integers(0, len(edges) - 1)))
    elif kind == "add_edge":
        edges.append((pick, data.draw(st.sampled_from(names + ["ghost"]))))
    elif kind == "weight_shape":
        c = data.draw(st.sampled_from(convs))
        shape = tuple(data.draw(st.lists(st.integers(0, 4), min_size=1, max_size=5)))
        nodes[c] = copy.copy(nodes[c])
        nodes[c].weight = np.ones(shape, np.float32)
    elif kind == "conv_input_shape":
        c = data.draw(st.sampled_from(convs))
        nodes[c] = copy.copy(nodes[c])
        nodes[c].input_shape = data.draw(st.sampled_from([None, (1, 1), (4, 5), (9, 9), (2,)]))
    elif kind == "unsupported":
        shape = (3, 4, 4)
        nodes[pick] = data.draw(st.sampled_from([
            nir.Threshold(np.ones(shape)),
            nir.CubaLIF(tau_syn=np.ones(shape), tau_mem=np.ones(shape), r=np.ones(shape), v_leak=np.zeros(shape),
                        v_threshold=np.ones(shape)),
            nir.Flatten(input_type={"input": np.array(shape)}),
            nir.NIRGraph({"input": nir.Input(np.array(shape)), "output": nir.Output(np.array(shape))},
                         [("input", "output")]),
        ]))
    elif kind == "cycle":
        order = names
        i, j = sorted(data.draw(st.lists(st.integers(0, len(order) - 1), min_size=2, max_size=2, unique=True)))
        edges.append((order[j], order[i]))
    elif kind in ("neuron_shape", "nonuniform"):
        n = data.draw(st.sampled_from(neurons))
        nodes[n] = copy.copy(nodes[n])
        arr = np.array(nodes[n].v_threshold)
        if kind == "neuron_shape":
            arr = np.ones(data.draw(st.sampled_from([(3,), (1, 4, 4), (3, 4, 5), ()])))
        else:
            arr.reshape(-1)[0] = data.draw(st.sampled_from([0.5, np.nan, np.inf]))
        nodes[n].v_threshold = arr
    elif kind == "upsample_meta":
        nodes["up"] = copy.copy(nodes["up"])
        nodes["up"].metadata = data.draw(st.sampled_from([
            {}, {"depthsnn_op": UPSAMPLE_TAG}, {"depthsnn_op": UPSAMPLE_TAG, "scale_factor": 3},
            {"depthsnn_op": UPSAMPLE_TAG, "scale_factor": "two"}, {"depthsnn_op": UPSAMPLE_TAG, "scale_factor": 0}]))
    elif kind == "upsample_inner":
        sub = nodes["up"]
        inner = dict(sub.nodes)
        inner.pop(data.draw(st.sampled_from(sorted(inner))))
        nodes["up"] = nir.NIRGraph(inner, list(sub.edges), metadata=dict(sub.metadata), type_check=False)
    elif kind == "dt":
        meta["depthsnn_json"] = data.draw(st.sampled_from(["{", '{"dt": -1}', '{"dt": "x"}', "[]", '{"dt": null}']))
    elif kind == "output_shape":
        nodes["output"] = nir.Output(np.array(data.draw(st.sampled_from([(1, 4, 5), (4,), (1, 4, 4)]))))
    elif kind == "huge_shape":  # declared sizes far over the memory limit: refused before allocation
        big = data.draw(st.sampled_from([(2, 100_000, 100_000), (2, 4, 10**12)]))
        nodes["input"] = nir.Input(np.array(big))
    elif kind == "bias":
        c = data.draw(st.sampled_from(convs))
        nodes[c] = copy.copy(nodes[c])
        nodes[c].bias = np.zeros(data.draw(st.integers(0, 5)), np.float32)
    return nir.NIRGraph(nodes, edges, metadata=meta, type_check=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_graphs_validate_or_raise_data_error(data):
    base = _fuzz_base()
    ng = to_nir(base)
    for _ in range(data.draw(st.integers(1, 3))):
        ng = _mutate(ng, data)
    try:
        g = from_nir(ng, path="fuzz.nir")
    except DataError as e:
        assert "\n" not in str(e) and str(e).startswith("fuzz.nir: ")
        return
    g.validate()
    GraphExecutor(g).run(torch.ones(2, 1, *g.input.shape))


# ------------------------------------------------------------------------------ interop


def _lif_net(tau_steps: float) -> NetGraph:
    rng = np.random.default_rng(0)
    lifp = {"tau": tau_steps * 1e-4, "r": 1.0, "v_leak": 0.0, "v_threshold": float32_below(1.0), "v_reset": 0.0,
            "threshold_sj": 1.0}
    return NetGraph([
        Node("input", "input", [], {}, (2, 8, 8)),
        Node("conv1", "conv", ["input"], {"weight": rng.normal(0, 0.8, (4, 2, 3, 3)).astype(np.float32),
                                          "bias": rng.normal(0, 0.1, 4).astype(np.float32), "stride": 1,
                                          "padding": 1}, (4, 8, 8)),
        Node("lif1", "lif", ["conv1"], lifp, (4, 8, 8)),
        Node("conv2", "conv", ["lif1"], {"weight": rng.normal(0, 0.8, (3, 4, 3, 3)).astype(np.float32),
                                         "bias": None, "stride": 2, "padding": 1}, (3, 4, 4)),
        Node("lif2", "lif", ["conv2"], lifp, (3, 4, 4)),
        Node("output", "output", ["lif2"], {}, (3, 4, 4)),
    ], dt=1e-4).validate()


def test_snntorch_reads_and_runs_the_file_with_spike_parity(tmp_path):
    """snnTorch's NIR reader (see nir_io's docstring for its conventions) on Conv-LIF-Conv-LIF."""
    pytest.importorskip("snntorch", reason="snnTorch not installed: NIR interoperability test skipped")
    from snntorch.import_nir import import_from_nir

    torch.manual_seed(0)
    x = (torch.rand(16, 2, 2, 8, 8) < 0.4).float() * 2.0
    path = write_nir(tmp_path / "lif.nir", _lif_net(2.0))
    ours, _ = load(path).run(x)
    net = import_from_nir(nir.read(path))
    with torch.no_grad():
        theirs = torch.stack([net(xt)[0] for xt in x])  # LIF state lives inside snnTorch's modules
    assert ours.sum() > 0
    assert torch.equal(theirs, ours)


def _randomise_norms(model) -> None:
    """Trained-looking batch-norm statistics and affine terms (negative scales included)."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(c, generator=g))
            m.bias.data.copy_(torch.randn(c, generator=g) * 0.5)


def _spike_agreement(a, b, x) -> float:
    """Fraction of spikes (over every neuron layer and step) on which models ``a`` and ``b`` agree."""
    rec_a, _ = _sj_reference(a, x)
    rec_b, _ = _sj_reference(b, x)
    return sum(int((rec_a[k] == rec_b[k]).sum()) for k in rec_a) / sum(rec_a[k].numel() for k in rec_a)


def _trained_and_folded(norm: str, randomise, steps: int, **options):
    """A spiking U-Net with ``norm`` whose norm parameters look trained (``randomise``), its folded
    copy, and a sparse event-count input of ``steps`` time steps."""
    torch.manual_seed(0)
    model = build_model("snn-tiny", norm=norm, **options).eval()
    randomise(model)
    x = (torch.rand(steps, 1, 4, 32, 48) < 0.15).float() * torch.randint(1, 3, (steps, 1, 4, 32, 48)).float()
    folded = fold_norms(copy.deepcopy(model))
    assert has_norms(model) and not has_norms(folded)
    return model, folded, x


def test_batchnorm_spiking_unet_exports_folded_with_exact_spikes(tmp_path):
    """norm = "batch" in a spiking U-Net: the fold is the norm's arithmetic, and the folded torch
    model (what model_from_checkpoint returns) and its NIR graph fire the same spikes."""
    model, folded, x = _trained_and_folded("batch", _randomise_norms, 1)
    # Independent expectation: the batch-norm formula with the running statistics.
    unit, fused = model.core.encoders[0], folded.core.encoders[0]
    inp = torch.randn(1, 1, 8, 16, 24)
    with torch.no_grad():
        bn = unit.bn
        pre = unit.conv(inp)
        ref = (pre - bn.running_mean[:, None, None]) / torch.sqrt(bn.running_var[:, None, None] + bn.eps)
        ref = ref * bn.weight[:, None, None] + bn.bias[:, None, None]
        assert torch.allclose(fused.conv(inp), ref, atol=1e-5, rtol=1e-5)
    g = _assert_parity(folded, x, tmp_path / "bn.nir")
    # Exported from the unfolded model, the graph is the same folded one (norms never dropped).
    g2 = from_model(model.core, tuple(x.shape[-2:]))
    convs = [n for n in g.nodes if n.op == "conv"]
    assert [n.name for n in convs] == [n.name for n in g2.of_op("conv")]
    for n in convs:
        m = g2.node(n.name)
        assert np.array_equal(n.params["weight"], m.params["weight"])
        assert (n.params["bias"] is None) == (m.params["bias"] is None)
        assert (n.params["bias"] is None) == n.name.startswith("heads.")
    # The unfolded network computes the same function up to float32 rounding at the thresholds.
    assert _spike_agreement(model, folded, x) > 0.999


def test_biased_spiking_unet_exports_with_exact_spikes_at_one_step(tmp_path):
    """bias=True in a spiking U-Net (one time bin): every conv, the heads' included, carries its
    bias into the NIR graph, the simulator's executor fires the spikes spikingjelly fires, and the
    bias acts as the threshold shift it stands for (an IF layer fed Wx + b fires where Wx >= 1 - b)."""
    torch.manual_seed(0)
    model = build_model("snn-tiny", bias=True).eval()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.4)
    # [T = 1, B = 2, C, H, W]: one step, two samples
    x = (torch.rand(1, 2, 4, 32, 48) < 0.15).float() * torch.randint(1, 3, (1, 2, 4, 32, 48)).float()
    graph = _assert_parity(model, x, tmp_path / "bias.nir")
    convs = graph.of_op("conv")
    assert convs and all(n.params["bias"] is not None for n in convs)
    assert any(n.name.startswith("heads.") for n in convs)
    for n in convs:
        assert np.array_equal(n.params["bias"], model.core.get_submodule(n.name).bias.detach().numpy())
    # Independent expectation for the first layer: threshold 1 - b on the bias-free convolution.
    unit = model.core.bottom
    with torch.no_grad():
        wx = F.conv2d(x[0], unit.conv.weight, None, padding=unit.conv.padding)
        expect = (wx >= 1.0 - unit.conv.bias[None, :, None, None]).float()
        functional.reset_net(model)
        got = unit(x)[0]
    assert torch.equal(got, expect)
    assert 0 < expect.mean() < 1


def test_bias_is_refused_where_it_is_not_a_threshold_shift():
    """The vendor chain (portable) takes no bias, and a spiking net with one needs one time bin."""
    from depthsnn.config import ConfigError, load_config
    from depthsnn.train.config import TrainConfig

    with pytest.raises(ConfigError, match="not arch 'portable'"):
        build_model("snn-portable-tiny", bias=True)
    with pytest.raises(ConfigError, match="bias in a spiking network needs data.num_bins = 1"):
        load_config(TrainConfig, None, ["model_options=bias=true", "data.num_bins=2"])
    ok = load_config(TrainConfig, None, ["model_options=bias=true", "data.num_bins=1"])
    assert ok.model_config().bias
    assert load_config(TrainConfig, None, ["model=ann-tiny", "model_options=bias=true", "data.num_bins=2"])


def _randomise_gains(model) -> None:
    """Trained-looking learnable thresholds: per-channel gains from about 0.5 to 2."""
    from depthsnn.models.threshold_gain import ThresholdGain

    g = torch.Generator().manual_seed(2)
    for m in model.modules():
        if isinstance(m, ThresholdGain):
            m.log_gain.data.copy_(torch.randn(m.log_gain.numel(), generator=g) * 0.4)


@pytest.mark.parametrize("neuron_kind", ["if", "lif"])
def test_threshold_spiking_unet_exports_folded_with_exact_spikes(tmp_path, neuron_kind):
    """norm = "threshold": the fold scales each output channel by its gain, and over several time
    steps (no bias, so exact at T > 1) the folded model and its NIR graph fire the same spikes."""
    model, folded, x = _trained_and_folded("threshold", _randomise_gains, 3, neuron=neuron_kind)
    # Independent expectation: the gain's formula on the unfolded convolution's output.
    unit, fused = model.core.decoders[1], folded.core.decoders[1]
    inp = torch.randn(1, 1, unit.conv.in_channels, 16, 24)
    with torch.no_grad():
        ref = unit.conv(inp) * torch.exp(unit.bn.log_gain)[:, None, None]
        assert torch.allclose(fused.conv(inp), ref, atol=1e-5, rtol=1e-5)
    g = _assert_parity(folded, x, tmp_path / "thr.nir")
    g2 = from_model(model.core, tuple(x.shape[-2:]))  # exported unfolded: folded on a copy, never dropped
    for n in g.of_op("conv"):
        assert np.array_equal(n.params["weight"], g2.node(n.name).params["weight"])
        assert n.params["bias"] is None
    assert has_norms(model)  # the export left the caller's model alone
    # The unfolded network computes the same function up to float32 rounding at the thresholds.
    assert _spike_agreement(model, folded, x) > 0.999


def _randomise_weight_norm(model) -> None:
    """Trained-looking weight norms: filter lengths g from about 0.5x to 2x their initial ones."""
    g = torch.Generator().manual_seed(3)
    for m in model.modules():
        if is_weight_normed(m):
            g0 = m.parametrizations.weight.original0
            g0.data.mul_(torch.exp(torch.randn(g0.shape, generator=g) * 0.4))


def test_weight_normed_spiking_unet_exports_folded_with_exact_spikes(tmp_path):
    """norm = "weight": the fold writes g * v / ||v|| back as a plain weight, and over several time
    steps (no bias) the folded model and its NIR graph fire the same spikes."""
    model, folded, x = _trained_and_folded("weight", _randomise_weight_norm, 3)
    # Independent expectation: the formula on the unfolded parameters, per output channel.
    conv = model.core.decoders[1].conv
    gv, vv = conv.parametrizations.weight.original0, conv.parametrizations.weight.original1
    with torch.no_grad():
        ref = gv * vv / vv.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    assert torch.allclose(folded.core.decoders[1].conv.weight, ref, atol=1e-6)
    g = _assert_parity(folded, x, tmp_path / "wn.nir")
    g2 = from_model(model.core, tuple(x.shape[-2:]))  # exported unfolded: folded on a copy
    for n in g.of_op("conv"):
        assert np.array_equal(n.params["weight"], g2.node(n.name).params["weight"])
        assert n.params["bias"] is None
    assert has_norms(model)  # the export left the caller's model alone
    assert _spike_agreement(model, folded, x) > 0.999


def test_checkpoint_of_a_normalised_snn_loads_folded(tmp_path):
    """model_from_checkpoint returns a spiking net's norms (batch, threshold or weight) folded (what export and simulation run);
    an ANN keeps its norms (ONNX export folds its own copy)."""
    from depthsnn.config import to_dict
    from depthsnn.train.checkpoint import model_from_checkpoint, save_checkpoint
    from depthsnn.train.config import TrainConfig

    for i, (preset, norm) in enumerate((("snn-tiny", "batch"), ("snn-tiny", "threshold"), ("snn-tiny", "weight"),
                                        ("ann-tiny", None))):
        cfg = TrainConfig(model=preset, model_options=[f"norm={norm}"] if norm else [])
        model = build_model(preset, **({"norm": norm} if norm else {})).eval()
        _randomise_norms(model)
        _randomise_gains(model)
        _randomise_weight_norm(model)
        path = save_checkpoint(tmp_path / f"{i}.pt", model=model.state_dict(), config=to_dict(cfg),
                               model_config=to_dict(model.cfg), epoch=1, best_mde=1.0)
        loaded, _, _ = model_from_checkpoint(path)
        if preset == "ann-tiny":
            assert has_norms(loaded)
            continue
        assert not has_norms(loaded)
        want = fold_norms(copy.deepcopy(model)).state_dict()
        got = loaded.state_dict()
        assert set(got) == set(want) and all(torch.equal(got[k], want[k]) for k in want)
