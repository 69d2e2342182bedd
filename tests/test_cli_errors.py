"""No sub-command shows a traceback for a bad input file: each one, run on a corrupt input of
every kind it accepts, exits with status 2 and ends stderr with
``depthsnn <cmd>: error: <file>: <problem>`` naming the corrupt file."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from depthsnn.cli.main import main
from depthsnn.config import to_dict
from depthsnn.data.dataset import DataConfig
from depthsnn.data.recordings import writers as W
from depthsnn.models import build_model
from depthsnn.train.checkpoint import save_checkpoint
from depthsnn.train.config import TrainConfig

WIDTH, HEIGHT = 64, 48


def _events(seed, n=400):
    rng = np.random.default_rng(seed)
    t = 1_000_000 + np.cumsum(rng.integers(0, 500, n)).astype(np.int64)
    return rng.integers(0, WIDTH, n), rng.integers(0, HEIGHT, n), t, rng.random(n) < 0.5


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_errors")
    torch.manual_seed(0)
    model = build_model("snn-tiny", modality="binocular", base_channels=4, levels=3, residual_blocks=1).eval()
    data = DataConfig(split="synthetic", cameras="binocular", num_bins=2, normalize_depth=True)
    good = save_checkpoint(d / "good.pt", model=model.state_dict(),
                           config=to_dict(TrainConfig(model="snn-tiny", data=data)), model_config=to_dict(model.cfg),
                           epoch=1, best_mde=1.0, input_hw=[HEIGHT, WIDTH])
    raw = good.read_bytes()
    bad = {"pt": d / "bad.pt", "nir": d / "bad.nir", "onnx": d / "bad.onnx", "toml": d / "bad.toml"}
    bad["pt"].write_bytes(raw[: len(raw) // 2])
    bad["nir"].write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 50)
    bad["onnx"].write_bytes(b"\x08\x07garbage")
    bad["toml"].write_text("epochs = = 3\n")
    # A data folder (MVSEC and synthetic names) whose every file is damaged.
    root = d / "data"
    root.mkdir()
    damaged = []
    for name in ("indoor_flying1_data.hdf5", "indoor_flying1_gt.hdf5", "synthetic_stereo1_data.hdf5",
                 "synthetic_stereo1_gt.hdf5"):
        (root / name).write_bytes(b"\x89HDF\r\n\x1a\n" + b"\xff" * 40)
        damaged.append(root / name)
    for scene in ("indoor_flying", "synthetic_stereo"):
        (root / f"{scene}_calib").mkdir()
        y = root / f"{scene}_calib" / f"camchain-imucam-{scene}.yaml"
        y.write_text("cam0: [unclosed\n")
        damaged.append(y)
    # Event files of every kind, each damaged in a way no reader can take for events.
    ev = {"left": _events(1), "right": _events(2)}
    res = (WIDTH, HEIGHT)

    def ch(c):
        return iter([ev[c]])

    whole = {
        "npz": [W.write_npz(d / "rec.npz", {c: ch(c) for c in ev}, res)],
        "hdf5": [W.write_plain_h5(d / "rec.h5", {c: ch(c) for c in ev}, res)],
        "mvsec": [W.write_mvsec_data(d / "rec_data.hdf5", {c: ch(c) for c in ev})],
        "aedat4": [W.write_aedat4(d / "rec.aedat4", {c: ch(c) for c in ev}, res)],
        "evt2": [W.write_camera_file(d / f"{c}_evt2.raw", ch(c), res, "evt2") for c in ev],
        "evt3": [W.write_camera_file(d / f"{c}_evt3.raw", ch(c), res, "evt3") for c in ev],
        "dat": [W.write_camera_file(d / f"{c}.dat", ch(c), res) for c in ev],
        "csv": [W.write_camera_file(d / f"{c}.csv", ch(c), res) for c in ev],
    }
    events = {}
    for kind, paths in whole.items():
        for p in paths:
            b = p.read_bytes()
            if kind in ("evt2", "evt3", "dat"):  # the header, then a few bytes of no whole event
                end = 0
                while b.startswith(b"%", end):
                    end = b.index(b"\n", end) + 1
                p.write_bytes(b[: end + 1])
            elif kind == "csv":
                lines = b.decode().splitlines()
                lines[5] = ",".join(lines[5].split(",")[:-1] + ["7"])  # polarity 7
                p.write_text("\n".join(lines) + "\n")
            else:
                p.write_bytes(b[: len(b) // 2])
        events[kind] = paths
    # An npz whose coordinates leave the sensor (for --strict).
    x, y, t, on = ev["left"]
    outside = d / "outside.npz"
    xs = x.copy()
    xs[10] = 5000
    np.savez(outside, left_x=xs, left_y=y, left_t=t / 1e6, left_p=on, right_x=ev["right"][0],
             right_y=ev["right"][1], right_t=ev["right"][2] / 1e6, right_p=ev["right"][3], width=WIDTH, height=HEIGHT)
    return {"dir": d, "good": good, "bad": bad, "data": root, "damaged": damaged, "events": events,
            "outside": outside}


def _last_error(capsys, argv, cmd):
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2, (argv, err)
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    m = re.fullmatch(rf"depthsnn {cmd}: error: (/\S+): (.+)", last)
    assert m, last
    return m.group(1), m.group(2)


def test_model_files(inputs, capsys):
    """Every command that opens a checkpoint, NIR, ONNX or TOML file, on a damaged one."""
    bad, good, out = inputs["bad"], inputs["good"], inputs["dir"] / "out"
    ok_events = inputs["outside"]
    cases = [
        ("data", ["data", "synth", "--config", bad["toml"], "--out", out], bad["toml"]),
        ("train", ["train", "--config", bad["toml"], "--out", out], bad["toml"]),
        ("evaluate", ["evaluate", bad["pt"], "--out", out], bad["pt"]),
        ("predict", ["predict", bad["pt"], "--events", ok_events, "--out", out, "--quiet"], bad["pt"]),
        ("predict", ["predict", bad["nir"], "--events", ok_events, "--out", out, "--quiet"], bad["nir"]),
        ("export", ["export", bad["pt"], "--out", out], bad["pt"]),
        ("simulate", ["simulate", bad["pt"], "--out", out], bad["pt"]),
        ("simulate", ["simulate", bad["nir"], "--out", out], bad["nir"]),
        ("energy", ["energy", bad["pt"], "--out", out], bad["pt"]),
        ("compare", ["compare", "--ann", bad["onnx"], "--snn", good, "--out", out], bad["onnx"]),
        ("compare", ["compare", "--ann", bad["pt"], "--snn", good, "--out", out], bad["pt"]),
        ("compare", ["compare", "--ann", good, "--snn", bad["pt"], "--out", out], bad["pt"]),
        ("checkpoint", ["checkpoint", "info", bad["pt"]], bad["pt"]),
        ("checkpoint", ["checkpoint", "convert", bad["pt"], inputs["dir"] / "new.pt", "--trust"], bad["pt"]),
    ]
    for cmd, argv, path in cases:
        named, _ = _last_error(capsys, argv, cmd)
        assert named == str(path), (argv, named)


def test_data_folders(inputs, capsys):
    """Commands that read a data folder, on one whose every file is damaged."""
    root, good, out = inputs["data"], inputs["good"], inputs["dir"] / "out"
    damaged = {str(p) for p in inputs["damaged"]}
    for cmd, argv in [
        ("data", ["data", "info", root]),
        ("train", ["train", "--data", root, "--split", "synthetic", "--out", out, "--epochs", "1"]),
        ("simulate", ["simulate", good, "--data", root, "--out", out]),
        ("predict", ["predict", good, "--events", inputs["outside"], "--calib", root / "indoor_flying_calib",
                     "--out", out, "--quiet"]),
        ("demo", ["demo", "--data", root, "--split", "synthetic", "--workdir", inputs["dir"] / "demo",
                  "--epochs", "1", "--quiet"]),
    ]:
        named, _ = _last_error(capsys, argv, cmd)
        assert named in damaged, (argv, named)


@pytest.mark.parametrize("kind", ["npz", "hdf5", "mvsec", "aedat4", "evt2", "evt3", "dat", "csv"])
def test_damaged_event_files(inputs, capsys, kind):
    files = inputs["events"][kind]
    named, problem = _last_error(capsys, ["predict", inputs["good"], "--events", *files,
                                          "--out", inputs["dir"] / "out", "--quiet"], "predict")
    assert named == str(files[0]), named
    assert not (inputs["dir"] / "out" / "depth.h5").exists()


def test_out_of_sensor_events_warn_once_and_strict_refuses(inputs, capsys, tmp_path):
    """The issue's second defect through the CLI: a warning naming the file, the count and the
    first event; --strict turns it into the one-line error."""
    path = inputs["outside"]
    capsys.readouterr()
    assert main(["predict", str(inputs["good"]), "--events", str(path), "--out", str(tmp_path / "p"),
                 "--quiet", "--video-frames", "0"]) == 0
    err = capsys.readouterr().err
    hits = [ln for ln in err.splitlines() if "outside the" in ln]
    assert len(hits) == 1, err
    assert f"{path}: left camera: 1 of 400 events lie outside the {WIDTH}x{HEIGHT} sensor and were dropped " \
           "(first at x=5000" in hits[0]
    named, problem = _last_error(capsys, ["predict", inputs["good"], "--events", path, "--out", tmp_path / "q",
                                          "--quiet", "--strict"], "predict")
    assert named == str(path)
    assert re.fullmatch(r"left camera: event 10 at x=5000, y=\d+ \(t=[\d.]+ s\) lies outside the 64x48 sensor "
                        r"\(--strict\)", problem), problem
