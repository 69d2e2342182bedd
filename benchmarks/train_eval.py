"""Accuracy benchmark: the original project's six-row table (SNN / HNN / ANN x binocular /
monocular) on the unseen test scenes of the default synthetic set, against the constant
mean-depth predictor.

    python benchmarks/train_eval.py [--data data/synthetic] [--epochs 12] [--jobs 2] [--models snn-tiny:binocular ...]

Generates the default synthetic set if ``--data`` is missing, trains each model with its own
kind's default recipe (``depthsnn.train.recipes``) and the same epoch budget (12 epochs: at the
sweeps' 8 every monocular model was still improving at its last epoch), two trainings at a
time (``--jobs``), evaluates every best checkpoint on the test subset together with the
constant baseline (one ``evaluate`` call, so all rows share samples and metric code), costs every
row on one hardware model (``--energy-profile``, default ``lemaire45nm``: the memory-aware 45 nm
model of Lemaire et al. 2022, event-driven for spiking layers, dense for the ANN, the same for
both) and writes the ``train-eval`` section of BENCHMARKS.md. Exits non-zero if
a binocular model is not 2.5x better than the constant predictor or a monocular one 1.5x.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from _report import machine, round_suffix, today, write_section
from _runs import Run, add_run_arguments, batch_sizes, train_all
from depthsnn.compare import compare
from depthsnn.data.synthetic import SynthConfig, generate_dataset
from depthsnn.evaluate.api import evaluate_checkpoints

DEFAULT_MODELS = [
    "snn-tiny:binocular",
    "hnn-tiny:binocular",
    "ann-tiny:binocular",
    "snn-tiny:monocular",
    "hnn-tiny:monocular",
    "ann-tiny:monocular",
]
TARGETS = {"binocular": 2.5, "monocular": 1.5}


def energies(rows: list[dict], checkpoints: list[Path], profile: str, samples: int, out: Path) -> dict[str, float]:
    """Energy per inference of every row on ``profile``: per modality, one ``compare`` of the ANN
    against the spiking models (same samples, same profile)."""
    result: dict[str, float] = {}
    for modality in TARGETS:
        ck = {r["kind"]: c for r, c in zip(rows, checkpoints, strict=False) if r["modality"] == modality}
        spiking = [c for k, c in ck.items() if k != "ANN"]
        if "ANN" not in ck or not spiking:
            continue
        comp = compare(ck["ANN"], spiking, out / modality, samples=samples, ann_profiles=[profile],
                       snn_profiles=[profile])
        for r in comp.rows:
            if r.runtime == profile and r.energy_mj is not None:
                result[f"{r.model}:{modality}"] = r.energy_mj
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(ap)
    ap.set_defaults(epochs=12)
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS, metavar="PRESET:MODALITY")
    ap.add_argument("--energy-profile", default="lemaire45nm")
    ap.add_argument("--energy-samples", type=int, default=36, help="test samples costed (default 36: all)")
    ap.add_argument("--section", default="train-eval",
                    help="BENCHMARKS.md section to write (a re-run of some rows: its own section, so the "
                         "full table stays whole)")
    args = ap.parse_args()

    if not (args.data / "dataset.json").exists():
        generate_dataset(args.data, SynthConfig(), progress=True)
    runs = [Run(p, m, args.runs / f"{p}-{m}") for p, m in (spec.split(":") for spec in args.models)]
    train_all(runs, args.data, args.runs / "cache", args.epochs, args.jobs, args.fresh)
    checkpoints = [r.out / "best.pt" for r in runs]

    t0 = time.perf_counter()
    rows = evaluate_checkpoints(checkpoints, out_dir=args.runs / "evaluation", figures=2, progress=True)
    eval_time = time.perf_counter() - t0
    t0 = time.perf_counter()
    energy = energies(rows, checkpoints, args.energy_profile, args.energy_samples, args.runs / "energy")
    energy_time = time.perf_counter() - t0

    baseline = next(r for r in rows if r["kind"] == "baseline")
    bm = baseline["metrics"]
    lines = [
        "## Accuracy on the default synthetic set (`benchmarks/train_eval.py`)"
        + round_suffix(args.section, "train-eval"),
        "",
        f"{today()}, {machine()}; {args.jobs} trainings at a time, one thread each.",
        "Default synthetic set: the room world (40 scenes x 0.5 s, a drone in a furnished room, 346x260); split "
        "`synthetic`: 32 scenes train, 4 unseen scenes validate, 4 other unseen scenes test. "
        f"{args.epochs} epochs for every model, {batch_sizes(runs)}, each kind's default recipe (`depthsnn.train.recipes`; "
        "ANN with BatchNorm), T=1, CPU; best epoch on validation MDE, reported on test.",
        "",
        "| Model name | Type | Modality | Mean depth error [cm] | constant / MDE | Abs rel | delta<1.25 "
        f"| Firing rate [%] | Energy [mJ] ({args.energy_profile}) | s/epoch |",
        "| :--- | :--- | :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    failed = []
    for r, run in zip(rows, runs, strict=False):
        m = r["metrics"]
        per_epoch = statistics.median(x["train_time_s"] for x in run.log())
        fr = "—" if r.get("firing_rate") is None else f"{100 * r['firing_rate']:.1f}"
        ratio = bm["mde_cm"] / m["mde_cm"]
        if ratio < TARGETS[r["modality"]]:
            failed.append(f"{r['name']} ({r['modality']}) {ratio:.2f}x < {TARGETS[r['modality']]}x")
        e = energy.get(f"{r['name']}:{r['modality']}")
        lines.append(f"| {r['name']} | {r['kind']} | {r['modality']} | {m['mde_cm']:.1f} | {ratio:.2f}x "
                     f"| {m['abs_rel']:.3f} | {m['delta1']:.3f} | {fr} | {'—' if e is None else f'{e:.2f}'} "
                     f"| {per_epoch:.0f} |")
    lines.append(f"| constant mean depth | baseline | — | {bm['mde_cm']:.1f} | 1.00x | {bm['abs_rel']:.3f} "
                 f"| {bm['delta1']:.3f} | — | — | — |")
    lines += ["", f"Test: {bm['frames']} frames of 4 unseen scenes; evaluating all rows took {eval_time:.0f} s. "
              f"Energy: every row on the same hardware model ({args.energy_profile}), per inference, from "
              f"{args.energy_samples} evenly spaced test samples: spiking rows from the simulator's counts at the "
              "profile's precision (exact fast path, bit-identical to the event-driven simulator), the ANN priced densely "
              f"with its memory traffic ({energy_time:.0f} s). s/epoch: median training time per epoch (288 "
              "samples) from each run's metrics.jsonl."]
    write_section(args.section, "\n".join(lines))
    print("\n".join(lines))
    if failed:
        print("below target: " + "; ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
