"""``depthsnn predict``: the same events through every format's own writer give depth maps
bit-identical to what ``evaluate``'s code path computes from the MVSEC-layout copy.

The events are a tiny generated synthetic sequence, quantised to integer microseconds (what the
camera formats store); the MVSEC-layout copy holds exactly ``t_us / 1e6``. The reference depth
maps come from ``EventDepthDataset`` (the MVSEC reader, rectification with the copy's maps,
binning) and ``evaluate_model`` (the forward pass evaluate scores), converted to metres as
evaluate's figures and videos do: an independent read of the data through the other reader.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from depthsnn.cli.main import main
from depthsnn.config import to_dict
from depthsnn.data import layout
from depthsnn.data.calibration import write_calibration
from depthsnn.data.dataset import DataConfig, EventDepthDataset
from depthsnn.data.recordings import iter_windows
from depthsnn.data.recordings import writers as W
from depthsnn.data.splits import FrameRange, SplitSpec
from depthsnn.data.synthetic import SynthConfig, generate_dataset
from depthsnn.errors import DataError, DataWarning
from depthsnn.evaluate.runner import depth_in_metres, evaluate_model
from depthsnn.models import build_model
from depthsnn.predict import PredictOptions, predict_recording
from depthsnn.train.checkpoint import save_checkpoint
from depthsnn.train.config import TrainConfig

WIDTH, HEIGHT = 64, 48
SEQ = "synthetic_stereo1"
TINY = {"base_channels": 4, "levels": 3, "residual_blocks": 1}
OPTS = PredictOptions(video_frames=3)


def _quantised_events(root):
    """Synthetic events per camera as (x, y, t_us, on) with integer microseconds."""
    out = {}
    with h5py.File(root / layout.data_file(SEQ)) as f:
        for cam in layout.CAMERAS:
            e = f[layout.EVENTS_KEY.format(cam=cam)][:]
            assert (e[:, 0] % 1 == 0).all() and (e[:, 1] % 1 == 0).all()
            t_us = np.round(e[:, 2] * 1e6).astype(np.int64)
            out[cam] = (e[:, 0].astype(np.int64), e[:, 1].astype(np.int64), t_us, e[:, 3] > 0)
    return out


def _checkpoint(path, modality, seed, presentation="per_bin"):
    torch.manual_seed(seed)
    model = build_model("snn-tiny", modality=modality, **TINY).eval()
    data = DataConfig(split="synthetic", cameras=modality, num_bins=2, normalize_depth=True,
                      presentation=presentation)
    save_checkpoint(path, model=model.state_dict(), config=to_dict(TrainConfig(model="snn-tiny", data=data)),
                    model_config=to_dict(model.cfg), epoch=1, best_mde=1.0, input_hw=[HEIGHT, WIDTH])
    return path


def _write_copy(root, events, label_ts, resolution=(WIDTH, HEIGHT)):
    """MVSEC-layout copy (data + gt with labels at ``label_ts`` + identity calibration)."""
    root.mkdir(parents=True, exist_ok=True)
    W.write_mvsec_data(root / layout.data_file(SEQ), {c: W.chunked(*events[c], size=1000) for c in events})
    with h5py.File(root / layout.gt_file(SEQ), "w") as f:
        w, h = resolution
        f[layout.DEPTH_RECT_KEY.format(cam="left")] = np.full((len(label_ts), h, w), 2.0, np.float32)
        f[layout.DEPTH_RECT_TS_KEY.format(cam="left")] = label_ts
    write_calibration(root / layout.CALIB_DIR.format(scene=layout.scene_of(SEQ)), layout.scene_of(SEQ),
                      resolution=resolution)
    return root


def _evaluate_reference(ckpt, copy_root, cameras):
    """Depth maps in metres the way ``evaluate`` computes them on the MVSEC-layout copy."""
    from depthsnn.evaluate.api import load_checkpoints

    item = load_checkpoints([ckpt])[0]
    data = item.cfg.data
    enc = data.encoding()
    assert enc.cameras == cameras
    ds = EventDepthDataset(copy_root, SplitSpec("copy", test=(FrameRange(SEQ),)), "test", enc, data.depth(),
                           skip_invalid=False)
    preds, frames = [], []

    def keep(_i, f, _d, _m, pred):
        preds.extend(depth_in_metres(pred[b], data.to_metres()) for b in range(pred.shape[0]))
        frames.extend(f[b].numpy() for b in range(f.shape[0]))

    evaluate_model(item.model, DataLoader(ds, batch_size=1), on_batch=keep)
    return np.stack(preds), np.stack(frames), ds.timestamps()


def _label_ts(events, window=0.05, period=0.05):
    """Where predict's windows end: the first full window after the first event, then every
    period while a window starts at or before the last event (computed here independently)."""
    t_first = min(events[c][2][0] for c in events) / 1e6
    t_last = max(events[c][2][-1] for c in events) / 1e6
    n = int(np.floor((t_last - t_first) / period)) + 1
    return t_first + window + np.arange(n) * period


def _read_depth(out):
    with h5py.File(out / "depth.h5") as f:
        return f["depth"][:], f["depth_ts"][:], dict(f.attrs)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("predict")
    cfg = SynthConfig(sequences=1, seconds=0.4, width=WIDTH, height=HEIGHT, n_objects=(1, 2),
                      object_size_px=(12.0, 24.0), render_hz=400.0)
    synth = generate_dataset(base / "synth", cfg, progress=False)
    events = _quantised_events(synth)
    res = (WIDTH, HEIGHT)
    fmt = base / "formats"
    fmt.mkdir()

    def ch(cam):
        return W.chunked(*events[cam], size=1000)

    files = {
        "hdf5": [W.write_plain_h5(fmt / "rec.h5", {c: ch(c) for c in events}, res)],
        "npz": [W.write_npz(fmt / "rec.npz", {c: ch(c) for c in events}, res)],
        "aedat4": [W.write_aedat4(fmt / "rec.aedat4", {c: ch(c) for c in events}, res)],
    }
    for name, suffix, version in (("evt2", "raw", "evt2"), ("evt3", "raw", "evt3"), ("dat", "dat", None),
                                  ("csv", "csv", None)):
        files[name] = [W.write_camera_file(fmt / f"{c}_{name}.{suffix}", ch(c), res, version) for c in layout.CAMERAS]
    label_ts = _label_ts(events)
    copy = _write_copy(base / "copy", events, label_ts)
    files["mvsec"] = [copy / layout.data_file(SEQ)]
    ckpt = _checkpoint(base / "snn.pt", "binocular", 0)
    ref, ref_frames, ref_ts = _evaluate_reference(ckpt, copy, "binocular")
    return {"base": base, "events": events, "files": files, "copy": copy, "ckpt": ckpt, "ref": ref,
            "ref_frames": ref_frames, "label_ts": label_ts, "ref_ts": ref_ts}


def test_reference_is_not_trivial(world):
    """The untrained model's depth depends on the events (else bit-identity would prove nothing)."""
    ref = world["ref"]
    assert ref.shape == (len(world["label_ts"]), HEIGHT, WIDTH)
    assert np.isfinite(ref).all()
    assert np.ptp(ref) > 1e-3
    assert not np.array_equal(ref[1], ref[2])
    assert world["ref_frames"].sum() > 1000  # events reached the frames


@pytest.mark.parametrize("fmt", ["mvsec", "hdf5", "npz", "aedat4", "evt2", "evt3", "dat", "csv"])
def test_every_format_matches_evaluate_bit_for_bit(world, fmt, tmp_path):
    res = predict_recording(world["ckpt"], world["files"][fmt], tmp_path, OPTS, progress=False)
    depth, ts, attrs = _read_depth(tmp_path)
    assert depth.dtype == np.float32 and ts.dtype == np.float64
    np.testing.assert_array_equal(ts, world["label_ts"])
    assert depth.shape == world["ref"].shape
    assert np.array_equal(depth.view(np.uint32), world["ref"].view(np.uint32)), fmt
    assert res.windows == len(ts) and res.resolution == (WIDTH, HEIGHT)
    assert attrs["rectified"] == (fmt == "mvsec")  # the copy's calibration folder is found beside it
    from PIL import Image

    with Image.open(tmp_path / "depth.gif") as im:
        assert im.n_frames == 3


def test_nir_file_in_executor_and_simulator(world, tmp_path):
    """An exported NIR file reads its window, bins and depth units from its metadata."""
    from depthsnn.export.api import export_checkpoint
    from depthsnn.export.executor import GraphExecutor
    from depthsnn.export.nir_io import read_nir
    from depthsnn.simulate.engine import EventSimulator
    from depthsnn.simulate.pipeline import pad_frames
    from depthsnn.train.checkpoint import model_from_checkpoint

    manifest = export_checkpoint(world["ckpt"], tmp_path / "exp", "nir", verify=False, say=lambda *_: None)
    nir_path = tmp_path / "exp" / manifest["files"][0]["path"]
    graph = read_nir(nir_path)
    _, cfg, _ = model_from_checkpoint(world["ckpt"])
    to_m = cfg.data.to_metres()
    frames = torch.from_numpy(world["ref_frames"])
    ex, sim = GraphExecutor(graph), EventSimulator(graph)
    for engine in ("executor", "simulator"):
        out = tmp_path / engine
        predict_recording(nir_path, world["files"]["evt3"], out, PredictOptions(engine=engine, video_frames=0),
                          progress=False)
        depth, ts, _ = _read_depth(out)
        np.testing.assert_array_equal(ts, world["label_ts"])
        for k in (0, len(ts) // 2, len(ts) - 1):
            x = pad_frames(frames[k], graph.input.shape)
            if engine == "executor":
                raw = ex(x[:, None])[-1, 0, 0, :HEIGHT, :WIDTH]
            else:
                raw = torch.as_tensor(sim.run(x.numpy()).final[0, :HEIGHT, :WIDTH])
            np.testing.assert_array_equal(depth[k], depth_in_metres(raw, to_m))
        # Same network, float32 summed in another order: close to the checkpoint's maps.
        np.testing.assert_allclose(depth, world["ref"], rtol=1e-3, atol=1e-3)


def test_cumulative_presentation_in_checkpoint_nir_and_simulator(world, tmp_path):
    """A model trained on cumulative frames is fed cumulative frames by predict (from its
    checkpoint or its NIR file) and by the simulator's data set for a bare NIR file."""
    from depthsnn.export.api import export_checkpoint
    from depthsnn.simulate.pipeline import load_network, open_dataset

    ckpt = _checkpoint(tmp_path / "cum.pt", "binocular", 0, presentation="cumulative")  # world's weights
    ref, ref_frames, _ = _evaluate_reference(ckpt, world["copy"], "binocular")
    # Independent of the cumulative code: the running sum of evaluate's per-bin frames.
    np.testing.assert_array_equal(ref_frames, np.cumsum(world["ref_frames"], axis=1))
    assert not np.allclose(ref, world["ref"], atol=1e-3)  # the presentation changes the output
    res_dir = tmp_path / "ckpt"
    predict_recording(ckpt, world["files"]["evt3"], res_dir, PredictOptions(video_frames=0), progress=False)
    depth, _, attrs = _read_depth(res_dir)
    assert attrs["presentation"] == "cumulative"
    assert np.array_equal(depth.view(np.uint32), ref.view(np.uint32))
    manifest = export_checkpoint(ckpt, tmp_path / "exp", "nir", verify=False, say=lambda *_: None)
    nir_path = tmp_path / "exp" / manifest["files"][0]["path"]
    predict_recording(nir_path, world["files"]["evt3"], tmp_path / "nir", PredictOptions(video_frames=0),
                      progress=False)
    np.testing.assert_allclose(_read_depth(tmp_path / "nir")[0], ref, rtol=1e-3, atol=1e-3)
    net = load_network(nir_path)
    assert net.data is None
    ds = open_dataset(net, world["base"] / "synth", "synthetic", "test")
    per_bin = EventDepthDataset.from_config(DataConfig(root=str(world["base"] / "synth"), split="synthetic",
                                                       num_bins=2), "test")
    np.testing.assert_array_equal(ds.arrays(0)[0], np.cumsum(per_bin.arrays(0)[0], axis=0))


def test_onnx_export_carries_the_input_options(world, tmp_path):
    """The ONNX files carry the NIR file's input options (``depthsnn.data``): a consumer with only
    an .onnx file reads the presentation and depth units from it, builds cumulative frames and
    gets evaluate's depth in onnxruntime."""
    import json

    import onnx
    import onnxruntime as ort

    from depthsnn.export.api import export_checkpoint
    from depthsnn.export.nir_io import read_nir

    ckpt = _checkpoint(tmp_path / "cum.pt", "binocular", 0, presentation="cumulative")
    ref, _, _ = _evaluate_reference(ckpt, world["copy"], "binocular")
    manifest = export_checkpoint(ckpt, tmp_path / "exp", "nir,onnx", verify=False, say=lambda *_: None)
    paths = {f["path"]: tmp_path / "exp" / f["path"] for f in manifest["files"]}
    nir_data = read_nir(next(p for n, p in paths.items() if n.endswith(".nir"))).metadata["data"]
    onnx_files = [p for n, p in paths.items() if n.endswith(".onnx")]
    assert len(onnx_files) == 2  # unrolled and step
    stored = {p: {m.key: json.loads(m.value) for m in onnx.load(str(p)).metadata_props}["depthsnn.data"]
              for p in onnx_files}
    for p in onnx_files:
        assert stored[p] == {k: (list(v) if isinstance(v, tuple) else v) for k, v in nir_data.items()}
    unrolled = next(p for p in onnx_files if ".step." not in p.name)
    data = DataConfig(**stored[unrolled])
    assert data.presentation == "cumulative" and data.num_bins == 2
    # Evaluate's per-bin frames (the per-bin reference's), presented as the metadata says.
    frames = np.cumsum(world["ref_frames"], axis=1).astype(np.float32)
    sess = ort.InferenceSession(str(unrolled))
    depth = sess.run(["depth"], {"frames": frames})[0]
    got = np.stack([depth_in_metres(torch.from_numpy(d), data.to_metres()) for d in depth])
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3)


def test_monocular_model_reads_one_camera(world, tmp_path):
    mono = _checkpoint(tmp_path / "mono.pt", "monocular", 1)
    ref, _, _ = _evaluate_reference(mono, world["copy"], "monocular")
    predict_recording(mono, world["files"]["evt2"][:1], tmp_path / "out", OPTS, progress=False)
    depth, _, _ = _read_depth(tmp_path / "out")
    assert np.array_equal(depth.view(np.uint32), ref.view(np.uint32))


def test_smaller_recording_is_padded_with_a_warning(world, tmp_path):
    """A 56x40 recording feeds the 64x48 model padded; depth maps are 56x40 and equal the
    padded evaluation (same events, MVSEC copy at the model's size) cropped."""
    w, h = 56, 40
    small = {}
    for cam, (x, y, t, on) in world["events"].items():
        keep = (x < w) & (y < h)
        small[cam] = (x[keep], y[keep], t[keep], on[keep])
    files = [W.write_camera_file(tmp_path / f"{c}.raw", W.chunked(*small[c]), (w, h), "evt3") for c in layout.CAMERAS]
    copy = _write_copy(tmp_path / "copy", small, _label_ts(small))  # at 64x48: nothing beyond 56x40
    ref, _, _ = _evaluate_reference(world["ckpt"], copy, "binocular")
    with pytest.warns(DataWarning, match=r"56x40 but the model takes 64x48.*padded"):
        res = predict_recording(world["ckpt"], files, tmp_path / "out", OPTS, progress=False)
    depth, ts, _ = _read_depth(tmp_path / "out")
    assert res.depth_size == (w, h) and depth.shape[1:] == (h, w)
    np.testing.assert_array_equal(ts, _label_ts(small))
    assert np.array_equal(depth, ref[:, :h, :w])


def test_far_too_small_recording_is_refused(world, tmp_path):
    x, y, t, on = world["events"]["left"]
    keep = (x < 20) & (y < 20)
    f = W.write_npz(tmp_path / "tiny.npz", {c: iter([(x[keep], y[keep], t[keep], on[keep])]) for c in layout.CAMERAS},
                    (20, 20))
    with pytest.raises(DataError, match=r"20x20 but the model takes 64x48"):
        predict_recording(world["ckpt"], [f], tmp_path / "out", OPTS, progress=False)
    assert not (tmp_path / "out" / "depth.h5").exists()


def _cli_error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_bad_input_gives_one_line_errors(world, tmp_path, capsys):
    ckpt, out = str(world["ckpt"]), str(tmp_path / "out")
    junk = tmp_path / "rec.bin"
    junk.write_bytes(b"\x00\x01garbage" * 10)
    err = _cli_error(capsys, ["predict", ckpt, "--events", str(junk), "--out", out, "--quiet"])
    assert str(junk) in err and "unknown event format" in err

    left = world["files"]["evt3"][0]
    err = _cli_error(capsys, ["predict", ckpt, "--events", str(left), "--out", out, "--quiet"])
    assert str(left) in err and "missing right camera" in err

    x, y, t, on = world["events"]["left"]
    shuffled = t.copy()
    shuffled[100], shuffled[3000] = shuffled[3000], shuffled[100]
    bad_t = W.write_npz(tmp_path / "unsorted.npz", {c: iter([(x, y, shuffled, on)]) for c in layout.CAMERAS},
                        (WIDTH, HEIGHT))
    err = _cli_error(capsys, ["predict", ckpt, "--events", str(bad_t), "--out", out, "--quiet"])
    assert str(bad_t) in err and "timestamps are not sorted" in err

    bad_p = tmp_path / "polarity.npz"
    np.savez(bad_p, x=x, y=y, t=t / 1e6, p=np.where(on, 2, 0), width=WIDTH, height=HEIGHT)
    err = _cli_error(capsys, ["predict", ckpt, "--events", str(bad_p), str(bad_p), "--out", out, "--quiet"])
    assert str(bad_p) in err and "wrong polarity encoding" in err and "0, 2" in err
    assert not (tmp_path / "out" / "depth.h5").exists()


def test_cli_writes_depth_and_video(world, tmp_path, capsys):
    out = tmp_path / "cli"
    files = [str(f) for f in world["files"]["dat"]]
    assert main(["predict", str(world["ckpt"]), "--events", *files, "--out", str(out), "--video-frames", "2"]) == 0
    text = capsys.readouterr().out
    assert "depth maps 64x48" in text
    depth, _, _ = _read_depth(out)
    assert np.array_equal(depth, world["ref"])


def test_window_cutter_against_brute_force():
    """Overlapping windows from tiny chunks equal a direct selection on the whole array."""
    from depthsnn.data.mvsec import EventArrays

    rng = np.random.default_rng(3)
    t = np.sort(rng.uniform(2.0, 3.0, 5000))
    x = rng.integers(0, 10, t.size)
    chunks = [EventArrays(x[a : a + 37], x[a : a + 37], t[a : a + 37], x[a : a + 37] > 4) for a in range(0, t.size, 37)]
    wins = list(iter_windows({"left": iter(chunks)}, window_s=0.05, period_s=0.02))
    assert wins[0].t_start == t[0] and wins[-1].t_start <= t[-1] < wins[-1].t_start + 0.02
    for w in wins:
        sel = (t >= w.t_start) & (t < w.t_end)
        np.testing.assert_array_equal(w.events["left"].t, t[sel])


def test_video_scale_without_ground_truth_ignores_outliers():
    from depthsnn.evaluate.figures import SampleView
    from depthsnn.evaluate.video import video_range

    preds = [np.linspace(1.0, 5.0, 100, dtype=np.float32).reshape(10, 10) for _ in range(3)]
    preds[1][0, 0] = 8e4  # one absurd pixel must not flatten the colour scale
    views = [SampleView(np.zeros((1, 2, 10, 10)), None, p, None, "t") for p in preds]
    lo, hi = video_range(views)
    assert 1.0 < lo < 1.2 and 4.8 < hi < 5.0
