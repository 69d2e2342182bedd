"""Evaluation: metrics and spike statistics of a trained model, results tables and figures.

Only :mod:`.runner` is imported eagerly (training uses it for validation); the report, figure,
video and orchestration helpers load on first access, so training never imports matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

from .runner import EvalResult, evaluate_model

# Public name -> submodule that defines it (imported on first attribute access).
_LAZY = {
    "evaluate_checkpoints": "api",
    "ResultRow": "report",
    "main_table": "report",
    "metrics_table": "report",
    "render_markdown": "report",
    "write_results": "report",
    "SampleView": "figures",
    "save_sample_figure": "figures",
    "write_depth_video": "video",
}

__all__ = ["EvalResult", "evaluate_model", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
