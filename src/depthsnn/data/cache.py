"""On-disk cache of encoded samples (frames, depth target, mask), one ``.npz`` per label.

Layout: ``<cache_dir>/<seq>/<key>/<label:06d>.npz`` where ``key`` hashes the cache format
version, the caller's parameters (encoding and depth options) and the identity (resolved path,
size, mtime) of every source file of the sequence, so editing a file or changing an option
misses instead of serving stale data. ``meta.json`` next to the entries records what was hashed.

Entries are written atomically (``depthsnn.atomic.atomic_path``) and compressed (event frames are
mostly zeros). An entry that cannot be read, or whose arrays have unexpected names, shapes or
dtypes, is deleted with a :class:`~depthsnn.errors.DataWarning` and reported as a miss, so
the caller rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_path, atomic_write_text
from .mvsec import warn_data

CACHE_VERSION = 1

# Expected arrays of an entry: name -> (shape, dtype).
Expected = Mapping[str, tuple[tuple[int, ...], np.dtype | str]]


def file_identity(path: str | Path) -> dict[str, Any]:
    """Resolved path, size and mtime (ns) of ``path``: changes whenever the file is replaced."""
    p = Path(path).resolve()
    st = p.stat()
    return {"path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def cache_key(params: Mapping[str, Any]) -> str:
    """Short stable hash of JSON-serialisable ``params`` (plus the cache format version)."""
    blob = json.dumps({"version": CACHE_VERSION, **params}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


class SequenceCache:
    """Entries of one sequence under one key; see :class:`SampleCache`."""

    def __init__(self, directory: Path, meta: Mapping[str, Any]):
        self.directory = directory
        self._meta = dict(meta)
        self._meta_written = False

    def path(self, label: int) -> Path:
        return self.directory / f"{int(label):06d}.npz"

    def get(self, label: int, expected: Expected | None = None) -> dict[str, np.ndarray] | None:
        """The cached arrays of ``label``, or None on a miss (corrupt entries are removed)."""
        path = self.path(label)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {name: z[name] for name in z.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
            return self._discard(path, f"unreadable ({type(exc).__name__})")
        if expected is not None:
            if set(arrays) != set(expected):
                return self._discard(path, f"holds {sorted(arrays)}, expected {sorted(expected)}")
            for name, (shape, dtype) in expected.items():
                a = arrays[name]
                if tuple(a.shape) != tuple(shape) or a.dtype != np.dtype(dtype):
                    return self._discard(
                        path, f"'{name}' is {a.dtype}{a.shape}, expected {np.dtype(dtype)}{shape}"
                    )
        return arrays

    def put(self, label: int, arrays: Mapping[str, np.ndarray]) -> Path:
        """Store ``arrays`` for ``label`` atomically (compressed ``.npz``)."""
        path = self.path(label)
        if not self._meta_written:
            meta = self.directory / "meta.json"
            if not meta.is_file():
                atomic_write_text(meta, json.dumps(self._meta, indent=2, sort_keys=True, default=str))
            self._meta_written = True
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            # A file object, not a name: np.savez would append ".npz" to the temporary name.
            np.savez_compressed(f, **{k: np.ascontiguousarray(v) for k, v in arrays.items()})
        return path

    def _discard(self, path: Path, why: str) -> None:
        warn_data(f"{path}: corrupt cache entry ({why}); rebuilding it")
        path.unlink(missing_ok=True)
        return None


class SampleCache:
    """Root of the cache; :meth:`for_sequence` gives the entries valid for given inputs."""

    def __init__(self, cache_dir: str | Path):
        self.cache_dir = Path(cache_dir)

    def for_sequence(
        self, seq: str, sources: Iterable[str | Path], params: Mapping[str, Any]
    ) -> SequenceCache:
        """Entries of ``seq`` for these source files (identity hashed) and ``params``."""
        meta = {
            "version": CACHE_VERSION,
            "sequence": seq,
            "sources": [file_identity(s) for s in sources],
            "params": dict(params),
        }
        return SequenceCache(self.cache_dir / seq / cache_key(meta), meta)
