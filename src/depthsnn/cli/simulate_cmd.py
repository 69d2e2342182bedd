"""``depthsnn simulate``: run a spiking network event-driven on data; counts and parity."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_model_data_args(p: argparse.ArgumentParser, samples: int = 8) -> None:
    """Arguments shared by ``simulate`` and ``energy``: the model and the data it runs on
    (``samples``: the command's default for ``--samples``)."""
    p.add_argument("model", type=Path, help="checkpoint (.pt from depthsnn train) or NIR file (.nir from depthsnn export)")
    p.add_argument("--data", type=Path, help="data folder (default: the one the model was trained on)")
    p.add_argument("--split", help="split preset (default: the training split)")
    p.add_argument("--subset", default="test", choices=["train", "val", "test"], help="subset (default test)")
    p.add_argument("--samples", type=int, default=samples,
                   help=f"samples to simulate, evenly spaced; at most the subset's size (default {samples})")
    p.add_argument("--normalized-depth", action="store_true",
                   help="for a NIR file: the network predicts log-normalised depth (checkpoints know this)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars or tables")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="run a spiking network event-driven and count its operations",
        description=(
            "Execute the network's graph event-driven (only spikes that occurred are propagated), "
            "score its depth maps, count synaptic operations (ACs for spikes, MACs for graded "
            "inputs), neuron updates and spikes per layer (NeuroBench definitions), and check it "
            "spike for spike against the dense torch reference."
        ),
    )
    add_model_data_args(p)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="arithmetic (default float32)")
    p.add_argument("--weight-bits", type=int, help="simulate integer weights of this many bits (default: float)")
    p.add_argument("--no-check", action="store_true", help="skip the dense reference comparison")
    p.set_defaults(func=run)


def _prepare(args: argparse.Namespace):
    from ..errors import ConfigError
    from ..simulate.pipeline import load_network, open_dataset

    if args.samples < 1:
        raise ConfigError(f"--samples must be >= 1, got {args.samples}")
    if args.out.exists() and not args.out.is_dir():
        raise ConfigError("output path exists and is not a folder", args.out)
    net = load_network(args.model, normalized_depth=args.normalized_depth)
    if net.data is None and args.data is None:
        raise ConfigError("a NIR file does not say which data it was trained on: pass --data DIR", args.model)
    ds = open_dataset(net, args.data, args.split, args.subset)
    return net, ds


def layer_table(counts) -> str:
    """Per-layer counts per inference as a fixed-width table."""
    n = max(counts.samples, 1)
    rows = [("layer", "op", "ACs", "MACs", "neuron upd.", "active upd.", "spikes", "rate %")]
    for lc in counts.layers:
        if lc.op in ("input", "output", "upsample"):
            continue
        rate = f"{100 * lc.spikes / lc.neuron_updates:.2f}" if lc.op in ("if", "lif") and lc.neuron_updates else ""
        rows.append((lc.name, lc.op, f"{lc.acs / n:.3g}", f"{lc.macs / n:.3g}", f"{lc.neuron_updates / n:.3g}",
                     f"{lc.active_neuron_updates / n:.3g}", f"{lc.spikes / n:.3g}", rate))
    rows.append(("total", "", f"{counts.per_inference('acs'):.3g}", f"{counts.per_inference('macs'):.3g}",
                 f"{counts.per_inference('neuron_updates'):.3g}",
                 f"{counts.per_inference('active_neuron_updates'):.3g}",
                 f"{counts.per_inference('spikes'):.3g}", f"{100 * counts.firing_rate():.2f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..atomic import atomic_write_text
    from ..simulate.pipeline import simulate_dataset
    from ..simulate.quantize import QuantConfig

    net, ds = _prepare(args)
    quant = None if args.weight_bits is None else QuantConfig(weight_bits=args.weight_bits)
    res = simulate_dataset(net, ds, samples=args.samples, dtype=np.float64 if args.dtype == "float64" else np.float32,
                           quantization=quant, check_dense=not args.no_check, progress=not args.quiet)
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"model": str(args.model), "name": net.name, "kind": net.kind, **res.to_dict()}
    atomic_write_text(args.out / "simulation.json", json.dumps(report, indent=2, default=float))
    if not args.quiet:
        print(layer_table(res.counts))
        m = res.metrics
        print(f"\n{res.samples} samples, {res.dtype}"
              + (f", int{res.weight_bits} weights" if res.weight_bits else "")
              + f": MDE {m['mde_cm']:.2f} cm, firing rate {100 * res.counts.firing_rate():.2f} %, "
              f"{res.seconds / res.samples:.2f} s per sample")
        if res.spike_mismatches is not None:
            print(f"parity with the dense torch reference: {res.spike_mismatches} of {res.spikes_compared} "
                  f"neuron outputs differ, output max relative difference {res.max_rel_diff:.2e}")
        print(f"wrote {args.out / 'simulation.json'}")
    return 0
