"""Fixtures writing tiny MVSEC-layout sequences by hand, with known events and depth.

Sequences are 64 x 48 pixels; the arrays written are returned too, so tests can compute their
expectations independently of the reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest

from depthsnn.data import layout
from depthsnn.data.calibration import write_calibration

W, H = 64, 48


@dataclass
class WrittenSequence:
    root: Path
    seq: str
    events: dict[str, np.ndarray]  # camera -> (N, 4) rows [x, y, t, p]
    depth: np.ndarray  # (L, H, W) float32, NaN invalid
    ts: np.ndarray  # (L,)


def random_events(
    rng: np.random.Generator, n: int, t0: float, t1: float, w: int = W, h: int = H
) -> np.ndarray:
    """``n`` events with integer pixel coordinates, sorted times in [t0, t1), polarity +-1."""
    t = np.sort(rng.uniform(t0, t1, n))
    # Some events share timestamps, as real recordings do (microsecond clock).
    t[1::7] = t[0:-1:7][: len(t[1::7])]
    t = np.sort(t)
    x = rng.integers(0, w, n)
    y = rng.integers(0, h, n)
    p = rng.choice([-1.0, 1.0], n)
    return np.stack([x, y, t, p], axis=1).astype(np.float64)


def write_sequence(
    root: Path,
    seq: str,
    *,
    num_labels: int = 12,
    num_events: int = 20_000,
    seed: int = 0,
    t_offset: float = 0.0,
    maps: dict | None = None,
    events: dict[str, np.ndarray] | None = None,
    depth: np.ndarray | None = None,
    ts: np.ndarray | None = None,
    resolution: tuple[int, int] = (W, H),
    write_calib: bool = True,
) -> WrittenSequence:
    """Write ``<seq>_data.hdf5``, ``<seq>_gt.hdf5`` and the scene's calibration into ``root``.

    Labels sit at 20 Hz starting 50 ms after ``t_offset``; events cover ``[t_offset, last label]``.
    Depth is a smooth ramp in metres with a NaN block per label.
    """
    rng = np.random.default_rng(seed)
    w, h = resolution
    root.mkdir(parents=True, exist_ok=True)
    if write_calib:
        write_calibration(
            calib_dir_for_scene(root, seq), layout.scene_of(seq), resolution=resolution, maps=maps
        )
    if ts is None:
        ts = t_offset + 0.05 * np.arange(1, num_labels + 1)
    if events is None:
        events = {
            cam: random_events(rng, num_events, t_offset, float(ts[-1]), w, h) for cam in layout.CAMERAS
        }
    if depth is None:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        depth = np.stack([1.0 + 0.05 * xx + 0.02 * yy + 0.1 * i for i in range(len(ts))]).astype(np.float32)
        for i in range(len(ts)):
            r, c = (3 * i) % (h - 4), (5 * i) % (w - 4)
            depth[i, r : r + 3, c : c + 3] = np.nan
    with h5py.File(root / layout.data_file(seq), "w") as f:
        for cam, ev in events.items():
            f.create_dataset(layout.EVENTS_KEY.format(cam=cam), data=ev, chunks=True)
    with h5py.File(root / layout.gt_file(seq), "w") as f:
        f.create_dataset(layout.DEPTH_RECT_KEY.format(cam="left"), data=depth)
        f.create_dataset(layout.DEPTH_RECT_TS_KEY.format(cam="left"), data=ts)
    return WrittenSequence(root, seq, events, depth, np.asarray(ts, dtype=np.float64))


def calib_dir_for_scene(root: Path, seq: str) -> Path:
    return root / layout.CALIB_DIR.format(scene=layout.scene_of(seq))


@pytest.fixture
def make_sequence(tmp_path):
    """Factory: ``make_sequence(seq, **kwargs)`` writes into ``tmp_path / 'data'``."""

    def make(seq: str = "indoor_flying1", root: Path | None = None, **kwargs) -> WrittenSequence:
        return write_sequence(root or tmp_path / "data", seq, **kwargs)

    return make


@pytest.fixture
def flying(tmp_path) -> dict[str, WrittenSequence]:
    """indoor_flying1..3, 12 labels each, 20k events per camera, identity rectification."""
    root = tmp_path / "data"
    return {
        f"indoor_flying{k}": write_sequence(root, f"indoor_flying{k}", seed=k, t_offset=10.0 * k)
        for k in (1, 2, 3)
    }


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory) -> Path:
    """A small synthetic stereo set (3 sequences x 0.6 s at 64x48) shared by training tests."""
    from depthsnn.data.synthetic import SynthConfig, generate_dataset

    cfg = SynthConfig(sequences=3, seconds=0.6, width=64, height=48, n_objects=(1, 2),
                      object_size_px=(12.0, 24.0), render_hz=400.0)
    return generate_dataset(tmp_path_factory.mktemp("tiny_synth") / "set", cfg, progress=False)


@pytest.fixture(scope="session")
def tiny_checkpoints(tiny_synth, tmp_path_factory) -> dict[str, Path]:
    """best.pt of a tiny SNN, HNN and ANN trained one short epoch on ``tiny_synth`` (T=2)."""
    from depthsnn.data.dataset import DataConfig
    from depthsnn.train.config import TrainConfig
    from depthsnn.train.loop import train

    out = {}
    for model in ("snn-tiny", "hnn-tiny", "ann-tiny"):
        cfg = TrainConfig(model=model, model_options=["base_channels=4", "levels=3", "residual_blocks=1"],
                          data=DataConfig(root=str(tiny_synth), split="synthetic", num_bins=2),
                          out=str(tmp_path_factory.mktemp(model)), epochs=1, max_train_samples=2,
                          max_val_samples=1, device="cpu")
        out[model] = train(cfg, progress=False).best_checkpoint
    return out


@pytest.fixture(scope="session")
def portable_checkpoint(tiny_synth, tmp_path_factory) -> Path:
    """best.pt of snn-portable-tiny trained one short epoch (2 samples) on ``tiny_synth`` with T=1."""
    from depthsnn.data.dataset import DataConfig
    from depthsnn.train.config import TrainConfig
    from depthsnn.train.loop import train

    cfg = TrainConfig(model="snn-portable-tiny", data=DataConfig(root=str(tiny_synth), split="synthetic", num_bins=1),
                      out=str(tmp_path_factory.mktemp("portable")), epochs=1, max_train_samples=2,
                      max_val_samples=1, device="cpu")
    return train(cfg, progress=False).best_checkpoint
