"""Event encoding: count ON/OFF events per pixel in the window before each depth label.

Frames are float32 ``[T, 2 * cameras, H, W]``; channels per camera are ``[ON, OFF]``, left camera
first. The window of label ``i`` is ``[t_i - window, t_i)``. With ``T = num_bins > 1`` it is cut
into ``T`` equal sub-windows with edges ``e_k = t0 + k * (t1 - t0) / T``; bin ``k`` holds
``e_k <= t < e_{k+1}``, so an event exactly on an inner edge goes to the later bin and the last
edge (the label time) is exclusive. Binning is a single ``np.bincount`` (no per-event loop).

Presentation (:func:`present`): ``per_bin`` feeds step ``k`` the events of bin ``k``;
``cumulative`` feeds it every event from the window's start to the end of bin ``k`` (the running
sum of the bins: the "cumulative stacking" of MSS-DepthNet, a multi-step SNN on MVSEC), so
the last step always sees the whole window, as ``T = 1`` does. The ``max_count`` clip applies
after cumulation, to what the network is fed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mvsec import EventArrays, MVSECSequence

CAMERA_MODES = {"binocular": ("left", "right"), "monocular": ("left",)}
PRESENTATIONS = ("per_bin", "cumulative")


@dataclass(frozen=True)
class EncodingConfig:
    """How events become input frames.

    ``window_ms``: window length before each label (StereoSpike: 50 ms, one label period).
    ``num_bins``: T sub-windows (time steps fed to the network).
    ``cameras``: ``"binocular"`` (left + right, 4 channels) or ``"monocular"`` (left, 2 channels).
    ``rectify``: map events through the calibration's x/y maps (depth maps are rectified).
    ``max_count``: clip per-pixel counts to this value (``None``: raw counts).
    ``presentation``: ``per_bin`` (step k sees bin k) or ``cumulative`` (step k sees bins 0..k).
    """

    window_ms: float = 50.0
    num_bins: int = 1
    cameras: str = "binocular"
    rectify: bool = True
    max_count: float | None = None
    presentation: str = "per_bin"

    def __post_init__(self) -> None:
        if not self.window_ms > 0:
            raise ValueError(f"window_ms must be > 0, got {self.window_ms}")
        if self.num_bins < 1:
            raise ValueError(f"num_bins must be >= 1, got {self.num_bins}")
        if self.cameras not in CAMERA_MODES:
            raise ValueError(f"cameras must be one of {sorted(CAMERA_MODES)}, got {self.cameras!r}")
        if self.max_count is not None and not self.max_count > 0:
            raise ValueError(f"max_count must be > 0 or None, got {self.max_count}")
        if self.presentation not in PRESENTATIONS:
            raise ValueError(f"presentation must be one of {', '.join(PRESENTATIONS)}, got {self.presentation!r}")

    @property
    def camera_names(self) -> tuple[str, ...]:
        return CAMERA_MODES[self.cameras]

    @property
    def channels(self) -> int:
        """Input channels: 2 (ON, OFF) per camera."""
        return 2 * len(self.camera_names)

    @property
    def window_s(self) -> float:
        return self.window_ms / 1000.0


def bin_edges(t_start: float, t_end: float, num_bins: int) -> np.ndarray:
    """The ``num_bins + 1`` sub-window edges of ``[t_start, t_end)``."""
    k = np.arange(num_bins + 1, dtype=np.float64)
    edges = t_start + (t_end - t_start) * k / num_bins
    edges[-1] = t_end  # exact, whatever the rounding of the product
    return edges


def bin_events(
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    p: np.ndarray,
    t_start: float,
    t_end: float,
    num_bins: int,
    height: int,
    width: int,
) -> np.ndarray:
    """Count events into float32 ``[num_bins, 2, H, W]`` (channel 0 ON = ``p`` true, 1 OFF).

    Events outside ``[t_start, t_end)`` or outside the sensor are ignored; bin boundaries as in
    the module docstring.
    """
    x = np.asarray(x, dtype=np.int64)
    y = np.asarray(y, dtype=np.int64)
    t = np.asarray(t, dtype=np.float64)
    p = np.asarray(p).astype(bool)
    edges = bin_edges(t_start, t_end, num_bins)
    b = np.searchsorted(edges, t, side="right") - 1  # edges[b] <= t < edges[b + 1]
    keep = (b >= 0) & (b < num_bins) & (t < t_end) & (x >= 0) & (x < width) & (y >= 0) & (y < height)
    b, x, y, pol = b[keep], x[keep], y[keep], (~p[keep]).astype(np.int64)
    flat = ((b * 2 + pol) * height + y) * width + x
    counts = np.bincount(flat, minlength=num_bins * 2 * height * width)
    return counts.astype(np.float32).reshape(num_bins, 2, height, width)


def encode_events(events: EventArrays, t_start: float, t_end: float, num_bins: int, height: int, width: int):
    """:func:`bin_events` for an :class:`EventArrays`."""
    return bin_events(events.x, events.y, events.t, events.p, t_start, t_end, num_bins, height, width)


def encode_window(seq: MVSECSequence, t_end: float, cfg: EncodingConfig) -> np.ndarray:
    """Frames ``[T, C, H, W]`` for the window ``[t_end - window, t_end)`` of ``seq``.

    A window without events (or outside the recording) gives zero frames; callers that care
    (the dataset index) warn about windows outside the event time range.
    """
    t_start = t_end - cfg.window_s
    parts = []
    for cam in cfg.camera_names:
        ev = seq.window_events(cam, t_start, t_end, rectify=cfg.rectify)
        parts.append(encode_events(ev, t_start, t_end, cfg.num_bins, seq.height, seq.width))
    return present(np.concatenate(parts, axis=1), cfg)


def present(frames: np.ndarray, cfg: EncodingConfig) -> np.ndarray:
    """Per-bin counts ``[T, C, H, W]`` -> what the network is fed: cumulated over the bins when
    ``cfg.presentation`` is ``cumulative``, then clipped to ``cfg.max_count``. In place."""
    if cfg.presentation == "cumulative":
        np.cumsum(frames, axis=0, out=frames)
    if cfg.max_count is not None:
        np.minimum(frames, np.float32(cfg.max_count), out=frames)
    return frames


def encode_label(seq: MVSECSequence, i: int, cfg: EncodingConfig) -> np.ndarray:
    """Frames ``[T, C, H, W]`` for depth label ``i`` of ``seq`` (window ending at its timestamp)."""
    return encode_window(seq, seq.label_timestamp(i), cfg)
