"""The training loop: data, model, optimiser, validation, checkpoints, metrics log.

Exact resumption: the only randomness of an epoch is the shuffle order, drawn by a
``DistributedSampler`` seeded with ``(seed, epoch)`` (also in single-process runs), and every
checkpoint holds model, optimiser, scheduler and RNG states. So a run resumed from
``last.pt`` continues with the weights and batch order of an uninterrupted run, and a run
killed at any point loses at most the epoch in progress.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
import warnings
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
from ..data.memory import InMemorySamples, MemoryBatches, sample_bytes
from ..device import resolve_device
from ..errors import ConfigError, DataError
from ..models import DepthNet, SpikeRecorder, select_backend, use_backend
from ..models.backend import fallbacks_in, implementations_used
from ..models.precision import NeuronFallbackWarning, prepare_precision, warn_fallbacks
from ..models.runner import evaluate_model
from .augment import augment_batch, batch_generator, resolve_augmentations
from .averaging import averaged_state, restore_average, weight_average
from .checkpoint import load_checkpoint, save_checkpoint, set_rng_state
from .config import TrainConfig, config_from_dict
from .distill import Teacher, load_teacher
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
RESUMABLE_CHANGES = {"epochs", "device", "num_workers", "backend", "preload_mb"}
# Batches between progress-bar updates: each update reads the device's running sums (a host sync).
POSTFIX_EVERY = 25
RECIPE_FIELDS = ("lr", "weight_decay", "lr_milestones", "lr_gamma", "rate_penalty", "batch_size")


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


def _workers(cfg: TrainConfig, device: torch.device) -> int:
    """DataLoader workers of the per-step loader: ``num_workers``, or up to 8 on CUDA and 0 on CPU."""
    if cfg.num_workers is not None:
        return cfg.num_workers
    return min(8, os.cpu_count() or 1) if device.type == "cuda" else 0


def _preload(sets: dict, cfg: TrainConfig, device: torch.device, progress: bool) -> dict | None:
    """Every subset of ``sets`` binned once into memory, or None when over ``preload_mb`` (or off).

    On CUDA the tensors move to the GPU when they take under a quarter of its free memory, else
    into pinned host memory: either way no binning and no pageable copy remains per step.
    """
    n = sum(len(s) for s in sets.values())
    if cfg.preload_mb == 0 or n == 0:
        return None
    first = next(s for s in sets.values() if len(s))
    need = sample_bytes(first) * n  # float32 frames: an upper bound of the compact store
    if need > cfg.preload_mb * 2**20:
        warnings.warn(f"{n} samples need up to {need / 2**20:.0f} MB in memory, over preload_mb = {cfg.preload_mb}: "
                      "binning them every epoch instead (raise preload_mb to preload)", stacklevel=3)
        return None
    workers = min(os.cpu_count() or 1, 8) if n >= 32 else 0
    stores = {k: InMemorySamples.load(s, num_workers=workers, progress=f"bin {k} samples" if progress else False)
              for k, s in sets.items()}
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if sum(st.nbytes for st in stores.values()) < free / 4:
            return {k: st.to(device) for k, st in stores.items()}
        return {k: st.pin_memory() for k, st in stores.items()}
    return stores


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

    teacher = None
    if cfg.teacher:  # checked before any data is read; its model's init draws leave the run's RNG alone
        with torch.random.fork_rng(devices=[]):
            teacher = load_teacher(cfg.teacher, cfg.distill_weight, cfg.data, device, cfg.distill_features)
    torch.manual_seed(cfg.seed)  # same initial weights on every rank
    train_ds = EventDepthDataset.from_config(cfg.data, "train")
    val_ds = EventDepthDataset.from_config(cfg.data, "val")
    train_set, val_set = _subset(train_ds, cfg.max_train_samples), _subset(val_ds, cfg.max_val_samples)
    if len(train_set) == 0:
        raise DataError(f"split {cfg.data.split!r} has no training samples", cfg.data.root)

    mcfg = cfg.model_config()
    model = DepthNet(mcfg).to(device)
    warn_fallbacks(model, device)
    precision = prepare_precision(model, device, cfg.amp, select_backend(cfg.backend, device))
    ema = weight_average(model, cfg.ema_decay)  # a copy: before compilation and distillation hooks
    if cfg.compile:
        # In place (the state_dict keys stay); no layout optimisation, as spikingjelly advises (#753).
        model.core.compile(options={"layout_optimization": False})
    student_tap = None
    params = list(model.parameters())
    if teacher is not None:
        with torch.random.fork_rng(devices=[]):  # the adapters' init leaves the run's RNG alone
            torch.manual_seed(cfg.seed + 1)
            student_tap = teacher.attach(model)
        if teacher.adapters is not None:  # training-only parameters, optimised with the model's
            params += list(teacher.adapters.parameters())
    optimizer = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=cfg.lr_milestones, gamma=cfg.lr_gamma)
    if ckpt is not None:
        if ema is not None:  # "model" holds the average (what is exported), "train_model" the weights
            if "train_model" not in ckpt:
                raise DataError("checkpoint of a run with ema_decay lacks 'train_model'", out / LAST)
            model.load_state_dict(ckpt["train_model"])
            restore_average(ema, ckpt["model"], int(ckpt["ema_steps"]))
        else:
            model.load_state_dict(ckpt["model"])
        if teacher is not None and teacher.adapters is not None:
            teacher.adapters.load_state_dict(ckpt["distill_adapters"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        set_rng_state(ckpt["rng"])
    net = DistributedDataParallel(model) if info.enabled else model

    # One sampler for 1 or N processes: its order depends only on (seed, epoch).
    sampler = DistributedSampler(
        train_set, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=cfg.seed
    )
    stores = _preload({"train": train_set, "val": val_set}, cfg, device, progress and info.is_main)
    if stores is not None:  # the same batches as the DataLoader below, served from memory
        loader = MemoryBatches(stores["train"], sampler, cfg.batch_size, device)
        val_loader = MemoryBatches(stores["val"], range(len(val_set)), cfg.batch_size, device)
    else:
        workers = _workers(cfg, device)
        loader = DataLoader(
            train_set, batch_size=cfg.batch_size, sampler=sampler, num_workers=workers,
            pin_memory=device.type == "cuda", persistent_workers=workers > 0,
        )
        val_loader = DataLoader(val_set, batch_size=cfg.batch_size, num_workers=workers,
                                pin_memory=device.type == "cuda")
    runtime = {"device": str(device), "precision": precision.describe(), "compiled": cfg.compile,
               "preloaded": stores is not None}
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
        train_stats = _train_epoch(net, model, loader, optimizer, loss_fn, cfg, device, info, epoch, progress,
                                   to_metres, precision, runtime, teacher, student_tap, ema)
        scheduler.step()
        train_time = time.perf_counter() - t0
        record = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"], **train_stats,
                  "train_time_s": train_time,
                  "train_samples_per_s": train_stats["samples"] * info.world_size / max(train_time, 1e-9),
                  "runtime": runtime}
        if info.is_main:
            if len(val_set):
                validated = model if ema is None else ema.module
                res = evaluate_model(validated, val_loader, device=device, to_metres=to_metres,
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
            if ema is None:
                weights = {"model": model.state_dict()}
            else:  # the average is what is validated and exported; the trained weights resume
                avg, steps = averaged_state(ema)
                weights = {"model": avg, "train_model": model.state_dict(), "ema_steps": steps}
            payload = dict(
                **weights, optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                epoch=epoch + 1, best_mde=best_mde, best_epoch=best_epoch, config=to_dict(cfg),
                model_config=to_dict(mcfg), metrics=record, name=Path(cfg.out).name or cfg.model,
                input_hw=[train_ds.resolution[1], train_ds.resolution[0]],
            )
            if teacher is not None and teacher.adapters is not None:  # for --resume; never exported
                payload["distill_adapters"] = teacher.adapters.state_dict()
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

    if student_tap is not None:
        student_tap.close()
    if info.is_main and not (out / BEST).exists() and (out / LAST).exists():
        save_checkpoint(out / BEST, **load_checkpoint(out / LAST))
    return TrainResult(out, cfg.epochs, best_epoch, best_mde, last_metrics, out / BEST, out / LAST)


def _train_epoch(net, model, loader, optimizer, loss_fn, cfg, device, info, epoch, progress, to_metres,
                 precision, runtime, teacher: Teacher | None = None, student_tap=None, ema=None) -> dict:
    net.train()
    # Running sums stay on the device; the host reads them every POSTFIX_EVERY batches (progress bar)
    # and once at the end of the epoch, so a GPU step never waits for the host.
    # loss, si, grad (x samples), |err| m, valid px, distillation terms: output, features (x samples)
    sums = torch.zeros(7, dtype=torch.float64, device=device)
    samples = 0
    augs = resolve_augmentations(cfg.augment, cfg.data.cameras)
    show = progress and info.is_main
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", disable=not show, leave=False)
    with SpikeRecorder(model, track_grad=cfg.rate_penalty > 0) as rec:
        for i, (frames, depth, mask) in enumerate(bar):
            frames = frames.to(device, non_blocking=True)
            depth, mask = depth.to(device, non_blocking=True), mask.to(device, non_blocking=True)
            if augs:
                frames, depth, mask = augment_batch(frames, depth, mask, augs,
                                                    batch_generator(cfg.seed, epoch, i, info.rank))
            with precision.autocast():
                out = net(frames)
            heads = tuple(h.float() for h in out.heads)
            terms = loss_fn(heads, depth, mask, rate=rec.rate_penalty(cfg.rate_floor) if cfg.rate_penalty > 0 else None)
            total = terms.total
            distill = features = total.new_zeros(())
            if teacher is not None:
                distill, features = teacher.loss(loss_fn, heads, frames, student_tap)
            total = total + distill + features
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            if info.enabled and teacher is not None and teacher.adapters is not None:
                # the adapters sit outside DistributedDataParallel: average their gradients by hand
                for p in teacher.adapters.parameters():
                    torch.distributed.all_reduce(p.grad)
                    p.grad /= info.world_size
            optimizer.step()
            if ema is not None:
                ema.update_parameters(model)
            b = frames.shape[0]
            samples += b
            with torch.no_grad():
                pred, gt = heads[-1], depth
                if to_metres is not None:
                    pred, gt = to_metres(pred), to_metres(gt)
                parts = (total * b, terms.scale_invariant * b, terms.gradient * b,
                         ((pred - gt).abs() * mask).sum(), mask.sum(), distill * b, features * b)
                sums += torch.stack([t.detach().double() for t in parts])
            if "neurons" not in runtime:
                _record_neurons(model, device, runtime, show)
            if show and (i % POSTFIX_EVERY == 0 or i == len(loader) - 1):
                loss, _, _, err, px, _, _ = sums.tolist()
                bar.set_postfix(loss=f"{loss / samples:.4f}", mde=f"{100 * err / max(px, 1):.1f}cm",
                                rate=f"{100 * rec.total().rate:.1f}%")
        total = rec.total()
    loss, si, grad, err, px, dist, feat = sums.tolist()
    loss, si, grad, err, px, dist, feat = all_reduce_mean(
        [loss / samples, si / samples, grad / samples, err, px, dist / samples, feat / samples], info)
    return {
        "train_loss": loss, "train_si": si, "train_grad": grad,
        **({"train_distill": dist} if teacher is not None else {}),
        **({"train_distill_features": feat} if student_tap is not None else {}),
        # Pixel-weighted running MDE over the epoch (validation reports the per-frame mean).
        "train_mde_cm": 100 * err / max(px, 1.0),
        "train_firing_rate": total.rate if total.neuron_steps and model.cfg.kind != "ann" else None,
        "samples": samples,
    }


def _record_neurons(model, device, runtime: dict, show: bool) -> None:
    """After the first step: what spikingjelly ran for the neurons, printed, kept in ``runtime`` (the
    metrics log), and a warning naming each neuron type that fell back to the slow reference loop."""
    if model.cfg.kind == "ann":
        runtime["neurons"] = {}
        return
    used = implementations_used(device)
    if runtime["precision"]["neurons"] == "spikingjelly":
        used = {k: v for k, v in used.items() if v.startswith("torch-reference")} or {
            "if/lif": "triton (spikingjelly precision API: bf16 input, fp32 state)"}
    runtime["neurons"] = used
    for kind, what in fallbacks_in(used).items():
        warnings.warn(f"{kind} neurons ran spikingjelly's slow reference loop on {device}: {what}",
                      NeuronFallbackWarning, stacklevel=2)
    if show:
        tqdm.write(f"neurons on {device}: " + ", ".join(f"{k}: {v}" for k, v in used.items())
                   + f"; precision {runtime['precision']['mode']}")


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
