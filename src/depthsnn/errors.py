"""Exceptions raised on bad input.

Each carries the offending path (when there is one) so the CLI can print a single line
``error: <path>: <problem>`` instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path


class DepthSNNError(Exception):
    """Base class: an error the user can act on, reported as one line."""

    def __init__(self, problem: str, path: str | Path | None = None):
        self.problem = problem
        self.path = None if path is None else Path(path)
        super().__init__(f"{self.path}: {problem}" if self.path is not None else problem)


class DataError(DepthSNNError):
    """A data file (events, depth, calibration, cache) is missing, malformed or unusable."""


class ConfigError(DepthSNNError):
    """A configuration file or override is malformed."""


class DataWarning(UserWarning):
    """Data is usable but suspicious (empty windows, labels without valid depth, rebuilt cache)."""
