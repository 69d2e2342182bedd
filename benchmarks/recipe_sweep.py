"""Recipe sweep: each model kind's optimiser recipe chosen on the validation scenes.

    python benchmarks/recipe_sweep.py [--data data/synthetic] [--runs runs/benchmark] [--jobs 2]

Trains the candidates below (8 epochs, binocular, the default synthetic set) and writes the
``recipes`` section of BENCHMARKS.md: the best validation MDE of each candidate and its epoch.
Only validation scenes decide; test scenes are left for ``train_eval.py``. A candidate with no
options is the recipe in ``depthsnn.train.recipes`` as it stands, and shares its run folder
with ``train_eval.py``'s row of that model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _report import machine, today, write_section
from _runs import Run, add_run_arguments, train_all
from depthsnn.data.synthetic import SynthConfig, generate_dataset
from depthsnn.train.recipes import RECIPES

# (preset, options): the ANN's learning rate around the SNN's, with BatchNorm (the ANN preset's
# default); the SNN's recipe as a reference point.
CANDIDATES = [
    ("ann-tiny", ()),
    ("ann-tiny", ("lr=0.001",)),
    ("snn-tiny", ()),
]


def run_for(runs: Path, preset: str, sets: tuple[str, ...], modality: str = "binocular") -> Run:
    suffix = "".join(f"-{s.replace(',', '+')}" for s in sets)
    return Run(preset, modality, runs / f"{preset}-{modality}{suffix}", sets)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(ap)
    args = ap.parse_args()
    if not (args.data / "dataset.json").exists():
        generate_dataset(args.data, SynthConfig(), progress=True)
    runs = [run_for(args.runs, p, s) for p, s in CANDIDATES]
    train_all(runs, args.data, args.runs / "cache", args.epochs, args.jobs, args.fresh)

    lines = [
        "## Recipes chosen on validation (`benchmarks/recipe_sweep.py`)",
        "",
        f"{today()}, {machine()}; {args.jobs} trainings at a time, one thread each.",
        f"Default synthetic set, binocular, {args.epochs} epochs, batch 2, Adam; LR x{RECIPES['snn'].lr_gamma} after "
        "half and three quarters of the run. Best validation MDE over the epochs (4 unseen scenes, 36 frames); "
        "test scenes are not looked at here.",
        "",
        "| Model | Options (beyond the recipe) | Best val MDE [cm] | at epoch | s/epoch |",
        "| :--- | :--- | ---: | ---: | ---: |",
    ]
    for (preset, sets), run in zip(CANDIDATES, runs, strict=True):
        log = run.log()
        best = min(log, key=lambda r: r["val_mde_cm"])
        per_epoch = sorted(r["train_time_s"] for r in log)[len(log) // 2]
        lines.append(f"| {preset} | {', '.join(sets) or 'recipe as committed'} | {best['val_mde_cm']:.1f} "
                     f"| {best['epoch']} | {per_epoch:.0f} |")
    write_section("recipes", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
