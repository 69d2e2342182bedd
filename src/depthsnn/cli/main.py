"""Entry point of the ``depthsnn`` command.

Each sub-command lives in its own module with ``register(subparsers)``, which adds a parser
whose ``func`` default runs it. Errors the user can act on (``DepthSNNError``) print one
line and exit with status 2; anything else is a bug and keeps its traceback. Data warnings
print as one line too.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from .. import __version__
from ..errors import DataWarning, DepthSNNError

# Sub-command modules, in the order ``--help`` lists them.
COMMANDS = ["data", "train", "evaluate", "predict", "export", "simulate", "energy", "compare", "checkpoint", "demo"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="depthsnn",
        description=(
            "Spiking neural networks for stereo event-camera depth: generate or read event data, "
            "train SNN/HNN/ANN U-Nets, export to NIR and ONNX, simulate event-driven and report "
            "energy per neuromorphic chip."
        ),
        epilog=("Checkpoints, NIR and ONNX files are opened safely: no code in them runs, and declared sizes "
                "over the memory limit (DEPTHSNN_MAX_BYTES, default 4GiB) are refused before allocation."),
    )
    parser.add_argument("--version", action="version", version=f"depthsnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f".{name}_cmd", __package__).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        # Data warnings (dropped events, padded recordings...) are for the user: one line each,
        # ``depthsnn <cmd>: warning: <file>: <problem>``, not Python's two-line source listing.
        plain = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, DataWarning):
                print(f"depthsnn {args.command}: warning: {message}", file=sys.stderr)
            else:
                plain(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        warnings.filterwarnings("default", category=DataWarning)
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args) or 0)
    except DepthSNNError as exc:
        print(f"depthsnn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"depthsnn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
