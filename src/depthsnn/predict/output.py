"""``predict``'s depth file: ``depth`` (N, H, W) float32 metres and ``depth_ts`` (N,) seconds.

Rows are appended in blocks while the recording streams (resizable, one chunk per map), and
the file is written under a temporary name and renamed only when complete
(:func:`~depthsnn.atomic.atomic_path`), so an interrupted run leaves no half-written file.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..atomic import atomic_path

DEPTH_KEY = "depth"
DEPTH_TS_KEY = "depth_ts"
_BLOCK = 32  # maps buffered before each write


class DepthFile:
    """Appends depth maps to an open HDF5 file; see :func:`depth_file`."""

    def __init__(self, f: h5py.File, height: int, width: int):
        self.depth = f.create_dataset(DEPTH_KEY, shape=(0, height, width), maxshape=(None, height, width),
                                      dtype="f4", chunks=(1, height, width), compression="gzip",
                                      compression_opts=1, shuffle=True)
        self.ts = f.create_dataset(DEPTH_TS_KEY, shape=(0,), maxshape=(None,), dtype="f8", chunks=(4096,))
        self.depth.attrs["units"] = "m"
        self.ts.attrs["units"] = "s"
        self._maps: list[np.ndarray] = []
        self._ts: list[float] = []

    def append(self, depth: np.ndarray, t: float) -> None:
        self._maps.append(np.asarray(depth, dtype=np.float32))
        self._ts.append(float(t))
        if len(self._maps) >= _BLOCK:
            self.flush()

    def flush(self) -> None:
        if not self._maps:
            return
        n, k = self.depth.shape[0], len(self._maps)
        self.depth.resize((n + k, *self.depth.shape[1:]))
        self.depth[n:] = np.stack(self._maps)
        self.ts.resize((n + k,))
        self.ts[n:] = np.asarray(self._ts)
        self._maps, self._ts = [], []

    def __len__(self) -> int:
        return self.depth.shape[0] + len(self._maps)


@contextmanager
def depth_file(path: str | Path, height: int, width: int, attrs: dict[str, Any]):
    """Context manager yielding a :class:`DepthFile`; ``path`` appears only on success."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for k, v in attrs.items():
                f.attrs[k] = v
            out = DepthFile(f, height, width)
            yield out
            out.flush()
