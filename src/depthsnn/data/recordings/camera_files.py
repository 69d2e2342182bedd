"""Readers of camera formats through faery: AEDAT4 (iniVation), Prophesee RAW (EVT2/EVT3), DAT, CSV.

Library choice (PyPI, checked 2026-12): faery 0.7 is one Rust wheel (8 MB, numpy its only
dependency) with streaming decoders AND encoders for aedat4, evt2/evt2.1/evt3 (.raw), dat and
csv, so one library covers every camera format here, and the tests can write the same events
through each format's own writer. The alternatives each cover part: dv-processing (AEDAT4 only,
C++ wheels with OpenCV), expelliarmus (EVT2/EVT3/DAT readers, no AEDAT4, unmaintained since
2023), aedat (AEDAT4 decoder only), evlib (reads several formats into polars data frames, no
writers). faery decodes in packets (as stored: an AEDAT4 packet, a block of a RAW file), so
memory stays bounded by a packet whatever the recording's length.

Timestamps come out as integer microseconds (converted to float64 seconds by
:func:`~.base.seconds_from_us`); RAW and DAT headers carry the time origin (``t0``) and faery
restores it. Polarity comes out as bool.

AEDAT4 stereo: a file with two event tracks holds both cameras; the lower track id is taken as
the left camera (DV's recorder numbers its outputs in the order the cameras were added).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ...errors import DataError
from ..mvsec import EventArrays
from .arrays import check_resolution
from .base import CameraReader, seconds_from_us

# faery's own default when a RAW/DAT header gives no size (Prophesee Gen4 sensors).
DEFAULT_FALLBACK = (1280, 720)

_CSV_TIME = ("t", "ts", "timestamp")
_CSV_POL = ("p", "on", "polarity", "pol")


def _faery():
    import faery  # imported lazily: importing depthsnn.data must stay cheap

    return faery


def _decode_error(path: Path, kind: str, exc: BaseException) -> DataError:
    msg = " ".join(str(exc).split())[:200] or type(exc).__name__
    return DataError(f"cannot decode as {kind} ({msg})", path)


def _is_panic(exc: BaseException) -> bool:
    """A Rust panic inside faery: pyo3 raises it as ``PanicException``, a BaseException."""
    return type(exc).__name__ == "PanicException"


_AEDAT_MAGIC = b"#!AER-DAT4.0\r\n"
_MAX_AEDAT_HEADER = 1 << 20


def check_aedat_header(path: Path) -> str:
    """The XML description of an AEDAT4 file, read from its IOHeader flatbuffer and checked.

    faery 0.7 aborts the whole process (a Rust panic while raising the error) on a description
    that is not UTF-8, so the header is walked here first: magic, the header's length, the
    flatbuffer's root table and vtable, the ``infoNode`` string (field 2), each offset within
    bounds; the text must be UTF-8 and well-formed XML. Anything else is a one-line DataError.
    """
    import struct
    import xml.etree.ElementTree as ET

    def bad(what: str) -> DataError:
        return DataError(f"damaged AEDAT4 header: {what}", path)

    with open(path, "rb") as fh:
        head = fh.read(len(_AEDAT_MAGIC) + 4)
        if len(head) < len(_AEDAT_MAGIC) + 4 or not head.startswith(_AEDAT_MAGIC):
            raise bad("no '#!AER-DAT4.0' line and header length")
        (n,) = struct.unpack("<I", head[-4:])
        if not 8 <= n <= _MAX_AEDAT_HEADER:
            raise bad(f"header length {n} out of range")
        buf = fh.read(n)
    if len(buf) < n:
        raise bad(f"header length {n} runs past the end of the file")

    def u(fmt: str, at: int) -> int:
        size = struct.calcsize(fmt)
        if not 0 <= at <= len(buf) - size:
            raise bad("an offset points outside the header")
        return struct.unpack_from(fmt, buf, at)[0]

    root = u("<I", 0)
    vtable = root - u("<i", root)
    fields = (u("<H", vtable) - 4) // 2
    if fields < 3 or u("<H", vtable + 8) == 0:
        raise bad("no description (infoNode)")
    # dataTablePosition (field 1, -1 when absent): the packets that follow the header must end
    # exactly there (faery seeks to it and reads the table; a damaged position made it allocate
    # gigabytes). Each packet is int32 stream id, uint32 size, then size bytes.
    table = u("<q", root + u("<H", vtable + 6)) if u("<H", vtable + 6) else -1
    file_size = path.stat().st_size
    end = file_size if table == -1 else table
    pos = len(_AEDAT_MAGIC) + 4 + n
    if not pos <= end <= file_size:
        raise bad(f"data table position {table} is outside the file ({file_size} bytes): truncated or corrupt")
    with open(path, "rb") as fh:
        while pos < end:
            fh.seek(pos)
            packet = fh.read(8)
            if len(packet) < 8:
                raise bad(f"packet header at byte {pos} is cut short: truncated")
            stream, size = struct.unpack("<iI", packet)
            if stream < 0 or pos + 8 + size > end:
                raise bad(f"packet at byte {pos} (stream {stream}, {size} bytes) runs past "
                          f"{'the data table' if table != -1 else 'the end of the file'}: truncated or corrupt")
            pos += 8 + size
    at = root + u("<H", vtable + 8)
    text_at = at + u("<I", at)
    size = u("<I", text_at)
    if text_at + 4 + size > len(buf):
        raise bad("the description runs past the header")
    try:
        text = buf[text_at + 4 : text_at + 4 + size].decode("utf-8")
        ET.fromstring(text)
    except (UnicodeDecodeError, ET.ParseError) as exc:
        raise bad(f"the description is not UTF-8 XML ({type(exc).__name__})") from None
    return text


def aedat_event_tracks(path: Path) -> list[tuple[int, tuple[int, int]]]:
    """(track id, (width, height)) of every event track of an AEDAT4 file, lowest id first."""
    faery = _faery()
    check_aedat_header(path)
    try:
        with faery.aedat.Decoder(path) as dec:
            tracks = [(t.id, tuple(t.dimensions)) for t in dec.tracks() if t.data_type == "events"]
    except Exception as exc:  # noqa: BLE001 - the Rust decoder raises plain Exceptions
        raise _decode_error(path, "AEDAT4", exc) from None
    except BaseException as exc:
        if _is_panic(exc):
            raise _decode_error(path, "AEDAT4", exc) from None
        raise
    if not tracks:
        raise DataError("AEDAT4 file holds no event track", path)
    return sorted(tracks)


def _header_lines(path: Path, limit: int = 64) -> list[str]:
    """The ``%``-comment header of a RAW or DAT file (ASCII lines before the binary data)."""
    lines = []
    with open(path, "rb") as fh:
        for _ in range(limit):
            line = fh.readline(512)
            if not line.startswith(b"%"):
                break
            lines.append(line.decode("ascii", "replace").strip())
    return lines


def header_size(lines: list[str]) -> tuple[int, int] | None:
    """Sensor size stated in a RAW/DAT header (``geometry WxH``, ``width=W;height=H`` or
    ``Width W`` / ``Height H`` lines), or None."""
    text = "\n".join(lines)
    m = re.search(r"geometry\s+(\d+)\s*x\s*(\d+)", text) or re.search(r"width=(\d+);height=(\d+)", text)
    if m:
        return int(m.group(1)), int(m.group(2))
    w = re.search(r"^%\s*Width\s+(\d+)", text, re.M | re.I)
    h = re.search(r"^%\s*Height\s+(\d+)", text, re.M | re.I)
    return (int(w.group(1)), int(h.group(1))) if w and h else None


class FaeryReader(CameraReader):
    """One camera of an AEDAT4 track, a RAW (EVT2/EVT3) or a DAT file, decoded by faery."""

    def __init__(self, path: Path, camera: str, file_type: str, track_id: int | None = None,
                 resolution: tuple[int, int] | None = None, fallback: tuple[int, int] = DEFAULT_FALLBACK):
        self.path, self.camera, self.file_type, self.track_id = Path(path), camera, file_type, track_id
        self.format = {"aedat": "aedat4", "evt": "raw", "dat": "dat"}[file_type]
        self._res = resolution
        if file_type in ("evt", "dat") and resolution is None:
            self._res = header_size(_header_lines(self.path))
        if self._res is not None:
            self._res = check_resolution(*self._res, self.path)
        self.fallback = self._res or fallback

    @property
    def resolution(self) -> tuple[int, int] | None:
        return self._res

    def describe(self) -> str:
        track = "" if self.track_id is None else f" track {self.track_id}"
        return f"{self.path.name} [{self.format}{track}, {self.camera}]"

    def _stream(self):
        faery = _faery()
        return faery.events_stream_from_file(
            self.path, track_id=self.track_id, dimensions_fallback=tuple(self.fallback), file_type=self.file_type
        )

    def chunks(self) -> Iterator[EventArrays]:
        kind = self.format.upper()
        try:
            stream = self._stream()
            for packet in stream:
                yield _events(packet)
        except DataError:
            raise
        except Exception as exc:  # noqa: BLE001 - the Rust decoders raise plain Exceptions
            raise _decode_error(self.path, kind, exc) from None
        except BaseException as exc:
            if _is_panic(exc):
                raise _decode_error(self.path, kind, exc) from None
            raise


def _events(packet: np.ndarray) -> EventArrays:
    return EventArrays(packet["x"].astype(np.int64), packet["y"].astype(np.int64),
                       seconds_from_us(packet["t"]), packet["on"].astype(bool))


class CsvReader(CameraReader):
    """A CSV of one camera: a header naming the columns (``t``, ``x``, ``y``, ``p``/``on``, in
    any order; faery's ``x@W``/``y@H`` give the sensor size), then one event per row.

    Time unit from the data: a ``t`` with a decimal point or exponent is seconds, an integer
    microseconds. Polarity ``1`` is ON; OFF is ``0`` or ``-1`` (the first 1000 rows decide).
    """

    format = "csv"
    _SNIFF_ROWS = 1000

    def __init__(self, path: Path, camera: str, fallback: tuple[int, int] = DEFAULT_FALLBACK):
        self.path, self.camera = Path(path), camera
        try:
            with open(self.path, encoding="ascii") as fh:
                header = fh.readline().strip()
                rows = [line.strip() for _, line in zip(range(self._SNIFF_ROWS), fh, strict=False) if line.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read as CSV ({type(exc).__name__})", self.path) from None
        sep = "," if "," in header else (";" if ";" in header else None)
        names = [n.strip().lower() for n in (header.split(sep) if sep else header.split())]
        sizes = {}
        cols = {}
        for i, n in enumerate(names):
            base, _, size = n.partition("@")
            if size.isdigit():
                sizes[base] = int(size)
            for key, options in (("t", _CSV_TIME), ("x", ("x",)), ("y", ("y",)), ("p", _CSV_POL)):
                if base in options:
                    cols[key] = i
        if len(cols) != 4 or sep is None:
            raise DataError(
                f"CSV header {header[:80]!r} must name the columns t, x, y and p (comma separated)", self.path
            )
        if not rows:
            raise DataError("CSV holds no events", self.path)
        self.sep, self.cols = sep, cols
        fields = [r.split(sep) for r in rows]
        short = next((i for i, f in enumerate(fields) if len(f) <= max(cols.values())), None)
        if short is not None:
            raise DataError(f"CSV row {short + 2} has {len(fields[short])} fields, the header names "
                            f"{max(cols.values()) + 1}", self.path)
        self.seconds = any(c in fields[0][cols["t"]] for c in ".eE")
        pol = {f[cols["p"]].strip() for f in fields}
        if not pol <= {"1", "0", "-1"} or {"0", "-1"} <= pol:
            raise DataError(
                f"wrong polarity encoding: column p holds {', '.join(sorted(pol)[:6])}; expected 0/1 or -1/+1",
                self.path,
            )
        self.off = b"-1" if "-1" in pol else b"0"
        self._res = check_resolution(sizes["x"], sizes["y"], self.path) if "x" in sizes and "y" in sizes else None
        self.fallback = self._res or fallback

    @property
    def resolution(self) -> tuple[int, int] | None:
        return self._res

    def chunks(self) -> Iterator[EventArrays]:
        faery = _faery()
        props = faery.CsvProperties(
            has_header=True, separator=self.sep.encode(), t_index=self.cols["t"], x_index=self.cols["x"],
            y_index=self.cols["y"], on_index=self.cols["p"], t_scale=1e6 if self.seconds else 0.0,
            on_value=b"1", off_value=self.off, skip_errors=False,
        )
        try:
            stream = faery.events_stream_from_file(
                self.path, dimensions_fallback=tuple(self.fallback), file_type="csv", csv_properties=props
            )
            for packet in stream:
                yield _events(packet)
        except DataError:
            raise
        except Exception as exc:  # noqa: BLE001 - the Rust decoders raise plain Exceptions
            raise _decode_error(self.path, "CSV", exc) from None
        except BaseException as exc:
            if _is_panic(exc):
                raise _decode_error(self.path, "CSV", exc) from None
            raise
