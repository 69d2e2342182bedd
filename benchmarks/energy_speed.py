"""Energy stage speed: the exact fast path against the event-driven simulator, and a whole run.

    python benchmarks/energy_speed.py [--checkpoint runs/benchmark/snn-tiny-binocular/best.pt]
                                      [--data DIR] [--subset train] [--samples 200]
                                      [--compare-subset test] [--compare-samples 3] [--jobs 2]

1. Side by side, in the same run, on ``--compare-samples`` samples of ``--compare-subset``: for
   every weight precision the built-in profiles simulate at, the event-driven
   :class:`~depthsnn.simulate.EventSimulator` and the exact fast path
   :class:`~depthsnn.simulate.fast.FastSimulator`, both on one torch thread, per sample; the
   ratio is the speed-up. Each pair is checked bit for bit (outputs, spikes, every count).
2. ``depthsnn energy`` itself (fast path, all built-in profiles) on ``--samples`` samples of
   ``--subset`` with ``--jobs`` precisions at once (one single-threaded process each): wall time
   from loading the checkpoint to the written report. The default subset is ``train`` because the built-in synthetic set's test
   subset holds fewer than 200 samples; the speed per sample does not depend on which ones.

Writes the ``energy-speed`` section of BENCHMARKS.md (``DEPTHSNN_BENCHMARKS_MD`` redirects it).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from _report import machine, today, write_section
from depthsnn.hw_profiles import builtin_profile_names, get_profile
from depthsnn.hw_profiles.assess import weight_bits_for
from depthsnn.simulate import EventSimulator, QuantConfig
from depthsnn.simulate.fast import FastSimulator
from depthsnn.simulate.pipeline import load_network, open_dataset, pad_frames, sample_indices

CHECKPOINT = "runs/benchmark/snn-tiny-binocular/best.pt"


def _identical(a, b) -> bool:
    return (a.outputs.tobytes() == b.outputs.tobytes() and a.spikes.keys() == b.spikes.keys()
            and all(np.array_equal(a.spikes[k], b.spikes[k]) for k in a.spikes)
            and [asdict(x) for x in a.counts.layers] == [asdict(x) for x in b.counts.layers])


def side_by_side(net, inputs: list[np.ndarray]) -> list[dict]:
    """Per precision of the built-in profiles: seconds per sample of both engines (1 thread)."""
    profiles: dict[int | None, list[str]] = {}
    for name in builtin_profile_names():
        profiles.setdefault(weight_bits_for(get_profile(name)), []).append(name)
    rows = []
    for bits, names in sorted(profiles.items(), key=lambda kv: kv[0] or 0):
        quant = None if bits is None else QuantConfig(weight_bits=bits)
        event = EventSimulator(net.graph, np.float32, quant, threads=1)
        fast = FastSimulator(net.graph, np.float32, quant, threads=1)
        t_event = t_fast = 0.0
        same = True
        for x in inputs:
            t0 = time.perf_counter()
            a = event.run(x, record_spikes=True)
            t1 = time.perf_counter()
            b = fast.run(x, record_spikes=True)
            t2 = time.perf_counter()
            t_event += t1 - t0
            t_fast += t2 - t1
            same &= _identical(a, b)
        n = len(inputs)
        rows.append({"precision": "float32" if bits is None else f"int{bits}", "profiles": names,
                     "event_s": t_event / n, "fast_s": t_fast / n, "speedup": t_event / t_fast,
                     "identical": same, "engine": fast.engine, "firing_rate": a.counts.firing_rate()})
        print(f"{rows[-1]['precision']}: event {t_event / n:.2f} s/sample, fast {t_fast / n:.3f} s/sample, "
              f"{t_event / t_fast:.1f}x, identical {same}, {fast.engine}", flush=True)
    return rows


def energy_run(checkpoint: str, data: str | None, subset: str, samples: int, jobs: int) -> dict:
    """``depthsnn energy`` in this process; wall time and what its report says."""
    from depthsnn.cli.main import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        argv = ["energy", checkpoint, "--subset", subset, "--samples", str(samples), "--jobs", str(jobs), "--out", tmp,
                "--quiet"]
        if data:
            argv += ["--data", data]
        t0 = time.perf_counter()
        rc = cli(argv)
        wall = time.perf_counter() - t0
        report = json.loads((Path(tmp) / "energy.json").read_text())
    if rc != 0:
        raise SystemExit(f"depthsnn energy failed with exit code {rc}")
    sims = report["simulations"]
    return {"wall_s": wall, "samples": report["samples"], "profiles": len(report["profiles"]),
            "precisions": len(sims), "sim_s": sum(s["seconds"] for s in sims.values()),
            "fallback_samples": sum(s["fallback_samples"] for s in sims.values()),
            "engines": sorted({s["engine"] for s in sims.values()}), "jobs": jobs}


def run(checkpoint: str = CHECKPOINT, data: str | None = None, subset: str = "train", samples: int = 200,
        compare_subset: str = "test", compare_samples: int = 3, jobs: int = 2) -> dict:
    """Both measurements; writes the section and returns ``{"side_by_side": rows, "energy": run}``."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        net = load_network(checkpoint)
        ds = open_dataset(net, data, None, compare_subset)
        inputs = [pad_frames(ds[i][0], net.graph.input.shape).numpy()
                  for i in sample_indices(len(ds), compare_samples)]
        rows = side_by_side(net, inputs)
    finally:
        torch.set_num_threads(before)
    whole = energy_run(checkpoint, data, subset, samples, jobs)
    print(f"depthsnn energy: {whole['samples']} samples, {whole['profiles']} profiles, {whole['wall_s']:.1f} s wall",
          flush=True)
    ev, fa = sum(r["event_s"] for r in rows), sum(r["fast_s"] for r in rows)
    hw = net.graph.input.shape[1:]
    lines = [
        "## Energy stage speed (`benchmarks/energy_speed.py`)",
        "",
        f"{today()}; {machine()}.",
        f"Network {net.name} ({checkpoint}), graph input {hw[0]}x{hw[1]}, T={net.num_bins}. Side by side in one "
        f"run, {len(inputs)} samples of the {compare_subset} subset, one torch thread each: the event-driven "
        "`EventSimulator` and the exact fast path `FastSimulator` (`src/depthsnn/simulate/fast.py`), per weight "
        "precision the built-in profiles simulate at; identical = outputs, spikes of every layer and step and "
        "every count equal bit for bit.",
        "",
        "| precision | profiles | firing rate | event-driven s/sample | fast s/sample | speed-up | identical |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['precision']} | {', '.join(r['profiles'])} | {r['firing_rate']:.3f} | {r['event_s']:.2f} "
                     f"| {r['fast_s']:.3f} | {r['speedup']:.1f}x | {'yes' if r['identical'] else 'NO'} |")
    lines.append(f"| all {len(rows)} precisions | | | {ev:.2f} | {fa:.3f} | {ev / fa:.1f}x | "
                 f"{'yes' if all(r['identical'] for r in rows) else 'NO'} |")
    fallback = (f"{whole['fallback_samples']} sample-precisions ran event-driven" if whole["fallback_samples"]
                else "no sample fell back to the event-driven engine")
    lines += [
        "",
        f"`depthsnn energy` (default fast engine), {whole['samples']} samples of the {subset} subset, all "
        f"{whole['profiles']} built-in profiles ({whole['precisions']} precisions), `--jobs {whole['jobs']}` "
        f"(precisions at once, one thread each): **{whole['wall_s']:.0f} s wall** from loading the checkpoint to "
        "the written report "
        f"(simulations {whole['sim_s']:.0f} s summed over the precisions' processes; {fallback}). The event-driven "
        "engine at the per-sample times "
        f"above would need ~{ev * whole['samples'] / 60:.0f} min for the same samples on one core.",
    ]
    write_section("energy-speed", "\n".join(lines))
    return {"side_by_side": rows, "energy": whole}


def main(argv: list[str] | None = None) -> dict:
    """Command line entry point (``argv`` for callers; default ``sys.argv``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=CHECKPOINT, help=f"trained SNN checkpoint (default {CHECKPOINT})")
    ap.add_argument("--data", help="data folder (default: the one the checkpoint was trained on)")
    ap.add_argument("--subset", default="train", choices=["train", "val", "test"],
                    help="subset of the whole depthsnn energy run (default train: >= 200 samples)")
    ap.add_argument("--samples", type=int, default=200, help="samples of the depthsnn energy run (default 200)")
    ap.add_argument("--compare-subset", default="test", choices=["train", "val", "test"])
    ap.add_argument("--compare-samples", type=int, default=3, help="samples timed with both engines (default 3)")
    ap.add_argument("--jobs", type=int, default=2, help="--jobs of the depthsnn energy run (default 2)")
    args = ap.parse_args(argv)
    if args.samples < 1 or args.compare_samples < 1 or args.jobs < 1:
        ap.error("--samples, --compare-samples and --jobs must be >= 1")
    return run(args.checkpoint, args.data, args.subset, args.samples, args.compare_subset, args.compare_samples,
               args.jobs)


if __name__ == "__main__":
    main()
