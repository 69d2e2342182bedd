"""``depthsnn compare``: ANN in onnxruntime vs SNN/HNN in the simulator on the same samples.

Expectations are computed independently: the ANN's MDE with the torch model, its MACs by hand
from the conv shapes, the SNN's operations with ``simulate_dataset``.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from torch import nn

from depthsnn.cli.main import main

SAMPLES = 3
REF = "jetson_orin_nano"  # the default cross-platform reference
REF_PJ_PER_MAC = 2.615  # dynamic energy per MAC fitted on the AGX Orin (MLPerf ResNet-50), Orin Nano's too
REF_IDLE_W, REF_LAUNCH_S, REF_MACS_PER_S = 3.0, 5e-6, 5.17e11  # jetson_orin_nano.toml
ANN_DEFAULT = {"jetson_orin_nano", "gpu_h200", "gpu_h100", "coral_edgetpu", "cpu", "asic45nm_fp32", "asic45nm_int8", "lemaire45nm"}
# ANN profiles the spiking models can run on too (the Edge TPU has no spiking neurons)
BOTH = ANN_DEFAULT - {"coral_edgetpu"}


@pytest.fixture(scope="module")
def compared(tiny_checkpoints, tmp_path_factory):
    """One CLI run: ANN checkpoint vs the tiny SNN and HNN; returns (out dir, comparison.json)."""
    out = tmp_path_factory.mktemp("compare")
    rc = main(["compare", "--ann", str(tiny_checkpoints["ann-tiny"]), "--snn", str(tiny_checkpoints["snn-tiny"]),
               "--snn", str(tiny_checkpoints["hnn-tiny"]), "--samples", str(SAMPLES), "--repeats", "2",
               "--snn-profiles", "loihi,speck", "--out", str(out), "--quiet"])
    assert rc == 0
    return out, json.loads((out / "comparison.json").read_text())


def _row(doc, kind, runtime):
    return next(r for r in doc["rows"] if r["kind"] == kind and r["runtime"].split(" ")[0] == runtime.split(" ")[0])


def test_outputs_exist_and_parse(compared):
    out, doc = compared
    assert doc["format"] == "depthsnn-compare" and doc["data"]["samples"] == SAMPLES
    md = (out / "comparison.md").read_text()
    assert "| model | kind | runtime/profile |" in md and "## Depth metrics" in md
    assert md.index("## Same hardware") < md.index("## Main table")
    assert f"vs ANN on {REF} (cross-platform)" in md
    png = (out / "accuracy_vs_energy.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    runtimes = {(r["kind"], r["runtime"].split(" ")[0]) for r in doc["rows"]}
    assert runtimes == {("ANN", "onnxruntime"), *(("ANN", p) for p in ANN_DEFAULT),
                        *((k, p) for k in ("SNN", "HNN") for p in ("simulator", "loihi", "speck", *BOTH))}
    onnx_file = out / f"{doc['models'][0]['name']}.onnx"  # the checkpoint was exported first
    assert onnx_file.is_file() and doc["models"][0]["onnx"] == str(onnx_file)
    assert not list(out.glob("*.tmp"))


def _samples(n_items: int, n: int) -> list[int]:
    return sorted({int(i) for i in np.linspace(0, n_items - 1, min(n, n_items)).round()})


def test_ann_mde_matches_torch(compared, tiny_checkpoints):
    from depthsnn.data.dataset import EventDepthDataset
    from depthsnn.metrics import DepthMetrics
    from depthsnn.train.checkpoint import model_from_checkpoint
    from depthsnn.train.loop import to_metres_fn

    _, doc = compared
    model, cfg, _ = model_from_checkpoint(tiny_checkpoints["ann-tiny"])
    ds = EventDepthDataset.from_config(dataclasses.replace(cfg.data, cache_dir=None), "test")
    idx = _samples(len(ds), SAMPLES)
    assert doc["data"]["indices"] == idx
    metrics = DepthMetrics(to_metres=to_metres_fn(cfg))
    with torch.no_grad():
        for i in idx:
            frames, depth, mask = ds[i]
            metrics.update(model(frames[None]).depth, depth[None], mask[None])
    want = metrics.compute()["mde_cm"]
    for r in doc["rows"]:
        if r["kind"] == "ANN":
            assert r["metrics"]["mde_cm"] == pytest.approx(want, abs=1e-4)


def _hand_macs(c_in: int, base: int, levels: int, blocks: int, h: int, w: int) -> int:
    """MACs of the U-Net (T summed to 1) from its conv shapes: out H x W x Cout x Cin x k x k."""
    ch = [base * 2**i for i in range(levels + 1)]
    macs = h * w * ch[0] * c_in * 25  # bottom 5x5
    for i in range(levels):  # stride-2 5x5 encoders
        macs += (h >> (i + 1)) * (w >> (i + 1)) * ch[i + 1] * ch[i] * 25
    macs += blocks * 2 * (h >> levels) * (w >> levels) * ch[levels] ** 2 * 9  # SEW 3x3 pairs
    for i in range(levels):  # decoders (after x2 upsampling) and full-size 3x3 heads to 1 channel
        macs += (h >> i) * (w >> i) * ch[i] * ch[i + 1] * 25 + h * w * 1 * ch[i] * 9
    return macs


def test_ann_energy_is_hand_macs_times_reference_op(compared, tiny_checkpoints):
    from depthsnn.train.checkpoint import load_checkpoint

    _, doc = compared
    h, w = load_checkpoint(tiny_checkpoints["ann-tiny"])["input_hw"]
    assert (h % 8, w % 8) == (0, 0)  # no padding at levels=3, so the hand formula uses H, W directly
    macs = _hand_macs(4, 4, 3, 1, h, w)
    ref = _row(doc, "ANN", REF)
    assert ref["ops"] == macs and ref["ops_type"] == "MACs"
    assert ref["dynamic_mj"] == pytest.approx(macs * REF_PJ_PER_MAC * 1e-9, rel=1e-12)
    # per depth map at the sensor's rate: dynamic + idle power over the window (or the latency, if longer)
    window = doc["models"][0]["window_s"]
    kernels = doc["models"][0]["dense_macs"]["kernels"]
    assert kernels > 0
    latency = kernels * REF_LAUNCH_S + macs / REF_MACS_PER_S
    assert ref["latency_s"] == pytest.approx(latency, rel=1e-9)
    assert ref["per_map_mj"] == pytest.approx(ref["dynamic_mj"] + REF_IDLE_W * max(window, latency) * 1e3, rel=1e-12)
    assert ref["energy_mj"] == ref["per_map_mj"]  # ranked by energy per depth map
    assert doc["reference"]["profile"] == REF and doc["reference"]["energy_mj"] == ref["energy_mj"]
    assert doc["reference"]["ranked_by"] == "per_map_mj"
    for r in doc["rows"]:
        if r["energy_mj"] is not None:  # every costed row shows both figures, per map >= dynamic
            assert r["dynamic_mj"] is not None and r["per_map_mj"] >= r["dynamic_mj"] > 0


def test_dense_macs_hook_formula():
    from depthsnn.compare.ops import dense_macs

    class Net(nn.Module):  # the counter only needs .cfg.channels and a [B, T, C, H, W] forward
        cfg = type("Cfg", (), {"channels": 4})

        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(4, 6, 3, stride=2, padding=1)
            self.b = nn.Conv2d(6, 6, 5, padding=2, groups=3)

        def forward(self, x):
            return self.b(self.a(x.flatten(0, 1)))

    got = dense_macs(Net(), (16, 20), 2)
    want_a = 2 * 6 * 8 * 10 * 4 * 9
    want_b = 2 * 6 * 8 * 10 * 2 * 25
    assert got.layers == {"a": want_a, "b": want_b} and got.macs == want_a + want_b
    assert got.activations == 2 * 2 * 6 * 8 * 10


def test_cross_platform_ratio_column(compared):
    _, doc = compared
    ref = _row(doc, "ANN", REF)["energy_mj"]
    costed = [r for r in doc["rows"] if r["energy_mj"] is not None]
    assert len(costed) == len(ANN_DEFAULT) + 2 * (2 + len(BOTH))
    for r in costed:
        assert r["cross_platform_ratio"] == pytest.approx(ref / r["energy_mj"], rel=1e-12)
    assert all(r["cross_platform_ratio"] is None for r in doc["rows"] if r["energy_mj"] is None)


def test_same_hardware_ratios(compared, tiny_checkpoints):
    from depthsnn.simulate.pipeline import load_network, open_dataset, simulate_dataset

    out, doc = compared
    pairs = {(p["model"], p["profile"]): p for p in doc["same_hardware"]}
    snn, hnn = (m["name"] for m in doc["models"][1:])
    assert set(pairs) == {(m, p) for m in (snn, hnn) for p in BOTH}
    for r in doc["rows"]:
        if r["kind"] != "ANN" and r["runtime"] in BOTH:
            ann = _row(doc, "ANN", r["runtime"])
            assert r["same_hardware_ratio"] == pytest.approx(ann["energy_mj"] / r["energy_mj"], rel=1e-12)
            assert pairs[(r["model"], r["runtime"])]["ratio"] == r["same_hardware_ratio"]
        else:
            assert r["same_hardware_ratio"] is None  # ANN rows, runtimes, chips that cannot run the ANN
    # On a dense profile both pay one MAC energy per op, so the ratio is ANN MACs over the SNN's
    # dense synaptic ops + neuron updates (the float simulation: gpu_h100 keeps float weights).
    net = load_network(tiny_checkpoints["snn-tiny"])
    counts = simulate_dataset(net, open_dataset(net, None, None, "test"), samples=SAMPLES).counts
    dense = counts.per_inference("dense_ops") + counts.per_inference("neuron_updates")
    macs = doc["models"][0]["dense_macs"]["macs"]
    assert pairs[(snn, "gpu_h100")]["ratio"] == pytest.approx(macs / dense, rel=1e-9)
    # the memory-aware profile prices memory for both networks
    lem = pairs[(snn, "lemaire45nm")]
    assert lem["memory_modelled"]
    for kind in ("ANN", "SNN"):
        e = _row(doc, kind, "lemaire45nm")["energy"]
        assert e["memory_mj"] > 0 and e["addressing_mj"] > 0


def test_terminal_puts_same_hardware_first(compared):
    from depthsnn.compare.api import CompareRow, Comparison
    from depthsnn.compare.report import terminal_table

    _, doc = compared
    rows = [CompareRow(**{k: v for k, v in r.items()}) for r in doc["rows"]]
    text = terminal_table(Comparison(rows, doc["models"], doc["data"], doc["reference"], [], doc["same_hardware"]))
    assert text.index("Same hardware") < text.index("All rows")
    assert text.splitlines()[0].startswith("Energy ranked by per map mJ")
    assert "dynamic mJ" in text and "per map mJ" in text
    assert "ANN / model (same hardware)" in text and f"vs ANN on {REF} (cross-platform)" in text


def test_snn_ops_match_simulator(compared, tiny_checkpoints):
    from depthsnn.simulate.pipeline import load_network, open_dataset, simulate_dataset

    _, doc = compared
    net = load_network(tiny_checkpoints["snn-tiny"])
    sim = simulate_dataset(net, open_dataset(net, None, None, "test"), samples=SAMPLES)
    row = _row(doc, "SNN", "simulator")
    acs, macs = sim.counts.per_inference("acs"), sim.counts.per_inference("macs")
    assert row["ops"] == pytest.approx(acs + macs, rel=1e-12) and row["ops_type"] == "ACs+MACs"
    assert row["ops_detail"]["dense_ops"] == pytest.approx(sim.counts.per_inference("dense_ops"), rel=1e-12)
    assert row["metrics"]["mde_cm"] == pytest.approx(sim.metrics["mde_cm"], abs=1e-9)


def test_onnx_ann_is_used_as_is(compared, tiny_checkpoints, tmp_path):
    from depthsnn.compare import compare

    out, doc = compared
    res = compare(doc["models"][0]["onnx"], [tiny_checkpoints["snn-tiny"]], tmp_path, samples=SAMPLES, repeats=1,
                  ann_profiles=[REF], snn_profiles=["loihi"])
    assert res.rows[0].metrics["mde_cm"] == pytest.approx(_row(doc, "ANN", "onnxruntime")["metrics"]["mde_cm"],
                                                          abs=1e-9)
    assert res.rows[1].ops == _row(doc, "ANN", REF)["ops"]  # MACs from the stored configuration


def test_simulations_of_an_energy_run_are_reused(compared, tiny_checkpoints, tmp_path, monkeypatch):
    """An assess_profiles cache handed to compare() gives the same rows with no new simulation."""
    import depthsnn.hw_profiles.assess as assess_mod
    import depthsnn.simulate.pipeline as pipeline
    from depthsnn.compare import compare
    from depthsnn.hw_profiles import get_profile

    _, doc = compared
    snn = tiny_checkpoints["snn-tiny"]
    net = pipeline.load_network(snn)
    cache: dict = {}
    assess_mod.assess_profiles(net, pipeline.open_dataset(net, None, None, "test"),
                               [get_profile(p) for p in ("loihi", "speck", "gpu")], samples=SAMPLES,
                               simulations=cache)
    assert set(cache) == {(None, SAMPLES), (8, SAMPLES)}  # the GPU's float32 and the chips' 8-bit weights

    def no_more(*a, **k):
        raise AssertionError("simulated again despite the cache")

    monkeypatch.setattr(pipeline, "simulate_dataset", no_more)
    monkeypatch.setattr(assess_mod, "simulate_dataset", no_more)
    res = compare(doc["models"][0]["onnx"], [snn], tmp_path, samples=SAMPLES, repeats=1, ann_profiles=["cpu"],
                  snn_profiles=["loihi", "speck"], simulations={str(snn): cache})
    for r in res.rows:
        if r.kind == "SNN":
            ref = _row(doc, "SNN", r.runtime)
            assert r.metrics["mde_cm"] == pytest.approx(ref["metrics"]["mde_cm"], abs=1e-9)
            assert r.ops == pytest.approx(ref["ops"], rel=1e-12)
            if r.energy_mj is not None:
                assert r.energy_mj == pytest.approx(ref["energy_mj"], rel=1e-12)


def _fails(argv, capsys, *needles):
    assert main(["compare", *argv, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("depthsnn compare: error:"), err
    for n in needles:
        assert n in err, err


def test_errors(tiny_checkpoints, tmp_path, capsys):
    from depthsnn.export.onnx_export import export_ann_onnx
    from depthsnn.models import build_model
    from depthsnn.train.checkpoint import model_from_checkpoint

    snn, ann, out = str(tiny_checkpoints["snn-tiny"]), str(tiny_checkpoints["ann-tiny"]), str(tmp_path / "o")
    _fails(["--ann", snn, "--snn", snn, "--out", out], capsys, "--ann takes an ANN")
    _fails(["--ann", ann, "--snn", ann, "--out", out], capsys, "--snn takes an SNN or HNN")
    _fails(["--ann", str(tmp_path / "nope.onnx"), "--snn", snn, "--out", out], capsys, "not found")
    _fails(["--ann", ann, "--snn", str(tmp_path / "nope.pt"), "--out", out], capsys, "not found")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf at all")
    _fails(["--ann", str(bad), "--snn", snn, "--out", out], capsys, "not a valid ONNX model")
    model, _, ckpt = model_from_checkpoint(ann)
    h, w = ckpt["input_hw"]
    other_res = export_ann_onnx(model, tmp_path / "res.onnx", (h // 2, w), 2, verify=False)
    _fails(["--ann", str(other_res.path), "--snn", snn, "--out", out], capsys, "resolutions")
    mono = build_model(dataclasses.replace(model.cfg, modality="monocular", in_channels=None))
    other_mod = export_ann_onnx(mono, tmp_path / "mono.onnx", (h, w), 2, verify=False)
    _fails(["--ann", str(other_mod.path), "--snn", snn, "--out", out], capsys, "monocular")
    _fails(["--ann", ann, "--snn", snn, "--ann-profiles", "loihi", "--out", out], capsys, "no MAC energy")
    _fails(["--ann", ann, "--snn", snn, "--samples", "0", "--out", out], capsys, "--samples")
