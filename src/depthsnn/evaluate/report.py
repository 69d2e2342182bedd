"""Results tables: one row per evaluated model, as markdown (for people) and JSON (for tools).

The main table follows the original StereoSpike results table: model, type (SNN/HNN/ANN, or
``baseline`` for reference predictors), modality, MDE [cm], firing rate [%] and energy [mJ].
Energy is left empty ("—") until an energy model fills :attr:`ResultRow.energy_mj` (or the
``energy`` argument of :func:`main_table`). A second table lists every depth metric, and the JSON
keeps per-layer firing rates and activation sparsity.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from ..atomic import atomic_write_text
from ..metrics import METRICS

RESULTS_MD = "results.md"
RESULTS_JSON = "results.json"
JSON_FORMAT = "depthsnn-results"
JSON_VERSION = 1
DASH = "—"

# Row types: model kinds upper-cased, plus reference predictors.
BASELINE = "baseline"

# (metric key, column header, format) of the full metrics table.
_METRIC_COLUMNS = (
    ("mde_cm", "MDE [cm]", "{:.2f}"),
    ("abs_rel", "Abs rel", "{:.4f}"),
    ("sq_rel", "Sq rel", "{:.4f}"),
    ("rmse", "RMSE [m]", "{:.4f}"),
    ("rmse_log", "RMSE log", "{:.4f}"),
    ("si_log", "SI-log", "{:.4f}"),
    ("delta1", "δ<1.25", "{:.4f}"),
    ("delta2", "δ<1.25²", "{:.4f}"),
    ("delta3", "δ<1.25³", "{:.4f}"),
)


@dataclass
class ResultRow:
    """Evaluation outcome of one model (or baseline) on one data subset.

    ``kind``: ``SNN`` | ``HNN`` | ``ANN`` | ``baseline``. ``metrics``: frame-averaged depth
    metrics (keys of :data:`depthsnn.metrics.METRICS` plus ``frames``).
    ``firing_rate``: spikes per neuron per time step over all spiking layers (fraction, None for
    models without spiking layers). ``sparsity``: activation sparsity over all activation
    layers. ``layers``: per-layer ``{rate, sparsity, spikes, neuron_steps, spiking}``.
    ``energy_mj``: energy per inference in millijoules, None until an energy model provides it.
    ``data``: where the samples came from (root, split, subset, samples, cutoff).
    """

    name: str
    kind: str
    modality: str
    metrics: dict[str, float]
    preset: str | None = None
    checkpoint: str | None = None
    epoch: int | None = None
    firing_rate: float | None = None
    sparsity: float | None = None
    layers: dict[str, dict[str, float]] = field(default_factory=dict)
    energy_mj: float | None = None
    data: dict[str, Any] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    videos: list[str] = field(default_factory=list)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-safe dict (NaN and infinities become None)."""
        return _json_safe(dataclasses.asdict(self))


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _fmt(value: float | None, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return DASH
    return spec.format(value)


def _cell(text: str) -> str:
    # A pipe inside a run name would split the markdown cell.
    return text.replace("|", "\\|")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str]) -> str:
    sep = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def firing_rate_cell(row: ResultRow) -> str:
    """Firing rate in percent, or "—" for models that do not spike (ANN, baselines)."""
    if row.kind in ("ANN", BASELINE):
        return DASH
    return _fmt(None if row.firing_rate is None else 100.0 * row.firing_rate, "{:.2f}")


def main_table(rows: Sequence[ResultRow], energy: Sequence[float | None] | None = None) -> str:
    """The StereoSpike-style table: Model | Type | Modality | MDE [cm] | Firing rate [%] | Energy [mJ].

    ``energy``: optional energy per row (mJ), overriding ``row.energy_mj``; None shows "—".
    """
    if energy is not None and len(energy) != len(rows):
        raise ValueError(f"energy has {len(energy)} values for {len(rows)} rows")
    body = []
    for i, r in enumerate(rows):
        e = energy[i] if energy is not None else r.energy_mj
        body.append(
            [
                r.name,
                r.kind,
                r.modality,
                _fmt(r.metrics.get("mde_cm"), "{:.2f}"),
                firing_rate_cell(r),
                _fmt(e, "{:.3f}"),
            ]
        )
    header = ["Model", "Type", "Modality", "MDE [cm]", "Firing rate [%]", "Energy [mJ]"]
    return _table(header, body, ["l", "l", "l", "r", "r", "r"])


def metrics_table(rows: Sequence[ResultRow]) -> str:
    """Every depth metric per row, plus frames evaluated and activation sparsity [%]."""
    body = []
    for r in rows:
        cells = [r.name, r.preset or DASH, str(int(r.metrics.get("frames", 0)))]
        cells += [_fmt(r.metrics.get(k), spec) for k, _, spec in _METRIC_COLUMNS]
        cells.append(_fmt(None if r.sparsity is None else 100.0 * r.sparsity, "{:.1f}"))
        body.append(cells)
    header = ["Model", "Preset", "Frames", *(h for _, h, _ in _METRIC_COLUMNS), "Sparsity [%]"]
    return _table(header, body, ["l", "l", *["r"] * (len(header) - 2)])


def layers_table(row: ResultRow) -> str:
    """Per activation layer: firing rate [%] (spiking layers) and activation sparsity [%]."""
    body = [
        [
            name,
            "spiking" if s.get("spiking") else "analog",
            _fmt(100.0 * s["rate"], "{:.2f}") if s.get("spiking") else DASH,
            _fmt(100.0 * s["sparsity"], "{:.1f}"),
        ]
        for name, s in row.layers.items()
    ]
    return _table(["Layer", "Neurons", "Firing rate [%]", "Sparsity [%]"], body, ["l", "l", "r", "r"])


def _data_lines(rows: Sequence[ResultRow]) -> list[str]:
    seen: dict[str, None] = {}
    for r in rows:
        d = r.data
        if not d:
            continue
        cutoff = d.get("cutoff")
        text = (
            f"- data `{d.get('root')}`, split `{d.get('split')}`, subset `{d.get('subset')}`, "
            f"{d.get('samples')} samples" + (f", depth cutoff {cutoff:g} m" if cutoff else "")
        )
        seen.setdefault(text, None)
    return list(seen)


def render_markdown(rows: Sequence[ResultRow], energy: Sequence[float | None] | None = None) -> str:
    """The whole ``results.md``: main table, all-metrics table, per-layer tables and notes."""
    parts = ["# Depth evaluation results", "", *_data_lines(rows), "", main_table(rows, energy), ""]
    parts += [
        "MDE: mean absolute depth error over valid ground-truth pixels, per frame then averaged. "
        "Firing rate: spikes per neuron per time step over all spiking layers. "
        f"Energy: {DASH} until an energy model is available. "
        "The constant mean depth baseline predicts, for every pixel, the mean valid depth of "
        "the training subset of the same split.",
        "",
        "## All metrics",
        "",
        metrics_table(rows),
        "",
    ]
    for r in rows:
        if r.layers:
            parts += [f"## Layers of {r.name}", "", layers_table(r), ""]
    notes = [f"- {r.name}: {r.note}" for r in rows if r.note]
    if notes:
        parts += ["## Notes", "", *notes, ""]
    return "\n".join(parts)


def results_json(rows: Sequence[ResultRow], energy: Sequence[float | None] | None = None) -> dict[str, Any]:
    """The ``results.json`` document: format tag, creation time and one dict per row."""
    out = []
    for i, r in enumerate(rows):
        d = r.to_dict()
        if energy is not None:
            d["energy_mj"] = _json_safe(energy[i])
        out.append(d)
    return {
        "format": JSON_FORMAT,
        "version": JSON_VERSION,
        "depthsnn_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "metrics": list(METRICS),
        "rows": out,
    }


def write_results(
    out_dir: str | Path, rows: Sequence[ResultRow], energy: Sequence[float | None] | None = None
) -> tuple[Path, Path]:
    """Write ``results.md`` and ``results.json`` atomically into ``out_dir``; return their paths."""
    out = Path(out_dir)
    md, js = out / RESULTS_MD, out / RESULTS_JSON
    atomic_write_text(js, json.dumps(results_json(rows, energy), indent=2, allow_nan=False) + "\n")
    atomic_write_text(md, render_markdown(rows, energy))
    return md, js
