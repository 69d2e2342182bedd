"""PyTorch Dataset of (event frames, depth target, mask) per depth label of a split.

``EventDepthDataset(root, split, subset, encoding, depth, cache_dir)[i]`` returns

* ``frames``: float32 ``[T, C, H, W]`` (``C = 4`` binocular ``[L_ON, L_OFF, R_ON, R_OFF]``, ``2``
  monocular ``[L_ON, L_OFF]``), event counts in the window before the label;
* ``depth``: float32 ``[H, W]``, metres (or log-normalised when ``depth.normalize``), 0 where
  invalid;
* ``mask``: bool ``[H, W]``, True where ``depth`` is a valid target.

Index policy (decided once, when the dataset is built, and warned about per sequence):

* labels whose depth map has no valid pixel are skipped (``skip_invalid=True``) since they would
  give a NaN or zero-weight loss and an undefined per-frame metric;
* labels whose window lies entirely outside a camera's event time range are kept (zero frames
  for that camera) but reported, since they usually mean mismatched files.

Sequences are opened lazily per process; the dataset pickles cleanly for DataLoader workers.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataError
from . import layout
from .cache import SampleCache, SequenceCache
from .calibration import StereoCalibration, calib_dir_for, load_calibration
from .depth import DepthConfig, denormalize_depth, depth_target
from .encoding import EncodingConfig, encode_window
from .mvsec import MVSECSequence, warn_data
from .splits import Split, SplitSpec, resolve_split

# Depth maps read per request while scanning for labels without valid pixels.
_SCAN_BLOCK = 64


@dataclass(frozen=True)
class Sample:
    """One dataset item: label ``label`` of sequence ``seq``, at ``timestamp`` seconds."""

    seq: str
    label: int
    timestamp: float


@dataclass(frozen=True)
class DataConfig:
    """Flat data options for config files and ``data.key=value`` overrides.

    Fields mirror :class:`EncodingConfig` and :class:`DepthConfig` (``normalize_depth`` is
    ``DepthConfig.normalize``); :meth:`encoding` and :meth:`depth` build them.
    """

    root: str = "data"
    split: str = "split1"
    cache_dir: str | None = None
    skip_invalid: bool = True
    window_ms: float = EncodingConfig.window_ms
    num_bins: int = EncodingConfig.num_bins
    cameras: str = EncodingConfig.cameras
    rectify: bool = EncodingConfig.rectify
    max_count: float | None = EncodingConfig.max_count
    presentation: str = EncodingConfig.presentation
    normalize_depth: bool = DepthConfig.normalize
    d_max: float = DepthConfig.d_max
    alpha: float = DepthConfig.alpha
    fill_holes: bool = DepthConfig.fill_holes
    fill_area: int = DepthConfig.fill_area
    clip_min: float | None = DepthConfig.clip_min
    clip_max: float | None = DepthConfig.clip_max

    def encoding(self) -> EncodingConfig:
        return EncodingConfig(self.window_ms, self.num_bins, self.cameras, self.rectify, self.max_count,
                              self.presentation)

    @property
    def running_sums(self) -> bool:
        """Whether the frames are running sums over more than one bin (cumulative presentation;
        with one bin both presentations are the same input)."""
        return self.presentation == "cumulative" and self.num_bins > 1

    def to_metres(self):
        """Converter from network units to metres: None when depth is in metres, else the inverse
        of the log normalisation (``denormalize_depth`` with ``d_max`` and ``alpha``)."""
        if not self.normalize_depth:
            return None
        return functools.partial(denormalize_depth, d_max=self.d_max, alpha=self.alpha)

    def depth(self) -> DepthConfig:
        return DepthConfig(
            self.normalize_depth,
            self.d_max,
            self.alpha,
            self.fill_holes,
            self.fill_area,
            self.clip_min,
            self.clip_max,
        )


def _calibration_files(root: Path, seq: str) -> list[Path]:
    scene = layout.scene_of(seq)
    d = calib_dir_for(root, seq)
    maps = [d / layout.RECT_MAP.format(scene=scene, cam=c, axis=a) for c in layout.CAMERAS for a in "xy"]
    return [d / layout.CALIB_YAML.format(scene=scene), *maps]


class EventDepthDataset(Dataset):
    """Event frames and depth targets for one subset of a split (see the module docstring).

    ``split`` is a preset name (``split1``..``split3``, ``synthetic``), a :class:`SplitSpec` or an
    already resolved :class:`Split`. ``cache_dir`` enables the on-disk sample cache.
    """

    def __init__(
        self,
        root: str | Path,
        split: str | SplitSpec | Split = "split1",
        subset: str = "train",
        encoding: EncodingConfig | None = None,
        depth: DepthConfig | None = None,
        cache_dir: str | Path | None = None,
        skip_invalid: bool = True,
    ):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError("data folder not found", self.root)
        self.encoding = encoding or EncodingConfig()
        self.depth_cfg = depth or DepthConfig()
        self.subset = subset
        resolved = split if isinstance(split, Split) else resolve_split(split, self.root)
        self.split_name = resolved.name
        wanted = resolved.subset(subset)

        self._seqs: dict[str, MVSECSequence] = {}
        calibs: dict[str, StereoCalibration] = {}
        for seq in dict.fromkeys(s for s, _ in wanted):
            scene = layout.scene_of(seq)
            if scene not in calibs:  # parse the text maps once per scene
                calibs[scene] = load_calibration(calib_dir_for(self.root, seq), scene)
            self._seqs[seq] = MVSECSequence(
                self.root, seq, calibration=calibs[scene], cameras=self.encoding.camera_names
            )

        self.samples: list[Sample] = self._build_index(wanted, skip_invalid)
        if wanted and not self.samples:
            raise DataError(
                f"subset '{subset}' of split {self.split_name}: no label has valid depth", self.root
            )

        self._caches: dict[str, SequenceCache] = {}
        if cache_dir is not None:
            cache = SampleCache(cache_dir)
            params = {
                "encoding": dataclasses.asdict(self.encoding),
                "depth": dataclasses.asdict(self.depth_cfg),
                "depth_camera": "left",
            }
            for seq, s in self._seqs.items():
                sources = [s.data_path, s.gt_path, *_calibration_files(self.root, seq)]
                self._caches[seq] = cache.for_sequence(seq, sources, params)
        self.close()

    def _build_index(self, wanted: Sequence[tuple[str, int]], skip_invalid: bool) -> list[Sample]:
        by_seq: dict[str, list[int]] = {}
        for seq, i in wanted:
            by_seq.setdefault(seq, []).append(i)
        keep: dict[tuple[str, int], bool] = {}
        for seq, labels in by_seq.items():
            s = self._seqs[seq]
            labels_arr = np.asarray(labels, dtype=np.int64)
            ok = np.ones(len(labels), dtype=bool)
            if skip_invalid:
                ok = self._has_valid_depth(s, labels_arr)
                if not ok.all():
                    bad = labels_arr[~ok]
                    warn_data(
                        f"{s.gt_path}: skipping {bad.size} label(s) without any valid depth pixel "
                        f"(first: {bad[:5].tolist()})"
                    )
            ts = s.label_ts[labels_arr]
            outside = np.zeros(len(labels), dtype=bool)
            for cam in self.encoding.camera_names:
                t_first, t_last = s.event_time_range(cam)
                outside |= (ts <= t_first) | (ts - self.encoding.window_s > t_last)
            if outside.any():
                warn_data(
                    f"{s.data_path}: {int(outside.sum())} label window(s) lie outside the event time range "
                    f"of a camera and encode as zero frames (first label: {int(labels_arr[outside][0])})"
                )
            for i, good in zip(labels, ok.tolist(), strict=True):
                keep[(seq, i)] = good
        return [Sample(seq, i, float(self._seqs[seq].label_ts[i])) for seq, i in wanted if keep[(seq, i)]]

    @staticmethod
    def _has_valid_depth(s: MVSECSequence, labels: np.ndarray) -> np.ndarray:
        """Per label: does its depth map have at least one finite, positive pixel?"""
        valid = np.zeros(s.num_labels, dtype=bool)
        lo, hi = int(labels.min()), int(labels.max()) + 1
        for a in range(lo, hi, _SCAN_BLOCK):
            b = min(a + _SCAN_BLOCK, hi)
            d = s.depth_block(a, b)
            valid[a:b] = (np.isfinite(d) & (d > 0)).any(axis=(1, 2))
        return valid[labels]

    # -- Dataset API ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        frames, target, mask = self.arrays(index)
        return torch.from_numpy(frames), torch.from_numpy(target), torch.from_numpy(mask)

    def arrays(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Item ``index`` as numpy arrays ``(frames, depth, mask)`` (cached when enabled)."""
        sample = self.samples[index]
        seq = self._seqs[sample.seq]
        cache = self._caches.get(sample.seq)
        if cache is not None:
            hit = cache.get(sample.label, self._expected(seq))
            if hit is not None:
                return hit["frames"], hit["depth"], hit["mask"]
        frames = encode_window(seq, sample.timestamp, self.encoding)
        target, mask = depth_target(seq.depth(sample.label), self.depth_cfg)
        if cache is not None:
            cache.put(sample.label, {"frames": frames, "depth": target, "mask": mask})
        return frames, target, mask

    def _expected(self, seq: MVSECSequence) -> dict[str, tuple[tuple[int, ...], str]]:
        h, w = seq.height, seq.width
        return {
            "frames": ((self.encoding.num_bins, self.encoding.channels, h, w), "float32"),
            "depth": ((h, w), "float32"),
            "mask": ((h, w), "bool"),
        }

    @property
    def channels(self) -> int:
        return self.encoding.channels

    @property
    def resolution(self) -> tuple[int, int]:
        """(width, height) of the frames (that of the first sequence; all share a scene size)."""
        if not self._seqs:
            return layout.WIDTH, layout.HEIGHT
        return next(iter(self._seqs.values())).resolution

    def timestamps(self) -> np.ndarray:
        """Label timestamps (seconds) of all samples, in dataset order."""
        return np.array([s.timestamp for s in self.samples], dtype=np.float64)

    def close(self) -> None:
        """Close every open HDF5 handle (reopened on demand)."""
        for s in self._seqs.values():
            s.close()

    @classmethod
    def from_config(cls, cfg: DataConfig, subset: str) -> EventDepthDataset:
        return cls(cfg.root, cfg.split, subset, cfg.encoding(), cfg.depth(), cfg.cache_dir, cfg.skip_invalid)


def list_samples(
    root: str | Path,
    split: str | SplitSpec | Split = "split1",
    subset: str = "train",
    encoding: EncodingConfig | None = None,
    skip_invalid: bool = True,
) -> list[Sample]:
    """The samples (sequence, label, timestamp) a dataset with these options would serve."""
    return EventDepthDataset(root, split, subset, encoding, skip_invalid=skip_invalid).samples
