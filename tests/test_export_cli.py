"""``depthsnn export``: files, manifest and errors, from checkpoints written by real training."""

from __future__ import annotations

import hashlib
import json

import nir
import onnx
import pytest

from depthsnn.cli.main import main
from depthsnn.export.nir_io import read_nir


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_snn_export_writes_nir_onnx_and_manifest(tiny_checkpoints, tmp_path, capsys):
    out = tmp_path / "exp"
    assert main(["export", str(tiny_checkpoints["snn-tiny"]), "--format", "nir,onnx", "--out", str(out)]) == 0
    man = json.loads((out / "manifest.json").read_text())
    assert man["input_hw"] == [48, 64] and man["num_bins"] == 2 and man["dt"] == 1e-4
    kinds = {(f["format"], f.get("form")) for f in man["files"]}
    assert kinds == {("nir", None), ("onnx", "snn-unrolled"), ("onnx", "snn-step")}
    for f in man["files"]:
        assert _sha(out / f["path"]) == f["sha256"]
    nir_entry = next(f for f in man["files"] if f["format"] == "nir")
    assert nir_entry["verification"]["spike_mismatches"] == 0 and nir_entry["verification"]["spikes"] > 0
    assert isinstance(nir.read(out / nir_entry["path"]), nir.NIRGraph)
    assert read_nir(out / nir_entry["path"]).input.shape == (4, 48, 64)
    for f in man["files"]:
        if f["format"] == "onnx":
            onnx.checker.check_model(onnx.load(out / f["path"]))
            assert f["opset"] == 17 and f["max_abs_diff"] <= 1e-4
    assert man["checkpoint"]["sha256"] == _sha(tiny_checkpoints["snn-tiny"])


def test_ann_export_defaults_to_onnx_and_refuses_nir(tiny_checkpoints, tmp_path, capsys):
    out = tmp_path / "ann"
    assert main(["export", str(tiny_checkpoints["ann-tiny"]), "--out", str(out), "--quiet"]) == 0
    man = json.loads((out / "manifest.json").read_text())
    assert [f["form"] for f in man["files"]] == ["ann"]
    assert main(["export", str(tiny_checkpoints["ann-tiny"]), "--format", "nir", "--out", str(out)]) == 2
    assert "cannot be exported to NIR" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--format", "tflite"], "unknown export format"),
    (["--input-hw", "big"], "--input-hw must look like"),
    (["--dt", "0"], "dt must be > 0"),
])
def test_export_bad_options(tiny_checkpoints, tmp_path, capsys, args, message):
    assert main(["export", str(tiny_checkpoints["snn-tiny"]), "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_export_bad_checkpoints(tmp_path, capsys):
    missing = tmp_path / "none.pt"
    assert main(["export", str(missing), "--out", str(tmp_path / "o")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00garbage" * 10)
    assert main(["export", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a readable checkpoint" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o" / "manifest.json").exists()
