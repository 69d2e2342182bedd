"""``depthsnn evaluate``: results table/JSON, metrics against independent computations, figures,
video and one-line errors. Uses a tiny synthetic set (64 x 48, 2 sequences) and untrained tiny
models, so expectations are computed here from the data set itself, not from the evaluator.
"""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from depthsnn.cli.main import main
from depthsnn.config import to_dict
from depthsnn.data.dataset import DataConfig, EventDepthDataset
from depthsnn.data.synthetic import SynthConfig, generate_dataset
from depthsnn.errors import DataWarning
from depthsnn.evaluate import evaluate_checkpoints
from depthsnn.evaluate.figures import evenly_spaced
from depthsnn.evaluate.report import ResultRow, main_table, results_json
from depthsnn.models import build_model
from depthsnn.train.checkpoint import save_checkpoint
from depthsnn.train.config import TrainConfig

W, H = 64, 48
D_MAX, ALPHA = 10.0, 3.7
MIN_DEPTH_M = 1e-3  # the metric code clamps predictions to this before taking errors
# Tiny preset: input layer + 4 encoders + 2 SEW blocks x 2 + 4 decoders.
TINY_ACTIVATION_LAYERS = 1 + 4 + 2 * 2 + 4


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Synthetic data plus three checkpoints (models kept in memory for independent checks).

    ``snn``: binocular, trained on log-normalised depth (exercises the metres conversion);
    ``ann``: binocular, metric depth; ``mono``: monocular SNN saved without a run name.
    """
    base = tmp_path_factory.mktemp("eval")
    root = base / "data"
    generate_dataset(root, SynthConfig(sequences=2, seconds=0.5, width=W, height=H), progress=False)
    specs = {
        "snn": ("snn-tiny", "binocular", True, "snn-run"),
        "ann": ("ann-tiny", "binocular", False, "ann-run"),
        "mono": ("snn-tiny", "monocular", False, None),
    }
    ckpts, models, data_cfgs = {}, {}, {}
    for key, (preset, cameras, norm, name) in specs.items():
        torch.manual_seed(len(key))
        model = build_model(preset, modality=cameras).eval()
        data = DataConfig(root=str(root), split="synthetic", cameras=cameras, normalize_depth=norm)
        cfg = TrainConfig(model=preset, data=data)
        extra = {"name": name} if name else {}
        path = save_checkpoint(
            base / f"{key}.pt",
            model=model.state_dict(),
            config=to_dict(cfg),
            model_config=to_dict(model.cfg),
            epoch=3,
            best_mde=99.0,
            **extra,
        )
        ckpts[key], models[key], data_cfgs[key] = path, model, data
    return {"base": base, "root": root, "ckpts": ckpts, "models": models, "data": data_cfgs}


@pytest.fixture(scope="module")
def evaluated(world):
    """One evaluation of all three checkpoints with figures and a 3-frame video."""
    out = world["base"] / "out"
    rows = evaluate_checkpoints(
        [world["ckpts"][k] for k in ("snn", "ann", "mono")],
        out_dir=out,
        figures=4,
        video=True,
        video_frames=3,
        progress=False,
    )
    return {"out": out, "rows": rows}


def _row(rows, name):
    (row,) = [r for r in rows if r["name"] == name]
    return row


def _metres(x: np.ndarray, normalized: bool) -> np.ndarray:
    x = x.astype(np.float64)
    return D_MAX * np.exp(ALPHA * (x - 1.0)) if normalized else x


# -- results files ----------------------------------------------------------------------------


def test_results_files_written_and_parse(evaluated):
    out = evaluated["out"]
    doc = json.loads((out / "results.json").read_text())
    assert doc["format"] == "depthsnn-results"
    assert doc["rows"] == evaluated["rows"]
    names = [r["name"] for r in doc["rows"]]
    assert names == ["snn-run", "ann-run", "snn-tiny", "constant mean depth"]

    snn, ann, mono, base = doc["rows"]
    assert (snn["kind"], snn["modality"], snn["preset"]) == ("SNN", "binocular", "snn-tiny")
    assert (ann["kind"], ann["modality"]) == ("ANN", "binocular")
    assert (mono["kind"], mono["modality"]) == ("SNN", "monocular")
    assert base["kind"] == "baseline"
    for r in doc["rows"]:
        assert r["energy_mj"] is None
        assert r["data"]["subset"] == "test" and r["data"]["split"] == "synthetic"
        for k in ("mde_cm", "abs_rel", "sq_rel", "rmse", "rmse_log", "si_log", "delta1", "delta2", "delta3"):
            assert isinstance(r["metrics"][k], float)
    assert 0.0 < snn["firing_rate"] < 1.0 and ann["firing_rate"] is None
    assert snn["epoch"] == 3
    # Per-layer statistics: every activation layer of the tiny U-Net, with rate and sparsity.
    assert len(snn["layers"]) == TINY_ACTIVATION_LAYERS and all(
        {"rate", "sparsity", "spiking"} <= set(v) for v in snn["layers"].values()
    )
    assert not any(v["spiking"] for v in ann["layers"].values())

    md = (out / "results.md").read_text()
    lines = [ln for ln in md.splitlines() if ln.startswith("| ")]
    assert lines[0] == "| Model | Type | Modality | MDE [cm] | Firing rate [%] | Energy [mJ] |"
    table = {ln.split(" | ")[0][2:]: [c.strip() for c in ln.strip("| ").split(" | ")] for ln in lines[2:6]}
    assert table["snn-run"][1:3] == ["SNN", "binocular"]
    assert float(table["snn-run"][3]) == pytest.approx(snn["metrics"]["mde_cm"], abs=0.006)
    assert float(table["snn-run"][4]) == pytest.approx(100 * snn["firing_rate"], abs=0.006)
    assert table["ann-run"][4] == "—" and table["ann-run"][5] == "—"
    assert table["constant mean depth"][1] == "baseline"
    assert "## All metrics" in md and "SI-log" in md


def test_mde_matches_independent_computation(world, evaluated):
    """Run the in-memory models over the test subset and average masked per-frame MAE in cm."""
    for key, name in (("snn", "snn-run"), ("ann", "ann-run"), ("mono", "snn-tiny")):
        data = world["data"][key]
        ds = EventDepthDataset.from_config(data, "test")
        frame_mde = []
        with torch.no_grad():
            for i in range(len(ds)):
                frames, depth, mask = ds[i]
                pred = world["models"][key](frames[None]).depth[0].numpy()
                m = mask.numpy()
                p = np.maximum(_metres(pred, data.normalize_depth), MIN_DEPTH_M)
                g = _metres(depth.numpy(), data.normalize_depth)
                frame_mde.append(100.0 * np.abs(p - g)[m].mean())
        row = _row(evaluated["rows"], name)
        assert row["metrics"]["frames"] == len(ds)
        assert row["metrics"]["mde_cm"] == pytest.approx(float(np.mean(frame_mde)), rel=1e-5)


def test_constant_baseline_matches_hand_computation(world, evaluated):
    data = DataConfig(root=str(world["root"]), split="synthetic")  # metric depth targets
    train = EventDepthDataset.from_config(data, "train")
    depths = [train[i][1].numpy()[train[i][2].numpy()] for i in range(min(200, len(train)))]
    mean_depth = float(np.concatenate(depths).astype(np.float64).mean())
    test = EventDepthDataset.from_config(data, "test")
    frame_mde = [100.0 * np.abs(mean_depth - d.numpy()[m.numpy()]).mean() for _, d, m in test]
    row = _row(evaluated["rows"], "constant mean depth")
    assert row["data"]["train_mean_depth_m"] == pytest.approx(mean_depth, rel=1e-6)
    assert row["metrics"]["mde_cm"] == pytest.approx(float(np.mean(frame_mde)), rel=1e-5)
    assert row["metrics"]["frames"] == len(test)


# -- figures and video --------------------------------------------------------------------------


def test_figures_are_pngs_with_expected_count(world, evaluated):
    out = evaluated["out"]
    n_test = len(EventDepthDataset.from_config(world["data"]["snn"], "test"))
    for name, slug in (("snn-run", "snn-run"), ("ann-run", "ann-run"), ("snn-tiny", "snn-tiny")):
        files = sorted((out / "figures" / slug).glob("*.png"))
        assert len(files) == min(4, n_test)
        assert [str(f.relative_to(out)) for f in files] == sorted(_row(evaluated["rows"], name)["figures"])
        for f in files:
            with Image.open(f) as im:
                assert im.format == "PNG"
                w, h = im.size
                # Four panels side by side of a 4:3 image: wide, and larger than the raw frames.
                assert w > 3 * h and w >= 4 * W and h >= H


def test_video_gif_has_expected_frames(evaluated):
    for slug in ("snn-run", "ann-run", "snn-tiny"):
        gif = evaluated["out"] / "videos" / f"{slug}.gif"
        with Image.open(gif) as im:
            assert im.format == "GIF"
            assert im.n_frames == 3


def test_evenly_spaced():
    assert evenly_spaced(10, 4) == [0, 3, 6, 9]
    assert evenly_spaced(3, 5) == [0, 1, 2]
    assert evenly_spaced(10, 0) == [] and evenly_spaced(0, 4) == []


# -- table builder ------------------------------------------------------------------------------


def test_table_takes_optional_energy_per_row():
    rows = [
        ResultRow("a", "SNN", "binocular", {"mde_cm": 20.0}, firing_rate=0.1234),
        ResultRow("b", "ANN", "monocular", {"mde_cm": 30.0}),
    ]
    table = main_table(rows).splitlines()
    assert table[2] == "| a | SNN | binocular | 20.00 | 12.34 | — |"
    assert table[3] == "| b | ANN | monocular | 30.00 | — | — |"
    table = main_table(rows, energy=[1.5, None]).splitlines()
    assert table[2].endswith("| 1.500 |") and table[3].endswith("| — |")
    doc = results_json(rows, energy=[1.5, None])
    assert [r["energy_mj"] for r in doc["rows"]] == [1.5, None]
    with pytest.raises(ValueError):
        main_table(rows, energy=[1.0])


# -- CLI ------------------------------------------------------------------------------------------


def test_cli_prints_table_ann_dash(world, tmp_path, capsys):
    out = tmp_path / "cli"
    rc = main(
        [
            "evaluate",
            str(world["ckpts"]["ann"]),
            "--out",
            str(out),
            "--figures",
            "1",
            "--max-samples",
            "2",
            "--cutoff",
            "5",
            "--quiet",
        ]
    )
    assert rc == 0
    assert capsys.readouterr().out == ""
    rc = main(
        [
            "evaluate",
            str(world["ckpts"]["ann"]),
            "--out",
            str(out),
            "--figures",
            "0",
            "--max-samples",
            "2",
            "--data",
            str(world["root"]),
            "--subset",
            "val",
            "--no-baseline",
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "| ann-run | ANN | binocular |" in printed
    (line,) = [ln for ln in printed.splitlines() if ln.startswith("| ann-run")]
    assert line.split(" | ")[4] == "—"
    doc = json.loads((out / "results.json").read_text())
    assert [r["name"] for r in doc["rows"]] == ["ann-run"]
    assert doc["rows"][0]["data"]["subset"] == "val" and doc["rows"][0]["metrics"]["frames"] == 2


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith("depthsnn evaluate: error:")
    return err


def test_cli_missing_checkpoint(tmp_path, capsys):
    rc = main(["evaluate", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "checkpoint not found" in _error_line(capsys)


def test_cli_corrupt_checkpoint(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00garbage\xff" * 50)
    rc = main(["evaluate", str(bad), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "bad.pt" in _error_line(capsys)


def test_cli_out_is_a_file(world, tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    rc = main(["evaluate", str(world["ckpts"]["snn"]), "--out", str(target)])
    assert rc == 2
    assert "not a folder" in _error_line(capsys)


def test_cli_data_root_not_found(world, tmp_path, capsys):
    rc = main(
        [
            "evaluate",
            str(world["ckpts"]["snn"]),
            "--out",
            str(tmp_path / "o"),
            "--data",
            str(tmp_path / "nodata"),
        ]
    )
    assert rc == 2
    assert "data folder not found" in _error_line(capsys)


def test_cli_binocular_checkpoint_on_monocular_data(world, tmp_path, capsys):
    rc = main(
        ["evaluate", str(world["ckpts"]["snn"]), "--out", str(tmp_path / "o"), "--cameras", "monocular"]
    )
    assert rc == 2
    assert "binocular" in _error_line(capsys)

    # A data set holding only left-camera events.
    mono_root = tmp_path / "mono"
    shutil.copytree(world["root"], mono_root)
    for f in mono_root.glob("*_data.hdf5"):
        with h5py.File(f, "a") as h:
            del h["davis/right/events"]
    rc = main(
        ["evaluate", str(world["ckpts"]["snn"]), "--out", str(tmp_path / "o"), "--data", str(mono_root)]
    )
    assert rc == 2
    assert "binocular" in _error_line(capsys)


def test_cli_bad_options(world, tmp_path, capsys):
    rc = main(["evaluate", str(world["ckpts"]["snn"]), "--out", str(tmp_path / "o"), "--split", "nosuch"])
    assert rc == 2
    assert "nosuch" in _error_line(capsys)
    rc = main(["evaluate", str(world["ckpts"]["snn"]), "--out", str(tmp_path / "o"), "--cutoff", "-1"])
    assert rc == 2
    assert "cutoff" in _error_line(capsys)


def test_baseline_skipped_with_warning_when_training_data_unreadable(world, tmp_path):
    """A test set whose training sequences are unusable still evaluates, without the baseline."""
    root = tmp_path / "partial"
    shutil.copytree(world["root"], root)
    (root / "synthetic_stereo1_data.hdf5").write_bytes(b"not hdf5")  # stereo1 holds the train subset
    with pytest.warns(DataWarning, match="baseline skipped"):
        rows = evaluate_checkpoints(
            [world["ckpts"]["ann"]], data_root=root, out_dir=tmp_path / "o", figures=0, progress=False
        )
    assert [r["kind"] for r in rows] == ["ANN"]
