"""Recipe sweep: each model kind's optimiser recipe chosen on the validation scenes.

    python benchmarks/recipe_sweep.py [--round binocular|monocular|monocular-12] [--data data/synthetic] [--runs runs/benchmark] [--jobs 2]

Trains the candidates of one round below on the default synthetic set and writes that round's
section of BENCHMARKS.md (``recipes``, ``recipes-monocular``, ``recipes-monocular-12``): each
candidate's resolved recipe (read back from its run's config.json, so a row keeps its meaning
whatever the committed recipe becomes), its best validation MDE and that epoch. Only
validation scenes decide; test scenes are left for ``train_eval.py``. A candidate with no
options is the recipe in ``depthsnn.train.recipes`` as it stands, and shares its run folder
with ``train_eval.py``'s row of that model (a finished run is reused only while its saved
configuration matches the recipe: ``_runs.Run.stale``).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from _report import machine, today, write_section
from _runs import Run, add_run_arguments, train_all
from depthsnn.data.synthetic import SynthConfig, generate_dataset


@dataclass(frozen=True)
class Round:
    """Candidates ``(preset, options)`` trained on one modality for one epoch budget; their table
    goes to BENCHMARKS.md section ``section``."""

    modality: str
    epochs: int
    section: str
    candidates: tuple[tuple[str, tuple[str, ...]], ...]


ROUNDS = {
    # The ANN's learning rate around the SNN's, with BatchNorm (the ANN preset's default); the
    # SNN's recipe as a reference point.
    "binocular": Round("binocular", 8, "recipes", (
        ("ann-tiny", ()),
        ("ann-tiny", ("lr=0.001",)),
        ("snn-tiny", ()),
    )),
    # Monocular SNN and HNN were still improving at the last epoch at lr 1e-3 (BENCHMARKS.md,
    # 2026-12-02 accuracy notes): is a higher rate better for them, as it was for the ANN?
    "monocular": Round("monocular", 8, "recipes-monocular", (
        ("snn-tiny", ("lr=0.001",)),
        ("snn-tiny", ("lr=0.003",)),
        ("hnn-tiny", ("lr=0.001",)),
        ("hnn-tiny", ("lr=0.003",)),
    )),
    # Monocular at train_eval's 12 epochs, where the HNN's lr-1e-3 recipe missed the target and the
    # SNN met it by 0.1 cm (BENCHMARKS.md, 2026-12-03 notes). The HNN's lr 3e-3 was worse than 1e-3
    # in the 8-epoch round, so it keeps 1e-3 and tries the SNN's spike-rate penalty; both kinds try
    # a later decay (their validation MDE still fell at the last epoch). The first row of each kind
    # is its recipe before this round; every option is spelt out, so a row names the same training
    # whichever recipe is committed later.
    "monocular-12": Round("monocular", 12, "recipes-monocular-12", (
        ("hnn-tiny", ("lr=0.001", "rate_penalty=0", "lr_milestones=6,9")),
        ("hnn-tiny", ("lr=0.001", "rate_penalty=4", "lr_milestones=6,9")),
        ("hnn-tiny", ("lr=0.001", "rate_penalty=0", "lr_milestones=9,11")),
        ("hnn-tiny", ("lr=0.001", "rate_penalty=4", "lr_milestones=9,11")),
        ("snn-tiny", ("lr=0.003", "rate_penalty=4", "lr_milestones=6,9")),
        ("snn-tiny", ("lr=0.003", "rate_penalty=4", "lr_milestones=9,11")),
    )),
}


def run_for(runs: Path, preset: str, sets: tuple[str, ...], modality: str = "binocular") -> Run:
    suffix = "".join(f"-{s.replace(',', '+')}" for s in sets)
    return Run(preset, modality, runs / f"{preset}-{modality}{suffix}", sets)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(ap)
    ap.set_defaults(epochs=None)
    ap.add_argument("--round", choices=sorted(ROUNDS), default="binocular",
                    help="which candidates to train (default binocular); --epochs overrides the round's budget")
    args = ap.parse_args()
    rnd = ROUNDS[args.round]
    epochs = args.epochs or rnd.epochs
    if not (args.data / "dataset.json").exists():
        generate_dataset(args.data, SynthConfig(), progress=True)
    runs = [run_for(args.runs, p, s, rnd.modality) for p, s in rnd.candidates]
    train_all(runs, args.data, args.runs / "cache", epochs, args.jobs, args.fresh)

    title = "Recipes chosen on validation" + ("" if args.round == "binocular" else f", {args.round}")
    lines = [
        f"## {title} (`benchmarks/recipe_sweep.py --round {args.round}`)",
        "",
        f"{today()}, {machine()}; {args.jobs} trainings at a time, one thread each.",
        f"Default synthetic set, {rnd.modality}, {epochs} epochs, batch 2, Adam; the LR is multiplied by the decay "
        "factor after the listed epochs. Best validation MDE over the epochs (4 unseen scenes, 36 frames); "
        "test scenes are not looked at here.",
        "",
        "| Model | Options (beyond the recipe) | lr | decay after epochs | rate penalty | Best val MDE [cm] "
        "| at epoch | val MDE, last epoch | val firing [%] | s/epoch |",
        "| :--- | :--- | ---: | :--- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (preset, sets), run in zip(rnd.candidates, runs, strict=True):
        log = run.log()
        cfg = json.loads((run.out / "config.json").read_text())
        best = min(log, key=lambda r: r["val_mde_cm"])
        per_epoch = sorted(r["train_time_s"] for r in log)[len(log) // 2]
        decay = ", ".join(str(m) for m in cfg["lr_milestones"]) + f" (x{cfg['lr_gamma']:g})"
        firing = "—" if best.get("val_firing_rate") is None else f"{100 * best['val_firing_rate']:.1f}"
        lines.append(f"| {preset} | {', '.join(sets) or 'recipe as committed'} | {cfg['lr']:g} | {decay} "
                     f"| {cfg['rate_penalty']:g} | {best['val_mde_cm']:.1f} | {best['epoch']} "
                     f"| {log[-1]['val_mde_cm']:.1f} | {firing} | {per_epoch:.0f} |")
    write_section(rnd.section, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
