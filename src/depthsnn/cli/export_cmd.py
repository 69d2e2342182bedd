"""``depthsnn export``: a trained checkpoint to NIR and/or ONNX, with a manifest."""

from __future__ import annotations

import argparse
from pathlib import Path

_EPILOG = """\
SNN/HNN: <name>.nir (NIR graph, loads with nir.read; upsampling is a tagged subgraph that
depthsnn's reader and simulator execute), <name>.onnx (T steps unrolled: frames [B,T,C,H,W] ->
depth [B,H,W]) and <name>.step.onnx (one step with explicit membrane state, for streaming).
ANN: <name>.onnx. akida (chain networks such as snn-portable-tiny; pip install akida):
<name>.fbz for BrainChip's AKD1000, compared with the simulator at Akida's precision, with
Akida's mapping (neural processors, sequences) in the manifest. snn-akida2-* (the Akida 2.0
U-Net; akida is its only and default format): <name>.fbz for an Akida IPv2 virtual device (the
smallest that takes every layer on hardware), equal to the model layer by layer, with
<name>.card.md (what the network is on chip) beside it. Every file is verified at export (NIR: spikes identical after the file round
trip; ONNX: onnxruntime vs torch) and described in manifest.json (hashes, shapes, dt, opset).
Reader check (NIR): each installed third-party reader (snnTorch, Norse) runs <name>.nir on random
events and is compared with depthsnn; the table (loads? equal? max difference, spike mismatches,
why not) goes to the terminal and manifest.json. <name>.snntorch.nir / <name>.norse.nir are
written only when that reader, with its defaults, reproduces depthsnn's output (chain networks
such as snn-portable-*; never for networks that upsample). --no-reader-check skips all this.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a checkpoint to NIR and/or ONNX",
        description="Export a trained checkpoint to NIR (spiking graph) and ONNX (runtime graph).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", type=Path, help="checkpoint written by depthsnn train (best.pt / last.pt)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    p.add_argument("--format", dest="formats", metavar="LIST",
                   help="comma-separated: nir, onnx, akida (default: nir,onnx for SNN/HNN, onnx for ANN, akida for snn-akida2-*)")
    p.add_argument("--dt", type=float, default=1e-4, help="time step in seconds stored in the NIR graph (default 1e-4)")
    p.add_argument("--input-hw", metavar="HxW", help="input size (default: the training data's, else 260x346)")
    p.add_argument("--num-bins", type=int, help="time steps T per sample (default: the training setting)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--no-verify", action="store_true", help="skip the onnxruntime parity check")
    p.add_argument("--no-reader-check", action="store_true",
                   help="do not run third-party NIR readers on the file (and write no reader dialect files)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run)


def _hw(text: str | None):
    from ..errors import ConfigError

    if text is None:
        return None
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--input-hw must look like 260x346, got {text!r}") from None
    if h < 1 or w < 1:
        raise ConfigError(f"--input-hw must be positive, got {text!r}")
    return h, w


def run(args: argparse.Namespace) -> int:
    from ..vendors import export_with_vendors

    if args.num_bins is not None and args.num_bins < 1:
        from ..errors import ConfigError

        raise ConfigError(f"--num-bins must be >= 1, got {args.num_bins}")
    export_with_vendors(args.checkpoint, args.out, args.formats, dt=args.dt, input_hw=_hw(args.input_hw),
                      num_bins=args.num_bins, opset=args.opset, verify=not args.no_verify,
                      reader_check=not args.no_reader_check,
                      say=(lambda *a: None) if args.quiet else print)
    return 0
