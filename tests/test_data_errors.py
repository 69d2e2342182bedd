"""Bad input gives a one-line DataError naming the file and the problem."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from conftest import H, W, calib_dir_for_scene, write_sequence
from depthsnn.data import layout
from depthsnn.data.dataset import EventDepthDataset
from depthsnn.data.mvsec import MVSECSequence
from depthsnn.data.splits import resolve_split, split_from_lists
from depthsnn.errors import DataError


def raises_data_error(fn, *, path, match):
    with pytest.raises(DataError, match=match) as info:
        fn()
    msg = str(info.value)
    assert "\n" not in msg
    assert str(path) in msg
    return info.value


def test_missing_files(make_sequence):
    ws = make_sequence(num_events=200)
    (ws.root / layout.data_file(ws.seq)).unlink()
    raises_data_error(
        lambda: MVSECSequence(ws.root, ws.seq),
        path=ws.root / layout.data_file(ws.seq),
        match="file not found",
    )
    ws = make_sequence("indoor_flying2", num_events=200)
    (ws.root / layout.gt_file(ws.seq)).unlink()
    raises_data_error(
        lambda: MVSECSequence(ws.root, ws.seq), path=ws.root / layout.gt_file(ws.seq), match="file not found"
    )
    raises_data_error(
        lambda: resolve_split(split_from_lists(train=["indoor_flying7"]), ws.root),
        path=ws.root / "indoor_flying7_gt.hdf5",
        match="file not found",
    )


def test_missing_calibration(make_sequence, tmp_path):
    ws = make_sequence(num_events=200, root=tmp_path / "other", write_calib=False)
    raises_data_error(
        lambda: MVSECSequence(ws.root, ws.seq),
        path=calib_dir_for_scene(ws.root, ws.seq),
        match="calibration folder not found",
    )


def test_missing_key(make_sequence):
    ws = make_sequence(events={"left": make_sequence("indoor_flying2", num_events=50).events["left"]})
    raises_data_error(
        lambda: MVSECSequence(ws.root, ws.seq),
        path=ws.root / layout.data_file(ws.seq),
        match="missing HDF5 key 'davis/right/events'",
    )
    # monocular use does not need the right camera
    assert MVSECSequence(ws.root, ws.seq, cameras=("left",)).num_events("left") == 50


def test_missing_ts_key(make_sequence):
    ws = make_sequence(num_events=100)
    gt = ws.root / layout.gt_file(ws.seq)
    with h5py.File(gt, "a") as f:
        del f[layout.DEPTH_RECT_TS_KEY.format(cam="left")]
    raises_data_error(lambda: MVSECSequence(ws.root, ws.seq), path=gt, match="missing HDF5 key")


def test_wrong_event_shape(make_sequence):
    ev = np.zeros((10, 3))
    ws = make_sequence(events={"left": ev, "right": ev})
    raises_data_error(
        lambda: MVSECSequence(ws.root, ws.seq),
        path=ws.root / layout.data_file(ws.seq),
        match=r"shape \(10, 3\), expected \(N, 4\)",
    )


def test_empty_events(make_sequence):
    ev = np.zeros((0, 4))
    ws = make_sequence(events={"left": ev, "right": ev})
    raises_data_error(
        lambda: MVSECSequence(ws.root, ws.seq), path=ws.root / layout.data_file(ws.seq), match="no events"
    )


def test_depth_size_differs_from_calibration(make_sequence):
    ws = make_sequence(num_events=100, depth=np.ones((12, H, W + 1), np.float32))
    raises_data_error(
        lambda: MVSECSequence(ws.root, ws.seq),
        path=ws.root / layout.gt_file(ws.seq),
        match=rf"expected \(N, {H}, {W}\)",
    )


def test_ts_length_mismatch(make_sequence):
    ws = make_sequence(num_events=100, ts=np.arange(1, 12) * 0.05, depth=np.ones((12, H, W), np.float32))
    raises_data_error(
        lambda: MVSECSequence(ws.root, ws.seq),
        path=ws.root / layout.gt_file(ws.seq),
        match="expected \\(12,\\)",
    )


@pytest.mark.parametrize("which", ["data", "gt"])
def test_corrupt_hdf5(make_sequence, which):
    ws = make_sequence(num_events=100)
    path = ws.root / (layout.data_file(ws.seq) if which == "data" else layout.gt_file(ws.seq))
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
    raises_data_error(lambda: MVSECSequence(ws.root, ws.seq), path=path, match="corrupt or truncated")


def test_truncated_hdf5(make_sequence):
    ws = make_sequence(num_events=5000)
    path = ws.root / layout.data_file(ws.seq)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    def open_and_read():
        s = MVSECSequence(ws.root, ws.seq)
        s.events("right", -1.0, 1e9)

    raises_data_error(open_and_read, path=path, match="corrupt or truncated")


def test_wrong_size_rectification_map(make_sequence):
    ws = make_sequence(num_events=100)
    bad = calib_dir_for_scene(ws.root, ws.seq) / "indoor_flying_right_y_map.txt"
    np.savetxt(bad, np.zeros((H - 1, W)))
    raises_data_error(lambda: MVSECSequence(ws.root, ws.seq), path=bad, match="rectification map has shape")


def test_all_labels_nan(make_sequence):
    ws = make_sequence(num_events=100, depth=np.full((12, H, W), np.nan, np.float32))
    with pytest.warns(UserWarning):
        raises_data_error(
            lambda: EventDepthDataset(ws.root, split_from_lists(train=["indoor_flying1"]), "train"),
            path=ws.root,
            match="no label has valid depth",
        )


def test_missing_data_root(tmp_path):
    raises_data_error(
        lambda: EventDepthDataset(tmp_path / "nope", "split1"),
        path=tmp_path / "nope",
        match="data folder not found",
    )


def test_synthetic_without_sequences(tmp_path):
    raises_data_error(
        lambda: resolve_split("synthetic", tmp_path), path=tmp_path, match="no synthetic_stereo"
    )


def test_unsorted_timestamps(make_sequence):
    ws = make_sequence(num_events=100, ts=np.array([0.05, 0.1, 0.08]), depth=np.ones((3, H, W), np.float32))
    raises_data_error(
        lambda: MVSECSequence(ws.root, ws.seq), path=ws.root / layout.gt_file(ws.seq), match="non-decreasing"
    )


def test_write_sequence_helper_roundtrip(make_sequence):
    """Guard for the fixtures themselves: what they write is what the tests assume."""
    ws = make_sequence(num_events=100)
    with h5py.File(ws.root / layout.data_file(ws.seq)) as f:
        np.testing.assert_array_equal(f["davis/left/events"][:], ws.events["left"])
    assert write_sequence is not None
