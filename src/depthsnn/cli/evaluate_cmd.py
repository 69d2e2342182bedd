"""``depthsnn evaluate``: metrics, spike statistics, results table, figures and videos of checkpoints."""

from __future__ import annotations

import argparse
from pathlib import Path

_EPILOG = """\
Writes into --out: results.md and results.json (one row per checkpoint plus a constant mean
depth baseline), figures/<model>/*.png (events | ground truth | prediction | error) and, with
--video, videos/<model>.gif (.mp4 too when ffmpeg is installed). The data options (root, split,
encoding, depth normalisation) come from each checkpoint unless overridden. Example:

  depthsnn evaluate runs/snn-tiny/best.pt runs/ann-tiny/best.pt --out eval --data data/synthetic
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``evaluate`` to the top-level parser."""
    p = subparsers.add_parser(
        "evaluate",
        help="evaluate checkpoints: results table, figures, depth video",
        description=(
            "Evaluate trained checkpoints on a subset of their split: MDE, abs rel, sq rel, RMSE, "
            "RMSE log, SI-log, delta<1.25^k, firing rate and activation sparsity per layer. "
            "Several checkpoints go into one combined table."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoints", nargs="+", type=Path, metavar="CKPT", help="checkpoint files (.pt)")
    p.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="output folder (created if missing)"
    )
    p.add_argument(
        "--data", type=Path, metavar="DIR", help="data root (default: the one stored in the checkpoint)"
    )
    p.add_argument(
        "--split", metavar="NAME", help="split preset: split1..3 or synthetic (default: the checkpoint's)"
    )
    p.add_argument(
        "--subset", default="test", choices=("train", "val", "test"), help="subset to evaluate (default test)"
    )
    p.add_argument(
        "--cameras",
        choices=("binocular", "monocular"),
        help="read the data as binocular or monocular (default: the checkpoint's; must match the model)",
    )
    p.add_argument("--cutoff", type=float, metavar="M", help="ignore ground truth farther than M metres")
    p.add_argument("--batch-size", type=int, default=1, metavar="N", help="samples per forward (default 1)")
    p.add_argument("--device", default="cpu", metavar="DEV", help="cpu, cuda, cuda:N or auto (default cpu)")
    p.add_argument("--max-samples", type=int, metavar="N", help="evaluate only the first N samples")
    p.add_argument(
        "--figures", type=int, default=4, metavar="N", help="sample figures per model (default 4, 0 = none)"
    )
    p.add_argument(
        "--video", action="store_true", help="also render a depth video (GIF; MP4 if ffmpeg exists)"
    )
    p.add_argument(
        "--video-frames", type=int, default=100, metavar="N", help="at most N video frames (default 100)"
    )
    p.add_argument("--no-baseline", action="store_true", help="skip the constant mean depth baseline row")
    p.add_argument("--quiet", action="store_true", help="no progress bar or table on the terminal")
    p.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate, write the results and print the main table."""
    # Imported here so ``depthsnn --help`` stays fast (torch, matplotlib).
    from ..evaluate.api import evaluate_checkpoints
    from ..evaluate.report import RESULTS_JSON, RESULTS_MD, ResultRow, main_table

    rows = evaluate_checkpoints(
        args.checkpoints,
        data_root=args.data,
        split=args.split,
        subset=args.subset,
        out_dir=args.out,
        batch_size=args.batch_size,
        device=args.device,
        cutoff=args.cutoff,
        figures=args.figures,
        video=args.video,
        video_frames=args.video_frames,
        max_samples=args.max_samples,
        cameras=args.cameras,
        baseline=not args.no_baseline,
        progress=not args.quiet,
    )
    if not args.quiet:
        table = main_table([ResultRow(**r) for r in rows])
        print(table)
        print(f"wrote {args.out / RESULTS_MD} and {args.out / RESULTS_JSON}")
    return 0
