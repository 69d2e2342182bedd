"""The memory limit for files we open: checkpoints, NIR and ONNX files.

A file may declare any tensor or input shape. Readers compare what the declared shapes would
need against this limit *before* they allocate anything, and refuse with one line naming the
tensor (or node) and its size. The limit is ``DEFAULT_MAX_BYTES`` (4 GiB) unless the
environment variable ``DEPTHSNN_MAX_BYTES`` sets another (``8GiB``, ``500MB``, ``1e9``; bytes
when no unit is given). An environment variable rather than a per-command option, because
every command (and every ``torchrun`` worker) opens files and should apply the same limit.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import ConfigError, DataError

ENV_VAR = "DEPTHSNN_MAX_BYTES"
DEFAULT_MAX_BYTES = 4 * 2**30

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(text: str) -> int:
    """``"4GiB"`` -> 4294967296. Four lines of regex: not worth a dependency."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS or float(m.group(1)) <= 0:
        raise ConfigError(f"{ENV_VAR}={text!r} is not a size (examples: 4GiB, 500MB, 1e9)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def max_bytes(limit: int | None = None) -> int:
    """``limit`` when given, else ``$DEPTHSNN_MAX_BYTES``, else :data:`DEFAULT_MAX_BYTES`."""
    if limit is not None:
        return int(limit)
    env = os.environ.get(ENV_VAR)
    return parse_bytes(env) if env else DEFAULT_MAX_BYTES


def format_bytes(n: int | float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def check_size(what: str, nbytes: int, path: str | Path | None, limit: int | None = None) -> None:
    """Raise :class:`DataError` when ``nbytes`` (what ``what`` would need) exceeds the limit."""
    cap = max_bytes(limit)
    if nbytes > cap:
        raise DataError(f"{what} needs {format_bytes(nbytes)} ({nbytes} bytes), over the memory limit of "
                        f"{format_bytes(cap)} (set {ENV_VAR} to allow more)", path)
