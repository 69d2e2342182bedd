"""Energy report: terminal table, JSON and a stacked bar chart (PNG), one row per profile."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_path, atomic_write_text
from ..simulate.counts import SimCounts
from .energy import EnergyBreakdown, energy_per_inference, per_map_mj
from .mapping import FitReport, check_fit
from .profile import HardwareProfile

DASH = "—"


@dataclass
class EnergyRow:
    """One profile's energy breakdown and (optionally) its fit check."""

    breakdown: EnergyBreakdown
    fit: FitReport | None = None

    @property
    def profile(self) -> str:
        return self.breakdown.profile


def evaluate_profiles(counts: SimCounts, profiles: Iterable[HardwareProfile], node_ops: set[str] | None = None,
                      latency_s: float | None = None) -> list[EnergyRow]:
    """Energy and fit of ``counts`` on each profile, in the given order."""
    return [EnergyRow(energy_per_inference(counts, p, latency_s), check_fit(counts, p, node_ops))
            for p in profiles]


def _mj(x: float | None) -> str:
    if x is None:
        return "n/a"
    if x == 0:
        return "0"
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"


def _latency(s: float | None) -> str:
    if s is None:
        return DASH
    if s >= 1:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} us"


def energy_table(rows: Sequence[EnergyRow]) -> str:
    """Fixed-width table per profile: energy per depth map at the sensor's rate (dynamic + static
    power over the window), dynamic energy per inference (above idle) and its parts in mJ,
    static, latency, fits?

    ``*`` after the two figures marks rows using estimated profile numbers; static ``n/a`` means
    the profile gives no static power (per map = dynamic then).
    """
    header = ["profile", "per map mJ", "dynamic mJ", "synaptic", "neuron", "routing", "per step", "addressing",
              "memory", "static", "latency", "fits?"]
    body = []
    for r in rows:
        b = r.breakdown
        star = "*" if b.estimated_fields else ""
        mem = (_mj(b.addressing_mj), _mj(b.memory_mj)) if b.memory_modelled else (DASH, DASH)
        body.append([b.profile, _mj(per_map_mj(b)) + star, _mj(b.dynamic_mj) + star, _mj(b.synaptic_mj),
                     _mj(b.neuron_mj), _mj(b.routing_mj), _mj(b.overhead_mj) if b.overhead_mj else DASH, *mem,
                     _mj(b.static_mj), _latency(b.latency_s), r.fit.verdict if r.fit else DASH])
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(header)]

    def fmt(cells: list[str]) -> str:
        # Profile names left-aligned, numbers right-aligned.
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    lines = [fmt(header), "  ".join("-" * w for w in widths), *(fmt(row) for row in body)]
    lines.append("per map mJ = energy per depth map at the sensor's rate (dynamic + static power over the window or "
                 "the platform's own latency: what a battery pays); dynamic mJ = energy above idle per inference "
                 "(synaptic + neuron + routing + per step + addressing + memory; per step = time-step management "
                 "and synchronisation, or a dense platform's launch floor). * uses estimated profile numbers; "
                 f"static n/a = the profile gives no static power; addressing/memory {DASH} = not modelled by the "
                 "profile (memory = parameters + in/out + potentials, split in the JSON); fits: yes* = with "
                 "warnings (see fit report).")
    return "\n".join(lines)


def energy_json(rows: Sequence[EnergyRow], counts: SimCounts | None = None,
                profiles: Sequence[HardwareProfile] | None = None) -> dict[str, Any]:
    """JSON-ready dict: per profile the breakdown, the fit report and (if given) provenance."""
    by_name = {p.name: p for p in profiles or []}
    out: dict[str, Any] = {"unit": "mJ per inference", "profiles": []}
    if counts is not None:
        out["counts"] = counts.to_dict()
    for r in rows:
        entry: dict[str, Any] = {"energy": r.breakdown.to_dict(), "fit": r.fit.to_dict() if r.fit else None}
        p = by_name.get(r.profile)
        if p is not None:
            entry["sources"] = {k: {"source": v.source, "estimate": v.estimate, "reasoning": v.reasoning}
                                for k, v in sorted(p.provenance.items())}
        out["profiles"].append(entry)
    return out


def write_energy_json(path: str | Path, rows: Sequence[EnergyRow], counts: SimCounts | None = None,
                      profiles: Sequence[HardwareProfile] | None = None) -> Path:
    """Write :func:`energy_json` atomically; returns the path."""
    atomic_write_text(path, json.dumps(energy_json(rows, counts, profiles), indent=2, allow_nan=False) + "\n")
    return Path(path)


_PARTS = (("synaptic", "synaptic_mj", "#1f77b4"), ("neuron", "neuron_mj", "#ff7f0e"),
          ("routing", "routing_mj", "#2ca02c"),
          ("per step / launch floor", "overhead_mj", "#17becf"), ("addressing", "addressing_mj", "#9467bd"),
          ("memory: parameters", "memory_params_mj", "#8c564b"), ("memory: in/out", "memory_inout_mj", "#e377c2"),
          ("memory: potentials", "memory_potential_mj", "#bcbd22"), ("static", "static_mj", "#7f7f7f"))


def energy_bar_chart(rows: Sequence[EnergyRow], path: str | Path, title: str = "Energy per inference") -> Path:
    """Stacked bars (synaptic, neuron, routing, per step, addressing, memory parts, static) per profile on a log axis, written as PNG.

    Uses the Agg canvas directly (no pyplot), so no global matplotlib state is touched. Profiles
    that do not fit are marked ``(no fit)`` under their name; static parts that are unknown are
    simply absent.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not rows:
        raise ValueError("no rows to plot")
    fig = Figure(figsize=(max(6.0, 0.9 * len(rows) + 2), 4.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = list(range(len(rows)))
    values = [[getattr(r.breakdown, attr) or 0.0 for r in rows] for _, attr, _ in _PARTS]
    totals = [sum(vs[i] for vs in values) for i in range(len(rows))]
    positive = [t for t in totals if t > 0]
    # Log axes cannot start at 0: stack from a floor a decade under the smallest total, so every
    # bar shows; parts far below their bar's total are invisible at this scale anyway.
    floor = 10 ** math.floor(math.log10(min(positive))) / 10 if positive else 1e-12
    top = max(positive) * 3 if positive else 1.0
    bottom = [floor] * len(rows)
    for (label, _, color), vs in zip(_PARTS, values, strict=True):
        ax.bar(x, vs, bottom=bottom, color=color, label=label, width=0.7)
        bottom = [b + v for b, v in zip(bottom, vs, strict=True)]
    ax.set_yscale("log")
    ax.set_ylim(floor, top)
    labels = [r.profile + ("\n(no fit)" if r.fit is not None and not r.fit.fits else "") for r in rows]
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=30, ha="right")
    ax.set_ylabel("energy per inference [mJ] (log scale)")
    ax.set_xlabel("hardware profile")
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    ax.grid(axis="y", which="major", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    return path
