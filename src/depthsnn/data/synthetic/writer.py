"""Write one simulated sequence as MVSEC ``<seq>_data.hdf5`` + ``<seq>_gt.hdf5``.

Both files are written under temporary names and renamed only once both are complete, so an
interrupted run never leaves a final-named file of a half-written sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ...atomic import atomic_path
from .. import layout


@dataclass(frozen=True)
class SequenceData:
    """A simulated sequence in memory; timestamps in seconds, arrays keyed by camera name."""

    name: str
    events: dict[str, np.ndarray]  # (N, 4) float64 [x, y, t, p], sorted by t
    images: dict[str, np.ndarray]  # (M, H, W) uint8
    image_ts: np.ndarray  # (M,) float64
    depth: dict[str, np.ndarray]  # (K, H, W) float32 metres, NaN invalid
    depth_ts: np.ndarray  # (K,) float64


def write_sequence(out_dir: str | Path, seq: SequenceData, compression: str = "lzf") -> tuple[Path, Path]:
    """Write ``seq`` into ``out_dir``; return the data and ground-truth file paths."""
    out_dir = Path(out_dir)
    data_path, gt_path = out_dir / layout.data_file(seq.name), out_dir / layout.gt_file(seq.name)
    with atomic_path(data_path) as data_tmp, atomic_path(gt_path) as gt_tmp:
        with h5py.File(data_tmp, "w") as f:
            for cam in layout.CAMERAS:
                events = seq.events[cam]
                # Events stay uncompressed and contiguous, as in MVSEC: the reader bisects the t
                # column with single-element reads, which compressed chunks make ~4x slower.
                _dataset(f, layout.EVENTS_KEY.format(cam=cam), events, "none")
                _dataset(f, layout.IMAGE_KEY.format(cam=cam), seq.images[cam], compression)
                _dataset(f, layout.IMAGE_TS_KEY.format(cam=cam), seq.image_ts, "none")
                _dataset(f, layout.IMAGE_EVENT_INDS_KEY.format(cam=cam), image_event_inds(events, seq.image_ts), "none")
        with h5py.File(gt_tmp, "w") as f:
            for cam in layout.CAMERAS:
                rect = layout.DEPTH_RECT_KEY.format(cam=cam)
                rect_ts = layout.DEPTH_RECT_TS_KEY.format(cam=cam)
                _dataset(f, rect, seq.depth[cam], compression)
                _dataset(f, rect_ts, seq.depth_ts, "none")
                # Rectification is the identity here, so raw depth is rect depth: store it once and
                # hard-link the second name to it (readers see two ordinary datasets).
                f[layout.DEPTH_RAW_KEY.format(cam=cam)] = f[rect]
                f[layout.DEPTH_RAW_TS_KEY.format(cam=cam)] = f[rect_ts]
    return data_path, gt_path


def image_event_inds(events: np.ndarray, image_ts: np.ndarray) -> np.ndarray:
    """As MVSEC: for each image, the index of the first event at or after its timestamp.

    Clipped to the last event so every entry is a valid index (0 when there are no events).
    """
    inds = np.searchsorted(events[:, 2], image_ts, side="left")
    return np.minimum(inds, max(len(events) - 1, 0)).astype(np.int64)


def _dataset(f: h5py.File, key: str, arr: np.ndarray, compression: str) -> None:
    kwargs = {}
    if compression != "none" and arr.size > 0 and arr.ndim == 3:
        # One chunk per image keeps random access to single labels cheap.
        kwargs = {"compression": compression, "chunks": (1, *arr.shape[1:]), "shuffle": True}
    f.create_dataset(key, data=arr, **kwargs)
