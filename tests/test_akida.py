"""BrainChip Akida (akida 2.19, AKD1000 virtual device): our chain graph converted by hand must give
Akida's software backend exactly what our simulator computes at Akida's precision."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from depthsnn.errors import ConfigError
from depthsnn.export.graph import from_model
from depthsnn.hw_profiles.structure import akida_structure
from depthsnn.models import build_model

akida = pytest.importorskip("akida", reason="akida is not installed (pip install 'akida==2.19.*'): Akida checks skipped")

from depthsnn.vendors import akida as ak  # noqa: E402


def briefly_trained(name: str = "snn-portable-tiny", steps: int = 3):
    """A portable net after a few Adam steps on random events (moves weights off the init)."""
    torch.manual_seed(0)
    model = build_model(name)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = (torch.rand(2, 1, 4, 40, 56) < 0.1).float() * torch.randint(1, 4, (2, 1, 4, 40, 56))
    target = torch.rand(2, 40, 56)
    for _ in range(steps):
        opt.zero_grad()
        loss = (model(x).depth - target).abs().mean()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.mark.parametrize("name", ["snn-portable-tiny", "snn-portable-small"])
def test_akida_equals_simulator_at_akida_precision(name):
    model = briefly_trained(name)
    g = from_model(model.core, model.padded_size(48, 70))
    am = ak.to_akida(g)
    assert all(abs(np.log2(s) - round(np.log2(s))) == 0 for s in am.scales)  # power-of-two scales
    x = ak.random_counts(g.input.shape, am.input_bits, samples=3, seed=1, density=0.1)
    r = ak.compare_with_simulator(am, x)
    # Every layer fires (the comparison is not between silent networks) and no spike differs.
    assert all(layer["spikes_ours"] > 0 for layer in r["layers"])
    assert r["spike_mismatches"] == 0, r["layers"]
    assert r["output_max_abs"] > 0 and r["output_max_abs_diff"] == 0.0


def test_threshold_boundary_fires_on_both_sides():
    """A potential exactly at the threshold fires (spikingjelly's >=), in Akida as in our simulator."""
    model = build_model("snn-portable-tiny", modality="monocular", levels=1, chain_convs=0)
    g = from_model(model.core, model.padded_size(9, 9))
    conv = g.node("layers.0.conv")
    w = np.zeros_like(conv.params["weight"])
    w[0, 0, 1, 1] = 0.5  # one event -> 0.5, two -> 1.0 = threshold exactly, three -> 1.5
    w[1, 0, 1, 1] = 0.25  # four events reach the threshold
    w[2:, 0, 1, 1] = 0.125
    conv.params["weight"] = w
    g.node("head").params["weight"] = np.full_like(g.node("head").params["weight"], 0.125)
    am = ak.to_akida(g)
    x = np.zeros((4, *g.input.shape))
    for b, n in enumerate((1, 2, 3, 4)):
        x[b, 0, 4, 4] = n
    r = ak.compare_with_simulator(am, x)
    assert r["spike_mismatches"] == 0 and r["output_max_abs_diff"] == 0.0
    _, spikes = ak.simulate_quantized(am, x)
    s = spikes["layers.0.act"][:, :, 2, 2]  # stride 2: input pixel (4, 4) -> output (2, 2)
    assert s[:, 0].tolist() == [False, True, True, True]  # 0.5 * 2 = 1.0 fires
    assert s[:, 1].tolist() == [False, False, False, True]


def test_unet_is_rejected_naming_the_structure():
    model = build_model("snn-tiny", base_channels=4, levels=2, residual_blocks=1)
    g = from_model(model.core, model.padded_size(16, 16))
    problems = akida_structure(g)
    assert any("upsampling" in p for p in problems)
    assert any("converging edges" in p for p in problems)
    with pytest.raises(ConfigError, match="does not map onto Akida"):
        ak.to_akida(g)


def test_export_writes_fbz_with_mapping(portable_checkpoint, tmp_path):
    from depthsnn.vendors import export_with_vendors

    man = export_with_vendors(portable_checkpoint, tmp_path, "akida", say=lambda _m: None)
    (entry,) = man["files"]
    assert entry["format"] == "akida" and entry["verification"]["spike_mismatches"] == 0
    m = entry["mapping"]
    assert m["device"] == "AKD1000" and m["all_on_hardware"] and 0 < m["nps_used"] <= m["nps_available"]
    assert set(m["layers"]) == {"layers.0.conv", "layers.1.conv", "layers.2.conv", "layers.3.conv", "head"}
    assert entry["structure_verdicts"]["akida"]["accepted"]  # our fit verdict beside Akida's mapping
    # The saved file is the model: reloaded, it computes what the in-memory conversion computes.
    loaded = akida.Model(str(tmp_path / entry["path"]))
    h, w, c = entry["input_shape"]
    x = ak.random_counts((c, h, w), entry["input_bits"], samples=1, seed=3)
    from depthsnn.train.checkpoint import model_from_checkpoint

    model, _, _ = model_from_checkpoint(portable_checkpoint)
    am = ak.to_akida(from_model(model.core, (h, w)))
    got = loaded.forward(np.ascontiguousarray(x.transpose(0, 2, 3, 1)).astype(np.uint8)) * entry["out_scale"]
    assert np.array_equal(got.transpose(0, 3, 1, 2), ak.run_akida(am, x))
    with pytest.raises(ConfigError, match="an ANN has no spiking graph"):
        from depthsnn.export.api import parse_formats

        parse_formats("akida", "ann")


def test_export_checkpoint_alone_refuses_akida(portable_checkpoint, tmp_path):
    """export (a lower layer) has no Akida writer of its own: it says where the format lives."""
    from depthsnn.export.api import export_checkpoint

    with pytest.raises(ConfigError, match="export_with_vendors"):
        export_checkpoint(portable_checkpoint, tmp_path, "akida", say=lambda _m: None)
