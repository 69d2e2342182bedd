"""``evaluate_checkpoints``: evaluate trained checkpoints and write tables, figures and videos.

For each checkpoint: rebuild the model, open the subset of the split it was trained with (or the
data root / split given), compute depth metrics and spike statistics, draw sample figures and
optionally a depth video. A constant mean depth baseline (mean valid depth of the training
subset, predicted everywhere) is evaluated on the same samples with the same metric code, as
the reference every model must beat. Everything ends up in one ``results.md`` / ``results.json``.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from ..data.dataset import DataConfig, EventDepthDataset, Sample
from ..data.depth import normalize_depth
from ..data.splits import SUBSETS
from ..device import resolve_device
from ..errors import ConfigError, DataError, DataWarning
from ..metrics import DepthMetrics
from ..models import DepthNet
from ..models.presets import MODALITY_CHANNELS
from ..train.checkpoint import model_from_checkpoint
from ..train.config import TrainConfig
from .figures import SampleView, evenly_spaced, save_sample_figure
from .report import BASELINE, DASH, ResultRow, write_results
from .runner import depth_in_metres, evaluate_model
from .video import ffmpeg_available, write_depth_video

# Training samples averaged for the constant baseline: enough for a stable mean, cheap to read.
BASELINE_TRAIN_SAMPLES = 200
BASELINE_NAME = "constant mean depth"


@dataclass
class LoadedCheckpoint:
    """A checkpoint rebuilt for evaluation: its model, training config and display name."""

    path: Path
    model: DepthNet
    cfg: TrainConfig
    ckpt: dict[str, Any]
    name: str
    slug: str


@dataclass
class _Baseline:
    """Constant predictor of one data configuration, accumulated alongside a model's evaluation."""

    depth_m: float
    train_samples: int
    metrics: DepthMetrics
    data: dict[str, Any]
    constant: float  # in network units (log-normalised when the targets are)


@dataclass
class _Capture:
    """Samples kept during evaluation for figures and the video (indices into the subset)."""

    figure_idx: set[int]
    video_idx: set[int]
    figures: dict[int, SampleView] = field(default_factory=dict)
    video: list[SampleView] = field(default_factory=list)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"


def _check_options(
    subset: str,
    batch_size: int,
    cutoff: float | None,
    figures: int,
    video_frames: int,
    max_samples: int | None,
) -> None:
    checks = [
        (subset in SUBSETS, f"subset must be one of {', '.join(SUBSETS)}, got {subset!r}"),
        (batch_size >= 1, f"batch size must be >= 1, got {batch_size}"),
        (cutoff is None or cutoff > 0, f"cutoff must be > 0 metres, got {cutoff}"),
        (figures >= 0, f"figures must be >= 0, got {figures}"),
        (video_frames >= 1, f"video frames must be >= 1, got {video_frames}"),
        (max_samples is None or max_samples >= 1, f"max samples must be >= 1, got {max_samples}"),
    ]
    for ok, problem in checks:
        if not ok:
            raise ConfigError(problem)


def prepare_out_dir(out_dir: str | Path) -> Path:
    """Create ``out_dir`` if needed; a path that exists as a file is a :class:`DataError`."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataError("output path exists and is not a folder", out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create output folder ({exc.strerror})", out) from None
    return out


def load_checkpoints(
    paths: Sequence[str | Path], device: torch.device | str = "cpu"
) -> list[LoadedCheckpoint]:
    """Rebuild every checkpoint's model up front, so a bad file fails before any long run.

    Display names come from the checkpoint's run ``name`` (else the preset); file-name slugs
    are made unique for figures and videos.
    """
    out: list[LoadedCheckpoint] = []
    used: set[str] = set()
    for p in paths:
        model, cfg, ckpt = model_from_checkpoint(p, device)
        name = str(ckpt.get("name") or cfg.model)
        slug, k = _slug(name), 2
        while slug in used:
            slug, k = f"{_slug(name)}-{k}", k + 1
        used.add(slug)
        out.append(LoadedCheckpoint(Path(p), model, cfg, ckpt, name, slug))
    return out


def data_config_for(
    item: LoadedCheckpoint,
    data_root: str | Path | None = None,
    split: str | None = None,
    cameras: str | None = None,
) -> DataConfig:
    """The checkpoint's data options with root / split / cameras overridden, sample cache off.

    The cache is disabled because evaluation reads each sample once, and a cache folder stored
    as a relative path in the checkpoint may not make sense from where evaluation runs.
    """
    data = item.cfg.data
    changes: dict[str, Any] = {"cache_dir": None}
    if data_root is not None:
        changes["root"] = str(data_root)
    if split is not None:
        changes["split"] = split
    if cameras is not None:
        changes["cameras"] = cameras
    data = dataclasses.replace(data, **changes)
    if not Path(data.root).is_dir():
        hint = "" if data_root is not None else " (the root stored in the checkpoint; pass --data DIR)"
        raise DataError(f"data folder not found{hint}", data.root)
    model_mod, model_ch = item.model.cfg.modality, item.model.cfg.channels
    data_ch = MODALITY_CHANNELS.get(data.cameras)
    if data_ch != model_ch:
        raise DataError(
            f"the model is {model_mod} ({model_ch} input channels) but the data is read as "
            f"{data.cameras} ({data_ch} channels); evaluate it on {model_mod} data",
            item.path,
        )
    return data


def open_subset(data: DataConfig, subset: str, item: LoadedCheckpoint | None = None) -> EventDepthDataset:
    """Open ``subset`` of ``data``, turning low-level failures into one-line errors."""
    try:
        ds = EventDepthDataset.from_config(data, subset)
    except ValueError as exc:  # unknown split name and similar option mistakes
        raise ConfigError(str(exc)) from None
    except DataError as exc:
        if item is not None and data.cameras == "binocular" and "davis/right" in exc.problem:
            raise DataError(
                f"{exc.problem}; the checkpoint {item.path.name} is binocular and needs right-camera "
                "events, this data looks monocular",
                exc.path,
            ) from None
        raise
    if len(ds) == 0:
        raise DataError(f"subset '{subset}' of split {ds.split_name} has no samples", data.root)
    return ds


def train_mean_depth(data: DataConfig, limit: int = BASELINE_TRAIN_SAMPLES) -> tuple[float, int]:
    """Mean valid ground-truth depth (metres) over the first ``limit`` training samples.

    Pooled over pixels: ``sum(depth[mask]) / count(mask)``. Returns ``(mean, samples used)``.
    """
    ds = open_subset(data, "train")
    to_m = data.to_metres()
    total, count = 0.0, 0
    n = min(limit, len(ds))
    for i in range(n):
        _, depth, mask = ds.arrays(i)
        valid = depth[mask].astype(np.float64)
        if to_m is not None:
            valid = to_m(torch.from_numpy(valid)).numpy()
        total += float(valid.sum())
        count += int(valid.size)
    ds.close()
    if count == 0:
        raise DataError("the training subset has no valid depth pixel", data.root)
    return total / count, n


def _sample_title(s: Sample) -> str:
    return f"{s.seq} label {s.label} (t={s.timestamp:.2f} s)"


def _view(frames, depth, mask, pred, b: int, to_m, title: str) -> SampleView:
    def metres(x: torch.Tensor) -> np.ndarray:
        return depth_in_metres(x[b], to_m)

    return SampleView(
        events=frames[b].detach().cpu().numpy(),
        gt=metres(depth),
        pred=metres(pred),
        mask=mask[b].detach().cpu().numpy().astype(bool),
        title=title,
    )


def evaluate_checkpoints(
    checkpoints: Sequence[str | Path],
    *,
    data_root: str | Path | None = None,
    split: str | None = None,
    subset: str = "test",
    out_dir: str | Path,
    batch_size: int = 1,
    device: str = "cpu",
    cutoff: float | None = None,
    figures: int = 4,
    video: bool = False,
    video_frames: int = 100,
    max_samples: int | None = None,
    cameras: str | None = None,
    baseline: bool = True,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Evaluate ``checkpoints`` and write ``results.md`` / ``results.json`` (+ figures) to ``out_dir``.

    ``data_root`` / ``split`` / ``cameras`` override what the checkpoints were trained with;
    ``subset`` is ``train``, ``val`` or ``test``; ``cutoff`` (metres) ignores farther ground
    truth; ``max_samples`` evaluates only the first N samples. ``figures`` PNGs per model are
    written to ``figures/<model>/``, evenly spaced over the samples; ``video`` adds
    ``videos/<model>.gif`` (and ``.mp4`` with ffmpeg) of the first ``video_frames`` samples in
    subset order (each sequence in time order, one after another; frame titles name the
    sequence). Returns the rows of ``results.json`` (models in the given order, then the
    constant mean depth baseline per distinct data configuration).
    """
    if not checkpoints:
        raise ConfigError("no checkpoint given")
    _check_options(subset, batch_size, cutoff, figures, video_frames, max_samples)
    out = prepare_out_dir(out_dir)
    dev = resolve_device(device)
    loaded = load_checkpoints(checkpoints, dev)

    rows: list[ResultRow] = []
    baselines: dict[tuple, _Baseline] = {}
    skipped: set[tuple] = set()
    for item in loaded:
        data = data_config_for(item, data_root, split, cameras)
        ds = open_subset(data, subset, item)
        n = len(ds) if max_samples is None else min(max_samples, len(ds))
        samples = ds.samples[:n]
        to_m = data.to_metres()
        data_info = {
            "root": data.root,
            "split": ds.split_name,
            "subset": subset,
            "samples": n,
            "cutoff": cutoff,
            "cameras": data.cameras,
        }

        # Baseline: one per distinct data/target configuration, accumulated during the first
        # model's pass over those samples instead of reading them again.
        # Keyed on what changes the ground truth in metres (not on normalisation, which the
        # metrics undo), so a binocular SNN and a monocular ANN on the same data share one row.
        key = (
            str(Path(data.root).resolve()),
            ds.split_name,
            subset,
            n,
            cutoff,
            data.skip_invalid,
            data.fill_holes,
            data.fill_area,
            data.clip_min,
            data.clip_max,
        )
        base: _Baseline | None = None
        if baseline and key not in baselines and key not in skipped:
            try:
                mean_m, used = train_mean_depth(data)
            except DataError as exc:
                # Evaluating a test set without its training sequences at hand is legitimate:
                # lose the reference row, not the evaluation.
                warnings.warn(f"constant mean depth baseline skipped: {exc}", DataWarning, stacklevel=2)
                skipped.add(key)
            else:
                constant = mean_m
                if data.normalize_depth:  # the metric code converts predictions back to metres
                    constant = float(
                        normalize_depth(torch.tensor(mean_m, dtype=torch.float64), data.d_max, data.alpha)
                    )
                base = _Baseline(
                    mean_m, used, DepthMetrics(cutoff=cutoff, to_metres=to_m), dict(data_info), constant
                )
                baselines[key] = base

        capture = _Capture(
            figure_idx=set(evenly_spaced(n, figures)),
            # Subset order: a sequence's labels in time order, sequences one after another.
            video_idx=set(range(min(n, video_frames))) if video else set(),
        )
        offset = 0

        def on_batch(_i, frames, depth, mask, pred, capture=capture, base=base, to_m=to_m, samples=samples):
            nonlocal offset
            if base is not None:
                base.metrics.update(torch.full_like(depth, base.constant), depth, mask)
            for b in range(pred.shape[0]):
                k = offset + b
                if k in capture.figure_idx or k in capture.video_idx:
                    view = _view(frames, depth, mask, pred, b, to_m, _sample_title(samples[k]))
                    if k in capture.figure_idx:
                        capture.figures[k] = view
                    if k in capture.video_idx:
                        capture.video.append(view)
            offset += pred.shape[0]

        loader = DataLoader(Subset(ds, range(n)), batch_size=batch_size, shuffle=False, num_workers=0)
        result = evaluate_model(
            item.model,
            loader,
            device=dev,
            to_metres=to_m,
            cutoff=cutoff,
            progress=item.name if progress else False,
            on_batch=on_batch,
        )
        ds.close()

        fig_paths = []
        for k in sorted(capture.figures):
            view = capture.figures[k]
            view.mde_cm = result.frame_mde_cm[k]
            s = samples[k]
            path = out / "figures" / item.slug / f"{k:04d}_{_slug(s.seq)}_{s.label:05d}.png"
            save_sample_figure(path, view)
            fig_paths.append(str(path.relative_to(out)))
        video_paths = []
        if capture.video:
            index = sorted(capture.video_idx)
            for v, k in zip(capture.video, index, strict=True):
                v.mde_cm = result.frame_mde_cm[k]
            suffixes = [".gif", ".mp4"] if ffmpeg_available() else [".gif"]
            for suffix in suffixes:
                path = write_depth_video(out / "videos" / f"{item.slug}{suffix}", capture.video)
                video_paths.append(str(path.relative_to(out)))

        mcfg = item.model.cfg
        rows.append(
            ResultRow(
                name=item.name,
                kind=mcfg.kind.upper(),
                modality=mcfg.modality,
                metrics=result.metrics,
                preset=item.cfg.model,
                checkpoint=str(item.path),
                epoch=item.ckpt.get("epoch"),
                firing_rate=None if mcfg.kind == "ann" else result.firing_rate,
                sparsity=result.sparsity,
                layers=result.layers,
                data=data_info,
                figures=fig_paths,
                videos=video_paths,
            )
        )

    many = len(baselines) > 1
    for base in baselines.values():
        d = base.data
        name = f"{BASELINE_NAME} ({d['split']}/{d['subset']})" if many else BASELINE_NAME
        data = dict(d, train_mean_depth_m=base.depth_m, train_samples=base.train_samples)
        rows.append(
            ResultRow(
                name=name,
                kind=BASELINE,
                modality=DASH,
                metrics=base.metrics.compute(),
                data=data,
                note=(
                    f"predicts {base.depth_m:.3f} m everywhere, the mean valid depth of the first "
                    f"{base.train_samples} training samples"
                ),
            )
        )

    write_results(out, rows)
    return [r.to_dict() for r in rows]
