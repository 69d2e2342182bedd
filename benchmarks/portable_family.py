"""The chip-fit family beside the U-Net: accuracy, energy per inference, toolchain verdicts and
Akida's mapping, on the default synthetic set.

    python benchmarks/portable_family.py [--data data/synthetic] [--runs runs/benchmark] [--jobs 2]

Trains ``snn-portable-tiny``, ``snn-portable-small`` and the U-Net ``snn-tiny`` (binocular, each
kind's default recipe, the same epochs; ``snn-tiny`` shares its run folder with
``train_eval.py``), evaluates them together on the unseen test scenes (one ``evaluate`` call, so
rows share samples, metric code and the constant predictor), costs each on the same profiles from
simulations of the whole test subset at each profile's precision (the exact fast path), states
the host step of the portable nets (bilinear upsampling, never in chip energy), and asks each
vendor toolchain whether it can take the graph: our structure verdicts (Akida, Speck by sinabs'
rules, Loihi 2 by lava-dl netx's) and, where ``akida`` is installed, Akida's own mapper on a
virtual AKD1000 with a spike-for-spike check against our simulator on two test frames. Writes
the ``portable-family`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from _report import machine, today, write_section
from _runs import Run, add_run_arguments, assess_on_test, train_all
from depthsnn.data.synthetic import SynthConfig, generate_dataset
from depthsnn.evaluate.api import evaluate_checkpoints

MODELS = ("snn-portable-tiny", "snn-portable-small", "snn-tiny")
PROFILES = ("lemaire45nm", "loihi", "loihi2", "spinnaker2", "asic45nm_int8")


def energies(checkpoint: Path, profiles: tuple[str, ...]) -> dict:
    """Energy per inference [mJ] per profile (whole test subset), host step, verdicts, Akida mapping."""
    from depthsnn.hw_profiles.structure import toolchain_verdicts
    from depthsnn.models.portable import host_step_cost
    from depthsnn.simulate.pipeline import pad_frames

    net, ds, assessed, seconds = assess_on_test(checkpoint, profiles, None)
    out = {
        "energy": {a.profile.name: a.row.breakdown.total_mj for a in assessed},
        "estimated": {a.profile.name: bool(a.row.breakdown.estimated_fields) for a in assessed},
        "firing": assessed[0].simulation.counts.firing_rate(),
        "samples": assessed[0].simulation.samples,
        "seconds": seconds,
        "host": host_step_cost(net.graph.metadata.get("host_upsample"), net.graph.output.shape[1:]),
        "verdicts": toolchain_verdicts(net.graph),
        "akida": None,
    }
    if out["verdicts"]["akida"].accepted:
        try:
            from depthsnn.vendors import akida as ak

            am = ak.to_akida(net.graph)
            frames = np.stack([pad_frames(ds[i][0], net.graph.input.shape).numpy().sum(0) for i in (0, 1)])
            frames = np.clip(frames, 0, 2**am.input_bits - 1)  # Akida's 4-bit input: counts above 15 clip
            check = ak.compare_with_simulator(am, frames)  # before mapping: a mapped model wants a real device
            out["akida"] = {"check": check, "mapping": ak.mapping_report(am)}
        except Exception as exc:  # akida missing or refusing: say so in the table
            out["akida"] = {"error": str(exc).splitlines()[0]}
    return out


def _verdict(v) -> str:
    """``yes``, or ``no:`` and the first two reasons without their source in parentheses."""
    reasons = [r.replace(f" ({v.source})", "") for r in v.reasons[:2]]
    return "yes" if v.accepted else "no: " + "; ".join(reasons) + ("; ..." if len(v.reasons) > 2 else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(ap)
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--profiles", nargs="+", default=list(PROFILES))
    args = ap.parse_args()

    if not (args.data / "dataset.json").exists():
        generate_dataset(args.data, SynthConfig(), progress=True)
    runs = [Run(m, "binocular", args.runs / f"{m}-binocular") for m in args.models]
    train_all(runs, args.data, args.runs / "cache", args.epochs, args.jobs, args.fresh)
    checkpoints = [r.out / "best.pt" for r in runs]
    rows = evaluate_checkpoints(checkpoints, out_dir=args.runs / "portable-eval", figures=0, progress=True)
    const = next(r for r in rows if r["kind"] == "baseline")["metrics"]["mde_cm"]
    info = [energies(c, tuple(args.profiles)) for c in checkpoints]

    lines = [
        "## Chip-fit family beside the U-Net (`benchmarks/portable_family.py`)",
        "",
        f"{today()}, {machine()}; {args.jobs} trainings at a time, one thread each.",
        f"Default synthetic set, binocular, {args.epochs} epochs each, the SNN recipe; test: the 4 unseen test scenes "
        f"({rows[0]['metrics']['frames']} frames, constant predictor {const:.1f} cm). Energy per inference [mJ] from "
        f"the exact fast path over all {info[0]['samples']} test samples at each profile's precision; * = uses "
        "estimated profile numbers. The portable nets' chip computes a 1/8-resolution map; the host's bilinear "
        "upsampling is in no energy column (its MACs are listed).",
        "",
        "| Model | Parameters | Test MDE [cm] | constant / MDE | Firing [%] | "
        + " | ".join(args.profiles) + " | host step |",
        "| :--- | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in args.profiles) + " | :--- |",
    ]
    from depthsnn.train.checkpoint import model_from_checkpoint

    for r, ck, e in zip(rows, checkpoints, info, strict=False):
        model, _, _ = model_from_checkpoint(ck)
        params = sum(p.numel() for p in model.parameters())
        host = f"{e['host']['host_macs'] / 1e6:.2f} M MACs" if e["host"] else "none"
        lines.append(f"| {r['name']} | {params / 1e3:.1f} k | {r['metrics']['mde_cm']:.1f} | {const / r['metrics']['mde_cm']:.2f}x "
                     f"| {100 * r['firing_rate']:.1f} | "
                     + " | ".join(f"{e['energy'][p]:.3g}{'*' if e['estimated'][p] else ''}" for p in args.profiles)
                     + f" | {host} |")
    lines += ["", "Which toolchain takes which graph (our structure verdicts; Akida's own mapper where it ran):", "",
              "| Model | Akida (AKD1000) | Akida's mapper | Speck (sinabs 3.1 rules) | Loihi 2 (lava-dl netx) |",
              "| :--- | :--- | :--- | :--- | :--- |"]
    for r, e in zip(rows, info, strict=False):
        v = e["verdicts"]
        a = e["akida"]
        if a is None:
            mapper = "not tried (rejected by the converter)"
        elif "error" in a:
            mapper = a["error"]
        else:
            m, c = a["mapping"], a["check"]
            mapper = (f"{m['nps_used']} of {m['nps_available']} NPs, {len(m['sequences'])} sequence(s), "
                      f"{'all on hardware' if m['all_on_hardware'] else 'partly software'}; 2 test frames: "
                      f"{c['spike_mismatches']} spike mismatches, output diff {c['output_max_abs_diff']:g}")
        lines.append(f"| {r['name']} | {_verdict(v['akida'])} | {mapper} | {_verdict(v['speck'])} "
                     f"| {_verdict(v['loihi2-netx'])} |")
    write_section("portable-family", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
