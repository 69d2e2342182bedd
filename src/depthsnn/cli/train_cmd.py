"""``depthsnn train``: train an SNN, HNN or ANN depth network."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

_EPILOG = """\
Options come from the TrainConfig defaults, then --config TOML, then --set KEY=VALUE overrides
(dotted keys reach the data options: --set data.num_bins=4 --set data.cameras=monocular),
then the explicit flags. Model presets: snn-tiny, snn-lif-tiny, hnn-tiny, ann-tiny and the
-small / -paper sizes (paper = StereoSpike, ~18 M parameters); refine one with
--set model_options=neuron=lif,tau=3.0.

The run folder (--out) receives last.pt (every epoch), best.pt (best validation MDE),
metrics.jsonl (one line per epoch) and config.json. --resume continues from last.pt with the
saved configuration (only epochs, device, num_workers and backend may change).

Speed: the samples are binned once and held in memory (GPU memory on CUDA) when they fit in
preload_mb (default 8192); on CUDA training runs under bf16 autocast with fp32 neuron state
(--set amp=false for fp32); the neuron kernels spikingjelly ran are printed and kept in
metrics.jsonl ("runtime"), and a fallback to its slow reference loop is a warning.

Several processes: --nproc N re-launches itself under torchrun (DistributedDataParallel, gloo on
CPU, nccl on GPU); or call torchrun yourself:
  torchrun --nproc_per_node 2 -m depthsnn.cli.main train ...
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train an SNN / HNN / ANN depth network",
        description=(
            "Train a StereoSpike-style U-Net on event data (synthetic or MVSEC) with the "
            "scale-invariant + gradient-matching loss; checkpoints every epoch, best model on "
            "validation MDE."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", type=Path, metavar="TOML", help="TOML file with training options")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one option (repeatable), e.g. --set lr=1e-3")
    p.add_argument("--model", help="model preset (default snn-tiny)")
    p.add_argument("--data", metavar="DIR", help="data folder (MVSEC or synthetic layout; default data/synthetic)")
    p.add_argument("--split", help="split preset: synthetic, split1, split2, split3 (default synthetic)")
    p.add_argument("--modality", choices=["binocular", "monocular"], help="input cameras (default binocular)")
    p.add_argument("--epochs", type=int, help="number of epochs (default 8)")
    p.add_argument("--batch-size", type=int, help="batch size (default: the recipe's, 1 for the binocular SNN U-Net, else 2)")
    p.add_argument("--lr", type=float, help="learning rate (default: the model kind's recipe, see depthsnn.train.recipes)")
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/<model>)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:1 ... (default auto)")
    p.add_argument("--backend", choices=["auto", "torch", "triton", "cuda"],
                   help="spikingjelly neuron kernels (default auto: fastest available on the device)")
    p.add_argument("--compile", action="store_const", const=True, default=None,
                   help="torch.compile the network core (exact; pays off on a GPU, see BENCHMARKS.md)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--augment", metavar="LIST",
                   help="label-exact training augmentations, comma-separated: auto (default: polarity; "
                        "plus hflip when monocular), none, vflip, polarity, drop (random event drop), "
                        "hflip (monocular only)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="train with N processes (DistributedDataParallel via torchrun)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


_FLAGS = {
    "model": "model", "data": "data.root", "split": "data.split", "modality": "data.cameras",
    "epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "out": "out", "device": "device",
    "backend": "backend", "seed": "seed", "augment": "augment", "compile": "compile",
}


def _overrides(args: argparse.Namespace) -> list[str]:
    out = list(args.overrides)
    for attr, key in _FLAGS.items():
        value = getattr(args, attr)
        if value is not None:
            out.append(f"{key}={value}")
    return out


def build_config(args: argparse.Namespace):
    """TrainConfig from defaults / TOML / --set / flags; on --resume, from the run's checkpoint."""
    from ..config import apply_overrides, load_config
    from ..train.checkpoint import load_checkpoint
    from ..train.config import TrainConfig, config_from_dict
    from ..train.loop import LAST

    overrides = _overrides(args)
    cfg = load_config(TrainConfig, args.config, overrides)
    if args.model is not None and args.out is None and not any(o.startswith("out=") for o in args.overrides):
        cfg = apply_overrides(cfg, [f"out=runs/{args.model}"])
    if args.resume:
        saved = config_from_dict(load_checkpoint(Path(cfg.out) / LAST)["config"])
        cfg = apply_overrides(saved, [o for o in overrides if not o.startswith("out=")] + [f"out={cfg.out}"])
    return cfg


def run(args: argparse.Namespace) -> int:
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return _relaunch(args.nproc)
    from ..errors import ConfigError
    from ..train.loop import train

    if args.nproc < 1:
        raise ConfigError(f"--nproc must be >= 1, got {args.nproc}")
    cfg = build_config(args)
    result = train(cfg, resume=args.resume, progress=not args.quiet)
    if int(os.environ.get("RANK", 0)) == 0:
        print(f"best validation MDE {result.best_mde_cm:.2f} cm at epoch {result.best_epoch}; "
              f"checkpoints in {result.out_dir} ({result.best_checkpoint.name}, {result.last_checkpoint.name})")
    return 0


def _relaunch(nproc: int) -> int:
    """Run the same command under torchrun with ``nproc`` processes on this machine."""
    argv = [a for a in sys.argv[1:] if not a.startswith("--nproc")]
    if "--nproc" in sys.argv[1:]:  # drop the value that followed a separate --nproc
        i = sys.argv[1:].index("--nproc")
        argv = sys.argv[1:][:i] + sys.argv[1:][i + 2:]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "depthsnn.cli.main", *argv]
    return subprocess.call(cmd)
