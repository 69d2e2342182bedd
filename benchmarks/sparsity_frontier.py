"""The sparsity frontier: snn-tiny trained at several spike-rate penalty weights, MDE against
energy per inference on each event-driven profile (a Pareto figure), with per-layer firing rates.

    python benchmarks/sparsity_frontier.py [--data data/synthetic] [--runs runs/benchmark] [--jobs 2]

Trains snn-tiny (binocular, the SNN recipe, 8 epochs) once per ``--penalties`` weight of the
mean-firing-rate term of the loss (``TrainConfig.rate_penalty``, set explicitly), evaluates every best checkpoint on the validation and on the
test scenes (one ``evaluate`` call per subset, so rows share samples and metric code), costs each
on the event-driven profiles at their own precision from simulations of the test scenes, and
writes the ``sparsity-frontier`` section of BENCHMARKS.md and ``benchmarks/figures/sparsity_frontier.png``.

The recommended weight is chosen on *validation* only: the lowest-energy point whose firing rate
is at most 10 % and whose validation MDE is within 10 % of the unpenalised model's (the rule
StereoSpike's spike regularisation follows: under 10 % firing for under 3 cm); the test columns
report it. When no weight qualifies the section says what the frontier allows instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _report import machine, today, write_section
from _runs import Run, add_run_arguments, assess_on_test, train_all
from depthsnn.data.synthetic import SynthConfig, generate_dataset
from depthsnn.evaluate.api import evaluate_checkpoints

PENALTIES = (0.0, 0.5, 4.0)
# Event-driven profiles (energy depends on spikes), and the memory-aware 45 nm model.
PROFILES = ("lemaire45nm", "loihi", "loihi2", "spinnaker2", "truenorth", "speck")
MAX_RATE = 0.10  # firing at or below 10 %
MAX_MDE_LOSS = 0.10  # validation MDE within 10 % of the unpenalised model
FIGURE = Path(__file__).resolve().parent / "figures" / "sparsity_frontier.png"


def run_for(runs: Path, weight: float) -> Run:
    """Every weight set explicitly (the SNN recipe's own default is one of them)."""
    return Run("snn-tiny", "binocular", runs / f"snn-tiny-binocular-rate_penalty={weight:g}",
               (f"rate_penalty={weight:g}",))


def energies(checkpoint: Path, profiles: tuple[str, ...], samples: int | None) -> tuple[dict[str, float], int, float]:
    """Energy per inference [mJ] of ``checkpoint`` on each profile, from the test scenes."""
    _, _, assessed, seconds = assess_on_test(checkpoint, profiles, samples)
    return ({a.profile.name: a.row.breakdown.total_mj for a in assessed},
            assessed[0].simulation.samples, seconds)


def pareto(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats in both coordinates (lower is better)."""
    keep = []
    for i, (x, y) in enumerate(points):
        if not any((x2 <= x and y2 <= y) and (x2 < x or y2 < y) for x2, y2 in points):
            keep.append(i)
    return keep


def choose(rows: list[dict]) -> dict | None:
    """The recommended point (validation only): firing <= MAX_RATE, val MDE within MAX_MDE_LOSS of
    the unpenalised model, lowest firing rate among those (energy on every event-driven profile
    falls with it)."""
    base = next(r for r in rows if r["weight"] == 0)
    ok = [r for r in rows if r["val_rate"] <= MAX_RATE and r["val_mde"] <= (1 + MAX_MDE_LOSS) * base["val_mde"]]
    return min(ok, key=lambda r: r["val_rate"]) if ok else None


def plot(rows: list[dict], profiles: tuple[str, ...], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(profiles) + 1
    cols = 4
    fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(4 * cols, 3.4 * ((n + cols - 1) // cols)))
    axes = axes.ravel()
    for ax, prof in zip(axes, profiles, strict=False):
        pts = [(r["energy"][prof], r["test_mde"]) for r in rows]
        front = sorted(pareto(pts), key=lambda i: pts[i][0])
        ax.plot([pts[i][0] for i in front], [pts[i][1] for i in front], "-", color="0.7", zorder=1)
        for r, (x, y) in zip(rows, pts, strict=True):
            ax.scatter([x], [y], zorder=2)
            ax.annotate(f"w={r['weight']:g}\n{100 * r['test_rate']:.0f}%", (x, y), fontsize=7,
                        textcoords="offset points", xytext=(4, 2))
        ax.set_title(prof, fontsize=9)
        ax.set_xlabel("energy per inference [mJ]", fontsize=8)
        ax.set_ylabel("test MDE [cm]", fontsize=8)
        ax.tick_params(labelsize=7)
    ax = axes[len(profiles)]
    layers = [k for k, v in rows[0]["layers"].items() if v.get("spiking")]
    width = 0.8 / len(rows)
    for j, r in enumerate(rows):
        ax.bar([i + j * width for i in range(len(layers))], [100 * r["layers"][k]["rate"] for k in layers],
               width, label=f"w={r['weight']:g}")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(layers))], layers, rotation=90, fontsize=6)
    ax.set_ylabel("firing rate [%] (test)", fontsize=8)
    ax.axhline(100 * MAX_RATE, color="k", lw=0.6, ls="--")
    ax.legend(fontsize=6)
    for extra in axes[n:]:
        extra.axis("off")
    fig.suptitle("snn-tiny: spike-rate penalty weight w, test MDE vs energy per inference (grey: Pareto front)",
                 fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(ap)
    ap.add_argument("--penalties", type=float, nargs="+", default=list(PENALTIES))
    ap.add_argument("--profiles", nargs="+", default=list(PROFILES))
    ap.add_argument("--energy-samples", type=int, default=None,
                    help="test samples simulated per model for the energy columns (default: all)")
    ap.add_argument("--figure", type=Path, default=FIGURE)
    args = ap.parse_args()
    if 0.0 not in args.penalties:
        ap.error("--penalties must include 0 (the unpenalised reference)")

    if not (args.data / "dataset.json").exists():
        generate_dataset(args.data, SynthConfig(), progress=True)
    runs = [run_for(args.runs, w) for w in args.penalties]
    train_all(runs, args.data, args.runs / "cache", args.epochs, args.jobs, args.fresh)
    checkpoints = [r.out / "best.pt" for r in runs]

    evals = {s: evaluate_checkpoints(checkpoints, subset=s, out_dir=args.runs / f"frontier-{s}", figures=0,
                                     baseline=True, progress=True) for s in ("val", "test")}
    rows = []
    energy_seconds = 0.0
    for w, ck, v, t in zip(args.penalties, checkpoints, evals["val"], evals["test"], strict=False):
        e, samples, seconds = energies(ck, tuple(args.profiles), args.energy_samples)
        energy_seconds += seconds
        rows.append({"weight": w, "val_mde": v["metrics"]["mde_cm"], "val_rate": v["firing_rate"],
                     "test_mde": t["metrics"]["mde_cm"], "test_rate": t["firing_rate"], "layers": t["layers"],
                     "energy": e, "samples": samples})
    const = {s: next(r for r in evals[s] if r["kind"] == "baseline")["metrics"]["mde_cm"] for s in evals}
    pick = choose(rows)
    plot(rows, tuple(args.profiles), args.figure)

    base = rows[0] if rows[0]["weight"] == 0 else next(r for r in rows if r["weight"] == 0)
    lines = [
        "## Sparsity frontier (`benchmarks/sparsity_frontier.py`)",
        "",
        f"{today()}, {machine()}; {args.jobs} trainings at a time, one thread each.",
        f"snn-tiny, binocular, default synthetic set, {args.epochs} epochs, the SNN recipe; w = weight of the mean "
        "firing rate (mean over spiking layers) in the loss. Validation and test: 4 unseen scenes each "
        f"(constant predictor {const['val']:.1f} / {const['test']:.1f} cm). Firing rate: spikes per neuron per step "
        f"over all spiking layers. Energy per inference [mJ] at each profile's own weight precision, from "
        f"{rows[0]['samples']} test samples ({energy_seconds:.0f} s for all models); * marks profiles with estimated "
        "numbers (see `depthsnn energy`).",
        "",
        "| w | val MDE [cm] | val firing [%] | test MDE [cm] | constant / MDE | test firing [%] | "
        + " | ".join(args.profiles) + " |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in args.profiles) + " |",
    ]
    for r in rows:
        mark = " **(chosen)**" if pick is r else ""
        lines.append(f"| {r['weight']:g}{mark} | {r['val_mde']:.1f} | {100 * r['val_rate']:.1f} | {r['test_mde']:.1f} "
                     f"| {const['test'] / r['test_mde']:.2f}x | {100 * r['test_rate']:.1f} | "
                     + " | ".join(f"{r['energy'][p]:.3g}" for p in args.profiles) + " |")
    layers = [k for k, v in rows[0]["layers"].items() if v.get("spiking")]
    lines += ["", "Per-layer firing rate on the test scenes [%]:", "",
              "| layer | " + " | ".join(f"w={r['weight']:g}" for r in rows) + " |",
              "| :--- | " + " | ".join("---:" for _ in rows) + " |"]
    for k in layers:
        lines.append(f"| {k} | " + " | ".join(f"{100 * r['layers'][k]['rate']:.1f}" for r in rows) + " |")
    lines.append("")
    if pick is not None:
        lines.append(f"Chosen on validation: w = {pick['weight']:g} (firing {100 * pick['val_rate']:.1f} % <= "
                     f"{100 * MAX_RATE:.0f} %, val MDE {pick['val_mde']:.1f} cm vs {base['val_mde']:.1f} cm unpenalised, "
                     f"within {100 * MAX_MDE_LOSS:.0f} %).")
    else:
        low = [r for r in rows if r["val_rate"] <= MAX_RATE]
        best_low = min(low, key=lambda r: r["val_mde"]) if low else None
        allowed = (f"the best point at <= {100 * MAX_RATE:.0f} % firing is w = {best_low['weight']:g} "
                   f"(val MDE {best_low['val_mde']:.1f} cm, {best_low['val_mde'] / base['val_mde'] - 1:+.0%} against "
                   f"{base['val_mde']:.1f} cm unpenalised)" if best_low else
                   f"no weight brought firing to {100 * MAX_RATE:.0f} % or below")
        lines.append(f"No weight meets both rules on validation: {allowed}.")
    lines.append(f"![sparsity frontier]({args.figure.relative_to(Path(__file__).resolve().parent.parent)})"
                 if args.figure.is_relative_to(Path(__file__).resolve().parent.parent) else "")
    write_section("sparsity-frontier", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
