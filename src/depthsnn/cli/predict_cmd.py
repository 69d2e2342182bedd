"""``depthsnn predict``: depth maps from a stereo event recording (no ground truth needed)."""

from __future__ import annotations

import argparse
from pathlib import Path

_EPILOG = """\
Inputs (format recognised from the file's first bytes, then its name):
  MVSEC <seq>_data.hdf5 (no gt file needed; the calibration folder beside it is used),
  .h5/.hdf5 or .npz of x, y, t, p (one camera, or left/right groups / left_, right_ keys),
  AEDAT4 (.aedat4; two event tracks = both cameras), Prophesee RAW EVT2/EVT3 (.raw),
  DAT (.dat), CSV (.csv with a header naming t, x, y, p). One file holding both cameras, or
  the left file then the right one. A monocular model reads the left camera only.

Writes into --out: depth.h5 (datasets depth (N, H, W) float32 metres and depth_ts (N,)
seconds: the end of each window [t - window, t)) and depth.gif (events | depth of the first
--video-frames windows; depth.mp4 too when ffmpeg is installed). Example:

  depthsnn predict runs/snn-tiny/best.pt --events left.raw right.raw --out pred/
  depthsnn predict exports/snn-tiny/snn-tiny.nir --events rec.aedat4 --out pred/ --engine simulator
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``predict`` to the top-level parser."""
    p = subparsers.add_parser(
        "predict",
        help="depth maps from any stereo event recording (AEDAT4, RAW, DAT, HDF5, npz, CSV)",
        description=(
            "Run a trained checkpoint or an exported NIR file over a stereo event recording, streaming "
            "(memory does not grow with the recording's length), and write depth maps at a fixed rate "
            "with their timestamps plus a depth video. No ground truth is needed."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", type=Path, metavar="MODEL", help="checkpoint (.pt) or NIR file (.nir)")
    p.add_argument("--events", nargs="+", required=True, type=Path, metavar="FILE",
                   help="one file with both cameras, or the left then the right camera's file")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--rate", type=float, default=20.0, metavar="HZ", help="depth maps per second (default 20)")
    p.add_argument("--window-ms", type=float, metavar="MS",
                   help="events per depth map, in ms before its timestamp (default: the model's, 50 in training)")
    p.add_argument("--calib", type=Path, metavar="DIR",
                   help="MVSEC-style calibration folder (camchain yaml + x/y maps) to rectify with; default: "
                        "the folder beside an MVSEC file, else none (pre-rectified data)")
    p.add_argument("--engine", default="auto", choices=("auto", "torch", "executor", "simulator"),
                   help="torch (checkpoint), executor (dense NIR graph) or simulator (event-driven); "
                        "auto = torch for .pt, executor for .nir")
    p.add_argument("--device", default="cpu", metavar="DEV", help="torch engine: cpu, cuda, cuda:N or auto")
    p.add_argument("--video-frames", type=int, default=100, metavar="N",
                   help="windows in the depth video (default 100, 0 = no video)")
    p.add_argument("--normalized-depth", action="store_true", default=None,
                   help="for a NIR file that does not record it: the network predicts log-normalised depth")
    p.add_argument("--strict", action="store_true",
                   help="events outside the sensor are an error (default: dropped, counted and reported once "
                        "per file with a warning)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    # Imported here so ``depthsnn --help`` stays fast (torch, faery, matplotlib).
    from ..predict import PredictOptions, predict_recording

    opts = PredictOptions(rate_hz=args.rate, window_ms=args.window_ms, engine=args.engine, device=args.device,
                          calib=None if args.calib is None else str(args.calib), video_frames=args.video_frames,
                          normalized_depth=args.normalized_depth, strict=args.strict)
    res = predict_recording(args.model, args.events, args.out, opts, progress=not args.quiet)
    if not args.quiet:
        (rw, rh), (dw, dh) = res.resolution, res.depth_size
        print(f"read {', '.join(res.sources)} ({rw}x{rh})")
        print(f"wrote {res.depth_path}: {res.windows} depth maps {dw}x{dh} in {res.seconds:.1f} s")
        for v in res.video_paths:
            print(f"wrote {v}")
    return 0
