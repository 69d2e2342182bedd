"""Comparison report: terminal table, markdown (main + metrics tables), JSON and accuracy-vs-energy plot."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from ..atomic import atomic_path, atomic_write_text
from ..evaluate.report import _json_safe
from .api import CompareRow, Comparison

COMPARISON_MD = "comparison.md"
COMPARISON_JSON = "comparison.json"
PLOT_PNG = "accuracy_vs_energy.png"
DASH = "—"
REFERENCE_HINT = "lemaire45nm"  # suggested when no profile costs both networks

MAIN_HEADER = ("model", "kind", "runtime/profile", "MDE cm", "abs rel", "δ<1.25", "latency", "ops/inference",
               "per map mJ", "dynamic mJ", "vs ANN, same hardware", "vs ANN on {ref} (cross-platform)")
SAME_HW_HEADER = ("profile", "model", "kind", "MDE cm", "per map mJ", "dynamic mJ", "ANN", "ANN MDE cm",
                  "ANN per map mJ", "ANN dynamic mJ", "ANN / model (same hardware)", "memory?", "fits?")
HEADLINE = ("Energy ranked by per map mJ: energy per depth map at the sensor's rate (dynamic + static power over "
            "the window: what a battery pays); dynamic mJ = energy above idle per inference.")
# (metric key, header, format) of the metrics table.
_METRICS = (("mde_cm", "MDE [cm]", "{:.2f}"), ("abs_rel", "Abs rel", "{:.4f}"), ("sq_rel", "Sq rel", "{:.4f}"),
            ("rmse", "RMSE [m]", "{:.4f}"), ("rmse_log", "RMSE log", "{:.4f}"), ("si_log", "SI-log", "{:.4f}"),
            ("delta1", "δ<1.25", "{:.4f}"), ("delta2", "δ<1.25²", "{:.4f}"), ("delta3", "δ<1.25³", "{:.4f}"))


def _num(x: float | None, spec: str) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return DASH
    return spec.format(x)


def _sci(x: float | None) -> str:
    """Energies, ratios and op counts span many decades: 3 significant digits, scientific outside [1e-3, 1e4)."""
    if x is None:
        return DASH
    if x == 0:
        return "0"
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"


def _latency(s: float | None, source: str | None) -> str:
    if s is None:
        return DASH
    text = f"{s:.3g} s" if s >= 1 else f"{s * 1e3:.3g} ms" if s >= 1e-3 else f"{s * 1e6:.3g} us"
    return text + (" (est.)" if source == "estimate" else "")


def main_cells(row: CompareRow) -> list[str]:
    """The main table's cells for ``row`` (energy marked * when it uses estimated profile numbers)."""
    m = row.metrics
    runtime = row.runtime + (f" [{row.precision}]" if row.precision != "float32" else "")
    star = "*" if row.estimated else ""
    energy = DASH if row.per_map_mj is None else _sci(row.per_map_mj) + star
    dynamic = DASH if row.dynamic_mj is None else _sci(row.dynamic_mj) + star
    same = DASH if row.same_hardware_ratio is None else f"{_sci(row.same_hardware_ratio)}x"
    cross = DASH if row.cross_platform_ratio is None else f"{_sci(row.cross_platform_ratio)}x"
    return [row.model, row.kind, runtime, _num(m.get("mde_cm"), "{:.2f}"), _num(m.get("abs_rel"), "{:.4f}"),
            _num(m.get("delta1"), "{:.4f}"), _latency(row.latency_s, row.latency_source),
            f"{_sci(row.ops)} {row.ops_type}", energy, dynamic, same, cross]


def main_header(comparison: Comparison) -> list[str]:
    """MAIN_HEADER with the reference profile named in the cross-platform column."""
    return [h.format(ref=comparison.reference["profile"]) for h in MAIN_HEADER]


def same_hardware_cells(pair: dict) -> list[str]:
    """One same-hardware pair (an entry of ``Comparison.same_hardware``) as table cells."""
    star = "*" if pair["estimated"] else ""
    precision = f" [{pair['precision']}]" if pair["precision"] != "float32" else ""
    return [pair["profile"] + precision, pair["model"], pair["kind"], _num(pair["mde_cm"], "{:.2f}"),
            _sci(pair.get("per_map_mj", pair["mj"])) + star, _sci(pair.get("dynamic_mj")) + star, pair["ann_model"],
            _num(pair["ann_mde_cm"], "{:.2f}"), _sci(pair.get("ann_per_map_mj", pair["ann_mj"])) + star,
            _sci(pair.get("ann_dynamic_mj")) + star,
            DASH if pair["ratio"] is None else f"{_sci(pair['ratio'])}x", "yes" if pair["memory_modelled"] else "no",
            pair["fits"] or DASH]


def _fixed(header: Sequence[str], body: Sequence[Sequence[str]], left: int) -> list[str]:
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]

    def fmt(cells: Sequence[str]) -> str:
        # Names left-aligned, numbers right-aligned.
        return "  ".join(c.ljust(w) if i < left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    return [fmt(header), "  ".join("-" * w for w in widths), *(fmt(b) for b in body)]


def terminal_table(comparison: Comparison) -> str:
    """Same-hardware table, then the main table, each with a legend line, for the terminal."""
    ref = comparison.reference
    lines = [HEADLINE, "", "Same hardware: the ANN and each spiking model on one profile", ""]
    if comparison.same_hardware:
        lines += _fixed(SAME_HW_HEADER, [same_hardware_cells(p) for p in comparison.same_hardware], left=3)
        lines.append("ANN / model > 1: the spiking model uses less energy on that hardware. memory? = the profile "
                     "prices memory traffic.")
    else:
        lines.append(f"(no profile costs both networks; add one that can, e.g. --ann-profiles {REFERENCE_HINT})")
    lines += ["", "All rows", ""]
    lines += _fixed(main_header(comparison), [main_cells(r) for r in comparison.rows], left=3)
    lines.append(f"{comparison.data['samples']} samples; per map and dynamic mJ (see the first line); * uses estimated profile numbers; "
                 f"(est.) = chip timing estimate; same hardware = ANN on the row's profile / row; cross-platform = "
                 f"ANN on {ref['profile']} / row.")
    return "\n".join(lines)



def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int) -> str:
    sep = [":---" if i < left else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def markdown(comparison: Comparison) -> str:
    """comparison.md: data, main table, full metrics per model and precision, notes."""
    d = comparison.data
    main = _md_table(main_header(comparison), [main_cells(r) for r in comparison.rows], left=3)
    same = (_md_table(SAME_HW_HEADER, [same_hardware_cells(p) for p in comparison.same_hardware], left=3)
            if comparison.same_hardware else "No profile costs both networks.")
    # Metrics differ only between runtimes and weight precisions, not between profiles of one precision.
    seen, metric_rows = set(), []
    for r in comparison.rows:
        precision = r.precision if r.is_profile else f"{r.precision}, {r.runtime}"
        key = (r.model, r.kind, precision)
        if key in seen or (r.kind == "ANN" and r.is_profile):
            continue
        seen.add(key)
        metric_rows.append([r.model, r.kind, precision, *(_num(r.metrics.get(k), f) for k, _, f in _METRICS),
                            str(r.metrics.get("frames", DASH))])
    metrics = _md_table(["model", "kind", "precision", *(h for _, h, _ in _METRICS), "frames"], metric_rows, left=3)
    notes = "\n".join(f"- {n}" for n in comparison.notes)
    return (f"# ANN vs SNN comparison\n\n{HEADLINE}\n\nData: `{d['root']}`, split `{d['split']}`, subset `{d['subset']}`, "
            f"{d['samples']} samples (indices {d['indices']}).\n\n## Same hardware\n\n"
            "The ANN and each spiking model costed on one profile: the ratio that isolates what spikes buy "
            f"(ANN / model > 1: the spiking model uses less energy there).\n\n{same}\n\n## Main table\n\n{main}\n\n"
            "per map mJ: energy per depth map at the sensor's rate; dynamic mJ: above idle; * uses estimated profile numbers; (est.) latency is the chip's timing "
            f"estimate.\n\n## Depth metrics\n\n{metrics}\n\n## Notes\n\n{notes}\n")


def accuracy_energy_plot(comparison: Comparison, path: str | Path) -> Path:
    """MDE against energy (log x), two panels: per depth map at the sensor's rate, and dynamic.

    Markers tell the models apart, colours the profiles; the legends name both, so no text sits
    on the points and no names overlap. Uses the Agg canvas directly (no pyplot).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    points = [r for r in comparison.rows if r.per_map_mj is not None and r.per_map_mj > 0
              and math.isfinite(r.metrics.get("mde_cm", math.nan))]
    fig = Figure(figsize=(13.0, 6.0))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=True)
    markers = "osD^vP*Xh"
    models = list(dict.fromkeys((r.model, r.kind) for r in points))
    profiles = list(dict.fromkeys(r.runtime for r in points))
    cmap = __import__("matplotlib").colormaps["tab20"]
    colour = {p: cmap(i % 20) for i, p in enumerate(profiles)}
    for ax, key, label in ((axes[0], "per_map_mj", "energy per depth map at the sensor's rate [mJ]"),
                           (axes[1], "dynamic_mj", "dynamic energy per inference (above idle) [mJ]")):
        for k, (name, kind) in enumerate(models):
            mine = [r for r in points if (r.model, r.kind) == (name, kind) and (getattr(r, key) or 0) > 0]
            ax.scatter([getattr(r, key) for r in mine], [r.metrics["mde_cm"] for r in mine],
                       marker=markers[k % len(markers)], c=[colour[r.runtime] for r in mine], s=60,
                       edgecolors="black", linewidths=0.5, zorder=3)
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.grid(which="major", alpha=0.3)
    axes[0].set_ylabel("MDE [cm] (at the profile's precision)")
    fig.suptitle(f"Accuracy vs energy ({comparison.data['samples']} samples); ranked by energy per depth map")
    model_handles = [Line2D([], [], marker=markers[k % len(markers)], ls="", color="gray", label=f"{kind} {name}")
                     for k, (name, kind) in enumerate(models)]
    profile_handles = [Line2D([], [], marker="o", ls="", color=colour[p], label=p) for p in profiles]
    if models:
        axes[1].legend(handles=model_handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small",
                       title="model")
        fig.legend(handles=profile_handles, loc="lower right", bbox_to_anchor=(1.0, 0.0), fontsize="x-small",
                   title="profile", ncol=1)
    fig.tight_layout(rect=(0, 0, 0.82, 0.95))
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    return path


def write_outputs(comparison: Comparison, out_dir: str | Path) -> dict[str, Path]:
    """Write comparison.md, comparison.json and accuracy_vs_energy.png atomically into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / COMPARISON_MD, "json": out / COMPARISON_JSON, "plot": out / PLOT_PNG}
    atomic_write_text(paths["markdown"], markdown(comparison))
    doc = _json_safe(comparison.to_dict())
    atomic_write_text(paths["json"], json.dumps(doc, indent=2, allow_nan=False, default=float) + "\n")
    accuracy_energy_plot(comparison, paths["plot"])
    return paths
