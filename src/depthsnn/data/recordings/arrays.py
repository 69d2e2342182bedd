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

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from ...errors import DataError
from ...limits import check_size
from .. import layout
from ..mvsec import EventArrays
from .base import CHUNK_EVENTS, CameraReader, PolarityCheck, seconds_from_us

COLUMNS = ("x", "y", "t", "p")


# Sensor sizes a file may state (the largest event cameras are 1280x720; 65535 is what 16-bit
# coordinates can address).
MAX_SIDE = 1 << 16
# A dataset declaring more than this many times the bytes it stores is refused as corrupt (only
# unwritten chunks read back as fill values compress that well; event data compresses < 10x).
MAX_STORAGE_RATIO = 1000


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _h5(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except Exception as exc:  # noqa: BLE001 - h5py raises OSError, ValueError, RuntimeError... on damage
        raise DataError(f"cannot open as HDF5 ({_short(exc)})", path) from None


@contextmanager
def _damage(path: Path, kind: str = "HDF5"):
    """Any exception a damaged container raises while we read it -> a one-line DataError."""
    try:
        yield
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - decoders of damaged files raise any type
        raise DataError(f"cannot read as {kind}, file corrupt or truncated ({_short(exc)})", path) from None


def check_resolution(w, h, path: Path, where: str = "") -> tuple[int, int]:
    """A sensor size a file states: positive integers up to :data:`MAX_SIDE`."""
    try:
        wf, hf = float(np.asarray(w)), float(np.asarray(h))
    except (TypeError, ValueError):
        raise DataError(f"{where}'width'/'height' are not numbers", path) from None
    if not (wf.is_integer() and hf.is_integer() and 0 < wf <= MAX_SIDE and 0 < hf <= MAX_SIDE):
        raise DataError(f"{where}sensor size {wf:g}x{hf:g} is not two integers in 1..{MAX_SIDE}", path)
    return int(wf), int(hf)


def _check_storage(ds: h5py.Dataset, path: Path) -> None:
    nominal = int(np.prod(ds.shape, dtype=object)) * ds.dtype.itemsize
    stored = ds.id.get_storage_size()
    if nominal > (1 << 20) and stored * MAX_STORAGE_RATIO < nominal:
        raise DataError(f"'{ds.name}' declares shape {ds.shape} ({nominal} bytes) but stores {stored} bytes: "
                        "corrupt or never written", path)


def _time_unit(ds_or_array, declared: str | None, path: Path) -> str:
    if declared is not None:
        if isinstance(declared, bytes):
            declared = declared.decode("utf-8", "replace")
        if not isinstance(declared, str) or declared not in ("s", "us"):
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
            return check_resolution(attrs["width"], attrs["height"], path)
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
        with _h5(self.path) as f, _damage(self.path):
            ds = f.get(self.key)
            if not isinstance(ds, h5py.Dataset) or ds.ndim != 2 or ds.shape[1] != 4:
                raise DataError(f"'{self.key}' missing or not (N, 4) rows [x, y, t, p]", self.path)
            if ds.dtype.kind not in "iuf":
                raise DataError(f"'{self.key}' has dtype {ds.dtype}, expected numbers", self.path)
            self.n = int(ds.shape[0])
            if self.n == 0:
                raise DataError(f"'{self.key}' is empty", self.path)
            _check_storage(ds, self.path)
            self._range = (float(ds[0, 2]), float(ds[self.n - 1, 2]))
            img = f.get(layout.IMAGE_KEY.format(cam=camera))
            self._res = None
            if isinstance(img, h5py.Dataset) and img.ndim == 3:
                self._res = check_resolution(img.shape[2], img.shape[1], self.path, f"'{img.name}': ")

    def chunks(self) -> Iterator[EventArrays]:
        pol = PolarityCheck(self.path, f"'{self.key}' column p")
        with _h5(self.path) as f:
            for a in range(0, self.n, CHUNK_EVENTS):
                with _damage(self.path):
                    rows = f[self.key][a : a + CHUNK_EVENTS].astype(np.float64, copy=False)
                yield _columns_to_events(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3], "s", pol)


def mvsec_cameras(path: Path) -> tuple[str, ...]:
    """Cameras whose events an MVSEC data file holds, left first."""
    with _h5(path) as f, _damage(path):
        return tuple(c for c in layout.CAMERAS if layout.EVENTS_KEY.format(cam=c) in f)


def is_mvsec(path: Path) -> bool:
    with _h5(path) as f, _damage(path):
        return "davis" in f


class PlainH5Reader(_ScannedReader):
    """One camera of a plain HDF5 file (``x``, ``y``, ``t``, ``p`` at the root or in ``group``)."""

    format = "hdf5"

    def __init__(self, path: Path, camera: str, group: str | None):
        self.path, self.camera, self.group = Path(path), camera, group
        with _h5(self.path) as f, _damage(self.path):
            g = f if group is None else f[group]
            where = "the file" if group is None else f"group '{group}'"
            missing = [c for c in COLUMNS if not isinstance(g.get(c), h5py.Dataset)]
            if missing:
                raise DataError(f"{where} lacks dataset(s) {', '.join(missing)} (expected x, y, t, p)", self.path)
            if any(g[c].ndim != 1 for c in COLUMNS) or len({int(g[c].shape[0]) for c in COLUMNS}) != 1:
                raise DataError(f"x, y, t, p in {where} must be 1-D of one length", self.path)
            for c in COLUMNS:
                if g[c].dtype.kind not in ("iuf" if c != "p" else "biuf"):
                    raise DataError(f"'{g[c].name}' has dtype {g[c].dtype}, expected numbers", self.path)
                _check_storage(g[c], self.path)
            self.n = int(g["t"].shape[0])
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
            for a in range(0, self.n, CHUNK_EVENTS):
                s = slice(a, a + CHUNK_EVENTS)
                with _damage(self.path):
                    g = f if self.group is None else f[self.group]
                    cols = [g[c][s] for c in COLUMNS]
                yield _columns_to_events(*cols, self.unit, pol)


def h5_groups(path: Path) -> list[str | None]:
    """Camera groups of a plain HDF5 file: ``[None]`` (one camera at the root) or left/right."""
    with _h5(path) as f, _damage(path):
        if "t" in f:
            return [None]
        groups = [c for c in layout.CAMERAS if isinstance(f.get(c), h5py.Group)]
        if not groups:
            raise DataError(
                "not an event file: no 'davis/<cam>/events' (MVSEC), no x/y/t/p datasets and no "
                "'left'/'right' groups", path,
            )
        return groups


def _npy_header(fh) -> tuple[tuple[int, ...], np.dtype]:
    npf = np.lib.format
    version = npf.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = npf.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, _, dtype = npf.read_array_header_2_0(fh)
    else:  # 3.0 (utf-8 field names): numpy reads it only through a private helper
        from numpy.lib import _format_impl

        shape, _, dtype = _format_impl._read_array_header(fh, version)
    return shape, dtype


def npz_index(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array in an ``.npz``, read from the ``.npy`` headers only.

    Nothing is allocated: a header declaring more bytes than its member holds, an object dtype
    or a total over the memory limit (``DEPTHSNN_MAX_BYTES``) is a one-line error before
    ``numpy.load`` sees the file.
    """
    out: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    total = 0
    with _damage(path, ".npz"):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                name = info.filename[:-4]
                with zf.open(info) as fh:
                    shape, dtype = _npy_header(fh)
                    header = fh.tell()
                if dtype.hasobject:
                    raise DataError(f"array '{name}' holds Python objects ({dtype}); expected numbers", path)
                nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if nbytes > info.file_size - header:
                    raise DataError(f"array '{name}' declares shape {shape} ({nbytes} bytes) but its member holds "
                                    f"{info.file_size - header} bytes: truncated or corrupt", path)
                total += nbytes
                out[name] = (tuple(int(d) for d in shape), dtype)
    check_size("the arrays of this .npz", total, path)
    return out


class NpzReader(_ScannedReader):
    """One camera of an ``.npz`` (keys ``x, y, t, p``, or with a ``left_``/``right_`` prefix).

    The headers are checked first (:func:`npz_index`): the four columns must be 1-D arrays of
    one length with numeric dtypes, so loading them allocates what the file holds, no more.
    """

    format = "npz"

    def __init__(self, path: Path, camera: str, prefix: str):
        self.path, self.camera, self.prefix = Path(path), camera, prefix
        index = npz_index(self.path)
        missing = [prefix + c for c in COLUMNS if prefix + c not in index]
        if missing:
            raise DataError(f"lacks array(s) {', '.join(missing)} (expected x, y, t, p)", self.path)
        shapes = {index[prefix + c][0] for c in COLUMNS}
        if len(shapes) != 1 or len(next(iter(shapes))) != 1:
            desc = ", ".join(f"{prefix + c} {index[prefix + c][0]}" for c in COLUMNS)
            raise DataError(f"x, y, t, p must be 1-D arrays of one length; got {desc}", self.path)
        for c in COLUMNS:
            if index[prefix + c][1].kind not in ("iuf" if c != "p" else "biuf"):
                raise DataError(f"'{prefix + c}' has dtype {index[prefix + c][1]}, expected numbers", self.path)
        self.n = next(iter(shapes))[0]
        if self.n == 0:
            raise DataError(f"'{prefix}t' holds no events", self.path)
        with self._open() as z, _damage(self.path, ".npz"):
            t = z[prefix + "t"]
            self.unit = _time_unit(t, None, self.path)
            ends = seconds_from_us(t[[0, -1]]) if self.unit == "us" else t[[0, -1]].astype(np.float64)
            self._range = (float(ends[0]), float(ends[1]))
            self._res = None
            for pre in (prefix, ""):
                if pre + "width" in index and pre + "height" in index:
                    self._res = check_resolution(z[pre + "width"], z[pre + "height"], self.path)
                    break

    def _open(self):
        with _damage(self.path, ".npz"):
            return np.load(self.path, allow_pickle=False)

    def chunks(self) -> Iterator[EventArrays]:
        pol = PolarityCheck(self.path, f"'{self.prefix}p'")
        with self._open() as z, _damage(self.path, ".npz"):
            cols = [z[self.prefix + c] for c in COLUMNS]
        if len({c.shape for c in cols}) != 1 or cols[0].ndim != 1 or len(cols[0]) != self.n:
            raise DataError(f"arrays {', '.join(self.prefix + c for c in COLUMNS)} changed since the file was "
                            "opened", self.path)
        for a in range(0, self.n, CHUNK_EVENTS):
            s = slice(a, a + CHUNK_EVENTS)
            yield _columns_to_events(*(c[s] for c in cols[:3]), cols[3][s], self.unit, pol)


def npz_prefixes(path: Path) -> list[str]:
    """Key prefixes of the cameras in an ``.npz``: ``[""]`` or ``["left_", "right_"]`` (left first)."""
    files = set(npz_index(path))
    if "t" in files:
        return [""]
    pre = [f"{c}_" for c in layout.CAMERAS if f"{c}_t" in files]
    if not pre:
        raise DataError("no events: expected arrays x, y, t, p (or left_x ... right_p)", path)
    return pre
