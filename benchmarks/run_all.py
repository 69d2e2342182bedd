"""All speed benchmarks side by side in one process: ANN latency, simulator speed, training.

    python benchmarks/run_all.py [--quick] [--out BENCHMARKS.md] [--threads K] [--hw 260 346]

Runs, one after the other on the same machine state, ``ann_latency`` (torch vs onnxruntime),
``simulator_speed`` (event-driven simulator vs dense torch SNN inference) and
``train_throughput`` (training samples/s) with their default settings; each writes its own
section of BENCHMARKS.md. Then writes a ``summary`` section at the top with the headline ratios,
the machine and the date. ``make bench`` runs this.

``--quick`` is a smoke run (a few minutes on 2 cores): small presets only, fewer repeats, one
density; its figures are marked as such. ``--out`` writes to another file (default: the
repository's BENCHMARKS.md, or ``$DEPTHSNN_BENCHMARKS_MD``).
"""

from __future__ import annotations

import argparse
import os

import torch

import ann_latency
import simulator_speed
import train_throughput
from _report import ENV_PATH, benchmarks_path, machine, today, write_section

# Per-script settings of --quick: the small preset only, few repeats; enough to exercise every path.
QUICK = {
    "ann": {"presets": ["ann-tiny"], "repeats": 10, "warmup": 2},
    "sim": {"densities": [0.05], "low_gains": [1.2], "repeats": 1, "T": 2},
    "train": {"presets": ["snn-tiny"], "Ts": [1], "steps": 1},
}


def run(quick: bool = False, threads: int | None = None, hw: tuple[int, int] = (260, 346)) -> dict:
    """Run the three benchmarks and the summary; returns their rows under ``ann``, ``sim``, ``train``."""
    threads = threads or torch.get_num_threads()  # before simulator_speed pins 1 thread (it restores it)
    opts = QUICK if quick else {"ann": {}, "sim": {}, "train": {}}
    results = {
        "ann": ann_latency.run(threads=threads, hw=hw, **opts["ann"]),
        "sim": simulator_speed.run(hw_in=hw, **opts["sim"]),
        "train": train_throughput.run(hw=hw, **opts["train"]),
    }
    write_section("summary", summary(results, quick, threads, hw), top=True)
    return results


def summary(results: dict, quick: bool, threads: int, hw: tuple[int, int]) -> str:
    """Markdown of the headline ratios, one bullet per benchmark."""
    lines = [
        "## Summary (`benchmarks/run_all.py`" + (" --quick: smoke run, not for citing" if quick else "") + ")",
        "",
        f"{today()}, {machine()}. All three measured in one run at {hw[0]}x{hw[1]}, batch 1; details in the "
        "sections below.",
        "",
    ]
    for r in results["ann"]:
        if r["model"] == "ann-tiny":
            lines.append(f"- ANN inference, ann-tiny on {r['device']} ({r['provider']}, {threads} thread(s)): "
                         f"onnxruntime {r['ort_ms']:.1f} ms vs torch {r['torch_ms']:.1f} ms, "
                         f"**{r['ratio']:.2f}x** speed-up of ORT (median; max diff {r['max_diff']:.1e} m).")
    sim = ", ".join(f"**{r['speedup']:.2f}x** at firing rate {r['firing_rate']:.3f} ({r['name']})"
                    for r in results["sim"])
    lines.append(f"- SNN inference, snn-tiny on 1 thread: event-driven simulator vs dense torch, "
                 f"dense/event time {sim} (> 1: event-driven faster).")
    for r in results["train"]:
        if r["preset"] == "snn-tiny" and r["T"] == 1:
            rates = ", ".join(f"{b} **{v:.2f}**" for b, v in r["rates"].items())
            lines.append(f"- Training, snn-tiny T=1 on {r['device']}: samples/s {rates}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    """Command line entry point (``argv`` for callers; default ``sys.argv``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: small presets, few repeats")
    ap.add_argument("--out", help="file to write the sections to (default: BENCHMARKS.md)")
    ap.add_argument("--threads", type=int, help="threads of the ANN latency runs (default: torch's count)")
    ap.add_argument("--hw", nargs=2, type=int, default=[260, 346], metavar=("H", "W"))
    args = ap.parse_args(argv)
    if args.out:
        os.environ[ENV_PATH] = args.out  # every script's write_section reads it
    results = run(args.quick, args.threads, tuple(args.hw))
    print(f"wrote {benchmarks_path()}")
    return results


if __name__ == "__main__":
    main()
