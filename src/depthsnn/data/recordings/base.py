"""The streaming reader interface shared by every event-file format.

A :class:`CameraReader` is one camera's events in one file. ``chunks()`` yields raw (not
rectified) events as :class:`~depthsnn.data.mvsec.EventArrays` in time order, a bounded block at
a time (never the whole recording), with ``t`` float64 seconds and ``p`` bool (True = ON).
Formats that store integer microseconds are converted with ``t_us / 1e6`` (float64, correctly
rounded), the same value an MVSEC-layout file written from those microseconds holds.

``validated(reader, resolution, strict)`` wraps ``chunks()`` with the checks every format needs:
finite and non-decreasing timestamps across the whole stream, numeric coordinates, and a
one-line :class:`DataError` naming the file otherwise; events outside the sensor are dropped
and reported once per camera (a warning, or an error with ``strict``). Polarity is checked by the readers that store it as numbers
(:class:`PolarityCheck`); formats decoded by faery deliver it as bool already.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ...errors import DataError, DataWarning
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


# A recording in which no event happens for this long between two consecutive events is refused:
# event cameras emit noise events every few ms, so such a gap is a corrupt timestamp, and cutting
# it into windows would make millions of empty depth maps (a hang, as far as the user can tell).
MAX_GAP_S = 3600.0


class DropCount:
    """Events dropped from one camera's stream: how many, and the first one (x, y, t)."""

    def __init__(self) -> None:
        self.count = 0
        self.first: tuple[float, float, float] | None = None

    def add(self, ev: EventArrays, bad: np.ndarray) -> None:
        idx = np.flatnonzero(bad)
        if idx.size and self.first is None:
            i = int(idx[0])
            self.first = (float(ev.x[i]), float(ev.y[i]), float(ev.t[i]))
        self.count += int(idx.size)


def _coord(v: float) -> str:
    return f"{v:g}"


def validated(reader: CameraReader, resolution: tuple[int, int] | None = None,
              strict: bool = False) -> Iterator[EventArrays]:
    """``reader.chunks()`` with the checks every format needs, as one-line :class:`DataError`s:

    - ``x``, ``y`` numeric; timestamps finite and non-decreasing across the whole stream, with no
      gap over :data:`MAX_GAP_S`;
    - with ``resolution`` (width, height): events whose coordinates lie outside the sensor (or
      are not finite) are dropped, counted, and reported once per camera and file when the
      stream ends: a :class:`DataWarning` with the count and the first offending event; with
      ``strict`` the first such event is an error instead.
    """
    last = -np.inf
    seen = 0
    dropped = DropCount()
    where = f"{reader.camera} camera"
    for ev in reader.chunks():
        n = len(ev)
        if n == 0:
            continue
        for name in ("x", "y"):
            col = np.asarray(getattr(ev, name))
            if col.dtype.kind not in "iuf" or col.shape != ev.t.shape:
                raise DataError(f"{where}: {name} has dtype {col.dtype} and shape {col.shape}, expected "
                                f"{n} numbers", reader.path)
        if np.shape(ev.p) != ev.t.shape:
            raise DataError(f"{where}: polarity has shape {np.shape(ev.p)}, expected ({n},)", reader.path)
        t = ev.t
        if not np.isfinite(t).all():
            raise DataError(f"{where}: timestamps contain NaN or inf", reader.path)
        steps = np.diff(t)
        back = np.flatnonzero(steps < 0)
        if t[0] < last or back.size:
            i = 0 if t[0] < last else int(back[0]) + 1
            prev = last if i == 0 else float(t[i - 1])
            raise DataError(
                f"{where}: timestamps are not sorted (event {seen + i} at "
                f"{float(t[i]):.6f} s follows {prev:.6f} s)",
                reader.path,
            )
        gaps = np.flatnonzero(steps > MAX_GAP_S)
        if (seen and t[0] - last > MAX_GAP_S) or gaps.size:
            i = 0 if seen and t[0] - last > MAX_GAP_S else int(gaps[0]) + 1
            prev = last if i == 0 else float(t[i - 1])
            raise DataError(
                f"{where}: timestamps jump by {float(t[i]) - prev:.6g} s without events (event {seen + i} at "
                f"{float(t[i]):.6f} s follows {prev:.6f} s); over {MAX_GAP_S:g} s, a corrupt timestamp",
                reader.path,
            )
        if resolution is not None:
            w, h = resolution
            with np.errstate(invalid="ignore"):
                x, y = np.asarray(ev.x), np.asarray(ev.y)
                # Coordinates are rounded half up later (rectify_columns): -0.5 <= v < size - 0.5 is inside.
                inside = (x >= -0.5) & (x < w - 0.5) & (y >= -0.5) & (y < h - 0.5)
            if not inside.all():
                bad = ~inside
                if strict:
                    i = int(np.flatnonzero(bad)[0])
                    raise DataError(
                        f"{where}: event {seen + i} at x={_coord(float(ev.x[i]))}, y={_coord(float(ev.y[i]))} "
                        f"(t={float(t[i]):.6f} s) lies outside the {w}x{h} sensor (--strict)",
                        reader.path,
                    )
                dropped.add(ev, bad)
                ev = EventArrays(ev.x[inside], ev.y[inside], ev.t[inside], ev.p[inside])
        last = float(t[-1])
        seen += n
        if len(ev):
            yield ev
    if dropped.count:
        x, y, t0 = dropped.first
        warnings.warn(
            f"{reader.path}: {where}: {dropped.count} of {seen} events lie outside the "
            f"{resolution[0]}x{resolution[1]} sensor and were dropped (first at x={_coord(x)}, y={_coord(y)}, "
            f"t={t0:.6f} s; --strict makes this an error)",
            DataWarning, stacklevel=2,
        )
