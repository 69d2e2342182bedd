"""The training loop: data, model, optimiser, validation, checkpoints, metrics log.

Exact resumption: the only randomness of an epoch is the shuffle order, drawn by a
``DistributedSampler`` seeded with ``(seed, epoch)`` (also in single-process runs), and every
checkpoint holds model, optimiser, scheduler and RNG states. So a run resumed from
``last.pt`` continues with the weights and batch order of an uninterrupted run, and a run
killed at any point loses at most the epoch in progress.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, Subset
from tqdm import tqdm

from ..atomic import atomic_write_text
from ..config import to_dict
from ..data.dataset import EventDepthDataset
from ..device import resolve_device
from ..errors import ConfigError, DataError
from ..evaluate.runner import evaluate_model
from ..models import DepthNet, SpikeRecorder, select_backend, use_backend
from .augment import augment_batch, batch_generator, resolve_augmentations
from .checkpoint import load_checkpoint, save_checkpoint, set_rng_state
from .config import TrainConfig, config_from_dict
from .distributed import (
    all_reduce_mean,
    barrier,
    dist_info_from_env,
    init_distributed,
    shutdown_distributed,
)
from .losses import DepthLoss

LAST = "last.pt"
BEST = "best.pt"
METRICS_LOG = "metrics.jsonl"
# Fields that may differ between a run and its resumption (they do not change the result).
RESUMABLE_CHANGES = {"epochs", "device", "num_workers", "backend"}
RECIPE_FIELDS = ("lr", "weight_decay", "lr_milestones", "lr_gamma", "rate_penalty")


@dataclass(frozen=True)
class TrainResult:
    """What a finished (or resumed and finished) run produced."""

    out_dir: Path
    epochs: int
    best_epoch: int
    best_mde_cm: float
    last_metrics: dict
    best_checkpoint: Path
    last_checkpoint: Path


def to_metres_fn(cfg: TrainConfig) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Converter from network units to metres (None when the network predicts metres)."""
    return cfg.data.to_metres()


def _subset(ds: EventDepthDataset, limit: int | None):
    return ds if limit is None or limit >= len(ds) else Subset(ds, range(limit))


def _autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA when asked for and supported; a no-op elsewhere (CPU trains in fp32)."""
    if enabled and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _check_resumable(saved: TrainConfig, new: TrainConfig, path: Path) -> TrainConfig:
    diff = [f.name for f in fields(TrainConfig) if getattr(saved, f.name) != getattr(new, f.name)]
    blocked = sorted(set(diff) - RESUMABLE_CHANGES - {"out"})
    if blocked:
        raise ConfigError(
            f"cannot resume with changed option(s) {', '.join(blocked)} "
            f"(only {', '.join(sorted(RESUMABLE_CHANGES))} may change); start a new run in another --out",
            path,
        )
    return new


def train(
    cfg: TrainConfig,
    *,
    resume: bool = False,
    progress: bool = True,
    on_epoch_end: Callable[[int, dict], None] | None = None,
) -> TrainResult:
    """Train ``cfg.model`` on ``cfg.data``; write checkpoints and ``metrics.jsonl`` under ``cfg.out``.

    ``resume=True`` continues from ``cfg.out/last.pt`` (which must exist). ``on_epoch_end`` is
    called on rank 0 after each epoch's checkpoint is written (tests use it to interrupt a run).
    """
    info = dist_info_from_env()
    device = resolve_device(cfg.device, info.local_rank)
    init_distributed(info, device)
    try:
        with use_backend(select_backend(cfg.backend, device)):
            return _train(cfg, info, device, resume, progress, on_epoch_end)
    finally:
        shutdown_distributed()


def _train(cfg, info, device, resume, progress, on_epoch_end) -> TrainResult:
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise ConfigError("output path exists and is not a folder", out)
    start_epoch, best_mde, best_epoch = 0, math.inf, 0
    ckpt = None
    if resume:
        if not (out / LAST).is_file():
            raise DataError(f"nothing to resume: no {LAST} here", out)
        ckpt = load_checkpoint(out / LAST)
        saved = config_from_dict(ckpt["config"]).resolved()
        # Recipe fields the caller left open keep the run's values (a longer run keeps its schedule).
        keep = {f: getattr(saved, f) for f in RECIPE_FIELDS if getattr(cfg, f) is None}
        cfg = _check_resumable(saved, dataclasses.replace(cfg, **keep).resolved(), out / LAST)
        start_epoch = int(ckpt["epoch"])
        best_mde, best_epoch = float(ckpt.get("best_mde", math.inf)), int(ckpt.get("best_epoch", 0))
    elif (out / LAST).exists():
        raise ConfigError(f"a run already exists here ({LAST}); use --resume to continue it or another --out", out)
    else:
        cfg = cfg.resolved()

    torch.manual_seed(cfg.seed)  # same initial weights on every rank
    train_ds = EventDepthDataset.from_config(cfg.data, "train")
    val_ds = EventDepthDataset.from_config(cfg.data, "val")
    train_set, val_set = _subset(train_ds, cfg.max_train_samples), _subset(val_ds, cfg.max_val_samples)
    if len(train_set) == 0:
        raise DataError(f"split {cfg.data.split!r} has no training samples", cfg.data.root)

    mcfg = cfg.model_config()
    model = DepthNet(mcfg).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=cfg.lr_milestones, gamma=cfg.lr_gamma)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        set_rng_state(ckpt["rng"])
    net = DistributedDataParallel(model) if info.enabled else model

    # One sampler for 1 or N processes: its order depends only on (seed, epoch).
    sampler = DistributedSampler(
        train_set, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=cfg.seed
    )
    loader = DataLoader(
        train_set, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers,
        pin_memory=device.type == "cuda", persistent_workers=cfg.num_workers > 0,
    )
    val_loader = DataLoader(val_set, batch_size=cfg.batch_size, num_workers=cfg.num_workers)
    loss_fn = DepthLoss(grad_weight=cfg.grad_weight, rate_weight=cfg.rate_penalty, si_lambda=cfg.si_lambda)
    to_metres = to_metres_fn(cfg)

    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "config.json", json.dumps(to_dict(cfg), indent=2))
        _truncate_log(out / METRICS_LOG, start_epoch)

    last_metrics: dict = {}
    for epoch in range(start_epoch, cfg.epochs):
        sampler.set_epoch(epoch)
        t0 = time.perf_counter()
        train_stats = _train_epoch(net, model, loader, optimizer, loss_fn, cfg, device, info, epoch, progress, to_metres)
        scheduler.step()
        train_time = time.perf_counter() - t0
        record = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"], **train_stats,
                  "train_time_s": train_time,
                  "train_samples_per_s": train_stats["samples"] * info.world_size / max(train_time, 1e-9)}
        if info.is_main:
            if len(val_set):
                res = evaluate_model(model, val_loader, device=device, to_metres=to_metres,
                                     progress="validate" if progress else False)
                record.update({f"val_{k}": v for k, v in res.metrics.items()})
                record["val_firing_rate"] = res.firing_rate
                val_mde = res.metrics["mde_cm"]
            else:  # no validation subset: keep the latest weights as "best"
                val_mde = -float(epoch)
            improved = val_mde < best_mde
            if improved:
                best_mde, best_epoch = val_mde, epoch + 1
            record["best_epoch"] = best_epoch
            payload = dict(
                model=model.state_dict(), optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                epoch=epoch + 1, best_mde=best_mde, best_epoch=best_epoch, config=to_dict(cfg),
                model_config=to_dict(mcfg), metrics=record, name=Path(cfg.out).name or cfg.model,
                input_hw=[train_ds.resolution[1], train_ds.resolution[0]],
            )
            save_checkpoint(out / LAST, **payload)
            if improved:
                save_checkpoint(out / BEST, **payload)
            with open(out / METRICS_LOG, "a") as fh:
                fh.write(json.dumps(record) + "\n")
            last_metrics = record
            if progress:
                tqdm.write(_epoch_line(record, cfg.epochs))
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, record)
        barrier(info)

    if info.is_main and not (out / BEST).exists() and (out / LAST).exists():
        save_checkpoint(out / BEST, **load_checkpoint(out / LAST))
    return TrainResult(out, cfg.epochs, best_epoch, best_mde, last_metrics, out / BEST, out / LAST)


def _train_epoch(net, model, loader, optimizer, loss_fn, cfg, device, info, epoch, progress, to_metres) -> dict:
    net.train()
    sums = {"loss": 0.0, "si": 0.0, "grad": 0.0, "abs_err_m": 0.0, "valid_px": 0.0}
    samples = 0
    augs = resolve_augmentations(cfg.augment, cfg.data.cameras)
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch",
               disable=not (progress and info.is_main), leave=False)
    with SpikeRecorder(model, track_grad=cfg.rate_penalty > 0) as rec:
        for i, (frames, depth, mask) in enumerate(bar):
            frames, depth, mask = frames.to(device), depth.to(device), mask.to(device)
            if augs:
                frames, depth, mask = augment_batch(frames, depth, mask, augs,
                                                    batch_generator(cfg.seed, epoch, i, info.rank))
            with _autocast(device, cfg.amp):
                out = net(frames)
            heads = tuple(h.float() for h in out.heads)
            terms = loss_fn(heads, depth, mask, rate=rec.rate_penalty() if cfg.rate_penalty > 0 else None)
            optimizer.zero_grad(set_to_none=True)
            terms.total.backward()
            optimizer.step()
            with torch.no_grad():
                pred, gt = heads[-1], depth
                if to_metres is not None:
                    pred, gt = to_metres(pred), to_metres(gt)
                sums["abs_err_m"] += float(((pred - gt).abs() * mask).sum())
                sums["valid_px"] += float(mask.sum())
            b = frames.shape[0]
            samples += b
            sums["loss"] += float(terms.total.detach()) * b
            sums["si"] += float(terms.scale_invariant.detach()) * b
            sums["grad"] += float(terms.gradient.detach()) * b
            rate = rec.total().rate
            bar.set_postfix(loss=f"{sums['loss'] / samples:.4f}",
                            mde=f"{100 * sums['abs_err_m'] / max(sums['valid_px'], 1):.1f}cm",
                            rate=f"{100 * rate:.1f}%")
        total = rec.total()
    loss, si, grad, err, px = all_reduce_mean(
        [sums["loss"] / samples, sums["si"] / samples, sums["grad"] / samples, sums["abs_err_m"], sums["valid_px"]], info
    )
    return {
        "train_loss": loss, "train_si": si, "train_grad": grad,
        # Pixel-weighted running MDE over the epoch (validation reports the per-frame mean).
        "train_mde_cm": 100 * err / max(px, 1.0),
        "train_firing_rate": total.rate if total.neuron_steps and model.cfg.kind != "ann" else None,
        "samples": samples,
    }


def _truncate_log(path: Path, epochs_done: int) -> None:
    """Keep only records of finished epochs (a killed run may have logged nothing past its checkpoint)."""
    if not path.exists():
        return
    keep = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["epoch"] <= epochs_done]
    atomic_write_text(path, "".join(ln + "\n" for ln in keep))


def _epoch_line(r: dict, epochs: int) -> str:
    parts = [f"epoch {r['epoch']}/{epochs}", f"loss {r['train_loss']:.4f}", f"train MDE {r['train_mde_cm']:.1f} cm"]
    if "val_mde_cm" in r:
        parts.append(f"val MDE {r['val_mde_cm']:.1f} cm")
    if r.get("val_firing_rate") is not None:
        parts.append(f"firing {100 * r['val_firing_rate']:.2f}%")
    parts.append(f"{r['train_samples_per_s']:.2f} samples/s")
    return " | ".join(parts)
