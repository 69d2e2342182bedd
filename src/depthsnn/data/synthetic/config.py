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

    ``world`` picks the scene model: ``room`` (default; a drone flying through a furnished
    room as in MVSEC indoor_flying: floor, walls and ceiling in perspective, boxes of physical
    size on the floor or hovering, see :mod:`.room`) or ``planes`` (textured fronto-parallel
    planes in front of a far background, see :mod:`.scene`; one camera has no cue to metric
    depth there). Options marked planes/room apply to that world only.

    Pairs are ``(low, high)`` ranges sampled uniformly per object (``n_objects`` inclusive).
    Depths and room sizes are metres, image sizes and speeds pixels of the left camera.
    """

    # Many short scenes rather than a few long ones: consecutive labels of one scene are nearly
    # redundant, and a network trained on 3 scenes memorises them (see BENCHMARKS.md).
    sequences: int = 40
    seconds: float = 0.5
    seed: int = 0
    width: int = layout.WIDTH
    height: int = layout.HEIGHT
    fx_baseline: float = layout.FX_BASELINE  # px*m; disparity = fx_baseline / depth
    world: str = "room"
    # Scene (both worlds)
    n_objects: tuple[int, int] = (3, 6)
    camera_speed_m_s: float = 0.8  # typical rig speed (room: drone flight; planes: sideways sway); 0 = fixed
    max_range: float = 8.0  # depth beyond this is invalid (NaN) in the ground truth
    texture_beta: float = 1.3  # texture power spectrum ~ 1/f^beta: lower = more fine detail
    # Room world: room extent, rig height, furniture (metres), share of objects resting on the floor
    room_width_m: tuple[float, float] = (4.0, 7.0)
    room_height_m: tuple[float, float] = (2.5, 3.2)
    room_depth_m: tuple[float, float] = (4.5, 7.5)  # distance from the rig's start to the back wall
    flight_height_m: tuple[float, float] = (0.8, 1.6)  # rig height above the floor
    object_width_m: tuple[float, float] = (0.25, 1.0)
    object_height_m: tuple[float, float] = (0.25, 1.2)
    object_depth_m: tuple[float, float] = (0.25, 0.8)
    object_distance_m: tuple[float, float] = (1.5, 6.0)  # object centre depth, log-uniform
    on_floor_fraction: float = 0.6
    # Planes world
    shapes: tuple[str, ...] = ("rect", "disc")
    depth_range: tuple[float, float] = (1.0, 6.0)  # initial object depths
    depth_change: float = 0.25  # amplitude of the slow depth oscillation, as a log-depth factor
    object_size_px: tuple[float, float] = (40.0, 120.0)  # object width/height at its initial depth
    speed_px_s: float = 20.0  # typical image-plane speed of an object's own motion
    background_depth: float = 9.0
    background_speed_px_s: float = 8.0  # slow pan of the background texture
    # Sensor
    render_hz: float = 200.0  # internal log-intensity frame rate of the event simulator
    image_hz: float = 20.0  # rate of davis/{cam}/image_raw
    depth_hz: float = layout.DEPTH_RATE_HZ
    contrast_pos: float = 0.2  # C+ (log-intensity step per ON event)
    contrast_neg: float = 0.2  # C- (log-intensity step per OFF event)
    contrast_sigma: float = 0.03  # per-pixel Gaussian spread of C+ and C-
    refractory_s: float = 0.001
    noise_rate_hz: float = 0.05  # background-activity noise events per pixel per second
    t_start: float = 0.0  # timestamp of the first frame, seconds
    compression: str = "lzf"  # hdf5 filter for images and depth ("lzf", "gzip", "none"); events never
    workers: int = 0  # processes generating sequences in parallel; 0 = one per CPU core (at most 4)

    def validate(self) -> SynthConfig:
        """Raise ConfigError naming the first nonsensical option; return self otherwise."""
        checks = [
            (self.sequences >= 1, "sequences must be at least 1"),
            (self.world in ("room", "planes"), f"world must be 'room' or 'planes', got {self.world!r}"),
            (self.workers >= 0, "workers must be >= 0"),
            (all(len(r) == 2 and 0 < r[0] <= r[1] for r in (
                self.room_width_m, self.room_height_m, self.room_depth_m, self.flight_height_m,
                self.object_width_m, self.object_height_m, self.object_depth_m, self.object_distance_m)),
             "room and object size ranges must be 'low,high' with 0 < low <= high"),
            (self.flight_height_m[1] < self.room_height_m[0], "flight_height_m must stay below room_height_m"),
            (0.0 <= self.on_floor_fraction <= 1.0, "on_floor_fraction must be in [0, 1]"),
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
