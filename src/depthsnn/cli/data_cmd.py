"""``depthsnn data``: event data sets. Sub-command ``synth`` generates a synthetic stereo set."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..config import load_config
from ..errors import ConfigError

_SYNTH_EPILOG = """\
The output folder gets synthetic_stereo<i>_data.hdf5 / _gt.hdf5 per sequence in the MVSEC
indoor_flying layout, a calibration folder synthetic_stereo_calib/ and dataset.json. Every
option of the generator (see depthsnn.data.synthetic.SynthConfig) can be set in a TOML file
(--config) or with --set, e.g. --set width=64 --set height=48 --set n_objects=1,3
--set noise_rate_hz=0. Explicit flags (--sequences, --seconds, --seed) win over both.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``data`` and its sub-commands to the top-level parser."""
    data = subparsers.add_parser(
        "data",
        help="generate or inspect event data sets",
        description="Event data sets in the MVSEC layout.",
    )
    sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    synth = sub.add_parser(
        "synth",
        help="generate a synthetic stereo event data set (MVSEC layout)",
        description=(
            "Render textured planes moving in front of a background for a rectified stereo pair, "
            "simulate both event cameras (contrast-threshold model) and write events, grey images "
            "and ground-truth depth in the MVSEC layout, readable by the MVSEC reader. "
            "Defaults: 4 sequences x 5 s at 346x260 (400 depth labels)."
        ),
        epilog=_SYNTH_EPILOG,
    )
    synth.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (created if missing)")
    synth.add_argument("--sequences", type=int, metavar="N", help="number of sequences (default 4)")
    synth.add_argument("--seconds", type=float, metavar="S", help="duration of each sequence in seconds (default 5)")
    synth.add_argument("--seed", type=int, metavar="N", help="random seed; same seed, same files (default 0)")
    synth.add_argument("--config", type=Path, metavar="TOML", help="TOML file with generator options")
    synth.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override one generator option (repeatable)",
    )
    synth.add_argument("--force", action="store_true", help="overwrite a non-empty output folder")
    synth.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    synth.set_defaults(func=run_synth)


def run_synth(args: argparse.Namespace) -> int:
    """Build the config from file, --set and flags, then generate the data set."""
    # Imported here so ``depthsnn --help`` stays fast.
    from ..data.synthetic import MANIFEST, SynthConfig, generate_dataset

    overrides = list(args.overrides)
    for name in ("sequences", "seconds", "seed"):
        value = getattr(args, name)
        if value is not None:
            if name != "seed" and value <= 0:
                raise ConfigError(f"--{name} must be positive, got {value}")
            overrides.append(f"{name}={value}")
    cfg = load_config(SynthConfig, args.config, overrides).validate()
    start = time.perf_counter()
    out = generate_dataset(args.out, cfg, progress=not args.quiet, force=args.force)
    if not args.quiet:
        manifest = json.loads((out / MANIFEST).read_text())
        events = sum(sum(c["events"].values()) for c in manifest["counts"].values())
        print(
            f"wrote {len(manifest['sequences'])} sequences ({events} events, "
            f"{manifest['total_depth_labels']} depth labels) to {out} in {time.perf_counter() - start:.1f} s"
        )
    return 0
