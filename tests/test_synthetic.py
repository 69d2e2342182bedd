"""Synthetic stereo event generator: ESIM model, rendering geometry, written layout, CLI.

Expectations are computed independently of the code under test: analytic crossing times, a
per-pixel reference loop for the event model, known plane depths and disparities.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from depthsnn.cli.main import main
from depthsnn.data import layout
from depthsnn.data.calibration import load_calibration
from depthsnn.data.mvsec import MVSECSequence
from depthsnn.data.synthetic import (
    MANIFEST,
    EventSimulator,
    Layer,
    Scene,
    SynthConfig,
    Trajectory,
    depth_label,
    generate_dataset,
    make_texture,
    render,
    simulate_sequence,
)
from depthsnn.errors import ConfigError, DataError

FXB = layout.FX_BASELINE
TINY = SynthConfig(
    world="planes", sequences=2, seconds=0.3, width=64, height=48, n_objects=(1, 2), object_size_px=(12.0, 24.0),
    speed_px_s=60.0, render_hz=400.0, noise_rate_hz=0.5,
)


# -- event model --------------------------------------------------------------------------------


def _ramp(sim: EventSimulator, levels: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Feed a 1x1 simulator the log levels at the given times; return all events."""
    return np.concatenate([sim.step(np.array([[lv]]), t) for lv, t in zip(levels[1:], times[1:], strict=True)])


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_linear_ramp_gives_k_events_at_analytic_times(sign):
    c, k, duration = 0.2, 7, 0.7
    times = np.linspace(0.0, duration, 11)  # frames do not line up with the crossings
    levels = sign * k * c * times / duration
    sim = EventSimulator(np.array([[0.0]]), 0.0, c, c, refractory_s=0.001)
    ev = _ramp(sim, levels, times)
    # Level j*c is reached at t = j*duration/k; the last one exactly at the final frame.
    expected = np.arange(1, k + 1) * duration / k
    assert len(ev) == k
    np.testing.assert_allclose(ev[:, 2], expected, atol=1e-9)
    assert (ev[:, 3] == sign).all() and (ev[:, :2] == 0).all()


def test_refractory_period_drops_crossings_but_tracks_level():
    c, r = 0.1, 0.001
    # 25 crossings in 10 ms: one every 0.4 ms, faster than the 1 ms refractory period.
    times = np.linspace(0.0, 0.01, 6)
    levels = 2.5 * times / 0.01
    sim = EventSimulator(np.array([[0.0]]), 0.0, c, c, refractory_s=r)
    ev = _ramp(sim, levels, times)
    crossings = np.arange(1, 26) * 0.0004
    kept, last = [], -np.inf
    for t in crossings:  # greedy: a crossing fires if the pixel has rested >= r
        if t - last >= r - 1e-12:
            kept.append(t)
            last = t
    np.testing.assert_allclose(ev[:, 2], kept, atol=1e-9)
    assert len(kept) == 9  # 0.4, 1.6, 2.8, ... ms: every third crossing
    # The reference kept up with all 25 crossings: going back down by one step fires at once.
    back = sim.step(np.array([[2.5 - c]]), 0.02)
    assert len(back) == 1 and back[0, 3] == -1


def _reference_events(frames, times, c_pos, c_neg, r):
    """Per-pixel, per-crossing loop implementation of the same model (slow, obviously right)."""
    h, w = frames[0].shape
    out = []
    for y in range(h):
        for x in range(w):
            ref, last = frames[0][y, x], -np.inf
            for k in range(1, len(frames)):
                l0, l1 = frames[k - 1][y, x], frames[k][y, x]
                t0, t1 = times[k - 1], times[k]
                while True:
                    if l1 - ref >= c_pos[y, x]:
                        ref, pol = ref + c_pos[y, x], 1.0
                    elif ref - l1 >= c_neg[y, x]:
                        ref, pol = ref - c_neg[y, x], -1.0
                    else:
                        break
                    t = t0 + (ref - l0) / (l1 - l0) * (t1 - t0)
                    if t - last >= r:
                        out.append((x, y, t, pol))
                        last = t
    return np.array(sorted(out, key=lambda e: (e[2], e[1], e[0])))


def test_vectorised_model_matches_reference_loop():
    rng = np.random.default_rng(3)
    h, w, n = 6, 7, 25
    times = np.cumsum(rng.uniform(0.0005, 0.003, n))
    frames = np.cumsum(rng.normal(0, 0.25, (n, h, w)), axis=0)
    c_pos, c_neg = rng.uniform(0.1, 0.3, (h, w)), rng.uniform(0.1, 0.3, (h, w))
    sim = EventSimulator(frames[0], times[0], c_pos, c_neg, refractory_s=0.0008)
    ev = np.concatenate([sim.step(f, t) for f, t in zip(frames[1:], times[1:], strict=True)])
    ref = _reference_events(frames, times, c_pos, c_neg, 0.0008)
    assert len(ev) == len(ref) > 100
    assert np.all(np.diff(ev[:, 2]) >= 0)
    order = np.lexsort((ev[:, 0], ev[:, 1], ev[:, 2]))
    np.testing.assert_allclose(ev[order], ref, atol=1e-9)


def test_noise_events_are_sorted_and_at_requested_rate():
    flat = np.zeros((20, 30))
    sim = EventSimulator(flat, 0.0, 0.2, 0.2, noise_rate_hz=50.0, rng=np.random.default_rng(0))
    ev = np.concatenate([sim.step(flat, t) for t in np.arange(1, 101) * 0.01])
    expected = 50.0 * 600 * 1.0
    assert abs(len(ev) - expected) < 5 * math.sqrt(expected)
    assert np.all(np.diff(ev[:, 2]) >= 0) and ev[:, 2].min() > 0 and ev[:, 2].max() <= 1.0
    assert set(np.unique(ev[:, 3])) == {-1.0, 1.0}


# -- rendering geometry ---------------------------------------------------------------------------


def _plane_scene(z: float, half_px=(10.0, 8.0), centre=(30.3, 20.6), velocity=(0.0, 0.0),
                 background_depth: float = 20.0, w: int = 64, h: int = 48) -> Scene:
    """One textured rectangle at depth ``z`` over a static textured background."""
    rng = np.random.default_rng(7)
    fx, fy = layout.FX, layout.FY
    bg = Layer(make_texture(rng, (64, 128), 1.3, 0.3, 0.5), (background_depth / fx, background_depth / fy),
               Trajectory(w / 2, h / 2, background_depth), "full")
    obj = Layer(make_texture(rng, (32, 32), 1.0, 0.5, 0.6), (z / fx, z / fy),
                Trajectory(centre[0], centre[1], z, velocity=velocity), "rect",
                (half_px[0] * z / fx, half_px[1] * z / fy))
    return Scene(w, h, fx, fy, FXB, bg, (obj,))


@pytest.mark.parametrize("camera", ["left", "right"])
def test_depth_is_the_known_plane_depth_and_nan_beyond_range(camera):
    z, (u, v), (hw, hh) = 2.0, (30.3, 20.6), (10.0, 8.0)
    _, depth = render(_plane_scene(z), 0.0, camera)
    label = depth_label(depth, max_range=8.0)
    if camera == "right":
        u -= FXB / z  # 9.97 px to the left
    xs, ys = np.meshgrid(np.arange(64), np.arange(48))
    inside = (np.abs(xs - u) <= hw - 1) & (np.abs(ys - v) <= hh - 1)
    outside = (np.abs(xs - u) >= hw + 1) | (np.abs(ys - v) >= hh + 1)
    assert label.dtype == np.float32 and inside.sum() > 200
    assert (label[inside] == np.float32(z)).all()
    assert np.isnan(label[outside]).all()  # background at 20 m > max_range
    assert (depth[outside] == np.float32(20.0)).all()


@pytest.mark.parametrize("z", [1.0, 2.5])
def test_moving_rig_shifts_a_plane_by_its_parallax(z):
    from depthsnn.data.synthetic.scene import CameraMotion

    # X(t) = 0.05 m * sin(2*pi*0.25*t): at t = 1 s the rig sits 5 cm right and 0.02 m down.
    cam = CameraMotion(freqs=(0.25,), amp_x=(0.05,), amp_y=(0.02,), phase_x=(0.0,), phase_y=(0.0,))
    scene = dataclasses.replace(_plane_scene(z), camera=cam)
    _, d0 = render(_plane_scene(z), 1.0, "left")
    _, d1 = render(scene, 1.0, "left")
    x_of = lambda d: np.flatnonzero((d == np.float32(z)).any(axis=0))  # noqa: E731
    y_of = lambda d: np.flatnonzero((d == np.float32(z)).any(axis=1))  # noqa: E731
    dx, dy = -layout.FX * 0.05 / z, -layout.FY * 0.02 / z  # points move opposite the rig, x 1/Z
    # Edges snap to whole pixels, so the centre moves by dx rounded: within 1 px.
    assert abs(x_of(d1).mean() - x_of(d0).mean() - dx) <= 1.0
    assert abs(y_of(d1).mean() - y_of(d0).mean() - dy) <= 1.0


def test_nearest_plane_wins():
    near = _plane_scene(1.5).objects[0]
    far = dataclasses.replace(_plane_scene(4.0).objects[0], texture=np.full((8, 8), 0.9, np.float32))
    scene = dataclasses.replace(_plane_scene(4.0), objects=(near, far))  # listed far last on purpose
    img, depth = render(scene, 0.0, "left")
    assert depth[20, 30] == np.float32(1.5)
    assert img[20, 30] != np.float32(0.9)


def test_event_images_are_shifted_by_the_disparity():
    """Cross-correlating left/right event counts over horizontal shifts peaks at fx*B/Z."""
    z = 2.7
    d = FXB / z  # 7.39 px
    scene = _plane_scene(z, half_px=(16.0, 12.0), centre=(34.0, 14.0), velocity=(8.0, 40.0))
    cfg = dataclasses.replace(TINY, seconds=0.5, noise_rate_hz=0.0)
    seq = simulate_sequence(scene, cfg, "plane", (1, 2))
    counts = {}
    for cam, ev in seq.events.items():
        assert len(ev) > 1000
        counts[cam] = np.zeros((48, 64))
        np.add.at(counts[cam], (ev[:, 1].astype(int), ev[:, 0].astype(int)), 1)
    shifts = np.arange(0, 20)
    score = []
    for s in shifts:  # right[y, x] should match left[y, x + s]
        a, b = counts["left"][:, s:], counts["right"][:, : 64 - s]
        a, b = a - a.mean(), b - b.mean()
        score.append((a * b).sum() / math.sqrt((a * a).sum() * (b * b).sum()))
    assert abs(shifts[int(np.argmax(score))] - d) <= 1.0


# -- written data set -----------------------------------------------------------------------------


def _arrays(path: Path) -> dict[str, np.ndarray]:
    """Every dataset by full name (walking names, so hard-linked datasets appear under each)."""
    out = {}

    def walk(group: h5py.Group, prefix: str) -> None:
        for name, obj in group.items():
            if isinstance(obj, h5py.Group):
                walk(obj, f"{prefix}{name}/")
            else:
                out[prefix + name] = obj[()]

    with h5py.File(path, "r") as f:
        walk(f, "")
    return out


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("synth") / "set", TINY, progress=False)


def test_layout_keys_dtypes_shapes(tiny_set):
    w, h = TINY.width, TINY.height
    n_labels = n_images = 6  # 0.3 s at 20 Hz
    manifest = json.loads((tiny_set / MANIFEST).read_text())
    assert manifest["sequences"] == ["synthetic_stereo1", "synthetic_stereo2"]
    assert manifest["seed"] == TINY.seed and manifest["config"]["width"] == w
    for seq in manifest["sequences"]:
        assert layout.scene_of(seq) == "synthetic_stereo"
        data, gt = _arrays(tiny_set / layout.data_file(seq)), _arrays(tiny_set / layout.gt_file(seq))
        for cam in layout.CAMERAS:
            ev = data[layout.EVENTS_KEY.format(cam=cam)]
            assert ev.dtype == np.float64 and ev.ndim == 2 and ev.shape[1] == 4 and len(ev) > 100
            assert manifest["counts"][seq]["events"][cam] == len(ev)
            assert np.all(np.diff(ev[:, 2]) >= 0)
            assert ev[:, 2].min() >= 0 and ev[:, 2].max() <= TINY.seconds + 1e-9
            assert np.all(ev[:, 0] == np.round(ev[:, 0])) and np.all(ev[:, 1] == np.round(ev[:, 1]))
            assert ev[:, 0].min() >= 0 and ev[:, 0].max() <= w - 1
            assert ev[:, 1].min() >= 0 and ev[:, 1].max() <= h - 1
            assert set(np.unique(ev[:, 3])) == {-1.0, 1.0}

            img = data[layout.IMAGE_KEY.format(cam=cam)]
            img_ts = data[layout.IMAGE_TS_KEY.format(cam=cam)]
            inds = data[layout.IMAGE_EVENT_INDS_KEY.format(cam=cam)]
            assert img.dtype == np.uint8 and img.shape == (n_images, h, w) and img.std() > 5
            np.testing.assert_allclose(img_ts, np.arange(1, n_images + 1) / 20.0)
            for i, t in zip(inds, img_ts, strict=True):  # first event at or after each image
                after = np.flatnonzero(ev[:, 2] >= t)
                assert i == (after[0] if after.size else len(ev) - 1)  # clipped to a valid index

            for key, ts_key in ((layout.DEPTH_RECT_KEY, layout.DEPTH_RECT_TS_KEY),
                                (layout.DEPTH_RAW_KEY, layout.DEPTH_RAW_TS_KEY)):
                depth, ts = gt[key.format(cam=cam)], gt[ts_key.format(cam=cam)]
                assert depth.dtype == np.float32 and depth.shape == (n_labels, h, w)
                np.testing.assert_allclose(ts, np.arange(1, n_labels + 1) / 20.0)
                valid = depth[np.isfinite(depth)]
                assert 0 < valid.size < depth.size  # objects valid, background (9 m > 8 m) NaN
                assert valid.min() >= TINY.depth_range[0] - 1e-6 and valid.max() <= TINY.depth_range[1] + 1e-6
    calib = load_calibration(tiny_set / "synthetic_stereo_calib", "synthetic_stereo")
    assert calib.fx_baseline == pytest.approx(FXB)
    assert calib.left.resolution == (w, h)
    np.testing.assert_array_equal(calib.left.x_map, np.tile(np.arange(w, dtype=np.float32), (h, 1)))


def test_mvsec_reader_reads_the_set(tiny_set):
    seq = MVSECSequence(tiny_set, "synthetic_stereo1")
    gt = _arrays(tiny_set / layout.gt_file("synthetic_stereo1"))
    assert seq.num_labels == 6 and seq.resolution == (TINY.width, TINY.height)
    np.testing.assert_array_equal(seq.depth(3), gt[layout.DEPTH_RECT_KEY.format(cam="left")][3])
    assert seq.num_events("right") == json.loads((tiny_set / MANIFEST).read_text())[
        "counts"]["synthetic_stereo1"]["events"]["right"]


def test_same_seed_same_arrays_other_seed_differs(tiny_set, tmp_path):
    cfg = dataclasses.replace(TINY, sequences=1)
    again = generate_dataset(tmp_path / "again", cfg, progress=False)
    other = generate_dataset(tmp_path / "other", dataclasses.replace(cfg, seed=1), progress=False)
    for name in (layout.data_file("synthetic_stereo1"), layout.gt_file("synthetic_stereo1")):
        a, b, c = _arrays(tiny_set / name), _arrays(again / name), _arrays(other / name)
        assert a.keys() == b.keys() == c.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
        assert any(a[k].shape != c[k].shape or not np.array_equal(a[k], c[k], equal_nan=True) for k in a)


def test_interrupted_generation_leaves_no_final_files(tmp_path, monkeypatch):
    from depthsnn.data.synthetic import writer

    real = writer._dataset

    def failing(f, key, arr, compression):
        # The temporary name contains the final one; stereo2's data file is complete by now.
        if "synthetic_stereo2" in str(f.filename) and key.endswith("depth_image_rect"):
            raise KeyboardInterrupt
        real(f, key, arr, compression)

    monkeypatch.setattr(writer, "_dataset", failing)
    out = tmp_path / "set"
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(out, dataclasses.replace(TINY, workers=1), progress=False)  # patched in this process
    names = sorted(p.name for p in out.iterdir())
    assert layout.data_file("synthetic_stereo1") in names  # finished before the interruption
    assert not any(n.startswith("synthetic_stereo2") for n in names)
    assert not any(n.endswith(".tmp") for n in names)
    assert MANIFEST not in names


def test_refuses_non_empty_folder_and_bad_config(tmp_path):
    (tmp_path / "x.txt").write_text("keep me")
    with pytest.raises(DataError, match="not empty"):
        generate_dataset(tmp_path, TINY, progress=False)
    with pytest.raises(DataError, match="not a folder"):
        generate_dataset(tmp_path / "x.txt", TINY, progress=False)
    with pytest.raises(ConfigError, match="depth_range"):
        generate_dataset(tmp_path / "new", dataclasses.replace(TINY, depth_range=(3.0, 1.0)), progress=False)


# -- command line ---------------------------------------------------------------------------------


def test_cli_writes_a_readable_set_and_refuses_overwrite(tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["data", "synth", "--out", str(out), "--sequences", "1", "--seconds", "0.2", "--seed", "5",
            "--set", "width=48", "--set", "height=32", "--set", "object_size_px=8,16"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "wrote 1 sequences" in captured.out
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["seed"] == 5 and manifest["counts"]["synthetic_stereo1"]["depth_labels"] == 4
    with h5py.File(out / layout.data_file("synthetic_stereo1"), "r") as f:
        assert f[layout.EVENTS_KEY.format(cam="left")].shape[1] == 4
        assert f[layout.IMAGE_KEY.format(cam="right")].shape == (4, 32, 48)

    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "not empty" in err and "--force" in err and len(err.splitlines()) == 1
    assert main([*args, "--force", "--quiet"]) == 0


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--sequences", "0"], "--sequences must be positive"),
        (["--seconds", "-1"], "--seconds must be positive"),
        (["--set", "bogus=1"], "unknown option bogus"),
        (["--set", "render_hz=abc"], "render_hz"),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(tmp_path, capsys, extra, message):
    assert main(["data", "synth", "--out", str(tmp_path / "o"), "--quiet", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_cli_out_is_a_file(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("")
    assert main(["data", "synth", "--out", str(target), "--quiet", "--seconds", "0.1",
                 "--set", "width=16", "--set", "height=16"]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_config_from_toml_and_overrides(tmp_path):
    from depthsnn.config import load_config

    path = tmp_path / "synth.toml"
    path.write_text('width = 64\nn_objects = [1, 3]\nshapes = ["disc"]\ndepth_range = [0.5, 8.0]\n')
    cfg = load_config(SynthConfig, path, ["n_objects=2", "noise_rate_hz=0"]).validate()
    assert (cfg.width, cfg.height) == (64, layout.HEIGHT)
    assert cfg.object_count_range == (2, 2) and cfg.shapes == ("disc",) and cfg.depth_range == (0.5, 8.0)
    assert cfg.noise_rate_hz == 0.0
    with pytest.raises(ConfigError, match="shapes"):
        load_config(SynthConfig, None, ["shapes=cube"]).validate()


def test_cli_data_info_counts_match_the_files(tiny_set, capsys):
    assert main(["data", "info", str(tiny_set)]) == 0
    out = capsys.readouterr().out.splitlines()
    manifest = json.loads((tiny_set / MANIFEST).read_text())
    for seq in manifest["sequences"]:
        line = next(x for x in out if x.startswith(seq))
        ev = manifest["counts"][seq]["events"]
        assert line.split()[1:3] == [str(ev["left"]), str(ev["right"])]
        assert line.split()[4] == "6" and line.endswith(f"{TINY.width}x{TINY.height}")
    assert out[-1].startswith("split synthetic: train ")
    assert main(["data", "info", str(tiny_set / "missing")]) == 2


@pytest.mark.parametrize("world", ["room", "planes"])
def test_images_and_labels_reused_from_event_frames_equal_fresh_renders(world):
    """Images and depth labels at event-frame times come from the frame's render (a cache):
    they must equal a fresh render at that time, for both cameras."""
    from depthsnn.data.synthetic.generate import draw_scene, render_frame, simulate_sequence
    from depthsnn.data.synthetic.render import depth_label, to_uint8

    cfg = SynthConfig(world=world, sequences=1, seconds=0.2, width=64, height=48)
    scene = draw_scene(cfg, np.random.default_rng(3))
    seq = simulate_sequence(scene, cfg, "s", (1, 2))
    for cam in layout.CAMERAS:
        for k, t in enumerate(seq.image_ts):
            assert np.array_equal(seq.images[cam][k], to_uint8(render_frame(scene, float(t), cam)[0]))
        for k, t in enumerate(seq.depth_ts):
            want = depth_label(render_frame(scene, float(t), cam)[1], cfg.max_range)
            assert np.array_equal(seq.depth[cam][k], want, equal_nan=True)
