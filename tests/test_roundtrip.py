"""Round trip: synthetic generator -> files in MVSEC layout -> MVSEC reader -> Dataset.

The scene is one textured plane at a known depth over a background beyond range, so the
expected depth map and the expected stereo disparity (fx*B/Z) are known analytically.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from depthsnn.data import layout
from depthsnn.data.calibration import write_calibration
from depthsnn.data.dataset import EventDepthDataset
from depthsnn.data.encoding import EncodingConfig
from depthsnn.data.splits import split_from_lists
from depthsnn.data.synthetic import Layer, Scene, SynthConfig, Trajectory, make_texture, simulate_sequence
from depthsnn.data.synthetic.writer import write_sequence

W, H, Z = 96, 64, 2.5
FXB = layout.FX_BASELINE


@pytest.fixture(scope="module")
def plane_set(tmp_path_factory):
    rng = np.random.default_rng(3)
    fx, fy = layout.FX, layout.FY
    bg = Layer(make_texture(rng, (64, 128), 1.3, 0.3, 0.5), (20.0 / fx, 20.0 / fy),
               Trajectory(W / 2, H / 2, 20.0), "full")
    half = (20.0, 14.0)
    obj = Layer(make_texture(rng, (32, 32), 1.0, 0.5, 0.6), (Z / fx, Z / fy),
                Trajectory(40.0, 30.0, Z, velocity=(30.0, 20.0)), "rect",
                (half[0] * Z / fx, half[1] * Z / fy))
    scene = Scene(W, H, fx, fy, FXB, bg, (obj,))
    cfg = SynthConfig(sequences=1, seconds=0.4, width=W, height=H, render_hz=500.0, noise_rate_hz=0.0,
                      max_range=8.0)
    root = tmp_path_factory.mktemp("plane")
    seq = simulate_sequence(scene, cfg, "synthetic_stereo1", (11, 12))
    write_sequence(root, seq)
    write_calibration(root / "synthetic_stereo_calib", "synthetic_stereo",
                      intrinsics=(fx, fy, W / 2, H / 2), resolution=(W, H))
    return root


def test_reader_returns_the_known_depth_and_disparity(plane_set):
    split = split_from_lists(train=["synthetic_stereo1:1-8"], val=[], test=[])
    ds = EventDepthDataset(plane_set, split=split, subset="train",
                           encoding=EncodingConfig(window_ms=50.0, num_bins=1, cameras="binocular"))
    assert len(ds) == 7
    for i in range(len(ds)):
        frames, depth, mask = ds[i]
        assert frames.shape == (1, 4, H, W) and depth.shape == (H, W)
        # Every valid pixel is the plane; the background is beyond max_range and masked.
        assert mask.sum() > 500
        assert np.allclose(depth[mask].numpy(), Z)
        assert (depth[~mask] == 0).all()

    # Disparity: events of the left camera (channels 0-1) cross-correlated with the right
    # camera's (2-3) over horizontal shifts, summed over labels; peak at fx*B/Z = 7.98 px.
    left = sum(ds[i][0][0, 0:2].sum(0).numpy() for i in range(len(ds)))
    right = sum(ds[i][0][0, 2:4].sum(0).numpy() for i in range(len(ds)))
    shifts = np.arange(0, 20)
    score = []
    for s in shifts:  # right[y, x] == left[y, x + s]
        a, b = left[:, s:], right[:, : W - s]
        a, b = a - a.mean(), b - b.mean()
        score.append((a * b).sum() / math.sqrt((a * a).sum() * (b * b).sum()))
    assert abs(shifts[int(np.argmax(score))] - FXB / Z) <= 1.0


def test_monocular_is_the_left_half_of_binocular(plane_set):
    split = split_from_lists(train=["synthetic_stereo1:2-4"], val=[], test=[])
    enc = EncodingConfig(num_bins=3)
    bino = EventDepthDataset(plane_set, split=split, subset="train", encoding=enc)
    mono = EventDepthDataset(plane_set, split=split, subset="train",
                             encoding=dataclasses.replace(enc, cameras="monocular"))
    for i in range(len(bino)):
        fb, fm = bino[i][0], mono[i][0]
        assert fb.shape == (3, 4, H, W) and fm.shape == (3, 2, H, W)
        assert (fb[:, :2] == fm).all() and fb.sum() > fm.sum() > 0
