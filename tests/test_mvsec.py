"""MVSEC reader: labels, depth, windowed event streaming, rectification, pickling."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from conftest import H, W
from depthsnn.data import mvsec
from depthsnn.data.mvsec import MVSECSequence, count_labels, rectify_events


def test_labels_and_depth(make_sequence):
    ws = make_sequence("indoor_flying1", num_labels=9)
    s = MVSECSequence(ws.root, ws.seq)
    assert s.num_labels == 9 == count_labels(ws.root, ws.seq)
    assert s.resolution == (W, H)
    np.testing.assert_array_equal(s.label_ts, ws.ts)
    assert s.label_timestamp(4) == ws.ts[4]
    d = s.depth(4)
    assert d.dtype == np.float32 and d.shape == (H, W)
    np.testing.assert_array_equal(d, ws.depth[4])  # NaNs compare equal here
    with pytest.raises(IndexError):
        s.depth(9)
    for cam in ("left", "right"):
        assert s.num_events(cam) == len(ws.events[cam])
        assert s.event_time_range(cam) == (ws.events[cam][0, 2], ws.events[cam][-1, 2])


@pytest.mark.parametrize("block", [4096, 5])
def test_window_matches_brute_force(make_sequence, monkeypatch, block):
    monkeypatch.setattr(mvsec, "_BLOCK_ROWS", block)
    ws = make_sequence(num_events=3000)
    s = MVSECSequence(ws.root, ws.seq)
    rng = np.random.default_rng(1)
    ev = ws.events["right"]
    t = ev[:, 2]
    # random windows, windows whose edges are exact event times, and windows off either end
    windows = [tuple(sorted(rng.uniform(-0.1, t[-1] + 0.1, 2))) for _ in range(20)]
    windows += [(t[i], t[j]) for i, j in rng.integers(0, len(t), (20, 2)) if i <= j]
    windows += [(-1.0, -0.5), (t[-1] + 1, t[-1] + 2), (t[0], t[0]), (-1.0, t[-1] + 1), (t[-1], t[-1] + 1)]
    for t0, t1 in windows:
        expected = ev[(t >= t0) & (t < t1)]
        np.testing.assert_array_equal(s.events("right", t0, t1), expected)


def test_events_are_streamed_not_loaded(make_sequence, monkeypatch):
    """No read touches more rows than one search block or the window itself."""
    ws = make_sequence(num_events=50_000)
    s = MVSECSequence(ws.root, ws.seq)
    real = s._events_ds
    sizes: list[int] = []

    class Recorder:
        def __init__(self, ds):
            self.ds, self.shape, self.name = ds, ds.shape, ds.name

        def __getitem__(self, sel):
            out = self.ds[sel]
            sizes.append(int(np.asarray(out).size))
            return out

    monkeypatch.setattr(s, "_events_ds", lambda cam: Recorder(real(cam)))
    t0 = float(ws.ts[5]) - 0.05
    rows = s.events("left", t0, float(ws.ts[5]))
    assert 0 < len(rows) < 50_000 // 4
    assert max(sizes) <= max(mvsec._BLOCK_ROWS, rows.size)
    assert len(sizes) < 40


def test_rectification_with_shift_map(make_sequence):
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    maps = {"left": (xs + 3, ys), "right": (xs, ys - 2)}
    ws = make_sequence(maps=maps, num_events=4000)
    s = MVSECSequence(ws.root, ws.seq)
    t0, t1 = -1.0, 1e9
    for cam, (dx, dy) in (("left", (3, 0)), ("right", (0, -2))):
        raw = ws.events[cam]
        x, y = raw[:, 0].astype(int) + dx, raw[:, 1].astype(int) + dy
        inside = (x >= 0) & (x < W) & (y >= 0) & (y < H)
        assert not inside.all()  # some events really are pushed out
        got = s.window_events(cam, t0, t1, rectify=True)
        np.testing.assert_array_equal(got.x, x[inside])
        np.testing.assert_array_equal(got.y, y[inside])
        np.testing.assert_array_equal(got.t, raw[inside, 2])
        np.testing.assert_array_equal(got.p, raw[inside, 3] > 0)
        plain = s.window_events(cam, t0, t1, rectify=False)
        np.testing.assert_array_equal(plain.x, raw[:, 0].astype(int))


def test_rounding_half_up():
    xm = np.array([[0.49, 0.5, 1.5, 2.51]], dtype=np.float32)
    ym = np.array([[0.0, -0.4, 0.2, 0.49]], dtype=np.float32)
    rows = np.array([[0, 0, 0.0, 1], [1, 0, 0.1, -1], [2, 0, 0.2, 1], [3, 0, 0.3, 1]], dtype=np.float64)
    ev = rectify_events(rows, width=4, height=1, x_map=xm, y_map=ym)
    np.testing.assert_array_equal(ev.x, [0, 1, 2, 3])
    np.testing.assert_array_equal(ev.y, [0, 0, 0, 0])
    np.testing.assert_array_equal(ev.p, [True, False, True, True])
    # x 2.51 -> 3 is inside a 4-wide sensor; with width 3 it is dropped
    assert len(rectify_events(rows, width=3, height=1, x_map=xm[:, :3], y_map=ym[:, :3])) == 3


def test_identity_rectification_changes_nothing(make_sequence):
    ws = make_sequence(num_events=2000)
    s = MVSECSequence(ws.root, ws.seq)
    a = s.window_events("left", 0.0, 0.3, rectify=True)
    b = s.window_events("left", 0.0, 0.3, rectify=False)
    for f in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))


def test_pickle_drops_handles_and_reopens(make_sequence):
    ws = make_sequence(num_events=2000)
    s = MVSECSequence(ws.root, ws.seq)
    before = s.events("left", 0.1, 0.2)
    assert s._files  # handles are open now
    clone = pickle.loads(pickle.dumps(s))
    assert clone._files == {}
    np.testing.assert_array_equal(clone.events("left", 0.1, 0.2), before)
    s.close()
    assert s._files == {}
    np.testing.assert_array_equal(s.events("left", 0.1, 0.2), before)  # reopens on demand


def test_monocular_needs_only_left(make_sequence):
    left_only = make_sequence(num_events=500).events["left"]
    ws = make_sequence("indoor_flying2", events={"left": left_only})
    s = MVSECSequence(ws.root, ws.seq, cameras=("left",))
    assert s.num_events("left") == 500
    with pytest.raises(ValueError):
        s.events("right", 0, 1)


def test_rows_outside_the_sensor_are_counted_and_warned_once(make_sequence):
    """Corrupt rows (x = 5000, y = -3, NaN) are dropped, counted per camera and reported once per file
    with the count and the first offending row; events that are inside stay, rectified as before."""
    from conftest import random_events
    from depthsnn.errors import DataWarning

    rng = np.random.default_rng(3)
    ev = random_events(rng, 400, 0.0, 0.6)
    bad = [17, 40, 300]
    ev[17, :2] = (5000, 10)
    ev[40, :2] = (3, -3)
    ev[300, :2] = (np.nan, 5)
    ws = make_sequence(events={"left": ev, "right": random_events(rng, 400, 0.0, 0.6)})
    s = MVSECSequence(ws.root, ws.seq)
    end = ev[40, 2] + 1e-9  # rows 17 and 40 fall in the first window, row 300 in a later one
    with pytest.warns(DataWarning, match=r"2 of \d+ left events .* outside the 64x48 sensor .*first: x=5000, y=10"):
        got = s.window_events("left", 0.0, end)
    assert s.dropped == {"left": 2}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second offending window is counted, not warned again
        s.window_events("left", ev[299, 2], ev[300, 2] + 1e-9)
        s.window_events("right", 0.0, 0.6)
    assert s.dropped == {"left": 3}
    good = np.delete(ev, bad, axis=0)
    ref = rectify_events(good[good[:, 2] < end], W, H,
                         s.calibration.left.x_map, s.calibration.left.y_map)
    np.testing.assert_array_equal(got.x, ref.x)
    np.testing.assert_array_equal(got.t, ref.t)
