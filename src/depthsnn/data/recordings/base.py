"""The streaming reader interface shared by every event-file format.

A :class:`CameraReader` is one camera's events in one file. ``chunks()`` yields raw (not
rectified) events as :class:`~depthsnn.data.mvsec.EventArrays` in time order, a bounded block at
a time (never the whole recording), with ``t`` float64 seconds and ``p`` bool (True = ON).
Formats that store integer microseconds are converted with ``t_us / 1e6`` (float64, correctly
rounded), the same value an MVSEC-layout file written from those microseconds holds.

``validated(reader)`` wraps ``chunks()`` with the checks every format needs: finite and
non-decreasing timestamps across the whole stream, and a one-line :class:`DataError` naming the
file otherwise. Polarity is checked by the readers that store it as numbers
(:class:`PolarityCheck`); formats decoded by faery deliver it as bool already.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ...errors import DataError
from ..mvsec import EventArrays

# Rows read per block by the readers that page through arrays themselves (hdf5, npz): 256 k
# events = 8 MiB of float64 (x, y, t, p), a few ms of a busy DAVIS.
CHUNK_EVENTS = 1 << 18
US_PER_S = 1e6


def seconds_from_us(t_us: np.ndarray) -> np.ndarray:
    """Integer microseconds -> float64 seconds (the conversion every reader uses)."""
    return np.asarray(t_us).astype(np.float64) / US_PER_S


class CameraReader(ABC):
    """One camera's events in one file (see the module docstring).

    ``resolution``: (width, height) of the sensor as the file states it, or None when the file
    does not say (the caller then takes it from the calibration or the model). ``time_range``:
    (first, last) timestamp in seconds when the file tells it without a scan, else None.
    """

    path: Path
    camera: str
    format: str

    @property
    @abstractmethod
    def resolution(self) -> tuple[int, int] | None: ...

    def time_range(self) -> tuple[float, float] | None:
        return None

    @abstractmethod
    def chunks(self) -> Iterator[EventArrays]:
        """Raw events in time order, one bounded block at a time."""

    def close(self) -> None:  # noqa: B027 - most readers hold no handle between calls
        """Release file handles (readers reopen on the next ``chunks()``)."""

    def describe(self) -> str:
        return f"{self.path.name} [{self.format}, {self.camera}]"


class PolarityCheck:
    """Accepts polarity as bool, 0/1 or -1/+1 (one encoding per file) and returns ON as bool.

    The encoding is fixed by the first chunk that shows an OFF value, so a file that mixes 0
    and -1, or holds any other value (e.g. 0/255, 1/2), is a one-line error naming the values.
    """

    def __init__(self, path: Path, what: str = "polarity"):
        self.path = path
        self.what = what
        self.off: float | None = None

    def __call__(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p)
        if p.dtype == bool:
            return p
        if p.dtype.kind not in "iuf":
            raise DataError(f"{self.what} has dtype {p.dtype}, expected bool, 0/1 or -1/+1", self.path)
        values = np.unique(p)
        bad = values[(values != 1) & (values != 0) & (values != -1)]
        offs = values[values != 1]
        if bad.size or offs.size > 1 or (self.off is not None and offs.size and offs[0] != self.off):
            seen = sorted({*(float(v) for v in values[:6]), *([] if self.off is None else [self.off])})
            raise DataError(
                f"wrong polarity encoding: {self.what} holds {_fmt(seen)}; expected bool, 0/1 or -1/+1",
                self.path,
            )
        if offs.size:
            self.off = float(offs[0])
        return p == 1


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:g}" for v in values)


def validated(reader: CameraReader) -> Iterator[EventArrays]:
    """``reader.chunks()`` with finite, non-decreasing timestamps enforced across chunks."""
    last = -np.inf
    seen = 0
    for ev in reader.chunks():
        n = len(ev)
        if n == 0:
            continue
        t = ev.t
        if not np.isfinite(t).all():
            raise DataError(f"{reader.camera} camera: timestamps contain NaN or inf", reader.path)
        back = np.flatnonzero(np.diff(t) < 0)
        if t[0] < last or back.size:
            i = 0 if t[0] < last else int(back[0]) + 1
            prev = last if i == 0 else float(t[i - 1])
            raise DataError(
                f"{reader.camera} camera: timestamps are not sorted (event {seen + i} at "
                f"{float(t[i]):.6f} s follows {prev:.6f} s)",
                reader.path,
            )
        last = float(t[-1])
        seen += n
        yield ev
