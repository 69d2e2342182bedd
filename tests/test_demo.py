"""A shortened demo end to end: small generated data, one epoch, every output file present."""

from __future__ import annotations

import json

import pytest

from depthsnn.cli.main import main
from depthsnn.hw_profiles import energy_per_inference, get_profile
from depthsnn.simulate.counts import SimCounts

SMALL = ["--synth-set", "sequences=3", "--synth-set", "seconds=0.6", "--synth-set", "width=64",
         "--synth-set", "height=48", "--train-set", "max_train_samples=6", "--train-set",
         "max_val_samples=4", "--train-set", "model_options=base_channels=4,levels=3",
         "--epochs", "1", "--figures", "1", "--energy-samples", "2", "--quiet"]


def test_short_demo_writes_everything_and_reruns(tmp_path, capsys):
    work = tmp_path / "demo"
    assert main(["demo", "--workdir", str(work), *SMALL]) == 0
    out = capsys.readouterr().out
    assert "constant mean depth" in out and str(work / "results") in out
    assert json.loads((work / "data" / "synthetic" / "dataset.json").read_text())["sequences"]
    for model in ("snn-tiny", "ann-tiny"):
        run = work / "runs" / model
        assert (run / "best.pt").is_file() and (run / "last.pt").is_file()
        assert json.loads((run / "metrics.jsonl").read_text().splitlines()[0])["epoch"] == 1
    rows = json.loads((work / "results" / "results.json").read_text())["rows"]
    assert [r["kind"] for r in rows] == ["SNN", "ANN", "baseline"]
    assert all(r["metrics"]["mde_cm"] > 0 for r in rows)
    assert rows[0]["firing_rate"] > 0 and rows[1]["firing_rate"] is None
    pngs = list((work / "results" / "figures").rglob("*.png"))
    assert len(pngs) == 2
    # Exports: NIR + two ONNX files for the SNN, one ONNX file for the ANN, hashes in manifests.
    snn_files = json.loads((work / "exports" / "snn-tiny" / "manifest.json").read_text())["files"]
    assert sorted(f["path"] for f in snn_files) == ["snn-tiny.nir", "snn-tiny.onnx", "snn-tiny.step.onnx"]
    ann_files = json.loads((work / "exports" / "ann-tiny" / "manifest.json").read_text())["files"]
    assert [f["path"] for f in ann_files] == ["ann-tiny.onnx"]
    # Energy: positive per profile, consistent with the simulator counts, and in the results table.
    energy = json.loads((work / "energy" / "snn-tiny" / "energy.json").read_text())
    loihi = next(p for p in energy["profiles"] if p["profile"] == "loihi")
    assert all(p["energy"]["total_mj"] > 0 for p in energy["profiles"])
    assert (work / "energy" / "snn-tiny" / "energy.png").stat().st_size > 1000
    counts = SimCounts.from_dict(energy["simulations"][loihi["precision"]]["counts"])
    again = energy_per_inference(counts, get_profile("loihi"), energy["latency_s"])
    assert again.total_mj == pytest.approx(loihi["energy"]["total_mj"], rel=1e-9)
    assert counts.per_inference("acs") > 0 and counts.firing_rate() > 0
    comp = json.loads((work / "compare" / "comparison.json").read_text())
    assert {r["kind"] for r in comp["rows"]} == {"ANN", "SNN"}
    assert (work / "compare" / "accuracy_vs_energy.png").is_file()
    table = json.loads((work / "results" / "results.json").read_text())["rows"]
    assert table[0]["energy_mj"] == loihi["energy"]["total_mj"] and table[1]["energy_mj"] is None
    mtime = (work / "runs" / "snn-tiny" / "last.pt").stat().st_mtime
    # Second run reuses data and checkpoints.
    assert main(["demo", "--workdir", str(work), *SMALL]) == 0
    assert "reusing" in capsys.readouterr().out
    assert (work / "runs" / "snn-tiny" / "last.pt").stat().st_mtime == mtime


def test_demo_with_missing_data_folder(tmp_path, capsys):
    assert main(["demo", "--workdir", str(tmp_path), "--data", str(tmp_path / "nope"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "data folder not found" in err and len(err.splitlines()) == 1


def test_parallel_training_matches_training_in_process(tmp_path):
    """Models trained at once in worker processes give the checkpoints an in-process run gives
    with the same thread count (the worker is not a different recipe)."""
    import os

    import torch

    from depthsnn.demo import DemoConfig, prepare_data, train_model, train_models

    synth = [s for s in SMALL[1:8:2]]  # the four --synth-set values
    train = ["max_train_samples=4", "max_val_samples=2", "model_options=base_channels=4,levels=3"]
    cfg = DemoConfig(workdir=str(tmp_path / "par"), epochs=1, synth_options=synth, train_options=train,
                     progress=False, jobs=2)
    root, split = prepare_data(cfg, say=lambda m: None)
    lines: list[str] = []
    runs = train_models(cfg, root, split, say=lines.append)
    assert set(runs) == {"snn-tiny", "ann-tiny"} and "2 at once" in lines[0]
    seq = DemoConfig(workdir=str(tmp_path / "seq"), epochs=1, train_options=train, progress=False, jobs=1)
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))
    try:
        alone = train_model(seq, "ann-tiny", root, split, say=lambda m: None)
    finally:
        torch.set_num_threads(before)
    a = torch.load(runs["ann-tiny"] / "best.pt", map_location="cpu", weights_only=False)["model"]
    b = torch.load(alone / "best.pt", map_location="cpu", weights_only=False)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_given_data_folder_takes_the_split_of_its_kind(tmp_path):
    """``--data`` of a generated set trains on its synthetic split; other folders on MVSEC's split1."""
    from depthsnn.demo import DemoConfig, prepare_data
    from depthsnn.errors import DataError

    synth = [s for s in SMALL[1:8:2]]
    root, split = prepare_data(DemoConfig(workdir=str(tmp_path), synth_options=synth, progress=False),
                               say=lambda m: None)
    assert split == "synthetic"
    assert prepare_data(DemoConfig(data=str(root)), say=lambda m: None) == (root, "synthetic")
    mvsec = tmp_path / "mvsec"
    mvsec.mkdir()
    (mvsec / "indoor_flying1_data.hdf5").touch()
    assert prepare_data(DemoConfig(data=str(mvsec)), say=lambda m: None) == (mvsec, "split1")
    assert prepare_data(DemoConfig(data=str(root), split="split1"), say=lambda m: None)[1] == "split1"
    with pytest.raises(DataError, match="data folder not found"):
        prepare_data(DemoConfig(data=str(tmp_path / "nope")), say=lambda m: None)
