"""Simulate sequences and write a whole synthetic data set in the MVSEC layout.

Randomness: sequence ``i`` of seed ``s`` draws everything from ``SeedSequence([s, i])``,
spawned into independent streams for the scene and each camera's sensor, so a sequence
does not depend on how many others are generated or in which order.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ...atomic import atomic_write_text
from ...config import to_dict
from ...errors import DataError
from .. import layout
from ..calibration import write_calibration
from .config import SCENE, SynthConfig, sequence_name
from .esim import EventSimulator, sample_thresholds
from .render import depth_label, log_intensity, render, to_uint8
from .room import RoomScene, random_room, render_room
from .scene import Scene, random_scene
from .writer import SequenceData, write_sequence

MANIFEST = "dataset.json"


@dataclass(frozen=True)
class SequenceInfo:
    """What was written for one sequence (also recorded in ``dataset.json``)."""

    name: str
    events: dict[str, int]
    depth_labels: int
    images: int
    seconds: float


def sequence_seeds(seed: int, index: int) -> tuple[np.random.SeedSequence, ...]:
    """Independent seed streams (scene, left sensor, right sensor) of sequence ``index``."""
    return tuple(np.random.SeedSequence([seed, index]).spawn(3))


def _times(seconds: float, hz: float) -> np.ndarray:
    """Relative timestamps k/hz for k = 1..floor(seconds*hz).

    Starting one period in gives every label a full window of events before it.
    """
    return np.arange(1, math.floor(seconds * hz + 1e-9) + 1) / hz


def render_frame(scene: Scene | RoomScene, t: float, camera: str) -> tuple[np.ndarray, np.ndarray]:
    """Intensity and depth of either world's scene at time ``t``."""
    if isinstance(scene, RoomScene):
        return render_room(scene, t, camera)
    return render(scene, t, camera)


def draw_scene(cfg: SynthConfig, rng: np.random.Generator) -> Scene | RoomScene:
    """A random scene of ``cfg.world``."""
    return random_room(cfg, rng) if cfg.world == "room" else random_scene(cfg, rng)


def simulate_sequence(
    scene: Scene | RoomScene,
    cfg: SynthConfig,
    name: str,
    sensor_seeds: tuple[np.random.SeedSequence | int, np.random.SeedSequence | int],
    bar: tqdm | None = None,
) -> SequenceData:
    """Render ``scene`` for ``cfg.seconds`` and simulate both event cameras, in memory.

    Events come from log-intensity frames at ``cfg.render_hz``; images and depth labels are
    rendered at their own timestamps. All timestamps are offset by ``cfg.t_start``.
    """
    shape = (scene.height, scene.width)
    frame_t = np.arange(math.floor(cfg.seconds * cfg.render_hz + 1e-9) + 1) / cfg.render_hz
    image_ts, depth_ts = _times(cfg.seconds, cfg.image_hz), _times(cfg.seconds, cfg.depth_hz)
    # Image and label times that are also event frame times (all of them at the default 20 Hz in
    # 200 Hz: k/20 and 10k/200 round to the same double) reuse that frame's render, a sixth of all.
    keep = {float(t) for t in np.concatenate([image_ts, depth_ts])}
    renders: dict[tuple[float, str], tuple[np.ndarray, np.ndarray]] = {}

    def rendered(t: float, cam: str) -> tuple[np.ndarray, np.ndarray]:
        return renders.get((float(t), cam)) or render_frame(scene, t, cam)

    sims, chunks = {}, {}
    for cam, ss in zip(layout.CAMERAS, sensor_seeds, strict=True):
        rng = np.random.default_rng(ss)
        c_pos, c_neg = sample_thresholds(rng, shape, cfg.contrast_pos, cfg.contrast_neg, cfg.contrast_sigma)
        first = log_intensity(render_frame(scene, 0.0, cam)[0])
        sims[cam] = EventSimulator(first, cfg.t_start, c_pos, c_neg, cfg.refractory_s, cfg.noise_rate_hz, rng)
        chunks[cam] = []
    for t in frame_t[1:]:
        for cam in layout.CAMERAS:
            frame = render_frame(scene, t, cam)
            if float(t) in keep:
                renders[(float(t), cam)] = frame
            chunks[cam].append(sims[cam].step(log_intensity(frame[0]), cfg.t_start + t))
        if bar is not None:
            bar.update(1)

    images = {cam: np.stack([to_uint8(rendered(t, cam)[0]) for t in image_ts]) for cam in layout.CAMERAS}
    depth = {
        cam: np.stack([depth_label(rendered(t, cam)[1], cfg.max_range) for t in depth_ts])
        for cam in layout.CAMERAS
    }
    events = {cam: np.concatenate(chunks[cam]) if chunks[cam] else np.empty((0, 4)) for cam in layout.CAMERAS}
    return SequenceData(name, events, images, image_ts + cfg.t_start, depth, depth_ts + cfg.t_start)


def generate_sequence(out_dir: str | Path, cfg: SynthConfig, index: int, bar: tqdm | None = None) -> SequenceInfo:
    """Draw, simulate and write sequence ``index`` (0-based) of the data set ``cfg`` describes."""
    scene_ss, left_ss, right_ss = sequence_seeds(cfg.seed, index)
    scene = draw_scene(cfg, np.random.default_rng(scene_ss))
    seq = simulate_sequence(scene, cfg, sequence_name(index), (left_ss, right_ss), bar)
    write_sequence(out_dir, seq, cfg.compression)
    return SequenceInfo(
        seq.name, {cam: len(ev) for cam, ev in seq.events.items()}, len(seq.depth_ts), len(seq.image_ts), cfg.seconds
    )


def generate_dataset(out_dir: str | Path, cfg: SynthConfig, progress: bool = True, force: bool = False) -> Path:
    """Write a complete synthetic data set into ``out_dir``; return ``out_dir``.

    Layout: ``synthetic_stereo{1..n}_{data,gt}.hdf5``, ``synthetic_stereo_calib/`` and
    ``dataset.json`` (config, seed, per-sequence counts), the manifest written last. An
    existing non-empty folder is refused unless ``force``; then files are replaced and
    sequences listed in its old manifest but not generated now are removed.
    """
    cfg.validate()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataError("output exists and is not a folder", out)
    old = _old_sequences(out)
    if out.is_dir() and any(out.iterdir()) and not force:
        raise DataError("output folder is not empty (use --force to overwrite)", out)
    out.mkdir(parents=True, exist_ok=True)
    # The manifest marks a complete set: drop the old one so an interrupted rewrite has none.
    (out / MANIFEST).unlink(missing_ok=True)

    write_calibration(
        out / layout.CALIB_DIR.format(scene=SCENE), SCENE, intrinsics=cfg.intrinsics,
        fx_baseline=cfg.fx_baseline, resolution=(cfg.width, cfg.height),
    )
    infos = _generate_all(out, cfg, progress)
    names = {info.name for info in infos}
    for stale in sorted(old - names):
        for f in (layout.data_file(stale), layout.gt_file(stale)):
            (out / f).unlink(missing_ok=True)
    manifest = {
        "generator": "depthsnn.data.synthetic",
        "seed": cfg.seed,
        "scene": SCENE,
        "sequences": [info.name for info in infos],
        "counts": {info.name: {"events": info.events, "depth_labels": info.depth_labels, "images": info.images,
                               "seconds": info.seconds} for info in infos},
        "total_depth_labels": sum(info.depth_labels for info in infos),
        "config": to_dict(cfg),
    }
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return out


def _workers(cfg: SynthConfig) -> int:
    if cfg.workers:
        return min(cfg.workers, cfg.sequences)
    return max(1, min(os.cpu_count() or 1, 4, cfg.sequences))


def _generate_all(out: Path, cfg: SynthConfig, progress: bool) -> list[SequenceInfo]:
    """All sequences, in worker processes when more than one: sequences draw from their own
    seeds and write their own files, so the bytes do not depend on the number of workers."""
    workers = _workers(cfg)
    if workers == 1:
        frames = math.floor(cfg.seconds * cfg.render_hz + 1e-9)
        infos = []
        with tqdm(total=cfg.sequences * frames, unit="frame", disable=not progress, desc="synth") as bar:
            for i in range(cfg.sequences):
                bar.set_postfix_str(sequence_name(i))
                infos.append(generate_sequence(out, cfg, i, bar))
        return infos
    # spawn, not fork: the parent may hold torch threads, and forked BLAS/OpenMP pools can hang.
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_single_threaded) as pool, \
            tqdm(total=cfg.sequences, unit="seq", disable=not progress, desc=f"synth ({workers} processes)") as bar:
        futures = [pool.submit(generate_sequence, out, cfg, i) for i in range(cfg.sequences)]
        infos = []
        try:
            for fut in futures:
                infos.append(fut.result())
                bar.update(1)
        except BaseException:
            for fut in futures:  # stop at the first failure (or Ctrl-C) instead of finishing the set
                fut.cancel()
            raise
    return infos


def _single_threaded() -> None:
    """Worker set-up: one thread per process (the renderer's torch ops would otherwise each
    spawn a thread pool per process and oversubscribe the cores many times over)."""
    import torch

    torch.set_num_threads(1)


# The largest manifest read (one of 1000 sequences is ~200 kB).
MAX_MANIFEST_BYTES = 16 << 20


def read_manifest(path: str | Path) -> dict:
    """A generated set's ``dataset.json``, checked: ``sequences`` (names), ``counts`` (per sequence:
    ``events`` per camera, ``depth_labels``), ``total_depth_labels`` and ``config`` (a table).
    Anything else (not JSON, truncated, wrong types, counts that disagree) is a one-line
    :class:`DataError` naming the file."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise DataError(f"manifest is {path.stat().st_size} bytes, over {MAX_MANIFEST_BYTES}", path)
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("manifest not found", path) from None
    except (OSError, ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError are ValueErrors
        raise DataError(f"manifest is not valid JSON ({type(exc).__name__})", path) from None

    def bad(what: str) -> DataError:
        return DataError(f"manifest: {what}", path)

    if not isinstance(doc, dict):
        raise bad("expected a JSON object")
    seqs, counts = doc.get("sequences"), doc.get("counts")
    if not isinstance(seqs, list) or not all(isinstance(q, str) and q.startswith(SCENE) for q in seqs):
        raise bad(f"'sequences' must be a list of {SCENE}<k> names")
    if not isinstance(counts, dict) or set(counts) != set(seqs):
        raise bad("'counts' must hold one entry per sequence")

    def count(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    for name, c in counts.items():
        ev = c.get("events") if isinstance(c, dict) else None
        if not (isinstance(ev, dict) and ev and all(count(v) for v in ev.values()) and count(c.get("depth_labels"))):
            raise bad(f"counts of '{name}' must give events per camera and depth_labels as counts")
    total = doc.get("total_depth_labels")
    if not count(total) or total != sum(c["depth_labels"] for c in counts.values()):
        raise bad("'total_depth_labels' is not the sum of the sequences' depth labels")
    if not isinstance(doc.get("config", {}), dict):
        raise bad("'config' must be a table")
    return doc


def _old_sequences(out: Path) -> set[str]:
    """Sequence names listed in an existing manifest (only these may be removed by --force)."""
    if not (out / MANIFEST).is_file():
        return set()
    try:
        return set(read_manifest(out / MANIFEST)["sequences"])
    except DataError:
        return set()
