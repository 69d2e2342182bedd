"""Open a stereo (or monocular) event recording from one file holding both cameras, or two files.

Files that can hold both cameras: MVSEC ``<seq>_data.hdf5`` (``davis/left``, ``davis/right``),
a plain HDF5 with ``left``/``right`` groups, an ``.npz`` with ``left_``/``right_`` keys, an
AEDAT4 file with two event tracks. RAW, DAT and CSV hold one camera each: pass the left file
first, then the right.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

from ...errors import DataError, DataWarning
from .. import layout
from .arrays import MVSECDataReader, NpzReader, PlainH5Reader, h5_groups, mvsec_cameras, npz_prefixes
from .base import CameraReader
from .camera_files import CsvReader, FaeryReader, aedat_event_tracks
from .sniff import sniff_format


def camera_readers(path: str | Path) -> list[CameraReader]:
    """Readers of every camera in ``path``, left first (camera names provisional: left, right)."""
    path = Path(path)
    fmt = sniff_format(path)
    names = layout.CAMERAS
    if fmt == "mvsec-hdf5":
        cams = mvsec_cameras(path)
        if not cams:
            raise DataError("MVSEC file holds no 'davis/left/events' or 'davis/right/events'", path)
        return [MVSECDataReader(path, c) for c in cams]
    if fmt == "hdf5":
        groups = h5_groups(path)
        return [PlainH5Reader(path, g or "left", g) for g in groups]
    if fmt == "npz":
        return [NpzReader(path, pre.rstrip("_") or "left", pre) for pre in npz_prefixes(path)]
    if fmt == "aedat4":
        tracks = aedat_event_tracks(path)
        if len(tracks) > 2:
            warnings.warn(f"{path}: {len(tracks)} event tracks, using the first two (ids "
                          f"{tracks[0][0]}, {tracks[1][0]}) as left and right", DataWarning, stacklevel=2)
        return [FaeryReader(path, names[i], "aedat", tid, res) for i, (tid, res) in enumerate(tracks[:2])]
    if fmt in ("raw", "dat"):
        return [FaeryReader(path, "left", "evt" if fmt == "raw" else "dat")]
    return [CsvReader(path, "left")]


def open_recording(files: Sequence[str | Path], cameras: tuple[str, ...]) -> dict[str, CameraReader]:
    """Readers for ``cameras`` (``("left",)`` or ``("left", "right")``) from ``files``.

    One file: its cameras in order. Two files: the first file's camera is left, the second's
    right. A binocular request without a right camera is a one-line error naming the file.
    """
    files = [Path(f) for f in files]
    if not 1 <= len(files) <= 2:
        raise DataError(f"expected one event file holding both cameras, or a left and a right file; got {len(files)}")
    per_file = [camera_readers(f) for f in files]
    if len(files) == 1:
        found = per_file[0]
    else:
        for f, readers in zip(files, per_file, strict=True):
            if len(readers) > 1:
                raise DataError("holds both cameras: pass it alone, or pass one single-camera file per camera", f)
        found = [per_file[0][0], per_file[1][0]]
    for reader, name in zip(found, layout.CAMERAS, strict=False):
        reader.camera = name
    by_name = {r.camera: r for r in found}
    if "right" in cameras and "right" not in by_name:
        raise DataError(
            "missing right camera: the file holds one camera's events and the model is binocular; "
            "pass the right camera's events as a second file (--events LEFT RIGHT)",
            files[0],
        )
    if "right" not in cameras and len(files) == 2:
        warnings.warn(f"{files[1]}: the model is monocular; the right camera's file is not used",
                      DataWarning, stacklevel=2)
    return {cam: by_name[cam] for cam in cameras}
