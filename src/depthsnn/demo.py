"""The end-to-end demo: data -> train -> evaluate (-> export -> simulate -> energy as they land).

Every stage reuses what an earlier run left in the work folder (the data set, finished training
runs) unless ``fresh`` is set, so ``make demo`` can be re-run cheaply and resumes an interrupted
training run from its last checkpoint.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .config import apply_overrides
from .data.dataset import DataConfig
from .errors import DataError
from .train.checkpoint import load_checkpoint
from .train.config import TrainConfig
from .train.loop import LAST, METRICS_LOG, train


@dataclass(frozen=True)
class DemoConfig:
    """Options of ``depthsnn demo``.

    ``data``: an existing data folder (MVSEC or synthetic layout); None generates the default
    synthetic set under ``workdir/data/synthetic`` (``synth_options`` are ``key=value``
    overrides of :class:`~depthsnn.data.synthetic.SynthConfig`). ``split`` None picks
    ``synthetic`` for generated data and ``split1`` otherwise.
    """

    workdir: str = "demo"
    data: str | None = None
    split: str | None = None
    models: list[str] = field(default_factory=lambda: ["snn-tiny", "ann-tiny"])
    epochs: int = 8
    batch_size: int = 2
    synth_options: list[str] = field(default_factory=list)
    train_options: list[str] = field(default_factory=list)
    figures: int = 4
    fresh: bool = False
    progress: bool = True


@dataclass
class DemoResult:
    data: Path
    runs: dict[str, Path]
    results: Path
    rows: list[dict]


def prepare_data(cfg: DemoConfig, say=print) -> tuple[Path, str]:
    """The data folder and split to use, generating the synthetic set when none is given."""
    if cfg.data is not None:
        root = Path(cfg.data)
        if not root.is_dir():
            raise DataError("data folder not found", root)
        return root, cfg.split or "split1"
    from .config import load_config
    from .data.synthetic import MANIFEST, SynthConfig, generate_dataset

    root = Path(cfg.workdir) / "data" / "synthetic"
    synth = load_config(SynthConfig, None, cfg.synth_options).validate()
    manifest = root / MANIFEST
    if manifest.exists() and not cfg.fresh:
        saved = json.loads(manifest.read_text()).get("config", {})
        from .config import to_dict

        if saved == to_dict(synth):
            say(f"[data] reusing {root}")
            return root, cfg.split or "synthetic"
        say(f"[data] {root} was generated with other options: regenerating")
    say(f"[data] generating the synthetic stereo set in {root}")
    generate_dataset(root, synth, progress=cfg.progress, force=True)
    return root, cfg.split or "synthetic"


def train_model(cfg: DemoConfig, model: str, root: Path, split: str, say=print) -> Path:
    """Train ``model`` (or reuse / resume its run) and return its run folder."""
    out = Path(cfg.workdir) / "runs" / model
    tcfg = TrainConfig(
        model=model, data=DataConfig(root=str(root), split=split, cache_dir=str(Path(cfg.workdir) / "cache")),
        out=str(out), epochs=cfg.epochs, batch_size=cfg.batch_size,
    )
    tcfg = apply_overrides(tcfg, cfg.train_options)
    if cfg.fresh and out.exists():
        shutil.rmtree(out)
    if (out / LAST).exists():
        done = int(load_checkpoint(out / LAST)["epoch"])
        log = out / METRICS_LOG
        if done >= tcfg.epochs and log.exists():
            say(f"[train] reusing {out} ({done} epochs)")
            return out
        say(f"[train] resuming {model} from epoch {done}")
        train(tcfg, resume=True, progress=cfg.progress)
        return out
    say(f"[train] {model}: {tcfg.epochs} epochs on {root} ({split})")
    train(tcfg, progress=cfg.progress)
    return out


def run_demo(cfg: DemoConfig, say=print) -> DemoResult:
    from .evaluate.api import evaluate_checkpoints

    root, split = prepare_data(cfg, say)
    runs = {m: train_model(cfg, m, root, split, say) for m in cfg.models}
    results = Path(cfg.workdir) / "results"
    say(f"[evaluate] {', '.join(cfg.models)} on the test subset")
    rows = evaluate_checkpoints([runs[m] / "best.pt" for m in cfg.models], data_root=root, split=split,
                                out_dir=results, figures=cfg.figures, progress=cfg.progress)
    return DemoResult(root, runs, results, rows)
