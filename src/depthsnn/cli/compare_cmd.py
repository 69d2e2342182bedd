"""``depthsnn compare``: an ANN baseline in ONNX Runtime against SNNs/HNNs in the simulator."""

from __future__ import annotations

import argparse
from pathlib import Path

_EPILOG = """\
Every model runs on the same samples (evenly spaced over the subset). The ANN (a checkpoint,
exported to ONNX into --out first, or an .onnx file from depthsnn export) runs in onnxruntime
(CUDA provider when present, else CPU) and is costed on --ann-profiles from its dense MACs. Each
--snn runs in the simulator (float32; the exact fast path, bit-identical to the event-driven
simulator; latency = its wall time on this CPU, engine named in the JSON) and on each
--snn-profile at that chip's weight precision. Static energy uses the input window as latency.
Same hardware first: every profile that can run both networks (a MAC energy for the ANN, the
spiking model's node types) costs both, and "ANN / model (same hardware)" is their ratio there.
The cross-platform column divides the ANN's energy on jetson_orin_nano (or the first ANN
profile) by the row's. The Titan Black profile (gpu) is legacy: pass it explicitly.
Writes comparison.md, comparison.json and accuracy_vs_energy.png.
"""


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help="ANN in ONNX Runtime vs SNN/HNN in the simulator: accuracy, latency, ops, energy",
        description="Run an ANN baseline and spiking networks on the same samples and report them side by side.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--ann", type=Path, required=True, metavar="ANN.pt|ANN.onnx", help="the ANN baseline")
    p.add_argument("--snn", type=Path, action="append", required=True, metavar="MODEL.pt",
                   help="a spiking network (SNN or HNN) checkpoint; repeatable")
    p.add_argument("--data", type=Path, help="data folder (default: the one the models were trained on)")
    p.add_argument("--split", help="split preset (default: the training split)")
    p.add_argument("--subset", default="test", choices=["train", "val", "test"], help="subset (default test)")
    p.add_argument("--samples", type=int, default=8, help="samples to run, evenly spaced (default 8)")
    p.add_argument("--repeats", type=int, default=5, help="timed ANN runs for the latency median (default 5)")
    p.add_argument("--ann-profiles", metavar="A,B,...",
                   help="profiles the ANN is costed on (default jetson_orin_nano,gpu_h100,coral_edgetpu,cpu,"
                        "asic45nm_fp32,asic45nm_int8,lemaire45nm); spiking models are costed on those that can "
                        "run them too")
    p.add_argument("--snn-profiles", metavar="A,B,...",
                   help="profiles the spiking models are costed on (default: every neuromorphic built-in); the "
                        "ANN is costed on those with a MAC energy too")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress or table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..compare import compare, terminal_table, write_outputs

    say = (lambda _msg: None) if args.quiet else print
    result = compare(args.ann, args.snn, args.out, data_root=args.data, split=args.split, subset=args.subset,
                     samples=args.samples, repeats=args.repeats, ann_profiles=_names(args.ann_profiles),
                     snn_profiles=_names(args.snn_profiles), progress=not args.quiet, say=say)
    paths = write_outputs(result, args.out)
    if not args.quiet:
        print(terminal_table(result))
        print(f"\nwrote {paths['markdown']}, {paths['json']} and {paths['plot']}")
    return 0
