"""The chip-fit family (snn-portable-*): presets, shapes, exported graph, host upsampling."""

from __future__ import annotations

import pytest
import torch

from depthsnn.errors import ConfigError
from depthsnn.export.executor import GraphExecutor
from depthsnn.export.graph import from_model, host_output
from depthsnn.models import build_model, count_parameters, preset, preset_names
from depthsnn.models.portable import host_step_cost, padded_size


def test_preset_names_and_fields():
    names = preset_names()
    for n in ("snn-portable-tiny", "snn-portable-small", "snn-lif-portable-tiny"):
        assert n in names
    cfg = preset("snn-portable-tiny")
    assert (cfg.arch, cfg.levels, cfg.chain_convs, cfg.residual_blocks) == ("portable", 3, 1, 0)
    assert preset("snn-lif-portable-small").neuron == "lif"
    assert preset("snn-tiny").arch == "unet"
    for bad in ("ann-portable-tiny", "hnn-portable-tiny", "snn-portable-paper", "snn-portable"):
        with pytest.raises(ConfigError, match="unknown model"):
            preset(bad)
    with pytest.raises(ConfigError, match="residual_blocks must be 0"):
        preset("snn-portable-tiny", residual_blocks=1)
    with pytest.raises(ConfigError, match="chain_convs is for arch 'portable' only"):
        preset("snn-tiny", chain_convs=1)
    with pytest.raises(ConfigError, match="host_upsample must be"):
        preset("snn-portable-tiny", host_upsample="cubic")


def test_sizes_and_parameters():
    cfg = preset("snn-portable-tiny")
    assert padded_size(cfg, 260, 346) == (265, 353)  # 8*33+1, 8*44+1
    assert padded_size(cfg, 9, 1) == (9, 9)
    assert count_parameters(build_model("snn-portable-tiny")) == 15552
    assert count_parameters(build_model("snn-portable-small")) == 97920


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_graph_is_a_chain_and_host_step_matches_depthnet(mode):
    torch.manual_seed(0)
    model = build_model("snn-portable-tiny", host_upsample=mode).eval()
    h, w = 30, 45
    ph, pw = model.padded_size(h, w)
    g = from_model(model.core, (ph, pw))
    assert {n.op for n in g.nodes} == {"input", "conv", "if", "integrator", "output"}
    assert all(len(n.inputs) <= 1 for n in g.nodes)  # a chain: no converging edges
    assert g.output.shape == (1, (ph - 1) // 8 + 1, (pw - 1) // 8 + 1)
    assert g.metadata["host_upsample"]["mode"] == mode and g.metadata["host_upsample"]["size"] == [ph, pw]
    x = (torch.rand(1, 4, 4, h, w) < 0.2).float()
    ref = model(x).depth
    xs = torch.nn.functional.pad(x, (0, pw - w, 0, ph - h)).transpose(0, 1)
    out, _ = GraphExecutor(g).run(xs)
    got = host_output(g, out[-1, :, 0])[..., :h, :w]
    assert got.shape == ref.shape
    assert torch.allclose(got, ref, atol=1e-5)


def test_training_loss_reaches_full_resolution():
    model = build_model("snn-portable-tiny", modality="monocular")
    x = (torch.rand(2, 3, 2, 20, 27) < 0.3).float()
    out = model(x)
    assert out.depth.shape == (2, 20, 27) and len(out.heads) == 1
    out.depth.mean().backward()
    assert model.core.layers[0].conv.weight.grad is not None


def test_export_simulate_and_compare_paths(portable_checkpoint, tiny_synth, tmp_path):
    """The checkpoint goes through export (NIR + both ONNX forms, verified) and the simulator like
    every preset; the host step is named and costed outside the chip."""
    import json

    from depthsnn.export.api import export_checkpoint
    from depthsnn.export.nir_io import read_nir
    from depthsnn.simulate.pipeline import load_network, open_dataset, simulate_dataset

    man = export_checkpoint(portable_checkpoint, tmp_path / "exp", say=lambda _m: None)
    nir_file = next(f for f in man["files"] if f["format"] == "nir")
    assert nir_file["verification"]["spike_mismatches"] == 0
    assert all(f["max_abs_diff"] == 0.0 for f in man["files"] if f["format"] == "onnx")
    g = read_nir(tmp_path / "exp" / nir_file["path"])
    assert g.metadata["host_upsample"]["mode"] == "bilinear"
    net = load_network(tmp_path / "exp" / nir_file["path"], normalized_depth=False)
    ds = open_dataset(net, tiny_synth, "synthetic", "test")
    res = simulate_dataset(net, ds, samples=1, check_dense=True)
    assert res.spike_mismatches == 0 and res.metrics["mde_cm"] > 0
    assert json.dumps(res.to_dict())
    cost = host_step_cost(g.metadata["host_upsample"], g.output.shape[1:])
    ph, pw = g.input.shape[1:]
    assert cost["host_macs"] == 4 * ph * pw and cost["in_chip_energy"] is False and "host" in cost["text"]
