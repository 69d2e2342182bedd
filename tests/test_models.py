"""Tests for depthsnn.models: shapes, neuron semantics, presets, stats, backend, training."""

from __future__ import annotations

import math

import pytest
import torch
from spikingjelly.activation_based import functional, layer, neuron
from torch import nn

from depthsnn.errors import ConfigError
from depthsnn.models import (
    Integrator,
    ModelConfig,
    SpikeRecorder,
    build_model,
    count_parameters,
    preset,
    preset_names,
    select_backend,
    spiking_neuron,
    use_backend,
)
from depthsnn.train.losses import DepthLoss

HAS_CUDA = torch.cuda.is_available()


def events(b: int, t: int, c: int, h: int, w: int, seed: int = 0, p: float = 0.2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(b, t, c, h, w, generator=g) < p).float() * 2.0


@pytest.mark.parametrize("kind", ["snn", "hnn", "ann"])
@pytest.mark.parametrize("modality,channels", [("binocular", 4), ("monocular", 2)])
def test_output_shapes_mvsec_size(kind: str, modality: str, channels: int) -> None:
    model = build_model(f"{kind}-tiny", modality=modality)
    with torch.no_grad():
        out = model(events(1, 2, channels, 260, 346))
    assert out.depth.shape == (1, 260, 346)
    assert len(out.heads) == 4
    assert all(h.shape == (1, 260, 346) for h in out.heads)
    assert torch.equal(out.heads[-1], out.depth)


@pytest.mark.parametrize("hw", [(37, 50), (16, 16), (61, 3)])
def test_odd_sizes_pad_and_crop(hw: tuple[int, int]) -> None:
    model = build_model("snn-tiny", modality="monocular")
    seen = []
    model.core.register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape)))
    with torch.no_grad():
        out = model(events(2, 3, 2, *hw))
    assert out.depth.shape == (2, *hw)
    # The core always sees [T, B, C, H', W'] with H', W' multiples of 16.
    t, b, c, ph, pw = seen[0]
    assert (t, b, c) == (3, 2, 2) and ph % 16 == 0 and pw % 16 == 0
    assert (ph, pw) == model.padded_size(*hw)
    assert ph - hw[0] < 16 and pw - hw[1] < 16


def test_wrong_channel_count_is_config_error() -> None:
    model = build_model("snn-tiny", modality="binocular")
    with pytest.raises(ConfigError, match="expects frames"):
        model(torch.zeros(1, 1, 2, 32, 32))


def test_state_is_reset_between_calls() -> None:
    model = build_model("snn-lif-tiny")
    x = events(1, 3, 4, 32, 48, seed=3)
    with torch.no_grad():
        a = model(x).depth
        model(events(1, 3, 4, 32, 48, seed=4))
        b = model(x).depth
    assert torch.equal(a, b)


def test_if_neuron_semantics_hand_computed() -> None:
    # Constant current 0.3, v_th 1, hard reset to 0: v = .3 .6 .9 1.2 -> spike at the 4th
    # step, then the same cycle again: spikes at steps 4, 8, 12 (1-based).
    node = spiking_neuron(ModelConfig())
    assert isinstance(node, neuron.IFNode)
    out = node(torch.full((12, 1), 0.3)).flatten()
    expected = torch.zeros(12)
    expected[[3, 7, 11]] = 1.0
    assert torch.equal(out, expected)
    # Firing on v >= threshold: an input of exactly 1.0 fires every step.
    functional.reset_net(node)
    assert torch.equal(node(torch.ones(3, 1)).flatten(), torch.ones(3))


def test_lif_neuron_is_used_and_leaks() -> None:
    node = spiking_neuron(ModelConfig(neuron="lif", tau=2.0))
    assert isinstance(node, neuron.LIFNode)
    # decay_input: v = v + (x - v) / tau -> with x = 1.5: 0.75, 1.125 -> spike at step 2.
    out = node(torch.full((2, 1), 1.5)).flatten()
    assert out.tolist() == [0.0, 1.0]


def test_integrator_accumulates_without_reset() -> None:
    integ = Integrator()
    x = torch.tensor([[0.5], [2.0], [-1.0]])
    assert integ(x).flatten().tolist() == [0.5, 2.5, 1.5]
    assert integ(torch.tensor([[1.0]])).item() == 2.5  # state carries over until reset
    functional.reset_net(integ)
    assert integ(torch.tensor([[1.0]])).item() == 1.0


def test_heads_are_cumulative_time_integrals() -> None:
    model = build_model("snn-tiny")
    core = model.core
    per_head = []
    for head in core.heads:
        head.register_forward_hook(lambda m, i, o: per_head.append(o.sum(0).squeeze(1)))
    with torch.no_grad():
        out = model(events(1, 3, 4, 32, 32, seed=1, p=0.5))
    cum = torch.cumsum(torch.stack(per_head), 0)
    for k in range(4):
        torch.testing.assert_close(out.heads[k], cum[k], rtol=1e-5, atol=1e-5)


def test_kinds_pick_activations() -> None:
    def acts(name: str, **kw: object) -> list[type]:
        m = build_model(name, **kw)
        return [type(mod) for mod in m.modules() if isinstance(mod, (nn.ReLU, nn.Identity, neuron.BaseNode))]

    snn, hnn, ann = acts("snn-tiny"), acts("hnn-tiny"), acts("ann-tiny")
    assert len(snn) == len(hnn) == len(ann) == ModelConfig().num_activations == 13
    assert set(snn) == {neuron.IFNode}
    assert hnn[0] is nn.Identity and set(hnn[1:]) == {neuron.IFNode}
    assert acts("hnn-tiny", hnn_analog="relu")[0] is nn.ReLU
    assert acts("hnn-tiny", hnn_analog_layers=2, hnn_analog="identity")[:3] == [
        nn.Identity,
        nn.Identity,
        neuron.IFNode,
    ]
    assert set(ann) == {nn.ReLU}
    assert set(acts("snn-lif-tiny")) == {neuron.LIFNode}


def test_spiking_models_have_no_bias_or_batchnorm() -> None:
    for name, kw in (("snn-tiny", {}), ("hnn-tiny", {}), ("ann-tiny", {"norm": "none"})):
        m = build_model(name, **kw)
        assert not any(isinstance(x, nn.modules.batchnorm._BatchNorm) for x in m.modules())
        assert all(x.bias is None for x in m.modules() if isinstance(x, nn.Conv2d))
    # A bias is an option for the spiking U-Net (one time bin, checked by the training config),
    # never for the vendor chain.
    with pytest.raises(ConfigError, match="bias is only allowed"):
        build_model("snn-portable-tiny", bias=True)
    assert all(x.bias is not None for x in build_model("snn-tiny", bias=True).modules() if isinstance(x, nn.Conv2d))
    with pytest.raises(ConfigError, match="norm=batch is for the U-Net"):
        build_model("snn-portable-tiny", norm="batch")
    assert any(
        x.bias is not None for x in build_model("ann-tiny", bias=True, norm="none").modules()
        if isinstance(x, nn.Conv2d)
    )
    # The ANN preset's own recipe: a BatchNorm after every hidden conv (which then has no bias of
    # its own: the norm's shift is the bias once folded), none after the prediction heads.
    ann = build_model("ann-tiny")
    convs = [x for x in ann.modules() if isinstance(x, nn.Conv2d)]
    bns = [x for x in ann.modules() if isinstance(x, nn.modules.batchnorm._BatchNorm)]
    assert len(bns) == len(convs) - len(ann.core.heads)
    assert all(x.bias is None for x in convs)


def test_ann_sums_time_bins() -> None:
    model = build_model("ann-tiny")
    x = events(1, 3, 4, 32, 32, seed=2)
    with torch.no_grad():
        torch.testing.assert_close(model(x).depth, model(x.sum(1, keepdim=True)).depth)


def test_ann_steps_mode_integrates_each_bin() -> None:
    # Stateless ReLU network + integrator: depth over 3 bins = sum of per-bin depths.
    model = build_model("ann-tiny", ann_time="steps").eval()  # BatchNorm: eval mode is stateless
    x = events(1, 3, 4, 32, 32, seed=7)
    with torch.no_grad():
        whole = model(x).depth
        per_bin = sum(model(x[:, t : t + 1]).depth for t in range(3))
    torch.testing.assert_close(whole, per_bin, rtol=1e-4, atol=1e-5)


def test_presets_and_errors() -> None:
    assert {"snn-tiny", "snn-paper", "hnn-tiny", "ann-tiny", "snn-lif-tiny"} <= set(preset_names())
    for name in preset_names():
        assert preset(name).kind == name.split("-")[0]
    cfg = preset("snn-tiny", modality="monocular", residual_blocks=1)
    assert cfg.channels == 2 and cfg.residual_blocks == 1
    for bad in ("snn-huge", "ann-lif-tiny", "cnn-tiny", "snn"):
        with pytest.raises(ConfigError, match="unknown model"):
            preset(bad)
    with pytest.raises(ConfigError, match="unknown model option"):
        build_model("snn-tiny", width=3)
    with pytest.raises(ConfigError, match="neuron"):
        ModelConfig(neuron="izh")
    with pytest.raises(ConfigError, match="modality"):
        build_model("snn-tiny", modality="trinocular")


def test_configurable_depth_and_width() -> None:
    cfg = ModelConfig(base_channels=4, levels=2, residual_blocks=0, in_channels=3)
    model = build_model(cfg)
    with torch.no_grad():
        out = model(events(1, 1, 3, 10, 13))
    assert len(out.heads) == 2 and out.depth.shape == (1, 10, 13)
    assert model.padded_size(10, 13) == (12, 16)
    assert len(build_model(ModelConfig(levels=1)).core.heads) == 1


def test_paper_parameter_count() -> None:
    # StereoSpike reports about 18 M parameters; the topology gives exactly 18,148,704.
    n = count_parameters(build_model("snn-paper"))
    assert abs(n - 18e6) / 18e6 < 0.10
    assert n == 18_148_704
    assert count_parameters(build_model("snn-paper", modality="monocular")) == n - 2 * 32 * 25


def test_spike_stats_hand_counted() -> None:
    conv = layer.Conv2d(1, 1, 1, bias=False, step_mode="m")
    with torch.no_grad():
        conv.weight.fill_(1.0)
    net = nn.Sequential(conv, spiking_neuron(ModelConfig()))
    # T=4, 2x3 pixels: 1.5 fires every step (4), 0.6 every second step (2), 0 never.
    x = torch.tensor([[1.5, 0.6, 0.0], [0.6, 0.0, 0.0]]).expand(4, 1, 1, 2, 3).contiguous()
    with SpikeRecorder(net) as rec:
        net(x)
    ((name, st),) = rec.stats().items()
    assert name == "1" and st.spiking
    assert st.as_tuple() == (8.0, 24, pytest.approx(8 / 24))
    assert st.nonzero == 8 and st.sparsity == pytest.approx(1 - 8 / 24)
    assert rec.rate_penalty().item() == pytest.approx(8 / 24)


def test_rate_floor_turns_a_silent_layer_from_cheapest_to_costliest() -> None:
    """Two IF layers: the first fires 8 of 24 neuron-steps (as above), the second, fed through a
    zero-weight conv, never. Plain mean (1/3 + 0) / 2; with a floor f a layer below it costs
    2f - rate, and the gradient on the silent layer's weight turns from 'fire less' to 'fire more'."""
    def net_and_penalty(floor: float) -> tuple[nn.Module, torch.Tensor]:
        c1, c2 = (layer.Conv2d(1, 1, 1, bias=False, step_mode="m") for _ in range(2))
        with torch.no_grad():
            c1.weight.fill_(1.0)
            c2.weight.fill_(0.0)
        net = nn.Sequential(c1, spiking_neuron(ModelConfig()), c2, spiking_neuron(ModelConfig()))
        x = torch.tensor([[1.5, 0.6, 0.0], [0.6, 0.0, 0.0]]).expand(4, 1, 1, 2, 3).contiguous()
        with SpikeRecorder(net) as rec:
            net(x)
            return net, rec.rate_penalty(floor)

    _, plain = net_and_penalty(0.0)
    assert plain.item() == pytest.approx((1 / 3 + 0) / 2)
    _, low = net_and_penalty(0.2)  # only the silent layer is below the floor
    assert low.item() == pytest.approx((1 / 3 + 0.4) / 2)
    _, high = net_and_penalty(0.5)  # both below
    assert high.item() == pytest.approx((1 - 1 / 3 + 1.0) / 2)
    grads = []
    for floor in (0.0, 0.2):
        net, penalty = net_and_penalty(floor)
        penalty.backward()
        grads.append(net[2].weight.grad.item())
    # The ATan surrogate passes gradient to the silent layer's membrane: its sign says which way.
    assert grads[0] > 0 > grads[1]
    assert grads[1] == pytest.approx(-grads[0])


@pytest.mark.parametrize("alpha", [1.0, 2.0, 4.0])
def test_surrogate_alpha_sets_the_backward_pass_only(alpha: float) -> None:
    """d spike / d input of an IF neuron at T = 1 is the ATan surrogate's derivative at
    v - threshold: alpha / 2 / (1 + (pi / 2 * alpha * (v - 1))**2); the spikes do not change."""
    model = build_model("snn-tiny", surrogate_alpha=alpha)
    node = model.core.bottom.act
    assert node.surrogate_function.alpha == alpha
    x = torch.tensor([0.2, 0.9, 1.0, 1.3, 2.5]).reshape(1, 1, 5).requires_grad_()
    node.reset()
    spikes = node(x)
    assert spikes.detach().flatten().tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    spikes.sum().backward()
    d = x.detach() - 1.0
    expected = alpha / 2 / (1 + (math.pi / 2 * alpha * d) ** 2)
    torch.testing.assert_close(x.grad, expected)
    with pytest.raises(ConfigError, match="surrogate_alpha must be > 0"):
        ModelConfig(surrogate_alpha=0.0)


def test_spike_recorder_on_model_and_penalty_gradient() -> None:
    model = build_model("hnn-tiny", hnn_analog="relu")  # ReLU: all recorded sums are >= 0
    with SpikeRecorder(model) as rec:
        out = model(events(1, 2, 4, 32, 32))
    stats = rec.stats()
    assert len(stats) == 13
    assert not stats["core.bottom.act"].spiking and stats["core.encoders.0.act"].spiking
    for st in stats.values():
        assert 0 <= st.spikes and st.neuron_steps > 0
    assert stats["core.encoders.0.act"].neuron_steps == 2 * 1 * 16 * 16 * 16
    penalty = rec.rate_penalty()
    assert penalty.requires_grad
    (out.depth.mean() + penalty).backward()
    # hooks are removed on exit
    n_before = rec.total().neuron_steps
    model(events(1, 2, 4, 32, 32))
    assert rec.total().neuron_steps == n_before


def test_one_adam_step_reduces_loss() -> None:
    torch.manual_seed(0)
    model = build_model("snn-tiny")
    x = events(2, 2, 4, 64, 80, seed=5, p=0.3)
    g = torch.Generator().manual_seed(6)
    gt = torch.rand(2, 64, 80, generator=g)
    mask = torch.rand(2, 64, 80, generator=g) > 0.2
    loss_fn = DepthLoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = loss_fn(model(x).heads, gt, mask).total
    opt.zero_grad()
    before.backward()
    assert all(p.grad is not None for p in model.parameters())
    opt.step()
    with torch.no_grad():
        after = loss_fn(model(x).heads, gt, mask).total
    assert torch.isfinite(before) and after < before


def test_backend_cpu_paths() -> None:
    assert select_backend("torch", "cpu") == "torch"
    assert select_backend("auto", torch.device("cpu")) == "torch"
    for name in ("triton", "cuda"):
        with pytest.raises(ConfigError, match=f"backend '{name}' needs a CUDA device"):
            select_backend(name, "cpu")
    with pytest.raises(ConfigError, match="unknown"):
        select_backend("cupy", "cpu")


def test_use_backend_is_scoped(monkeypatch: pytest.MonkeyPatch) -> None:
    import spikingjelly._ops.if_ as if_ops

    monkeypatch.delenv("SJ_IF_CUDA_IMPLEMENTATION", raising=False)
    before = if_ops._selection._requested
    with use_backend("torch") as chosen:
        assert chosen == "torch"
        import os

        assert os.environ["SJ_IF_CUDA_IMPLEMENTATION"] == "torch"
        assert if_ops._selection._requested == "torch"
        # CPU forward still works inside the scope
        spiking_neuron(ModelConfig())(torch.ones(2, 1))
    assert if_ops._selection._requested == before
    assert "SJ_IF_CUDA_IMPLEMENTATION" not in __import__("os").environ


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device (none on this machine)")
def test_backend_cuda_paths() -> None:
    best = select_backend("auto", "cuda")
    assert best in ("triton", "cuda", "torch")
    model = build_model("snn-tiny").cuda()
    x = events(1, 2, 4, 64, 80).cuda()
    with use_backend(best), torch.no_grad():
        out_best = model(x).depth
    with use_backend("torch"), torch.no_grad():
        out_torch = model(x).depth
    torch.testing.assert_close(out_best, out_torch, rtol=1e-4, atol=1e-4)


def test_fresh_snn_is_not_silent() -> None:
    # With PyTorch's default init deep layers never fire and training stalls; the default
    # init_gain keeps every layer active on a 10 % event input.
    torch.manual_seed(0)
    model = build_model("snn-tiny")
    with SpikeRecorder(model, track_grad=False) as rec, torch.no_grad():
        model((torch.rand(2, 1, 4, 64, 80) < 0.1).float())
    rates = [s.rate for s in rec.stats().values()]
    assert len(rates) == 13 and all(0.005 < r < 0.6 for r in rates), rates


def test_spiking_unet_batchnorm_option_and_its_one_bin_rule() -> None:
    # As in the ANN twin: a norm after every hidden conv, none after the heads, no conv bias.
    snn = build_model("snn-tiny", norm="batch")
    convs = [x for x in snn.modules() if isinstance(x, nn.Conv2d)]
    bns = [x for x in snn.modules() if isinstance(x, nn.modules.batchnorm._BatchNorm)]
    assert len(bns) == len(convs) - len(snn.core.heads) and all(x.bias is None for x in convs)
    # Folded, the norm is a bias: a threshold shift at T = 1 only, so more bins are refused.
    from depthsnn.data.dataset import DataConfig
    from depthsnn.train.config import TrainConfig

    assert TrainConfig(model_options=["norm=batch"]).model_config().norm == "batch"
    with pytest.raises(ConfigError, match="num_bins = 1"):
        TrainConfig(model_options=["norm=batch"], data=DataConfig(split="synthetic", num_bins=2))
    TrainConfig(model="ann-tiny", data=DataConfig(split="synthetic", num_bins=2))  # the ANN sums its bins


def test_spiking_unet_threshold_option_layout_and_checks() -> None:
    # A learnable threshold after every hidden conv (heads feed the integrator: none), no conv bias.
    from depthsnn.data.dataset import DataConfig
    from depthsnn.models.threshold_gain import ThresholdGain
    from depthsnn.train.config import TrainConfig

    snn = build_model("snn-tiny", norm="threshold")
    convs = [x for x in snn.modules() if isinstance(x, nn.Conv2d)]
    gains = [x for x in snn.modules() if isinstance(x, ThresholdGain)]
    assert len(gains) == len(convs) - len(snn.core.heads) and all(x.bias is None for x in convs)
    assert all(torch.equal(g.scale(), torch.ones_like(g.scale())) for g in gains)  # starts as the plain net
    with pytest.raises(ConfigError, match="for spiking kinds"):
        build_model("ann-tiny", norm="threshold")
    with pytest.raises(ConfigError, match="norm=threshold is for the U-Net"):
        build_model("snn-portable-tiny", norm="threshold")
    with pytest.raises(ConfigError, match="norm must be none, batch, threshold, weight"):
        build_model("snn-tiny", norm="layer")
    # No bias after folding, so unlike norm=batch it is exact with several bins.
    cfg = TrainConfig(model_options=["norm=threshold"], data=DataConfig(split="synthetic", num_bins=3))
    assert cfg.model_config().norm == "threshold"


def test_spiking_unet_weight_norm_option() -> None:
    """norm = "weight": every hidden conv's weight is g * v / ||v|| per output channel (Salimans &
    Kingma 2016), starting at the plain network's drawn weights; the heads stay plain."""
    from torch.nn.utils import parametrize

    from depthsnn.data.dataset import DataConfig
    from depthsnn.train.config import TrainConfig

    torch.manual_seed(0)
    plain = build_model("snn-tiny")
    torch.manual_seed(0)
    wn = build_model("snn-tiny", norm="weight")
    heads = {id(m) for m in wn.core.heads.modules()}
    convs = [m for m in wn.modules() if isinstance(m, nn.Conv2d)]
    assert all(parametrize.is_parametrized(m, "weight") == (id(m) not in heads) for m in convs)
    assert all(m.bias is None for m in convs)
    plain_convs = [m for m in plain.modules() if isinstance(m, nn.Conv2d)]
    for i, (a, b) in enumerate(zip(plain_convs, convs, strict=True)):
        # the reparametrisation starts where the init left the weight
        assert torch.allclose(a.weight, b.weight, atol=1e-6), i
    # Analytic properties of the reparametrisation: scaling v leaves the weight unchanged, and the
    # loss gradient with respect to v is orthogonal to v (Salimans & Kingma, eq. 3).
    enc = wn.core.encoders[1].conv
    g, v = enc.parametrizations.weight.original0, enc.parametrizations.weight.original1
    before = enc.weight.detach().clone()
    with torch.no_grad():
        v.mul_(3.0)
    assert torch.allclose(enc.weight, before, atol=1e-6)
    out = wn(torch.rand(1, 1, 4, 32, 48) * 2)
    out.depth.square().mean().backward()
    assert g.grad is not None and g.grad.abs().sum() > 0
    dots = (v.grad * v).flatten(1).sum(1) / (v.grad.flatten(1).norm(dim=1) * v.flatten(1).norm(dim=1) + 1e-12)
    assert dots.abs().max() < 1e-4, dots
    with pytest.raises(ConfigError, match="norm=weight is for the U-Net"):
        build_model("snn-portable-tiny", norm="weight")
    # No bias after folding, so it is exact with several bins.
    cfg = TrainConfig(model_options=["norm=weight"], data=DataConfig(split="synthetic", num_bins=3))
    assert cfg.model_config().norm == "weight"


@pytest.mark.parametrize("kind", ["if", "lif"])
def test_threshold_gain_is_a_per_channel_threshold(kind: str) -> None:
    """Independent expectation: spikingjelly neurons with threshold v_threshold / g_c, one channel
    at a time, fire the same spikes over several steps as gain g_c then threshold v_threshold."""
    from depthsnn.models.threshold_gain import ThresholdGain

    torch.manual_seed(0)
    c, theta = 5, 1.0
    gain = ThresholdGain(c)
    with torch.no_grad():
        gain.log_gain.copy_(torch.tensor([-1.0, -0.3, 0.0, 0.4, 1.2]))
    current = torch.rand(6, 2, c, 4, 4) * 0.8  # [T, B, C, H, W]

    def node(v_threshold: float) -> nn.Module:
        kw = dict(v_threshold=v_threshold, v_reset=0.0, step_mode="m")
        return neuron.LIFNode(tau=2.0, **kw) if kind == "lif" else neuron.IFNode(**kw)

    with torch.no_grad():
        got = node(theta)(gain(current))
        want = torch.cat([node(theta / float(gain.scale()[i]))(current[:, :, i:i + 1]) for i in range(c)], dim=2)
    assert 0 < got.mean() < 1  # some channels fire, not all the time
    assert torch.equal(got, want)


def _assert_training_only(model: nn.Module) -> None:
    """``model`` (an snn-tiny with a training-only option) evaluates and exports exactly as the
    same weights without the option, and its training-mode output differs (the option acts)."""
    from depthsnn.export.graph import from_model

    plain = build_model("snn-tiny")
    plain.load_state_dict(model.state_dict())
    x = events(2, 2, 4, 32, 48)
    model.eval(), plain.eval()
    with torch.no_grad():
        assert torch.equal(model(x).depth, plain(x).depth)
        model.train()
        assert not torch.equal(model(x).depth, plain(x).depth)
    model.eval()
    a, b = from_model(model.core, (32, 48)), from_model(plain.core, (32, 48))
    assert [(n.name, n.op, n.inputs) for n in a.nodes] == [(n.name, n.op, n.inputs) for n in b.nodes]


def test_dropout_drops_whole_channel_maps_in_training_only() -> None:
    """``dropout``: in training, each (sample, channel) map is zeroed with probability p for all
    time steps and pixels, the rest scaled by 1 / (1 - p); in eval mode the network computes
    exactly what the same weights without dropout compute, and the exported graph is the same."""
    from depthsnn.train.config import TrainConfig

    p = 0.25
    torch.manual_seed(0)
    model = build_model("snn-tiny", dropout=p)
    out = model.core._drop(torch.ones(3, 8, 64, 2, 3))
    per_map = out.permute(1, 2, 0, 3, 4).reshape(8 * 64, -1)  # one row per (sample, channel)
    torch.testing.assert_close(per_map.unique(), torch.tensor([0.0, 1 / (1 - p)]))
    assert all(len(row.unique()) == 1 for row in per_map)  # one mask for every step and pixel
    dropped = int((per_map[:, 0] == 0).sum())
    # 512 Bernoulli(0.25) draws: mean 128, sd 9.8; 4 sd either side.
    assert 89 <= dropped <= 167, dropped

    _assert_training_only(model)

    cfg = TrainConfig(model="snn-tiny", model_options=["dropout=0.1"]).model_config()
    assert cfg.dropout == 0.1 and ModelConfig().dropout == 0.0
    with pytest.raises(ConfigError, match=r"dropout must be in \[0, 1\)"):
        ModelConfig(dropout=1.0)
    with pytest.raises(ConfigError, match="dropout is for the U-Net"):
        preset("snn-portable-tiny", dropout=0.1)


def test_membrane_noise_fires_near_threshold_neurons_at_the_gaussian_rate_in_training_only() -> None:
    """An IF neuron at T = 1 fed 0.95 (threshold 1) with membrane noise sigma = 0.1 fires with
    probability P(N(0, 1) > 0.5) = 0.3085 in training and never in eval mode; a model with the
    option evaluates and exports exactly as the same weights without it."""
    sigma = 0.1
    torch.manual_seed(0)
    model = build_model("snn-tiny", membrane_noise=sigma)
    node = model.core.bottom.act
    x = torch.full((1, 20000), 0.95)
    node.reset()
    rate = node(x).mean().item()
    expected = 0.5 * math.erfc(0.5 / math.sqrt(2))  # P(N(0, 1) > 0.05 / sigma)
    sd = math.sqrt(expected * (1 - expected) / x.numel())
    assert abs(rate - expected) < 4 * sd, (rate, expected)
    node.eval()
    node.reset()
    assert node(x).sum().item() == 0.0

    _assert_training_only(model)
    with pytest.raises(ConfigError, match="membrane_noise must be >= 0"):
        ModelConfig(membrane_noise=-0.1)
    with pytest.raises(ConfigError, match="membrane_noise is for spiking kinds"):
        preset("ann-tiny", membrane_noise=0.1)
    with pytest.raises(ConfigError, match="no spiking neuron to act on in arch 'akida2'"):
        preset("snn-akida2-tiny", membrane_noise=0.1)
