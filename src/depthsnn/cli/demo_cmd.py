"""``depthsnn demo``: the whole pipeline on the built-in synthetic set (or real MVSEC files)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the whole pipeline end to end (synthetic data by default)",
        description=(
            "Generate the default synthetic stereo event set (unless --data is given), train a tiny "
            "SNN and a tiny ANN (binocular), evaluate them against the constant-depth baseline, export "
            "them (NIR, ONNX), simulate the SNN event-driven and report its energy per inference on "
            "every chip profile, then print where every file is. Re-runnable: reuses the data set, "
            "finished runs and exports in --workdir unless --fresh."
        ),
    )
    p.add_argument("--workdir", type=Path, default=Path("demo"), help="where everything is written (default demo/)")
    p.add_argument("--data", type=Path, help="use this data folder (MVSEC layout) instead of generating one")
    p.add_argument("--split", help="split preset (default: synthetic for a generated set, else split1)")
    p.add_argument("--epochs", type=int, default=4, help="training epochs per model (default 4)")
    p.add_argument("--models", nargs="+", default=["snn-tiny", "ann-tiny"], help="presets to train")
    p.add_argument("--synth-set", dest="synth", action="append", default=[], metavar="KEY=VALUE",
                   help="synthetic generator option, e.g. --synth-set sequences=2 (repeatable)")
    p.add_argument("--train-set", dest="train", action="append", default=[], metavar="KEY=VALUE",
                   help="training option, e.g. --train-set max_train_samples=20 (repeatable)")
    p.add_argument("--figures", type=int, default=4, help="sample figures per model (default 4)")
    p.add_argument("--energy-samples", type=int, default=8, help="test samples simulated for energy (default 8)")
    p.add_argument("--jobs", type=int, default=0,
                   help="models trained at once, one process each (default 0: one per model up to the core "
                        "count; 1: one after the other)")
    p.add_argument("--fresh", action="store_true", help="regenerate data and retrain from scratch")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..demo import DemoConfig, run_demo
    from ..errors import ConfigError
    from ..evaluate.report import ResultRow, main_table

    if args.epochs < 1:
        raise ConfigError(f"--epochs must be >= 1, got {args.epochs}")
    if args.jobs < 0:
        raise ConfigError(f"--jobs must be >= 0, got {args.jobs}")
    cfg = DemoConfig(
        workdir=str(args.workdir), data=None if args.data is None else str(args.data), split=args.split,
        models=list(args.models), epochs=args.epochs, synth_options=list(args.synth),
        train_options=list(args.train), figures=args.figures, energy_samples=args.energy_samples, fresh=args.fresh, progress=not args.quiet,
        jobs=args.jobs,
    )
    res = run_demo(cfg)
    for name, table in res.energy_tables.items():
        print(f"\nEnergy per inference of {name} (event-driven simulation at each chip's precision):")
        print(table)
    if res.comparison_table:
        print("\nANN (onnxruntime) vs SNN (event-driven) on the same test samples:")
        print(res.comparison_table)
    print()
    rows = [ResultRow(**r) for r in res.rows]
    print(main_table(rows))
    print("(Energy column: Loihi profile)")
    print(accuracy_summary(rows))
    print()
    print(f"data:        {res.data}")
    for name, run_dir in res.runs.items():
        print(f"run {name}: {run_dir}  (best.pt, last.pt, metrics.jsonl)")
    print(f"results:     {res.results}  (results.md, results.json, figures/)")
    for name, d in res.exports.items():
        print(f"export {name}: {d}  (manifest.json, .nir / .onnx)")
    for name, d in res.energy.items():
        print(f"energy {name}: {d}  (energy.json, energy.png)")
    if res.comparison is not None:
        print(f"comparison:  {res.comparison}  (comparison.md, comparison.json, accuracy_vs_energy.png)")
    return 0


def accuracy_summary(rows) -> str:
    """One line: each model's test MDE beside the constant predictor's, with the ratio."""
    base = next((r for r in rows if r.kind == "baseline"), None)
    parts = []
    for r in rows:
        if r.kind == "baseline" or r.metrics.get("mde_cm") is None:
            continue
        ratio = f" (constant/MDE {base.metrics['mde_cm'] / r.metrics['mde_cm']:.2f}x)" if base else ""
        parts.append(f"{r.name} {r.metrics['mde_cm']:.1f} cm{ratio}")
    if base is not None:
        parts.append(f"constant predictor {base.metrics['mde_cm']:.1f} cm")
    return "Test MDE: " + "; ".join(parts)
