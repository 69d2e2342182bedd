"""``depthsnn checkpoint``: inspect or convert checkpoint files."""

from __future__ import annotations

import argparse
from pathlib import Path

_EPILOG = """\
Checkpoints open without running code (torch.load weights_only=True) and within the memory
limit (DEPTHSNN_MAX_BYTES, default 4GiB). Checkpoints written before format 2 hold numpy RNG
state that only a full unpickling rebuilds; 'convert' is the one place that does it, and only
with --trust: a pickle from an untrusted source can run arbitrary code when unpickled.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "checkpoint",
        help="inspect or convert checkpoints (format 1 -> 2)",
        description="Inspect a checkpoint, or convert one written before format 2 into format 2.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = sub.add_parser("convert", help="rewrite a format-1 checkpoint as format 2 (needs --trust)",
                       description="Rewrite a format-1 checkpoint OLD as a format-2 checkpoint NEW.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("old", type=Path, help="format-1 checkpoint")
    c.add_argument("new", type=Path, help="where to write the format-2 checkpoint (written atomically)")
    c.add_argument("--trust", action="store_true",
                   help="confirm OLD comes from a source you trust: reading it unpickles it, which can run code")
    c.set_defaults(func=_convert)
    i = sub.add_parser("info", help="open a checkpoint safely and print its format, epoch, model and sizes",
                       description="Open a checkpoint safely and print what it holds.")
    i.add_argument("path", type=Path, help="checkpoint")
    i.set_defaults(func=_info)


def _convert(args: argparse.Namespace) -> int:
    from ..train.checkpoint import convert_checkpoint, load_checkpoint

    out = convert_checkpoint(args.old, args.new, trust=args.trust)
    print(f"{out}: written, format {_summary(load_checkpoint(out))}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from ..train.checkpoint import load_checkpoint

    print(f"{args.path}: format {_summary(load_checkpoint(args.path))}")
    return 0


def _summary(ckpt: dict) -> str:
    from ..limits import format_bytes

    n = sum(t.numel() for t in ckpt["model"].values())
    nbytes = sum(t.numel() * t.element_size() for t in ckpt["model"].values())
    model = ckpt["config"].get("model", "?")
    return (f"{ckpt['version']}, model {model}, epoch {ckpt.get('epoch', '?')}, "
            f"{n} parameters ({format_bytes(nbytes)})")
