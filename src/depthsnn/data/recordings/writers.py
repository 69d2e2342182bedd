"""Write per-camera events in each supported format, through each format's own writer.

For the tests (the same events through every format must give the same depth) and the
memory benchmark (long recordings written chunk by chunk). Camera formats are written by faery's
encoders; the array formats by h5py / numpy. Events are given as integer microseconds, the
resolution every camera format stores; ``write_mvsec_data`` writes ``t_us / 1e6`` seconds,
exactly the float64 the readers produce, so an MVSEC-layout copy matches the camera files.

Each writer takes an iterable of chunks per camera (``dict`` camera -> iterable of
``(x, y, t_us, on)`` tuples of arrays), so arbitrarily long recordings can be written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import h5py
import numpy as np

from ...atomic import atomic_path
from .. import layout
from .base import seconds_from_us

Chunk = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x, y, t_us, on (bool)


def _faery_packet(chunk: Chunk) -> np.ndarray:
    import faery

    x, y, t, on = chunk
    ev = np.zeros(len(t), dtype=faery.EVENTS_DTYPE)
    ev["t"], ev["x"], ev["y"], ev["on"] = t, x, y, on
    return ev


def write_camera_file(path: str | Path, chunks: Iterable[Chunk], resolution: tuple[int, int],
                      version: str | None = None) -> Path:
    """One camera as ``.raw`` (``version`` evt2 / evt3), ``.dat``, ``.csv`` or single-track ``.aedat4``."""
    from faery.file_encoder import events_to_file

    path = Path(path)
    with atomic_path(path) as tmp:
        target = tmp.with_name(tmp.name + path.suffix)  # faery picks the format from the suffix
        try:
            events_to_file((_faery_packet(c) for c in chunks), target, tuple(resolution),
                         version=version, zero_t0=True, use_write_suffix=False)
            target.replace(tmp)
        finally:
            target.unlink(missing_ok=True)
    return path


def _aedat_description(resolutions: list[tuple[int, int]]):
    from faery import aedat

    def attr(kind, value):
        return aedat.DescriptionAttribute(attribute_type=kind, value=value)

    outputs = []
    for i, (w, h) in enumerate(resolutions):
        info = aedat.DescriptionNode(name="info", path=f"/mainloop/Recorder/outInfo/{i}/info/", attributes={
            "sizeX": attr("int", int(w)), "sizeY": attr("int", int(h)), "source": attr("string", "depthsnn")}, nodes=[])
        outputs.append(aedat.DescriptionNode(name=str(i), path=f"/mainloop/Recorder/outInfo/{i}/", attributes={
            "compression": attr("string", "LZ4"), "originalOutputName": attr("string", f"events_{layout.CAMERAS[i]}"),
            "typeIdentifier": attr("string", "EVTS")}, nodes=[info]))
    return [aedat.DescriptionNode(name="outInfo", path="/mainloop/Recorder/outInfo/", attributes={}, nodes=outputs)]


def write_aedat4(path: str | Path, cameras: dict[str, Iterable[Chunk]], resolution: tuple[int, int]) -> Path:
    """Both cameras in one AEDAT4 file: track 0 left, track 1 right (packets interleaved per chunk)."""
    from faery import aedat

    path = Path(path)
    names = [c for c in layout.CAMERAS if c in cameras]
    with atomic_path(path) as tmp:
        with aedat.Encoder(tmp, _aedat_description([resolution] * len(names)), aedat.LZ4_DEFAULT) as enc:
            its = [iter(cameras[c]) for c in names]
            live = list(range(len(its)))
            while live:
                for i in list(live):
                    chunk = next(its[i], None)
                    if chunk is None:
                        live.remove(i)
                    elif len(chunk[2]):
                        enc.write(i, _faery_packet(chunk))
    return path


class _Appender:
    """Append 1-D columns to resizable HDF5 datasets (chunked, so long recordings stream in)."""

    def __init__(self, group: h5py.Group, dtypes: dict[str, np.dtype | str]):
        self.ds = {k: group.create_dataset(k, shape=(0,), maxshape=(None,), chunks=(1 << 16,), dtype=d)
                   for k, d in dtypes.items()}

    def append(self, cols: dict[str, np.ndarray]) -> None:
        for k, v in cols.items():
            d = self.ds[k]
            n = d.shape[0]
            d.resize((n + len(v),))
            d[n:] = v


def write_plain_h5(path: str | Path, cameras: dict[str, Iterable[Chunk]], resolution: tuple[int, int]) -> Path:
    """``left``/``right`` groups of ``x, y, t, p`` (``t`` int64 microseconds, ``unit="us"``)."""
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["width"], f.attrs["height"] = resolution
        for cam, chunks in cameras.items():
            app = _Appender(f.create_group(cam), {"x": "u2", "y": "u2", "t": "i8", "p": "i1"})
            app.ds["t"].attrs["unit"] = "us"
            for x, y, t, on in chunks:
                app.append({"x": x, "y": y, "t": t, "p": np.where(on, 1, -1)})
    return path


def write_npz(path: str | Path, cameras: dict[str, Iterable[Chunk]], resolution: tuple[int, int]) -> Path:
    """``left_x ... right_p`` with ``t`` float64 seconds and ``p`` bool (the issue's plain layout)."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {"width": np.int64(resolution[0]), "height": np.int64(resolution[1])}
    for cam, chunks in cameras.items():
        parts = list(chunks)
        x, y, t, on = (np.concatenate([p[i] for p in parts]) for i in range(4))
        arrays.update({f"{cam}_x": x.astype(np.int64), f"{cam}_y": y.astype(np.int64),
                       f"{cam}_t": seconds_from_us(t), f"{cam}_p": on.astype(bool)})
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def write_mvsec_data(path: str | Path, cameras: dict[str, Iterable[Chunk]]) -> Path:
    """MVSEC ``davis/{cam}/events`` (N, 4) float64 rows ``[x, y, t_us / 1e6, +-1]``."""
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for cam, chunks in cameras.items():
            ds = f.create_dataset(layout.EVENTS_KEY.format(cam=cam), shape=(0, 4), maxshape=(None, 4),
                                  chunks=(1 << 14, 4), dtype="f8")
            for x, y, t, on in chunks:
                n = ds.shape[0]
                ds.resize((n + len(t), 4))
                ds[n:] = np.stack([x, y, seconds_from_us(t), np.where(on, 1.0, -1.0)], axis=1)
    return path


def chunked(x: np.ndarray, y: np.ndarray, t_us: np.ndarray, on: np.ndarray, size: int = 1 << 16) -> Iterator[Chunk]:
    """Split whole arrays into writer chunks of ``size`` events."""
    for a in range(0, len(t_us), size):
        yield x[a : a + size], y[a : a + size], t_us[a : a + size], on[a : a + size]
