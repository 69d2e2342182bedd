"""ONNX export: checker, onnxruntime parity with torch/spikingjelly, dynamic batch, step form, errors.

Small models (base_channels 4, levels 3) on 40 x 50 inputs (padded to 40 x 56) keep this fast.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from spikingjelly.activation_based import neuron
from torch import nn

from depthsnn.errors import ConfigError, DataError
from depthsnn.export.executor import GraphExecutor
from depthsnn.export.graph import from_model
from depthsnn.export.onnx_export import (
    OnnxExportInfo,
    ParityError,
    check_onnx,
    export_ann_onnx,
    export_snn_onnx,
    open_session,
    run_step_model,
    verify_export,
    verify_onnx,
)
from depthsnn.export.onnx_modules import prepared_copy
from depthsnn.models import build_model
from depthsnn.models.fold import fold_norms

HW = (40, 50)
SMALL = {"base_channels": 4, "levels": 3}
T = 4


def small(name: str, **kw) -> nn.Module:
    torch.manual_seed(0)
    return build_model(name, **SMALL, **kw).eval()


def events(batch: int, t: int = T, hw: tuple[int, int] = HW, seed: int = 5) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    shape = (batch, t, 4, *hw)
    return (torch.rand(shape, generator=gen) < 0.2) * torch.randint(1, 3, shape, generator=gen).float()


def sj_spikes(model: nn.Module, frames: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """spikingjelly's depth and every neuron layer's output [T, B, C, Hp, Wp], keyed by graph name."""
    rec: dict[str, torch.Tensor] = {}
    hooks = [mod.register_forward_hook(lambda _m, _i, o, n=n: rec.__setitem__(n.removeprefix("core."), o.detach()))
             for n, mod in model.named_modules() if isinstance(mod, neuron.BaseNode)]
    try:
        with torch.no_grad():
            depth = model(frames).depth
    finally:
        for h in hooks:
            h.remove()
    return depth, rec


@pytest.fixture(scope="module")
def ann_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "ann.onnx"
    model = small("ann-tiny", bias=True)
    return model, export_ann_onnx(model, path, input_hw=HW, num_bins=2)


@pytest.fixture(scope="module", params=["snn-tiny", "hnn-tiny"])
def snn_files(request, tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx")
    model = small(request.param)
    unrolled = export_snn_onnx(model, d / "unrolled.onnx", input_hw=HW, num_bins=T)
    step = export_snn_onnx(model, d / "step.onnx", input_hw=HW, num_bins=T, form="snn-step", with_spikes=True)
    return model, unrolled, step


def test_ann_export_checks_and_dynamic_batch(ann_file):
    model, info = ann_file
    assert isinstance(info, OnnxExportInfo) and info.form == "ann" and info.opset == 17
    assert info.max_abs_diff is not None and info.max_abs_diff < 1e-4
    assert info.inputs == {"frames": ["batch", 2, 4, *HW]} and info.outputs == {"depth": ["batch", *HW]}
    check_onnx(info.path)
    json.dumps(info.to_dict())
    session = open_session(info.path)
    for batch in (1, 3):
        x = torch.rand(batch, 2, 4, *HW)
        got = session.run(["depth"], {"frames": x.numpy()})[0]
        with torch.no_grad():
            want = model(x).depth.numpy()
        assert got.shape == (batch, *HW)
        assert np.abs(got - want).max() < 1e-4


def test_ann_time_steps_export(tmp_path):
    model = small("ann-tiny", ann_time="steps")
    info = export_ann_onnx(model, tmp_path / "m.onnx", input_hw=(16, 24), num_bins=3)
    assert info.max_abs_diff < 1e-4


def test_snn_unrolled_parity_dynamic_batch(snn_files):
    model, info, _ = snn_files
    assert info.form == "snn-unrolled" and info.max_abs_diff < 1e-4
    assert info.inputs == {"frames": ["batch", T, 4, *HW]} and info.outputs == {"depth": ["batch", *HW]}
    session = open_session(info.path)
    for batch in (1, 3):
        x = events(batch)
        got = session.run(["depth"], {"frames": x.numpy()})[0]
        with torch.no_grad():
            want = model(x).depth.numpy()
        assert got.shape == (batch, *HW)
        assert np.abs(got - want).max() < 1e-4


def test_snn_step_spikes_identical_and_matches_unrolled(snn_files):
    model, unrolled, step = snn_files
    assert step.form == "snn-step" and step.max_abs_diff < 1e-4
    assert list(step.inputs) == ["x", *(f"state_{i}" for i in range(len(step.state_nodes)))]
    assert step.inputs["x"] == ["batch", 4, 40, 56] and step.outputs["out"] == ["batch", 1, 40, 56]
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(step.path)).metadata_props}
    assert meta["depthsnn.spike_nodes"] == step.spike_nodes and meta["depthsnn.form"] == "snn-step"

    x = events(2, seed=9)
    depth, spikes = run_step_model(open_session(step.path), x, return_spikes=True)
    flat = open_session(unrolled.path).run(["depth"], {"frames": x.numpy()})[0]
    assert np.abs(depth - flat).max() < 1e-5

    ex = GraphExecutor(from_model(model.core, model.padded_size(*HW)))
    ex_out, ex_spikes = ex.run(F.pad(x, (0, 6)).transpose(0, 1))
    sj_depth, sj = sj_spikes(model, x)
    assert np.abs(depth - sj_depth.numpy()).max() < 1e-4
    assert np.abs(depth - ex_out[-1, :, 0, :, :50].numpy()).max() < 1e-4
    assert len(spikes) == len(step.spike_nodes) == len(sj) > 0
    total = 0
    for j, name in enumerate(step.spike_nodes):
        s = torch.from_numpy(spikes[j])
        assert torch.equal(s, ex_spikes[name]), name
        assert torch.equal(s, sj[name]), name
        total += int(s.sum())
    assert total > 0  # the comparison is not vacuous


def test_weight_transform_is_applied_and_verified(tmp_path):
    model = small("snn-tiny")
    seen = []

    def to_grid(name: str, w: np.ndarray) -> np.ndarray:
        seen.append(name)
        return np.round(w * 16) / 16  # like a fixed-point weight grid

    info = export_snn_onnx(model, tmp_path / "m.onnx", input_hw=(16, 24), num_bins=2, weight_transform=to_grid)
    assert info.max_abs_diff < 1e-4  # verified against the torch model with the same weights
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    assert seen == [f"{n}.weight" for n in convs]
    exported = [onnx.numpy_helper.to_array(t) for t in onnx.load(str(info.path)).graph.initializer]
    weights = [w for w in exported if w.ndim == 4]
    assert len(weights) == len(convs)
    assert all(np.array_equal(w, np.round(w * 16) / 16) for w in weights)
    assert not any(np.array_equal(w, np.round(w * 16) / 16) for w in
                   (m.weight.detach().numpy() for m in model.modules() if isinstance(m, nn.Conv2d)))
    with pytest.raises(ConfigError, match="shape"):
        prepared_copy(model, lambda _n, w: w[:1])


def test_fold_norms():
    from depthsnn.models.threshold_gain import ThresholdGain

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                        nn.Sequential(nn.Conv2d(3, 2, 3, bias=False), nn.BatchNorm2d(2)),
                        nn.Conv2d(2, 4, 3, padding=1), ThresholdGain(4))
    for bn in (net[1], net[3][1]):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.5, 2)
        bn.bias.data.uniform_(-1, 1)
    net[5].log_gain.data.uniform_(-1, 1)
    net.eval()
    x = torch.randn(2, 2, 8, 8)
    with torch.no_grad():
        want = net(x)
        folded = fold_norms(prepared_copy(net))
        got = folded(x)
    assert not any(isinstance(m, (nn.BatchNorm2d, ThresholdGain)) for m in folded.modules())
    assert torch.allclose(got, want, atol=1e-5)
    with pytest.raises(ConfigError, match="batch norm"):
        fold_norms(nn.Sequential(nn.ReLU(), nn.BatchNorm2d(2)))
    with pytest.raises(ConfigError, match="threshold gain"):
        fold_norms(nn.Sequential(nn.ReLU(), ThresholdGain(2)))


def test_ann_preset_batchnorm_is_folded_at_export(tmp_path):
    """The ANN presets train with BatchNorm; the export folds it and the file computes the unfolded
    eval-mode network within 1e-5, in torch (folded copy) and in onnxruntime."""
    model = small("ann-tiny")
    assert model.cfg.norm == "batch"
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 1 + 3 + 2 * 2 + 3  # bottom, encoders, 2 SEW blocks x 2, decoders
    # Training-mode passes give the running statistics real values; the affine parameters are
    # drawn as training would leave them (away from 1 and 0).
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for b in bns:
            b.weight.copy_(torch.rand(b.weight.shape, generator=gen) + 0.5)
            b.bias.copy_(torch.rand(b.bias.shape, generator=gen) - 0.5)
        model.train()
        for step in range(3):
            model(events(2, 2, seed=step))
    model.eval()
    assert all(not torch.allclose(b.running_var, torch.ones_like(b.running_var)) for b in bns)
    frames = events(3, 2, seed=9)
    with torch.no_grad():
        want = model(frames).depth
        folded = prepared_copy(model)
        assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
        scale = float(want.abs().max())
        np.testing.assert_allclose(folded(frames).depth.numpy(), want.numpy(), atol=1e-5 * scale, rtol=0)
    info = export_ann_onnx(model, tmp_path / "bn.onnx", input_hw=HW, num_bins=2)
    proto = onnx.load(str(info.path))
    assert not any(n.op_type == "BatchNormalization" for n in proto.graph.node)
    sess = open_session(info.path)
    got = sess.run(None, {"frames": frames.numpy()})[0]
    np.testing.assert_allclose(got, want.numpy(), atol=1e-5 * scale, rtol=0)


def test_wrong_kind_is_config_error(tmp_path):
    with pytest.raises(ConfigError, match="this model is an SNN"):
        export_ann_onnx(small("snn-tiny"), tmp_path / "a.onnx", input_hw=(16, 16))
    with pytest.raises(ConfigError, match="this model is an ANN"):
        export_snn_onnx(small("ann-tiny"), tmp_path / "a.onnx", input_hw=(16, 16))
    with pytest.raises(ConfigError, match="form"):
        export_snn_onnx(small("snn-tiny"), tmp_path / "a.onnx", input_hw=(16, 16), form="ann")
    with pytest.raises(ConfigError, match="hnn_analog"):
        export_snn_onnx(small("hnn-tiny", hnn_analog="relu"), tmp_path / "a.onnx", input_hw=(16, 16))
    with pytest.raises(ConfigError, match="num_bins"):
        export_snn_onnx(small("snn-tiny"), tmp_path / "a.onnx", input_hw=(16, 16), num_bins=0)
    assert list(tmp_path.iterdir()) == []


def test_invalid_onnx_is_data_error(tmp_path, ann_file):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf at all")
    with pytest.raises(DataError, match="not a valid ONNX model"):
        check_onnx(bad)
    with pytest.raises(DataError, match="not found"):
        check_onnx(tmp_path / "missing.onnx")
    # A structurally broken graph: a node reading a tensor nothing produces.
    proto = onnx.load(str(ann_file[1].path))
    proto.graph.node[0].input[0] = "nowhere"
    onnx.save(proto, str(bad))
    with pytest.raises(DataError, match="not a valid ONNX model"):
        check_onnx(bad)


def test_verify_reports_mismatch(ann_file):
    model, info = ann_file
    x = torch.rand(1, 2, 4, *HW)
    assert verify_onnx(info.path, lambda f: model(f).depth, x) < 1e-4
    with pytest.raises(ParityError, match="differs from torch"):
        verify_onnx(info.path, lambda f: model(f).depth + 1e-3, x)


def test_spiking_verification_is_exact_on_grid_and_catches_wrong_graph(snn_files, tmp_path):
    model, unrolled, step = snn_files
    for info in (unrolled, step):
        assert info.verify_method.startswith("grid-snapped") and info.max_abs_diff == 0.0
        assert info.float_max_abs_diff < 1e-4  # small model: no threshold ties on this input
        assert verify_export(info.path, model)["max_abs_diff"] == 0.0
    other = build_model(model.cfg, residual_blocks=1).eval()
    other.load_state_dict(model.state_dict(), strict=False)  # same weights, one SEW block fewer
    with pytest.raises(ParityError, match="grid-snapped weights") as err:
        verify_export(unrolled.path, other)
    assert err.value.path == unrolled.path
    with pytest.raises(ConfigError, match="form"):
        verify_export(unrolled.path, small("ann-tiny"))
