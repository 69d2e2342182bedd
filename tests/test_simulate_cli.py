"""``depthsnn simulate`` and ``depthsnn energy`` on trained checkpoints and exported NIR files."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from depthsnn.cli.main import main
from depthsnn.evaluate.api import evaluate_checkpoints
from depthsnn.hw_profiles import builtin_profile_names, energy_per_inference, get_profile
from depthsnn.simulate.counts import SimCounts


def test_simulate_checkpoint_and_nir_agree(tiny_checkpoints, tiny_synth, tmp_path, capsys):
    ck = tiny_checkpoints["snn-tiny"]
    assert main(["simulate", str(ck), "--samples", "2", "--out", str(tmp_path / "a")]) == 0
    a = json.loads((tmp_path / "a" / "simulation.json").read_text())
    assert a["spike_mismatches"] == 0 and a["spikes_compared"] > 0 and a["max_rel_diff"] <= 1e-5
    assert a["counts"]["per_inference"]["acs"] > 0 and a["counts"]["per_inference"]["macs"] > 0
    assert "parity with the dense torch reference: 0 of" in capsys.readouterr().out
    # The same network from its NIR file gives the same counts and depth.
    assert main(["export", str(ck), "--format", "nir", "--out", str(tmp_path / "x"), "--quiet"]) == 0
    nir_file = next((tmp_path / "x").glob("*.nir"))
    assert main(["simulate", str(nir_file), "--data", str(tiny_synth), "--split", "synthetic", "--samples", "2",
                 "--out", str(tmp_path / "b"), "--quiet"]) == 0
    b = json.loads((tmp_path / "b" / "simulation.json").read_text())
    assert b["counts"]["per_inference"] == a["counts"]["per_inference"]
    assert b["metrics"]["mde_cm"] == pytest.approx(a["metrics"]["mde_cm"], rel=1e-6)


def test_simulate_float64_and_errors(tiny_checkpoints, tmp_path, capsys):
    ck = tiny_checkpoints["hnn-tiny"]
    assert main(["simulate", str(ck), "--samples", "1", "--dtype", "float64", "--out", str(tmp_path), "--quiet"]) == 0
    d = json.loads((tmp_path / "simulation.json").read_text())
    assert d["spike_mismatches"] == 0 and d["counts"]["per_inference"]["macs"] > 0  # analog layer: MACs
    for args, msg in [
        ([str(tiny_checkpoints["ann-tiny"])], "not a spiking network"),
        ([str(tmp_path / "missing.pt")], "model file not found"),
        ([str(ck), "--samples", "0"], "--samples must be >= 1"),
    ]:
        assert main(["simulate", *args, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip()
        assert msg in err and len(err.splitlines()) == 1


def test_energy_report_matches_counts_and_fills_results(tiny_checkpoints, tmp_path, capsys):
    ck = tiny_checkpoints["snn-tiny"]
    results = tmp_path / "results"
    evaluate_checkpoints([ck], out_dir=results, figures=0, progress=False, max_samples=2)
    out = tmp_path / "energy"
    assert main(["energy", str(ck), "--samples", "2", "--out", str(out), "--results", str(results)]) == 0
    printed = capsys.readouterr().out
    rep = json.loads((out / "energy.json").read_text())
    assert [p["profile"] for p in rep["profiles"]] == builtin_profile_names()
    with Image.open(out / "energy.png") as im:
        assert im.format == "PNG"
    for p in rep["profiles"]:
        assert p["energy"]["total_mj"] > 0 and p["mde_cm"] > 0
    loihi = next(p for p in rep["profiles"] if p["profile"] == "loihi")
    assert loihi["precision"] == "int8 weights"
    assert "loihi" in printed and "MDE" in printed
    row = json.loads((results / "results.json").read_text())["rows"][0]
    assert row["energy_mj"] == pytest.approx(loihi["energy"]["total_mj"])
    assert "—" not in (results / "results.md").read_text().splitlines()[4].split("|")[6]


def test_energy_equals_model_applied_to_simulated_counts(tiny_checkpoints, tmp_path):
    from depthsnn.hw_profiles.assess import assess_profiles
    from depthsnn.simulate.pipeline import load_network, open_dataset

    net = load_network(tiny_checkpoints["snn-tiny"])
    ds = open_dataset(net, None, None, "test")
    profs = [get_profile("gpu"), get_profile("loihi")]
    res = assess_profiles(net, ds, profs, samples=2, latency_s=0.05)
    for a in res:
        again = energy_per_inference(SimCounts.from_dict(a.simulation.counts.to_dict()), a.profile, 0.05)
        assert again.total_mj == pytest.approx(a.row.breakdown.total_mj, rel=1e-12)
    # GPU is dense: synaptic energy = dense ops per inference x 0.3 nJ (design.md, Degnan 2015).
    gpu = res[0]
    dense = gpu.simulation.counts.per_inference("dense_ops")
    assert gpu.row.breakdown.synaptic_mj == pytest.approx(dense * 0.3e-9 * 1e3, rel=1e-9)


def test_energy_bad_profile_file(tiny_checkpoints, tmp_path, capsys):
    bad = tmp_path / "chip.toml"
    bad.write_text('name = "chip"\n[energy]\ne_syn_op_pj = { value = -1.0, source = "x" }\n')
    assert main(["energy", str(tiny_checkpoints["snn-tiny"]), "--profile", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert str(bad) in err and len(err.splitlines()) == 1
