"""Recipe sweep: each model kind's optimiser recipe chosen on the validation scenes.

    python benchmarks/recipe_sweep.py [--modality binocular|monocular] [--data data/synthetic] [--runs runs/benchmark] [--jobs 2]

Trains the candidates of one modality below (8 epochs, the default synthetic set) and writes
that modality's section of BENCHMARKS.md (``recipes``, ``recipes-monocular``): the best
validation MDE of each candidate and its epoch. Only validation scenes decide; test scenes are
left for ``train_eval.py``. A candidate with no options is the recipe in
``depthsnn.train.recipes`` as it stands, and shares its run folder with ``train_eval.py``'s row
of that model; monocular candidates name their learning rate explicitly, so that their rows keep
their meaning whichever one the recipe adopts.
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
CANDIDATES = {
    "binocular": [
        ("ann-tiny", ()),
        ("ann-tiny", ("lr=0.001",)),
        ("snn-tiny", ()),
    ],
    # Monocular SNN and HNN were still improving at the last epoch at lr 1e-3 (BENCHMARKS.md,
    # 2026-12-02 accuracy notes): is a higher rate better for them, as it was for the ANN?
    "monocular": [
        ("snn-tiny", ("lr=0.001",)),
        ("snn-tiny", ("lr=0.003",)),
        ("hnn-tiny", ("lr=0.001",)),
        ("hnn-tiny", ("lr=0.003",)),
        ("hnn-tiny", ("rate_penalty=4",)),  # the SNN's penalty, at the HNN's lr 1e-3
    ],
}
SECTIONS = {"binocular": "recipes", "monocular": "recipes-monocular"}


def run_for(runs: Path, preset: str, sets: tuple[str, ...], modality: str = "binocular") -> Run:
    suffix = "".join(f"-{s.replace(',', '+')}" for s in sets)
    return Run(preset, modality, runs / f"{preset}-{modality}{suffix}", sets)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(ap)
    ap.add_argument("--modality", choices=sorted(CANDIDATES), default="binocular")
    args = ap.parse_args()
    if not (args.data / "dataset.json").exists():
        generate_dataset(args.data, SynthConfig(), progress=True)
    candidates = CANDIDATES[args.modality]
    runs = [run_for(args.runs, p, s, args.modality) for p, s in candidates]
    train_all(runs, args.data, args.runs / "cache", args.epochs, args.jobs, args.fresh)

    title = "Recipes chosen on validation" + ("" if args.modality == "binocular" else f", {args.modality}")
    lines = [
        f"## {title} (`benchmarks/recipe_sweep.py --modality {args.modality}`)",
        "",
        f"{today()}, {machine()}; {args.jobs} trainings at a time, one thread each.",
        f"Default synthetic set, {args.modality}, {args.epochs} epochs, batch 2, Adam; LR x{RECIPES['snn'].lr_gamma} after "
        "half and three quarters of the run. Best validation MDE over the epochs (4 unseen scenes, 36 frames); "
        "test scenes are not looked at here.",
        "",
        "| Model | Options (beyond the recipe) | Best val MDE [cm] | at epoch | s/epoch |",
        "| :--- | :--- | ---: | ---: | ---: |",
    ]
    for (preset, sets), run in zip(candidates, runs, strict=True):
        log = run.log()
        best = min(log, key=lambda r: r["val_mde_cm"])
        per_epoch = sorted(r["train_time_s"] for r in log)[len(log) // 2]
        lines.append(f"| {preset} | {', '.join(sets) or 'recipe as committed'} | {best['val_mde_cm']:.1f} "
                     f"| {best['epoch']} | {per_epoch:.0f} |")
    write_section(SECTIONS[args.modality], "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
