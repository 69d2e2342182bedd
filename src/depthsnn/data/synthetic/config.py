"""Options of the synthetic stereo event generator (``depthsnn data synth``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...errors import ConfigError
from .. import layout

# Sequences are named <SCENE><i> (i from 1), so layout.scene_of() gives SCENE and the calibration
# lives in <SCENE>_calib/, exactly like indoor_flying1..4.
SCENE = "synthetic_stereo"


@dataclass(frozen=True)
class SynthConfig:
    """Everything that determines a generated data set; with ``seed`` it fixes every byte of it.

    Pairs are ``(low, high)`` ranges sampled uniformly per object (``n_objects`` inclusive).
    Depths are metres, image sizes and speeds pixels of the left camera.
    """

    # Many short scenes rather than a few long ones: consecutive labels of one scene are nearly
    # redundant, and a network trained on 3 scenes memorises them (see BENCHMARKS.md).
    sequences: int = 40
    seconds: float = 0.5
    seed: int = 0
    width: int = layout.WIDTH
    height: int = layout.HEIGHT
    fx_baseline: float = layout.FX_BASELINE  # px*m; disparity = fx_baseline / depth
    # Scene
    n_objects: tuple[int, int] = (3, 6)
    shapes: tuple[str, ...] = ("rect", "disc")
    depth_range: tuple[float, float] = (1.0, 6.0)  # initial object depths
    depth_change: float = 0.25  # amplitude of the slow depth oscillation, as a log-depth factor
    object_size_px: tuple[float, float] = (40.0, 120.0)  # object width/height at its initial depth
    speed_px_s: float = 20.0  # typical image-plane speed of an object's own motion
    camera_speed_m_s: float = 0.8  # typical speed of the rig's sideways motion (parallax); 0 = fixed rig
    background_depth: float = 9.0
    background_speed_px_s: float = 8.0  # slow pan of the background texture
    max_range: float = 8.0  # depth beyond this is invalid (NaN) in the ground truth
    texture_beta: float = 1.3  # texture power spectrum ~ 1/f^beta: lower = more fine detail
    # Sensor
    render_hz: float = 500.0  # internal log-intensity frame rate of the event simulator
    image_hz: float = 20.0  # rate of davis/{cam}/image_raw
    depth_hz: float = layout.DEPTH_RATE_HZ
    contrast_pos: float = 0.2  # C+ (log-intensity step per ON event)
    contrast_neg: float = 0.2  # C- (log-intensity step per OFF event)
    contrast_sigma: float = 0.03  # per-pixel Gaussian spread of C+ and C-
    refractory_s: float = 0.001
    noise_rate_hz: float = 0.05  # background-activity noise events per pixel per second
    t_start: float = 0.0  # timestamp of the first frame, seconds
    compression: str = "lzf"  # hdf5 filter for images and depth ("lzf", "gzip", "none"); events never

    def validate(self) -> SynthConfig:
        """Raise ConfigError naming the first nonsensical option; return self otherwise."""
        checks = [
            (self.sequences >= 1, "sequences must be at least 1"),
            (self.seconds > 0, "seconds must be positive"),
            (self.seed >= 0, "seed must be >= 0"),
            (self.width >= 8 and self.height >= 8, "width and height must be at least 8"),
            (self.fx_baseline > 0, "fx_baseline must be positive"),
            (len(self.n_objects) in (1, 2) and 0 <= min(self.n_objects) and _ordered(self.n_objects),
             "n_objects must be 'n' or 'low,high' with 0 <= low <= high"),
            (len(self.shapes) >= 1 and set(self.shapes) <= {"rect", "disc"},
             "shapes must be a non-empty list of 'rect' and 'disc'"),
            (len(self.depth_range) == 2 and 0 < self.depth_range[0] and _ordered(self.depth_range),
             "depth_range must be 'low,high' with 0 < low <= high"),
            (len(self.object_size_px) == 2 and 1 <= self.object_size_px[0] and _ordered(self.object_size_px),
             "object_size_px must be 'low,high' with 1 <= low <= high"),
            (self.depth_change >= 0, "depth_change must be >= 0"),
            (self.background_depth > 0, "background_depth must be positive"),
            (self.speed_px_s >= 0 and self.camera_speed_m_s >= 0 and self.background_speed_px_s >= 0,
             "speed_px_s, camera_speed_m_s and background_speed_px_s must be >= 0"),
            (self.max_range > 0, "max_range must be positive"),
            (self.render_hz > 0 and self.image_hz > 0 and self.depth_hz > 0, "rates must be positive"),
            (self.render_hz >= self.depth_hz, "render_hz must be at least depth_hz"),
            (self.contrast_pos > 0 and self.contrast_neg > 0, "contrast thresholds must be positive"),
            (self.contrast_sigma >= 0 and self.refractory_s >= 0 and self.noise_rate_hz >= 0,
             "contrast_sigma, refractory_s and noise_rate_hz must be >= 0"),
            (math.isfinite(self.t_start) and self.t_start >= 0, "t_start must be >= 0"),
            (self.compression in ("lzf", "gzip", "none"), "compression must be lzf, gzip or none"),
        ]
        for ok, problem in checks:
            if not ok:
                raise ConfigError(problem)
        return self

    @property
    def object_count_range(self) -> tuple[int, int]:
        return (self.n_objects[0], self.n_objects[-1])

    @property
    def intrinsics(self) -> tuple[float, float, float, float]:
        """MVSEC fx, fy; principal point scaled with the image size (exact at 346x260)."""
        return (layout.FX, layout.FY, layout.CX * self.width / layout.WIDTH, layout.CY * self.height / layout.HEIGHT)


def _ordered(pair: tuple) -> bool:
    return all(a <= b for a, b in zip(pair, pair[1:], strict=False))


def sequence_name(index: int) -> str:
    """0-based sequence index -> ``synthetic_stereo1``, ``synthetic_stereo2``, ..."""
    return f"{SCENE}{index + 1}"
