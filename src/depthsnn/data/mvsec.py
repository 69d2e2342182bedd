"""Streaming reader for MVSEC-layout sequences (``<seq>_data.hdf5`` + ``<seq>_gt.hdf5``).

Real sequences hold ~14 M events per camera, so nothing here loads a whole event array: the
bounds of a time window are found by a binary search over the ``t`` column (a few single-element
reads, then one small block read), and only the rows of the window are read.

HDF5 handles are opened lazily and never pickled, so a :class:`MVSECSequence` can be sent to
DataLoader workers; a process that inherits open handles through ``fork`` reopens its own.

Rectification (``rectify_events``): a raw event at integer pixel (x, y) moves to
``(x_map[y, x], y_map[y, x])``, rounded to the nearest integer pixel with halves rounded up
(``floor(v + 0.5)``, deterministic and symmetric to what a renderer would do), and events that
land outside ``0 <= x < W, 0 <= y < H`` are dropped.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import DataError, DataWarning
from . import layout
from .calibration import StereoCalibration, calib_dir_for, load_calibration

# Below this many rows the binary search reads the t column in one go instead of bisecting.
_BLOCK_ROWS = 4096
_CHUNK_CACHE_BYTES = 16 * 1024 * 1024
# Timestamps probed by the binary search are remembered (the top levels of the search are the
# same for every window), up to this many per camera.
_MEMO_SIZE = 1 << 16


@dataclass(frozen=True)
class EventArrays:
    """Events of one camera in one window, as separate columns.

    ``x``, ``y`` int64 pixel coordinates (rectified unless asked otherwise), ``t`` float64 seconds,
    ``p`` bool (True = ON, i.e. polarity > 0).
    """

    x: np.ndarray
    y: np.ndarray
    t: np.ndarray
    p: np.ndarray

    def __len__(self) -> int:
        return int(self.t.shape[0])


def _round_half_up(v: np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(v, dtype=np.float64) + 0.5).astype(np.int64)


def rectify_events(
    rows: np.ndarray,
    width: int,
    height: int,
    x_map: np.ndarray | None = None,
    y_map: np.ndarray | None = None,
) -> EventArrays:
    """Turn raw ``(N, 4)`` rows ``[x, y, t, p]`` into :class:`EventArrays` inside the sensor.

    With ``x_map``/``y_map`` (both ``(H, W)``) coordinates are rectified as described in the
    module docstring; without them raw coordinates are only rounded. Raw coordinates outside the
    sensor (corrupt rows) and results outside it are dropped.
    """
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[1] != 4:
        raise ValueError(f"events must be (N, 4), got {rows.shape}")
    return rectify_columns(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3] > 0, width, height, x_map, y_map)


def rectify_columns(
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    p: np.ndarray,
    width: int,
    height: int,
    x_map: np.ndarray | None = None,
    y_map: np.ndarray | None = None,
) -> EventArrays:
    """:func:`rectify_events` for separate columns (``p`` bool, True = ON); the one rule shared
    by the MVSEC reader and ``depthsnn predict``'s readers of other formats."""
    x = _round_half_up(x)
    y = _round_half_up(y)
    t = np.asarray(t).astype(np.float64, copy=False)
    p = np.asarray(p, dtype=bool)
    if x_map is not None and y_map is not None:
        inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
        x, y, t, p = x[inside], y[inside], t[inside], p[inside]
        x, y = _round_half_up(x_map[y, x]), _round_half_up(y_map[y, x])
    keep = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    return EventArrays(x[keep], y[keep], t[keep], p[keep])


def _open_h5(path: Path) -> h5py.File:
    if not path.is_file():
        raise DataError("file not found", path)
    try:
        # A chunk cache larger than h5py's 1 MiB default keeps a compressed events chunk (e.g.
        # 65536 x 4 float64 = 2 MiB) decoded while a binary search probes inside it.
        return h5py.File(path, "r", rdcc_nbytes=_CHUNK_CACHE_BYTES)
    except OSError as exc:
        raise DataError(f"cannot open as HDF5, file corrupt or truncated ({_short(exc)})", path) from None


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _dataset(f: h5py.File, key: str, path: Path) -> h5py.Dataset:
    try:
        obj = f[key]
    except KeyError:
        raise DataError(f"missing HDF5 key '{key}'", path) from None
    except OSError as exc:  # damaged object headers surface here, not at open time
        raise DataError(f"cannot read HDF5 key '{key}' ({_short(exc)})", path) from None
    if not isinstance(obj, h5py.Dataset):
        raise DataError(f"HDF5 key '{key}' is a group, expected a dataset", path)
    return obj


def count_labels(root: str | Path, seq: str, camera: str = "left") -> int:
    """Number of rectified depth labels of ``seq`` (reads only the dataset shape)."""
    path = Path(root) / layout.gt_file(seq)
    with _open_h5(path) as f:
        ds = _dataset(f, layout.DEPTH_RECT_KEY.format(cam=camera), path)
        if ds.ndim != 3:
            raise DataError(f"'{ds.name}' has shape {ds.shape}, expected (N, H, W)", path)
        return int(ds.shape[0])


class MVSECSequence:
    """One MVSEC-layout sequence: rectified depth labels and streamed events of both cameras.

    ``root`` holds ``<seq>_data.hdf5``, ``<seq>_gt.hdf5`` and the calibration folder
    (``calib_dir_for(root, seq)``) unless ``calibration`` is passed (sequences of one scene can
    share it). ``cameras`` lists the cameras whose events must exist (``("left",)`` suffices for
    monocular use). ``depth_camera`` picks whose rectified depth is the target (left in MVSEC
    work: ``depth_image_rect`` aligns with rectified left events).

    Everything is validated on construction; afterwards the files stay closed until needed.
    """

    def __init__(
        self,
        root: str | Path,
        seq: str,
        *,
        calibration: StereoCalibration | None = None,
        cameras: tuple[str, ...] = layout.CAMERAS,
        depth_camera: str = "left",
    ):
        self.root = Path(root)
        self.seq = seq
        self.data_path = self.root / layout.data_file(seq)
        self.gt_path = self.root / layout.gt_file(seq)
        for cam in (*cameras, depth_camera):
            if cam not in layout.CAMERAS:
                raise ValueError(f"unknown camera {cam!r} (expected one of {layout.CAMERAS})")
        self.cameras = tuple(cameras)
        self.depth_camera = depth_camera
        if calibration is None:
            calibration = load_calibration(calib_dir_for(self.root, seq), layout.scene_of(seq))
        self.calibration = calibration
        self.width, self.height = calibration.left.resolution
        self._files: dict[str, h5py.File] = {}
        self._memo: dict[str, dict[int, float]] = {}
        self.dropped: dict[str, int] = {}  # camera -> raw events outside the sensor, dropped
        self._pid = os.getpid()
        try:
            self._validate()
        finally:
            self.close()

    # -- file handles -------------------------------------------------------------------------

    def _file(self, which: str) -> h5py.File:
        if self._pid != os.getpid():  # inherited through fork: never share HDF5 handles
            self._files = {}
            self._pid = os.getpid()
        f = self._files.get(which)
        if f is None:
            f = _open_h5(self.data_path if which == "data" else self.gt_path)
            self._files[which] = f
        return f

    def close(self) -> None:
        """Close open HDF5 handles (they reopen on the next access)."""
        if self._pid == os.getpid():
            for f in self._files.values():
                try:
                    f.close()
                except Exception:  # noqa: BLE001 - closing a broken file must not mask the real error
                    pass
        self._files = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_files"] = {}
        state["_memo"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pid = os.getpid()

    def __enter__(self) -> MVSECSequence:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MVSECSequence({str(self.root)!r}, {self.seq!r}, labels={self.num_labels})"

    def _events_ds(self, cam: str) -> h5py.Dataset:
        return _dataset(self._file("data"), layout.EVENTS_KEY.format(cam=cam), self.data_path)

    def _depth_ds(self) -> h5py.Dataset:
        return _dataset(self._file("gt"), layout.DEPTH_RECT_KEY.format(cam=self.depth_camera), self.gt_path)

    # -- validation ---------------------------------------------------------------------------

    def _validate(self) -> None:
        for cam_calib in (self.calibration.left, self.calibration.right):
            if cam_calib.resolution != (self.width, self.height):
                raise DataError("left and right calibration resolutions differ", self.root)
        w, h = self.width, self.height
        depth = self._depth_ds()
        if depth.ndim != 3 or depth.shape[1:] != (h, w):
            raise DataError(
                f"'{depth.name}' has shape {depth.shape}, expected (N, {h}, {w}) from the calibration",
                self.gt_path,
            )
        if depth.dtype.kind != "f":
            raise DataError(f"'{depth.name}' has dtype {depth.dtype}, expected float", self.gt_path)
        ts_key = layout.DEPTH_RECT_TS_KEY.format(cam=self.depth_camera)
        ts_ds = _dataset(self._file("gt"), ts_key, self.gt_path)
        if ts_ds.ndim != 1 or ts_ds.shape[0] != depth.shape[0]:
            raise DataError(
                f"'{ts_key}' has shape {ts_ds.shape}, expected ({depth.shape[0]},) like the depth maps",
                self.gt_path,
            )
        ts = self._read(ts_ds, slice(None), self.gt_path).astype(np.float64)
        if not np.isfinite(ts).all() or (ts.size > 1 and np.any(np.diff(ts) < 0)):
            raise DataError(f"'{ts_key}' is not finite and non-decreasing", self.gt_path)
        self.label_ts = ts
        self._time_range: dict[str, tuple[float, float]] = {}
        self._num_events: dict[str, int] = {}
        for cam in self.cameras:
            ev = self._events_ds(cam)
            if ev.ndim != 2 or ev.shape[1] != 4:
                raise DataError(
                    f"'{ev.name}' has shape {ev.shape}, expected (N, 4) rows [x, y, t, p]", self.data_path
                )
            if ev.dtype.kind not in "fiu":
                raise DataError(f"'{ev.name}' has dtype {ev.dtype}, expected a numeric type", self.data_path)
            n = int(ev.shape[0])
            if n == 0:
                raise DataError(f"'{ev.name}' is empty: the sequence has no events", self.data_path)
            t_first = float(self._read(ev, (0, 2), self.data_path))
            t_last = float(self._read(ev, (n - 1, 2), self.data_path))
            if not (np.isfinite(t_first) and np.isfinite(t_last)) or t_last < t_first:
                raise DataError(
                    f"'{ev.name}' timestamps are not sorted (first {t_first}, last {t_last})", self.data_path
                )
            self._num_events[cam] = n
            self._time_range[cam] = (t_first, t_last)

    @staticmethod
    def _read(ds: h5py.Dataset, sel: Any, path: Path) -> np.ndarray:
        try:
            return ds[sel]
        except OSError as exc:  # truncated data blocks only fail when read
            raise DataError(
                f"cannot read '{ds.name}', file corrupt or truncated ({_short(exc)})", path
            ) from None

    # -- labels -------------------------------------------------------------------------------

    @property
    def num_labels(self) -> int:
        """Number of depth labels (rectified depth maps)."""
        return int(self.label_ts.shape[0])

    @property
    def resolution(self) -> tuple[int, int]:
        """(width, height) of the sensor, from the calibration."""
        return self.width, self.height

    def label_timestamp(self, i: int) -> float:
        """Timestamp (seconds) of depth label ``i``."""
        return float(self.label_ts[self._check_label(i)])

    def _check_label(self, i: int) -> int:
        i = int(i)
        if not 0 <= i < self.num_labels:
            raise IndexError(f"{self.seq}: label {i} out of range 0..{self.num_labels - 1}")
        return i

    def depth(self, i: int) -> np.ndarray:
        """Rectified depth map ``i`` as float32 ``(H, W)`` in metres, NaN where invalid."""
        return self._read(self._depth_ds(), self._check_label(i), self.gt_path).astype(np.float32)

    def depth_block(self, start: int, stop: int) -> np.ndarray:
        """Depth maps ``start:stop`` as float32 ``(n, H, W)`` (one read; used for scans)."""
        return self._read(self._depth_ds(), slice(start, stop), self.gt_path).astype(np.float32)

    # -- events -------------------------------------------------------------------------------

    def num_events(self, cam: str) -> int:
        return self._num_events[self._check_cam(cam)]

    def event_time_range(self, cam: str) -> tuple[float, float]:
        """(first, last) event timestamp of camera ``cam`` in seconds."""
        return self._time_range[self._check_cam(cam)]

    def _check_cam(self, cam: str) -> str:
        if cam not in self.cameras:
            raise ValueError(f"{self.seq}: camera {cam!r} not opened (cameras={self.cameras})")
        return cam

    def _probe(self, ds: h5py.Dataset, cam: str, row: int) -> float:
        memo = self._memo.setdefault(cam, {})
        v = memo.get(row)
        if v is None:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            v = memo[row] = float(self._read(ds, (row, 2), self.data_path))
        return v

    def _search(self, ds: h5py.Dataset, cam: str, t: float) -> int:
        """First row whose timestamp is >= ``t`` (bisect_left over the sorted t column)."""
        lo, hi = 0, int(ds.shape[0])
        while hi - lo > _BLOCK_ROWS:
            mid = (lo + hi) // 2
            if self._probe(ds, cam, mid) < t:
                lo = mid + 1
            else:
                hi = mid
        block = self._read(ds, (slice(lo, hi), 2), self.data_path)
        return lo + int(np.searchsorted(block, t, side="left"))

    def event_bounds(self, cam: str, t0: float, t1: float) -> tuple[int, int]:
        """Row range ``[start, stop)`` of camera ``cam``'s events with ``t0 <= t < t1``."""
        ds = self._events_ds(self._check_cam(cam))
        start = self._search(ds, cam, t0)
        stop = max(start, self._search(ds, cam, t1))
        return start, stop

    def events(self, cam: str, t0: float, t1: float) -> np.ndarray:
        """Raw ``(M, 4)`` float64 rows ``[x, y, t, p]`` of camera ``cam`` with ``t0 <= t < t1``."""
        start, stop = self.event_bounds(cam, t0, t1)
        ds = self._events_ds(cam)
        if stop == start:
            return np.zeros((0, 4), dtype=np.float64)
        return self._read(ds, slice(start, stop), self.data_path).astype(np.float64, copy=False)

    def _drop_outside(self, cam: str, rows: np.ndarray, t0: float, t1: float) -> np.ndarray:
        """``rows`` without those outside the sensor, counted per camera (:attr:`dropped`); the first
        window that has any warns once per camera and file (in this process) with the count and the
        first row."""
        bad = _outside(np.asarray(rows).reshape(-1, 4), self.width, self.height) if len(rows) else None
        if bad is None or not bad.any():
            return rows
        first = self.dropped.get(cam, 0) == 0
        self.dropped[cam] = self.dropped.get(cam, 0) + int(bad.sum())
        if first:
            x, y, t, _ = (float(v) for v in np.asarray(rows)[np.flatnonzero(bad)[0]])
            warn_data(f"{self.data_path}: {int(bad.sum())} of {len(rows)} {cam} events in [{t0:.3f}, {t1:.3f}) s lie "
                      f"outside the {self.width}x{self.height} sensor and are dropped (first: x={x:g}, y={y:g}, "
                      f"t={t:.6f}); later ones in this file are counted in MVSECSequence.dropped, not repeated")
        return np.asarray(rows)[~bad]

    def window_events(self, cam: str, t0: float, t1: float, rectify: bool = True) -> EventArrays:
        """Events of ``cam`` with ``t0 <= t < t1``, rectified (unless ``rectify=False``) and in-sensor."""
        rows = self._drop_outside(cam, self.events(cam, t0, t1), t0, t1)
        c = self.calibration.camera(cam)
        if rectify:
            return rectify_events(rows, self.width, self.height, c.x_map, c.y_map)
        return rectify_events(rows, self.width, self.height)


def _outside(rows: np.ndarray, width: int, height: int) -> np.ndarray:
    """Rows whose raw coordinates are not finite or lie outside the sensor (corrupt rows; not the
    events that rectification legitimately moves off the image)."""
    x, y = rows[:, 0], rows[:, 1]
    with np.errstate(invalid="ignore"):
        return ~(np.isfinite(x) & np.isfinite(y) & (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5))


def warn_data(message: str) -> None:
    """Emit a :class:`DataWarning` attributed to the caller's caller."""
    warnings.warn(message, DataWarning, stacklevel=3)
