"""``depthsnn energy``: energy per inference, fit and accuracy of a spiking network per chip."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from .simulate_cmd import _prepare, add_model_data_args

_EPILOG = """\
Simulation: --engine fast (default) computes the event-driven simulator's spikes, counts and
outputs bit for bit with dense integer-exact arithmetic, many times faster (BENCHMARKS.md,
energy-speed); a sample it cannot
prove exact (an HNN's analog layers, float weights spanning too many binades) runs event-driven
and the report says how many did. --engine event runs the event-driven simulator throughout.
The default --samples 200 covers the whole test subset of the built-in synthetic set.

Profiles: the built-in chips (loihi, loihi2, spinnaker, spinnaker2, truenorth, speck,
akida_akd1000) and
baselines (gpu_h100, jetson_orin_nano, coral_edgetpu, cpu, gpu = legacy Titan Black,
asic45nm_fp32, asic45nm_int8, lemaire45nm = 45 nm with memory traffic after Lemaire et al.
2022), or your own TOML file (--profile PATH,
same schema as src/depthsnn/hw_profiles/profiles/*.toml). Each chip is simulated at its weight
precision, so the MDE column is the accuracy of the network the chip would run. Totals marked *
use estimated profile numbers (the JSON says which and why). --results DIR fills the Energy
column of an evaluation's results table (results.md / results.json) with --primary's figure.
The table shows two figures per chip: per map mJ (energy per depth map at the sensor's rate:
dynamic + static power over the window) and dynamic mJ (above idle, per-step costs included).
--device cuda runs the fast path's dense arithmetic on the GPU (same bits).
"""

# hw_profiles.assess.DEFAULT_ENERGY_SAMPLES and ENGINES, not imported here: registering commands
# must not load torch (tests/test_fast_path.py checks that they agree).
SAMPLES = 200
ENGINES = ("fast", "event")
DEVICES = ("cpu", "cuda")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "energy",
        help="energy per inference and fit of a spiking network on each chip profile",
        description="Simulate the network (exact fast path or event-driven) and cost it on neuromorphic "
                    "chips and baselines.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_data_args(p, samples=SAMPLES)
    p.add_argument("--engine", choices=ENGINES, default=ENGINES[0],
                   help="fast: exact fast path, bit-identical to the event-driven simulator (default); "
                        "event: the event-driven simulator itself")
    p.add_argument("--jobs", type=int, metavar="N",
                   help="precisions simulated at once, one single-threaded process each (default: CPU cores)")
    p.add_argument("--device", choices=DEVICES, default=DEVICES[0],
                   help="where the fast path's dense arithmetic runs (default cpu; cuda: the same bits on the GPU, "
                        "the first sample checked against the event-driven engine)")
    p.add_argument("--profile", dest="profiles", action="append", metavar="NAME|PATH",
                   help="profile to cost (repeatable; default: all built-in)")
    p.add_argument("--latency", default="window", metavar="auto|window|SECONDS",
                   help="latency for static energy: 'window' = the input window (real-time operation, "
                        "default), 'auto' = the profile's own timing model only, or seconds")
    p.add_argument("--results", type=Path, metavar="DIR", help="evaluation folder whose results table gets the energy")
    p.add_argument("--primary", default="loihi", help="profile whose figure goes into --results (default loihi)")
    p.add_argument("--measure", action="store_true",
                   help="measure energy per depth map on this machine's CUDA GPU (NVML) instead of simulating: the "
                        "checkpoint's model in torch (and an ANN in onnxruntime's CUDA provider when present), batch 1 "
                        "back to back and at the sensor's rate, idle power in the same run; writes energy.json with "
                        "the gpu_h200 estimate beside it")
    p.add_argument("--measure-profile", default="gpu_h200", metavar="NAME|PATH",
                   help="dense profile whose estimate sits beside the measurement (default gpu_h200)")
    p.set_defaults(func=run)


def _latency(text: str, net) -> float | None:
    from ..errors import ConfigError

    if text == "auto":
        return None
    if text == "window":
        return (net.data.window_ms if net.data else 50.0) / 1000.0
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"--latency must be auto, window or seconds, got {text!r}") from None
    if value <= 0:
        raise ConfigError(f"--latency must be > 0, got {value}")
    return value


def run_measure(args: argparse.Namespace) -> int:
    """``--measure``: NVML energy of the checkpoint's model on the CUDA device (see hw_profiles.measured)."""
    from ..errors import ConfigError
    from ..hw_profiles.measured import MeasurementError

    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        raise MeasurementError("--measure needs a CUDA device and torch") from None
    if not torch.cuda.is_available():
        raise MeasurementError("--measure needs a CUDA device (torch.cuda.is_available() is False); estimate "
                               "without it, or run on a GPU machine")
    if args.model.suffix != ".pt":
        raise ConfigError("--measure takes a checkpoint (.pt)", args.model)
    from ..compare.measure_run import measure_checkpoint

    measure_checkpoint(args.model, args.out, profile=args.measure_profile, say=(lambda _m: None) if args.quiet else print)
    return 0


def _check_device(args: argparse.Namespace) -> None:
    """``--device cuda`` needs CUDA (one line and exit 2 without it) and the fast engine."""
    from ..errors import ConfigError

    if getattr(args, "device", "cpu") == "cpu":
        return
    if args.engine != "fast":
        raise ConfigError("--device cuda runs the fast path: drop --engine event (the event-driven engine is CPU-only)")
    import torch

    if not torch.cuda.is_available():
        raise ConfigError("--device cuda needs a CUDA device (torch.cuda.is_available() is False); run without it "
                          "(--device cpu, the default)")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "measure", False):
        return run_measure(args)
    _check_device(args)
    from ..atomic import atomic_write_text
    from ..errors import ConfigError
    from ..hw_profiles import builtin_profile_names, energy_bar_chart, energy_table, get_profile
    from ..hw_profiles.assess import assess_profiles, assessment_report, fill_results_energy

    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {args.jobs}")
    net, ds = _prepare(args)
    profiles = [get_profile(p) for p in (args.profiles or builtin_profile_names())]
    latency = _latency(args.latency, net)
    jobs = args.jobs or os.cpu_count() or 1
    if not args.quiet:
        print(f"simulating {min(args.samples, len(ds))} samples of the {args.subset} subset per weight precision "
              f"({args.engine} engine, up to {jobs} precisions at once)", flush=True)
    assessments = assess_profiles(net, ds, profiles, samples=args.samples, latency_s=latency,
                                  progress=not args.quiet, engine=args.engine, jobs=jobs,
                                  device=getattr(args, "device", "cpu"))
    args.out.mkdir(parents=True, exist_ok=True)
    report = assessment_report(str(args.model), net.name, net.kind, latency, assessments)
    from ..models.portable import host_step_cost

    host = host_step_cost(net.graph.metadata.get("host_upsample"), net.graph.output.shape[1:])
    if host:  # portable nets: the chip outputs a coarse map; the host upsamples it
        report["host_step"] = host
    atomic_write_text(args.out / "energy.json", json.dumps(report, indent=2, default=float))
    chart = energy_bar_chart([a.row for a in assessments], args.out / "energy.png",
                             title=f"Energy per inference: {net.name}")
    if args.results is not None:
        fill_results_energy(args.results, net, assessments, args.primary)
    if not args.quiet:
        print(energy_table([a.row for a in assessments]))
        print()
        width = max(len(a.profile.name) for a in assessments)
        for a in assessments:
            print(f"{a.profile.name:<{width}}  MDE {a.simulation.metrics['mde_cm']:.2f} cm at {a.precision}")
            for line in a.row.fit.lines():
                print(f"{'':<{width}}  {line}")
        sims = {a.precision: a.simulation for a in assessments}
        n = next(iter(sims.values())).samples
        print(f"\nFigures rest on {n} sample{'s' * (n != 1)} of the {args.subset} subset ({len(ds)} in it); "
              "simulation per precision:")
        for precision, sim in sims.items():
            print(f"  {precision}: {sim.engine}, {sim.seconds:.1f} s")
        if host:
            print(f"host step (not on any chip, in no energy above): {host['text']}")
        print(f"wrote {args.out / 'energy.json'} and {chart}")
    return 0

