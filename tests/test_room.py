"""The room world: geometry checked against closed forms, independent of the ray caster.

Floor depth against the ray-plane intersection, object image size against the pinhole 1/Z law,
stereo disparity against fx*B/Z, mip-mapped texture lookup against a per-pixel reference, and
the written set's depth and determinism.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from depthsnn.data import layout
from depthsnn.data.synthetic import SynthConfig, generate_dataset
from depthsnn.data.synthetic.generate import draw_scene
from depthsnn.data.synthetic.room import (
    BACK_WALL,
    FLOOR,
    Box,
    DroneMotion,
    MipTexture,
    RoomScene,
    Surface,
    _sample_trilinear,
    noise_tile,
    random_room,
    render_room,
    trace,
)

W, H = layout.WIDTH, layout.HEIGHT
FX, FY, CX, CY = layout.FX, layout.FY, layout.CX, layout.CY
FLAT = Surface(0.5, 0.0, 0.01)


def _room(boxes=(), p0=(0.1, -0.05, 0.2), texture=None, z_back=7.0) -> RoomScene:
    return RoomScene(
        W, H, FX, FY, CX, CY, layout.FX_BASELINE, x_left=-2.5, x_right=3.0, y_ceiling=-1.6, y_floor=1.2,
        z_back=z_back, surfaces=(FLAT,) * 5, boxes=tuple(boxes),
        motion=DroneMotion(p0, (0.3, 0.0, 0.5)), texture=texture,
    )


def test_floor_depth_is_the_ray_plane_intersection():
    scene = _room()
    t = 0.4
    p = scene.camera_position(t)
    hits = trace(scene, t)
    floor = hits.surface == FLOOR
    rows, cols = np.nonzero(floor)
    assert floor.sum() > 0.1 * floor.size  # the floor fills the lower part of the view
    # Ray through pixel (x, y) is (x - cx)/fx, (y - cy)/fy, 1): it meets y = y_floor at
    # Z = (y_floor - p_y) * fy / (y - cy).
    expected = (scene.y_floor - p[1]) * FY / (rows - CY)
    np.testing.assert_allclose(hits.z[rows, cols], expected, rtol=1e-12)
    _, depth = render_room(scene, t)
    np.testing.assert_allclose(depth[rows, cols], expected, rtol=1e-6)
    # And the wall beyond: the back wall at z_back - p_z where neither floor nor walls come first.
    back = hits.surface == BACK_WALL
    np.testing.assert_allclose(hits.z[back], scene.z_back - p[2], rtol=1e-12)
    assert (rows > CY).all()


@pytest.mark.parametrize("z", [1.5, 3.0, 6.0])
def test_object_image_size_scales_as_one_over_depth(z):
    """A 0.6 m x 0.4 m box face at depth Z spans fx*0.6/Z by fy*0.4/Z pixels."""
    w_m, h_m = 0.6, 0.4
    box = Box((-0.3, -0.2, z), (0.3, 0.2, z + 0.5), Surface(0.9, 0.0, 0.01))  # centred on the axis
    scene = _room([box], p0=(0.0, 0.0, 0.0), z_back=9.0)
    hits = trace(scene, 0.0)
    mask = hits.surface == 5
    cols = np.nonzero(mask.any(0))[0]
    rows = np.nonzero(mask.any(1))[0]
    # Seen head-on from the axis the front face hides the sides: width/height within a pixel.
    assert abs(len(cols) - FX * w_m / z) <= 1.0
    assert abs(len(rows) - FY * h_m / z) <= 1.0
    np.testing.assert_allclose(hits.z[mask], z)


def test_stereo_disparity_of_the_room_is_fx_b_over_z():
    """A point seen by the left camera at x with depth Z appears in the right one at x - fx*B/Z."""
    rng = np.random.default_rng(3)
    scene = random_room(SynthConfig(), rng)
    t = 0.2
    left, right = trace(scene, t, "left"), trace(scene, t, "right")
    z = left.z
    ys, xs = np.mgrid[0:H, 0:W]
    xr = xs - scene.fx_baseline / z
    inside = (xr >= 0) & (xr <= W - 1)
    # Reproject with the rig geometry (not the renderer): world point of each left pixel.
    o = scene.camera_position(t, "left")
    world = np.stack([o[0] + (xs - CX) / FX * z, o[1] + (ys - CY) / FY * z, o[2] + z])
    orr = scene.camera_position(t, "right")
    x_proj = CX + FX * (world[0] - orr[0]) / (world[2] - orr[2])
    np.testing.assert_allclose(x_proj[inside], xr[inside], atol=1e-6)
    # The right camera's own depth at the rounded matching pixel agrees where nothing occludes.
    xi = np.rint(xr).astype(int)
    ok = inside & (np.abs(xr - xi) < 0.25)
    zr = right.z[ys[ok], xi[ok]]
    agree = np.abs(zr - z[ok]) < 0.02 * z[ok]
    assert agree.mean() > 0.97
    # Disparity against rendered intensity: on the floor depth depends on the row only, so the
    # correlation of a left row with right rows shifted by s pixels peaks at fx*B/Z.
    bare = dataclasses.replace(scene, boxes=())
    img_l, depth_l = render_room(bare, t, "left")
    img_r, _ = render_room(bare, t, "right")
    floor_rows = trace(bare, t, "left").surface[:, 100:260] == FLOOR
    rows = [y for y in range(180, H, 10) if floor_rows[y].all() and floor_rows[y - 1].all()]
    assert len(rows) >= 4
    for y in rows:
        d = scene.fx_baseline / depth_l[y, 100:260].mean()
        shifts = np.arange(0, 30)
        a = img_l[y, 120:260]
        score = [np.corrcoef(a, img_r[y, 120 - s:260 - s])[0, 1] for s in shifts]
        assert abs(shifts[int(np.argmax(score))] - d) <= 1.0


def test_mip_lookup_matches_a_per_pixel_reference():
    tile = noise_tile(np.random.default_rng(0), 32, 1.3)
    tex = MipTexture.from_tile(tile)
    levels = [tile.astype(np.float64)]
    while levels[-1].shape[0] > 8:
        a = levels[-1]
        levels.append(0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]))

    def ref(u: float, v: float, lev: int) -> float:
        m = levels[lev]
        n = m.shape[0]
        x, y = (u + 0.5) / 2**lev - 0.5, (v + 0.5) / 2**lev - 0.5
        x0, y0 = np.floor(x), np.floor(y)
        ax, ay = x - x0, y - y0
        i0, j0 = int(x0) % n, int(y0) % n
        i1, j1 = (i0 + 1) % n, (j0 + 1) % n
        return (m[j0, i0] * (1 - ax) + m[j0, i1] * ax) * (1 - ay) + (m[j1, i0] * (1 - ax) + m[j1, i1] * ax) * ay

    rng = np.random.default_rng(1)
    u = rng.uniform(-100, 100, (9, 11)).astype(np.float32)
    v = rng.uniform(-100, 100, (9, 11)).astype(np.float32)
    level = rng.uniform(0, tex.levels - 1, (9, 11)).astype(np.float32)
    got = _sample_trilinear(tex, u, v, level)
    lo = np.floor(level).astype(int)
    expected = np.array([
        [(1 - (level[i, j] - lo[i, j])) * ref(u[i, j], v[i, j], lo[i, j])
         + (level[i, j] - lo[i, j]) * ref(u[i, j], v[i, j], min(lo[i, j] + 1, tex.levels - 1))
         for j in range(11)] for i in range(9)])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_drone_moves_at_the_typical_speed_and_turns():
    cfg = SynthConfig(camera_speed_m_s=0.8)
    speeds, headings = [], []
    for seed in range(8):
        scene = random_room(cfg, np.random.default_rng(seed))
        m = scene.motion
        speeds += [m.speed(t) for t in np.linspace(0, 0.5, 6)]
        d = m.position(0.5) - m.position(0.0)
        headings.append(np.arctan2(d[2], d[0]))
    speeds = np.array(speeds)
    assert 0.65 < speeds.min() and speeds.max() < 0.95  # small variation around 0.8 m/s
    assert np.ptp(headings) > 2.0  # directions vary from scene to scene


def test_room_set_is_mostly_valid_depth_and_deterministic(tmp_path):
    cfg = SynthConfig(sequences=2, seconds=0.1, width=96, height=72, workers=1)
    a = generate_dataset(tmp_path / "a", cfg, progress=False)
    b = generate_dataset(tmp_path / "b", dataclasses.replace(cfg, workers=2), progress=False)
    import h5py

    for name in ("synthetic_stereo1_gt.hdf5", "synthetic_stereo2_data.hdf5"):
        with h5py.File(a / name) as fa, h5py.File(b / name) as fb:
            for key in ("davis/left/depth_image_rect", "davis/left/events"):
                if key in fa:
                    np.testing.assert_array_equal(fa[key][()], fb[key][()])  # same bytes, 1 or 2 workers
    with h5py.File(a / "synthetic_stereo1_gt.hdf5") as f:
        depth = f["davis/left/depth_image_rect"][()]
    assert np.isfinite(depth).mean() > 0.7  # room surfaces are valid depth, not a NaN background
    valid = depth[np.isfinite(depth)]
    assert valid.min() > 0.3 and valid.max() <= cfg.max_range


def test_room_scene_is_drawn_from_config():
    cfg = SynthConfig(n_objects=(4, 4))
    scene = draw_scene(cfg, np.random.default_rng(0))
    assert isinstance(scene, RoomScene) and len(scene.boxes) == 4
    for box in scene.boxes:
        size = np.subtract(box.hi, box.lo)
        assert cfg.object_width_m[0] <= size[0] <= cfg.object_width_m[1]
        assert cfg.object_height_m[0] <= size[1] <= cfg.object_height_m[1]
        assert box.hi[1] <= scene.y_floor + 1e-9 and box.lo[1] >= scene.y_ceiling
