"""Accuracy benchmark: train and evaluate SNN / HNN / ANN (binocular and monocular) on the
default synthetic stereo set, against the constant mean-depth predictor.

    python benchmarks/train_eval.py [--data data/synthetic] [--epochs 8] [--models snn-tiny:binocular ...]

Generates the default synthetic set if ``--data`` is missing, trains each model with the same
recipe, evaluates its best checkpoint on the test subset together with the constant baseline
(one ``evaluate`` call, so all rows share samples and metric code) and writes the
``train-eval`` section of BENCHMARKS.md. Exits non-zero if the main model (first in the list)
does not beat the baseline's MDE by at least 2x.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from _report import machine, today, write_section
from depthsnn.data.dataset import DataConfig
from depthsnn.data.synthetic import SynthConfig, generate_dataset
from depthsnn.evaluate.api import evaluate_checkpoints
from depthsnn.train.config import TrainConfig
from depthsnn.train.loop import train

DEFAULT_MODELS = [
    "snn-tiny:binocular",
    "snn-tiny:monocular",
    "hnn-tiny:binocular",
    "ann-tiny:binocular",
    "ann-tiny:monocular",
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("data/synthetic"))
    ap.add_argument("--runs", type=Path, default=Path("runs/benchmark"))
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--models", nargs="+", default=DEFAULT_MODELS, metavar="PRESET:MODALITY")
    ap.add_argument("--fresh", action="store_true", help="retrain even if a finished run exists")
    args = ap.parse_args()

    if not (args.data / "dataset.json").exists():
        generate_dataset(args.data, SynthConfig(), progress=True)
    cache = str(args.runs / "cache")
    checkpoints = []
    for spec in args.models:
        preset, modality = spec.split(":")
        out = args.runs / f"{preset}-{modality}"
        cfg = TrainConfig(
            model=preset, data=DataConfig(root=str(args.data), split="synthetic", cameras=modality, cache_dir=cache),
            out=str(out), epochs=args.epochs, device="cpu",
        )
        done = (out / "best.pt").exists() and (out / "metrics.jsonl").exists() and \
            len((out / "metrics.jsonl").read_text().splitlines()) >= args.epochs
        if args.fresh or not done:
            if args.fresh and out.exists():
                for f in out.iterdir():
                    f.unlink()
            train(cfg, progress=True)
        checkpoints.append(out / "best.pt")

    t0 = time.perf_counter()
    rows = evaluate_checkpoints(checkpoints, out_dir=args.runs / "evaluation", figures=2, progress=True)
    eval_time = time.perf_counter() - t0

    baseline = next(r for r in rows if r["kind"] == "baseline")
    lines = [
        "## Accuracy on the default synthetic set (`benchmarks/train_eval.py`)",
        "",
        f"{today()}, {machine()}.",
        "Default synthetic set (40 scenes x 0.5 s, 3-6 objects each, moving rig, 346x260; split "
        "`synthetic`: 32 scenes train, 4 unseen scenes val, 4 other unseen scenes test), TrainConfig "
        "defaults (Adam lr 1e-3, x0.3 after epochs 4 and 6, batch 2, vflip + polarity augmentation, "
        "plus hflip when monocular), T=1, CPU; best epoch on validation MDE.",
        "",
        "| Model | Type | Modality | Epochs | Test MDE [cm] | constant MDE / MDE | Abs rel | delta<1.25 | Firing rate [%] | s/epoch |",
        "| :--- | :--- | :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r, ck in zip(rows, checkpoints, strict=False):
        m = r["metrics"]
        log = [json.loads(x) for x in (ck.parent / "metrics.jsonl").read_text().splitlines()]
        per_epoch = statistics.median(x["train_time_s"] for x in log)
        fr = "—" if r.get("firing_rate") is None else f"{100 * r['firing_rate']:.2f}"
        ratio = baseline["metrics"]["mde_cm"] / m["mde_cm"]
        lines.append(f"| {r['name']} | {r['kind']} | {r['modality']} | {len(log)} | {m['mde_cm']:.1f} "
                     f"| {ratio:.2f}x | {m['abs_rel']:.3f} | {m['delta1']:.3f} | {fr} | {per_epoch:.0f} |")
    bm = baseline["metrics"]
    lines.append(f"| constant mean depth | baseline | — | — | {bm['mde_cm']:.1f} | 1.00x | {bm['abs_rel']:.3f} "
                 f"| {bm['delta1']:.3f} | — | — |")
    lines += ["", f"Evaluation of all rows on {bm['frames']} test frames took {eval_time:.0f} s. s/epoch is the "
              "median training time per epoch (288 samples) from each run's metrics.jsonl; it rises when other "
              "jobs share the 2 cores."]
    write_section("train-eval", "\n".join(lines))
    print("\n".join(lines))
    main_ratio = baseline["metrics"]["mde_cm"] / rows[0]["metrics"]["mde_cm"]
    return 0 if main_ratio >= 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
