"""Readers of array files: MVSEC ``<seq>_data.hdf5``, plain HDF5 and ``.npz`` of x, y, t, p.

These are HDF5/numpy containers that h5py and numpy read directly, so no event library is
involved. HDF5 files are paged through in blocks of :data:`~.base.CHUNK_EVENTS` rows; an
``.npz`` is a zip of whole arrays and numpy loads each array at once, so it suits short
recordings (use HDF5 or a camera format for long ones).

Plain layouts (one camera at the top level, or both in ``left``/``right`` groups, resp. with
``left_``/``right_`` key prefixes in an ``.npz``):

- ``x``, ``y``: pixel coordinates (integers, or floats holding integers);
- ``t``: seconds when floating point, microseconds when integer (an HDF5 ``t`` may say so
  itself with a ``unit`` attribute ``"s"`` or ``"us"``);
- ``p``: bool, 0/1 or -1/+1;
- sensor size: ``width``/``height`` attributes (HDF5, on the file or the camera group) or
  scalar arrays (``.npz``: ``width``, ``height``, optionally prefixed).

MVSEC (design.md section 2): ``davis/{left,right}/events`` (N, 4) rows ``[x, y, t, p]``, t in
seconds; the file states no sensor size except through ``davis/{cam}/image_raw`` (N, H, W),
which is used when present.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from ...errors import DataError
from .. import layout
from ..mvsec import EventArrays
from .base import CHUNK_EVENTS, CameraReader, PolarityCheck, seconds_from_us

COLUMNS = ("x", "y", "t", "p")


def _h5(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"cannot open as HDF5 ({str(exc).splitlines()[0][:160]})", path) from None


def _time_unit(ds_or_array, declared: str | None, path: Path) -> str:
    if declared is not None:
        if isinstance(declared, bytes):
            declared = declared.decode()
        if declared not in ("s", "us"):
            raise DataError(f"timestamp unit {declared!r} not understood (use 's' or 'us')", path)
        return declared
    kind = ds_or_array.dtype.kind
    if kind == "f":
        return "s"
    if kind in "iu":
        return "us"
    raise DataError(f"timestamps have dtype {ds_or_array.dtype}, expected a number", path)


def _columns_to_events(x, y, t, p, unit: str, pol: PolarityCheck) -> EventArrays:
    t = seconds_from_us(t) if unit == "us" else np.asarray(t, dtype=np.float64)
    return EventArrays(np.asarray(x), np.asarray(y), t, pol(p))


def _resolution(attrs_list, path: Path) -> tuple[int, int] | None:
    for attrs in attrs_list:
        if "width" in attrs and "height" in attrs:
            try:
                return int(np.asarray(attrs["width"])), int(np.asarray(attrs["height"]))
            except (TypeError, ValueError):
                raise DataError("'width'/'height' are not integers", path) from None
    return None


class _ScannedReader(CameraReader):
    """A reader whose constructor scanned the file for ``_res`` (or None) and ``_range``."""

    _res: tuple[int, int] | None
    _range: tuple[float, float]

    @property
    def resolution(self) -> tuple[int, int] | None:
        return self._res

    def time_range(self) -> tuple[float, float]:
        return self._range


class MVSECDataReader(_ScannedReader):
    """One camera of an MVSEC ``<seq>_data.hdf5`` (no ground-truth file needed)."""

    format = "mvsec-hdf5"

    def __init__(self, path: Path, camera: str):
        self.path, self.camera = Path(path), camera
        self.key = layout.EVENTS_KEY.format(cam=camera)
        with _h5(self.path) as f:
            ds = f.get(self.key)
            if not isinstance(ds, h5py.Dataset) or ds.ndim != 2 or ds.shape[1] != 4:
                raise DataError(f"'{self.key}' missing or not (N, 4) rows [x, y, t, p]", self.path)
            self.n = int(ds.shape[0])
            if self.n == 0:
                raise DataError(f"'{self.key}' is empty", self.path)
            self._range = (float(ds[0, 2]), float(ds[self.n - 1, 2]))
            img = f.get(layout.IMAGE_KEY.format(cam=camera))
            self._res = (int(img.shape[2]), int(img.shape[1])) if isinstance(img, h5py.Dataset) and img.ndim == 3 else None

    def chunks(self) -> Iterator[EventArrays]:
        pol = PolarityCheck(self.path, f"'{self.key}' column p")
        with _h5(self.path) as f:
            ds = f[self.key]
            for a in range(0, self.n, CHUNK_EVENTS):
                rows = ds[a : a + CHUNK_EVENTS].astype(np.float64, copy=False)
                yield _columns_to_events(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3], "s", pol)


def mvsec_cameras(path: Path) -> tuple[str, ...]:
    """Cameras whose events an MVSEC data file holds, left first."""
    with _h5(path) as f:
        return tuple(c for c in layout.CAMERAS if layout.EVENTS_KEY.format(cam=c) in f)


def is_mvsec(path: Path) -> bool:
    with _h5(path) as f:
        return "davis" in f


class PlainH5Reader(_ScannedReader):
    """One camera of a plain HDF5 file (``x``, ``y``, ``t``, ``p`` at the root or in ``group``)."""

    format = "hdf5"

    def __init__(self, path: Path, camera: str, group: str | None):
        self.path, self.camera, self.group = Path(path), camera, group
        with _h5(self.path) as f:
            g = f if group is None else f[group]
            where = "the file" if group is None else f"group '{group}'"
            missing = [c for c in COLUMNS if not isinstance(g.get(c), h5py.Dataset)]
            if missing:
                raise DataError(f"{where} lacks dataset(s) {', '.join(missing)} (expected x, y, t, p)", self.path)
            lengths = {int(g[c].shape[0]) for c in COLUMNS}
            if len(lengths) != 1 or any(g[c].ndim != 1 for c in COLUMNS):
                raise DataError(f"x, y, t, p in {where} must be 1-D of one length", self.path)
            self.n = lengths.pop()
            if self.n == 0:
                raise DataError(f"{where} holds no events", self.path)
            self.unit = _time_unit(g["t"], g["t"].attrs.get("unit"), self.path)
            self._res = _resolution([g.attrs, f.attrs], self.path)
            t0, t1 = g["t"][0], g["t"][self.n - 1]
            conv = (lambda v: float(v) / 1e6) if self.unit == "us" else float
            self._range = (conv(t0), conv(t1))

    def chunks(self) -> Iterator[EventArrays]:
        pol = PolarityCheck(self.path, "p" if self.group is None else f"{self.group}/p")
        with _h5(self.path) as f:
            g = f if self.group is None else f[self.group]
            for a in range(0, self.n, CHUNK_EVENTS):
                s = slice(a, a + CHUNK_EVENTS)
                yield _columns_to_events(g["x"][s], g["y"][s], g["t"][s], g["p"][s], self.unit, pol)


def h5_groups(path: Path) -> list[str | None]:
    """Camera groups of a plain HDF5 file: ``[None]`` (one camera at the root) or left/right."""
    with _h5(path) as f:
        if "t" in f:
            return [None]
        groups = [c for c in layout.CAMERAS if isinstance(f.get(c), h5py.Group)]
        if not groups:
            raise DataError(
                "not an event file: no 'davis/<cam>/events' (MVSEC), no x/y/t/p datasets and no "
                "'left'/'right' groups", path,
            )
        return groups


class NpzReader(_ScannedReader):
    """One camera of an ``.npz`` (keys ``x, y, t, p``, or with a ``left_``/``right_`` prefix)."""

    format = "npz"

    def __init__(self, path: Path, camera: str, prefix: str):
        self.path, self.camera, self.prefix = Path(path), camera, prefix
        with self._open() as z:
            missing = [prefix + c for c in COLUMNS if prefix + c not in z.files]
            if missing:
                raise DataError(f"lacks array(s) {', '.join(missing)} (expected x, y, t, p)", self.path)
            t = z[prefix + "t"]
            self.n = int(t.shape[0])
            if t.ndim != 1 or self.n == 0:
                raise DataError(f"'{prefix}t' must be a non-empty 1-D array", self.path)
            self.unit = _time_unit(t, None, self.path)
            ends = seconds_from_us(t[[0, -1]]) if self.unit == "us" else t[[0, -1]].astype(np.float64)
            self._range = (float(ends[0]), float(ends[1]))
            self._res = None
            for pre in (prefix, ""):
                if pre + "width" in z.files and pre + "height" in z.files:
                    self._res = int(z[pre + "width"]), int(z[pre + "height"])
                    break

    def _open(self):
        try:
            return np.load(self.path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read as .npz ({exc})", self.path) from None

    def chunks(self) -> Iterator[EventArrays]:
        pol = PolarityCheck(self.path, f"'{self.prefix}p'")
        with self._open() as z:
            cols = [z[self.prefix + c] for c in COLUMNS]
        if len({len(c) for c in cols}) != 1:
            raise DataError(f"arrays {', '.join(self.prefix + c for c in COLUMNS)} differ in length", self.path)
        for a in range(0, self.n, CHUNK_EVENTS):
            s = slice(a, a + CHUNK_EVENTS)
            yield _columns_to_events(*(c[s] for c in cols[:3]), cols[3][s], self.unit, pol)


def npz_prefixes(path: Path) -> list[str]:
    """Key prefixes of the cameras in an ``.npz``: ``[""]`` or ``["left_", "right_"]`` (left first)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            files = set(z.files)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read as .npz ({exc})", path) from None
    if "t" in files:
        return [""]
    pre = [f"{c}_" for c in layout.CAMERAS if f"{c}_t" in files]
    if not pre:
        raise DataError("no events: expected arrays x, y, t, p (or left_x ... right_p)", path)
    return pre
