"""``depthsnn data``: event data sets. Sub-command ``synth`` generates a synthetic stereo set."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..config import load_config
from ..errors import ConfigError

_SYNTH_EPILOG = """\
The output folder gets synthetic_stereo<i>_data.hdf5 / _gt.hdf5 per sequence in the MVSEC
indoor_flying layout, a calibration folder synthetic_stereo_calib/ and dataset.json. Every
option of the generator (see depthsnn.data.synthetic.SynthConfig) can be set in a TOML file
(--config) or with --set, e.g. --set world=planes --set width=64 --set height=48
--set n_objects=1,3 --set noise_rate_hz=0 --set camera_speed_m_s=0.5. Explicit flags (--sequences, --seconds, --seed) win over both.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``data`` and its sub-commands to the top-level parser."""
    data = subparsers.add_parser(
        "data",
        help="generate or summarise event data sets",
        description="Event data sets in the MVSEC layout.",
    )
    sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    synth = sub.add_parser(
        "synth",
        help="generate a synthetic stereo event data set (MVSEC layout)",
        description=(
            "Render a world for a rectified stereo pair, simulate both event cameras "
            "(contrast-threshold model) and write events, grey images and ground-truth depth in "
            "the MVSEC layout, readable by the MVSEC reader. The default world (world=room) is a "
            "drone flying through a furnished room, as in MVSEC indoor_flying: textured floor, "
            "walls and ceiling in perspective, 3-6 boxes of physical size (0.25-1.2 m) resting on "
            "the floor or hovering, a rig flying at about 0.8 m/s in a wandering direction (motion "
            "parallax); nearly every pixel has valid depth. world=planes is the older world of "
            "textured fronto-parallel planes in front of a far background. "
            "Defaults: 40 scenes x 0.5 s at 346x260 (400 depth labels), one process per core."
        ),
        epilog=_SYNTH_EPILOG,
    )
    synth.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (created if missing)")
    synth.add_argument("--sequences", type=int, metavar="N", help="number of sequences (default 40)")
    synth.add_argument("--seconds", type=float, metavar="S", help="duration of each sequence in seconds (default 0.5)")
    synth.add_argument("--seed", type=int, metavar="N", help="random seed; same seed, same files (default 0)")
    synth.add_argument("--config", type=Path, metavar="TOML", help="TOML file with generator options")
    synth.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override one generator option (repeatable)",
    )
    synth.add_argument("--force", action="store_true", help="overwrite a non-empty output folder")
    synth.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    synth.set_defaults(func=run_synth)

    info = sub.add_parser(
        "info",
        help="summarise a data set: sequences, events, depth labels, split sizes",
        description="Read every <seq>_data.hdf5 / <seq>_gt.hdf5 pair in DIR (MVSEC layout, real or "
                    "synthetic) and print events per camera, duration, depth labels and resolution, "
                    "plus the sample counts of a split preset.",
    )
    info.add_argument("root", type=Path, metavar="DIR", help="data folder")
    info.add_argument("--split", help="split preset to count (default: synthetic if the set is synthetic, else split1)")
    info.set_defaults(func=run_info)


def run_synth(args: argparse.Namespace) -> int:
    """Build the config from file, --set and flags, then generate the data set."""
    # Imported here so ``depthsnn --help`` stays fast.
    from ..data.synthetic import MANIFEST, SynthConfig, generate_dataset, read_manifest

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
        manifest = read_manifest(out / MANIFEST)
        events = sum(sum(c["events"].values()) for c in manifest["counts"].values())
        print(
            f"wrote {len(manifest['sequences'])} sequences ({events} events, "
            f"{manifest['total_depth_labels']} depth labels) to {out} in {time.perf_counter() - start:.1f} s"
        )
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Print one line per sequence and the size of each subset of the split."""
    from ..data import layout
    from ..data.mvsec import MVSECSequence
    from ..data.splits import SUBSETS, default_split, resolve_split
    from ..errors import DataError

    root = args.root
    if not root.is_dir():
        raise DataError("data folder not found", root)
    seqs = sorted(p.name[: -len("_data.hdf5")] for p in root.glob("*_data.hdf5"))
    if not seqs:
        raise DataError("no <sequence>_data.hdf5 files here", root)
    print(f"{'sequence':<20} {'events L':>10} {'events R':>10} {'seconds':>8} {'labels':>7}  size")
    for name in seqs:
        seq = MVSECSequence(root, name)
        cams = [c for c in layout.CAMERAS if c in seq.cameras]
        n = {c: seq.num_events(c) for c in cams}
        t0, t1 = seq.event_time_range(cams[0])
        w, h = seq.resolution
        print(f"{name:<20} {n.get('left', 0):>10} {n.get('right', 0):>10} {t1 - t0:>8.2f} {seq.num_labels:>7}  {w}x{h}")
        seq.close()
    split = args.split or default_split(root)
    resolved = resolve_split(split, root)
    sizes = ", ".join(f"{sub} {len(resolved.subset(sub))}" for sub in SUBSETS)
    print(f"split {split}: {sizes} labels")
    return 0
