"""Which event format a file holds: from its first bytes, then its name.

Magic numbers first (AEDAT4 ``#!AER-DAT4.0``, HDF5, zip for ``.npz``), then the ``%`` header of
Prophesee files (a RAW header names its EVT format, a DAT header does not), then the suffix for
CSV. Anything else is a one-line "unknown format" error naming the file.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import DataError

FORMATS = ("mvsec-hdf5", "hdf5", "npz", "aedat4", "raw", "dat", "csv")
KNOWN = (
    "MVSEC <seq>_data.hdf5, .h5/.hdf5 or .npz of x, y, t, p, AEDAT4 (.aedat4), "
    "Prophesee RAW EVT2/EVT3 (.raw) or DAT (.dat), CSV (.csv)"
)

_HDF5 = b"\x89HDF\r\n\x1a\n"
_AEDAT4 = b"#!AER-DAT4.0"
_ZIP = b"PK\x03\x04"


def sniff_format(path: str | Path) -> str:
    """One of :data:`FORMATS` (HDF5 files are told apart by their keys: ``davis/`` is MVSEC)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("event file not found", path)
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(_AEDAT4):
        return "aedat4"
    if head.startswith(_HDF5):
        from .arrays import is_mvsec

        return "mvsec-hdf5" if is_mvsec(path) else "hdf5"
    if head.startswith(_ZIP):
        if path.suffix.lower() != ".npz":
            raise DataError(f"unknown event format: a zip archive, not an .npz (known: {KNOWN})", path)
        return "npz"
    suffix = path.suffix.lower()
    if head.startswith(b"%"):
        text = head.decode("ascii", "replace").lower()
        if "evt" in text or suffix == ".raw":
            return "raw"
        if suffix == ".dat":
            return "dat"
    if suffix == ".csv":
        return "csv"
    raise DataError(f"unknown event format (known: {KNOWN})", path)
