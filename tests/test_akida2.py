"""Akida 2.0 (IPv2) U-Net (snn-akida2-*): Akida's software backend, the reference implementation,
must compute exactly what our quantisation-aware torch model computes, layer by layer, and Akida's
mapper must place every layer on hardware of a virtual IPv2 device."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from depthsnn.errors import ConfigError
from depthsnn.models import build_model

akida = pytest.importorskip("akida", reason="akida is not installed (pip install 'akida==2.19.*'): Akida checks skipped")

from depthsnn.vendors import akida2 as a2  # noqa: E402

HW = (32, 48)


def briefly_trained(name: str = "snn-akida2-tiny", steps: int = 3, **overrides):
    """An akida2 net after a few Adam steps on random events (weights and biases off their init)."""
    torch.manual_seed(0)
    model = build_model(name, **overrides)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = (torch.rand(2, 2, model.cfg.channels, *HW) < 0.1).float() * torch.randint(1, 4, (2, 2, model.cfg.channels, *HW))
    target = torch.rand(2, *HW)
    for _ in range(steps):
        opt.zero_grad()
        (model(x).depth - target).abs().mean().backward()
        opt.step()
    return model.eval()


@pytest.mark.parametrize("name", ["snn-akida2-tiny", "snn-akida2-small"])
def test_akida_equals_our_model_layer_by_layer(name):
    model = briefly_trained(name)
    x = a2.random_input((model.cfg.channels, *HW), samples=2, seed=1)
    r = a2.compare(model.core, HW, x, layers=True)
    assert [p["layer"] for p in r["layers"]] == [s.name for s in model.core.plan[:-1]]
    assert all(p["nonzero"] > 0 for p in r["layers"])  # every layer active: not a comparison of silent nets
    assert r["layer_mismatches"] == 0, [p for p in r["layers"] if p["mismatches"]]
    assert r["output_max_abs"] > 0 and r["output_mismatches"] == 0 and r["output_max_abs_diff"] == 0.0


def test_rounding_saturation_and_bias_match_akida():
    """Half-way accumulators round up, activations and the skip Add saturate at 127, biases shift:
    the boundary cases of Akida's arithmetic, hit on purpose, equal on both sides."""
    model = build_model("snn-akida2-tiny", modality="monocular", levels=2, residual_blocks=0)
    core = model.core
    with torch.no_grad():
        for name, conv in core.convs.items():
            conv.weight.fill_(0.0)
            conv.weight[..., 1, 1] = 1.0 if name != "head" else 0.25  # identity-like 3x3 centre taps
            if conv.transpose:
                conv.weight.fill_(0.5)
            conv.bias.fill_(0.03125 if name != "head" else 0.5)
    x = np.zeros((3, *HW, 2), np.int8)
    x[0, 4, 4, 0] = 1  # tiny counts: acc lands on .5 steps after the shift
    x[1, 8:12, 8:12, :] = 127  # saturates the ReLUs and the skip Add
    x[2] = a2.random_input((2, *HW), 1, seed=5)[0]
    ours = a2.run_ours(core, x)
    assert (ours["enc1"] == 127 * 2.0**-4).any() and (ours["add1"] == 127 * 2.0**-4).any()  # saturation hit
    r = a2.compare(core, HW, x, layers=True)
    assert r["layer_mismatches"] == 0 and r["output_mismatches"] == 0
    # Round half up, as measured on Akida: q = floor(acc * 2**-k + 0.5).
    q = core.convs["enc0"].quant()
    acc = int(q.weight_q[0, 0, 1, 1]) + int(q.bias_q[0]) * 2 ** int(q.bias_shift[0])  # one event + bias
    assert acc % 2**q.shift == 2 ** (q.shift - 1)  # exactly half-way between two output steps
    assert ours["enc0"][0, 0, 4, 4] * 16 == (acc >> q.shift) + 1  # ... rounded up


def test_float32_model_equals_akida_precision():
    """Training and evaluation run the float32 torch model: it computes the same integers as the
    float64 copy (partial sums stay below 2**24), so evaluated depth = what the chip computes."""
    model = briefly_trained()
    frames = (torch.rand(2, 1, 4, *HW) < 0.2).float() * torch.randint(1, 20, (2, 1, 4, *HW))
    with torch.no_grad():
        d32 = model.core(frames.transpose(0, 1))
    x = a2.frames_to_input(frames.numpy())
    assert np.array_equal(d32[0].numpy().astype(np.float64), a2.run_akida2(a2.to_akida2(model.core, HW), x)[:, 0])


def test_mapping_all_layers_on_hardware_at_sensor_size():
    """260x346 (DAVIS 346, padded 272x352): tiny on SixNodesIPv2, small on TwelveNodesIPv2, every layer
    on hardware in one sequence; Akida's own refusal (small on SixNodesIPv2) is named."""
    tiny = build_model("snn-akida2-tiny")
    hw = tiny.padded_size(260, 346)
    rep = a2.smallest_device(lambda: a2.to_akida2(tiny.core, hw))
    assert rep["device"] == "SixNodesIPv2" and rep["all_on_hardware"] and rep["passes"] >= 1
    assert set(rep["layers"]) == {s.name for s in tiny.core.plan} | {"dequantizer"}
    assert rep["nps_used"] > 0 and len(rep["sequences"]) == 1
    small = build_model("snn-akida2-small")
    rep = a2.smallest_device(lambda: a2.to_akida2(small.core, hw))
    assert rep["device"] == "TwelveNodesIPv2" and rep["all_on_hardware"]
    with pytest.raises(ConfigError, match="rejects the model on SixNodesIPv2: Cannot map layer 'enc1'"):
        a2.mapping_report_v2(a2.to_akida2(small.core, hw), "SixNodesIPv2")


def test_full_resolution_decoder_is_refused_by_akida():
    """Why the decoder stops at 1/2 resolution: a transposed conv with an output 352 wide does not map."""
    m = akida.Model()
    m.add(akida.InputData(input_shape=(16, 176, 8), input_bits=8, name="input"))
    t = akida.Conv2DTranspose(filters=8, kernel_size=4, name="up")
    m.add(t)
    t.set_variable("weights", np.ones((4, 4, 8, 8), np.int8))
    m.add(akida.Dequantizer(name="dq"))
    with pytest.raises(RuntimeError, match="Split by height is not supported"):
        m.map(akida.SixNodesIPv2(), hw_only=True)


@pytest.fixture(scope="module")
def akida2_checkpoint(tiny_synth, tmp_path_factory):
    """best.pt of snn-akida2-tiny trained one short epoch (2 samples) on ``tiny_synth``."""
    from depthsnn.data.dataset import DataConfig
    from depthsnn.train.config import TrainConfig
    from depthsnn.train.loop import train

    cfg = TrainConfig(model="snn-akida2-tiny", data=DataConfig(root=str(tiny_synth), split="synthetic", num_bins=1),
                      out=str(tmp_path_factory.mktemp("akida2")), epochs=1, max_train_samples=2,
                      max_val_samples=1, device="cpu")
    return train(cfg, progress=False).best_checkpoint


def test_export_writes_ipv2_fbz_equal_on_real_events(akida2_checkpoint, tiny_synth, tmp_path):
    from depthsnn.data.dataset import EventDepthDataset
    from depthsnn.train.checkpoint import model_from_checkpoint
    from depthsnn.vendors import export_with_vendors

    man = export_with_vendors(akida2_checkpoint, tmp_path, None, say=lambda _m: None)  # auto = akida
    (entry,) = man["files"]
    assert entry["format"] == "akida" and entry["akida_ip"] == "IPv2"
    m = entry["mapping"]
    assert m["device"] == "SixNodesIPv2" and m["all_on_hardware"] and m["nps_used"] > 0 and m["passes"] >= 1
    v = entry["verification"]
    assert v["random"]["layer_mismatches"] == 0 and v["random"]["output_mismatches"] == 0
    assert v["file_reloaded_mismatches"] == 0
    card = (tmp_path / entry["model_card"]).read_text()
    assert "not* a spiking network" in card and "SixNodesIPv2" in card and "8-bit graded events" in card
    # Real events of the synthetic set through the saved file = our model's depth map, exactly.
    model, _, _ = model_from_checkpoint(akida2_checkpoint)
    ds = EventDepthDataset(tiny_synth, "synthetic", "test")
    frames = torch.stack([ds[i][0] for i in range(2)])  # [B, T, C, H, W]
    h, w, _ = entry["input_shape"]
    padded = torch.nn.functional.pad(frames, (0, w - frames.shape[-1], 0, h - frames.shape[-2]))
    x = a2.frames_to_input(padded.numpy())
    assert (x > 0).any()
    loaded = akida.Model(str(tmp_path / entry["path"]))
    got = np.asarray(loaded.forward(x))[..., 0]
    with torch.no_grad():
        ours = model.core(padded.transpose(0, 1))[0]  # the float32 model that evaluate runs
    assert np.array_equal(got.astype(np.float64), ours.numpy().astype(np.float64))
    assert entry["output_shape"][:2] == [h // 2, w // 2]


def test_other_formats_refused_with_reason(akida2_checkpoint, tmp_path):
    from depthsnn.export.api import parse_formats
    from depthsnn.export.graph import from_model
    from depthsnn.vendors import export_with_vendors

    assert parse_formats(None, "snn", "akida2") == ["akida"]
    with pytest.raises(ConfigError, match="cannot express snn-akida2"):
        export_with_vendors(akida2_checkpoint, tmp_path, "nir", say=lambda _m: None)
    with pytest.raises(ConfigError, match="can only export"):
        from_model(build_model("snn-akida2-tiny").core, HW)


def test_event_counts_and_energy_per_map():
    """One input event in the interior meets the 3x3 kernel of each of its 9 outputs (x 8 filters) in
    enc0; a dense accelerator does every in-bounds weight; the AKD1000 profile prices event-MACs at
    its fitted 8.79 pJ plus its 908.5 mW floor over the 50 ms window."""
    model = build_model("snn-akida2-tiny")
    x = np.zeros((1, *HW, 4), np.int8)
    x[0, 10, 20, 1] = 3
    rows = a2.layer_counts(model.core, x)
    enc0 = rows[0]
    assert enc0["layer"] == "enc0" and enc0["input_events"] == 1 and enc0["event_macs"] == 9 * 8
    assert enc0["dense_macs"] == 8 * 4 * (9 * HW[0] * HW[1] - 6 * (HW[0] + HW[1]) + 4)  # in-bounds taps
    e = a2.energy(rows, 1, "akida_akd1000", 0.05)
    macs = sum(r["event_macs"] for r in rows)
    assert e["event_macs"] == macs
    assert e["per_map_mj"] == pytest.approx(0.9085 * 0.05 * 1e3 + macs * 8.79e-9)
