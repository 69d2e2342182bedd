"""The room world: a drone-borne stereo rig flying through a furnished room, as in MVSEC indoor_flying.

A scene is an axis-aligned box room (floor, ceiling, two side walls, a back wall) holding
axis-aligned boxes of physical size (furniture resting on the floor, or hovering objects),
seen by a rectified stereo rig that translates like a drone: a typical speed with small
variation, its direction wandering. The rig does not rotate, so world axes are camera axes
(x right, y down, z forward) and a pixel's depth is the z distance to the surface it sees.

These are the cues a monocular network uses on real indoor scenes: depth of the floor and
walls varies smoothly with image position (perspective), objects' image size scales with
1/Z, and motion parallax scales with 1/Z. Binocular disparity is fx*B/Z exactly, B the rig's
baseline.

Rendering is ray casting, written with numpy because every surface is a plane: the floor and
ceiling depth of a pixel depends on its row only, a side wall's on its column only, so the
room costs a few vector operations per frame; boxes use the slab test inside their image
bounding box. Texture is looked up in a mip-mapped tiling 1/f noise (trilinear), so far
floor at grazing angles does not alias into flicker events. A 3-tap lens blur stands in for
the optics' point spread and smooths the staircase of surface borders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

_I_MIN = 0.02  # intensities stay in [_I_MIN, 1], as the planes world
FLOOR, CEILING, LEFT_WALL, RIGHT_WALL, BACK_WALL = range(5)  # surface ids; boxes follow
_TEX_SIZE = 512  # texels per side of the shared texture tile (power of two for the mip chain)


@dataclass(frozen=True)
class MipTexture:
    """A periodic square log-intensity tile (zero mean, unit std) and its box-filtered pyramid
    down to 8x8, packed into one atlas image for ``torch.nn.functional.grid_sample``.

    Level L (side ``sizes[L]``) sits at column ``table[L, 1]``, row ``table[L, 2]`` of ``atlas``
    inside a border of one wrapped texel, so a bilinear tap never leaves its level and
    wrap-around is exact. grid_sample does the bilinear gathers in one C++ pass: several times faster than
    numpy fancy indexing, which dominated the render time.
    """

    atlas: torch.Tensor  # [1, 1, H, W] float32
    sizes: np.ndarray
    table: torch.Tensor  # [levels, 4]: side, column, row of the level in the atlas, 2**-level
    to_grid: torch.Tensor  # atlas pixel -> grid_sample coordinate scale, (2/(W-1), 2/(H-1))

    @classmethod
    def from_tile(cls, tile: np.ndarray) -> MipTexture:
        n = tile.shape[0]
        if tile.shape != (n, n) or n & (n - 1) or n < 16:
            raise ValueError("texture tile must be square with a power-of-two side >= 16")
        levels = [np.asarray(tile, dtype=np.float32)]
        while levels[-1].shape[0] > 8:
            a = levels[-1]
            levels.append(0.25 * (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]))
        # One wrapped texel on every side of each level: after wrapping coordinates once into
        # [0, n) level-0 texels, every tap of every level lands inside its own block.
        blocks = [np.pad(lev, 1, mode="wrap") for lev in levels]
        height = max(n + 2, sum(b.shape[0] for b in blocks[1:]))
        atlas = np.zeros((height, 2 * n + 4), dtype=np.float32)
        atlas[: n + 2, : n + 2] = blocks[0]
        ox, oy, y = [1], [1], 0
        for b in blocks[1:]:
            m = b.shape[0]
            atlas[y : y + m, n + 2 : n + 2 + m] = b
            ox.append(n + 3)
            oy.append(y + 1)
            y += m
        sizes = np.array([m.shape[0] for m in levels])
        table = torch.tensor([[m, x, yy, 2.0**-k] for k, (m, x, yy) in enumerate(zip(sizes, ox, oy, strict=True))],
                             dtype=torch.float32)
        h, w = atlas.shape
        return cls(torch.from_numpy(atlas)[None, None], sizes, table,
                   torch.tensor([2.0 / (w - 1), 2.0 / (h - 1)], dtype=torch.float32))

    @property
    def levels(self) -> int:
        return len(self.sizes)


def noise_tile(rng: np.random.Generator, n: int, beta: float) -> np.ndarray:
    """Periodic n x n noise with power spectrum ~ 1/f^(2*beta), zero mean and unit std."""
    spectrum = np.fft.rfft2(rng.standard_normal((n, n)))
    f = np.hypot(np.fft.fftfreq(n)[:, None], np.fft.rfftfreq(n)[None, :])
    f[0, 0] = np.inf
    tex = np.fft.irfft2(spectrum * f**-beta, s=(n, n))
    return ((tex - tex.mean()) / (tex.std() + 1e-12)).astype(np.float32)


@dataclass(frozen=True)
class Surface:
    """Appearance of one surface: ``log I = log(mean) + contrast * noise(u/texel + offset)``."""

    mean: float
    contrast: float
    texel_m: float
    offset: tuple[float, float] = (0.0, 0.0)  # in texels; decorrelates surfaces sharing the tile


@dataclass(frozen=True)
class Box:
    """An axis-aligned box from ``lo`` to ``hi`` (world metres); y grows downwards."""

    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    surface: Surface


@dataclass(frozen=True)
class DroneMotion:
    """Rig position ``p(t) = p0 + v*t + sum_i a_i*(sin(w_i t + phi_i) - sin(phi_i)) * e_i``.

    ``v`` is the mean velocity (speed and heading); the sinusoids, along directions ``e_i``
    perpendicular to ``v``, make the direction wander and the speed vary a little while the
    position stays smooth and known in closed form.
    """

    p0: tuple[float, float, float]
    velocity: tuple[float, float, float]
    amps: tuple[float, ...] = ()
    omegas: tuple[float, ...] = ()
    phases: tuple[float, ...] = ()
    dirs: tuple[tuple[float, float, float], ...] = ()

    def position(self, t: float) -> np.ndarray:
        p = np.asarray(self.p0, dtype=np.float64) + np.asarray(self.velocity) * t
        for a, w, ph, e in zip(self.amps, self.omegas, self.phases, self.dirs, strict=True):
            p = p + a * (math.sin(w * t + ph) - math.sin(ph)) * np.asarray(e)
        return p

    def speed(self, t: float) -> float:
        v = np.asarray(self.velocity, dtype=np.float64).copy()
        for a, w, ph, e in zip(self.amps, self.omegas, self.phases, self.dirs, strict=True):
            v += a * w * math.cos(w * t + ph) * np.asarray(e)
        return float(np.linalg.norm(v))


@dataclass(frozen=True)
class RoomScene:
    """Room bounds ``x_left < 0 < x_right``, ``y_ceiling < 0 < y_floor``, back wall at ``z_back``
    (world metres, the rig starts near the origin), surfaces in id order (floor, ceiling, left,
    right, back), boxes, the rig's motion and the camera geometry."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    fx_baseline: float
    x_left: float
    x_right: float
    y_ceiling: float
    y_floor: float
    z_back: float
    surfaces: tuple[Surface, ...]
    boxes: tuple[Box, ...] = ()
    motion: DroneMotion = field(default_factory=lambda: DroneMotion((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)))
    texture: MipTexture | None = None  # None = untextured (flat) surfaces

    @property
    def baseline_m(self) -> float:
        return self.fx_baseline / self.fx

    def camera_position(self, t: float, camera: str = "left") -> np.ndarray:
        if camera not in ("left", "right"):
            raise ValueError(f"camera must be 'left' or 'right', got {camera!r}")
        p = self.motion.position(t)
        if camera == "right":
            p = p + np.array([self.baseline_m, 0.0, 0.0])
        return p


@dataclass(frozen=True)
class Hits:
    """What each pixel's ray hits: depth ``z`` (H, W), the hit plane's normal ``axis`` (0 x, 1 y,
    2 z) and the ``surface`` id (0-4 room, 5 + k box k)."""

    z: np.ndarray
    axis: np.ndarray
    surface: np.ndarray
    origin: np.ndarray
    dx: np.ndarray
    dy: np.ndarray


def trace(scene: RoomScene, t: float, camera: str = "left") -> Hits:
    """Cast one ray per pixel centre from the camera at time ``t``; nearest surface wins."""
    o = scene.camera_position(t, camera)
    dx = (np.arange(scene.width, dtype=np.float64) - scene.cx) / scene.fx  # ray = (dx, dy, 1)
    dy = (np.arange(scene.height, dtype=np.float64) - scene.cy) / scene.fy
    with np.errstate(divide="ignore", invalid="ignore"):
        z_row = np.where(dy > 0, (scene.y_floor - o[1]) / dy, (scene.y_ceiling - o[1]) / dy)
        z_row[dy == 0] = np.inf
        z_col = np.where(dx > 0, (scene.x_right - o[0]) / dx, (scene.x_left - o[0]) / dx)
        z_col[dx == 0] = np.inf
    row_id = np.where(dy > 0, FLOOR, CEILING)
    col_id = np.where(dx > 0, RIGHT_WALL, LEFT_WALL)
    z_back = scene.z_back - o[2]
    zr, zc = np.broadcast_arrays(z_row[:, None], z_col[None, :])
    z = np.minimum(np.minimum(zr, zc), z_back)
    axis = np.where(z == zr, 1, np.where(z == zc, 0, 2)).astype(np.int8)
    surface = np.where(z == zr, row_id[:, None], np.where(z == zc, col_id[None, :], BACK_WALL)).astype(np.int16)
    for k, box in enumerate(scene.boxes):
        _trace_box(scene, box, o, dx, dy, z, axis, surface, 5 + k)
    return Hits(z, axis, surface, o, dx, dy)


def _trace_box(scene: RoomScene, box: Box, o: np.ndarray, dx: np.ndarray, dy: np.ndarray,
               z: np.ndarray, axis: np.ndarray, surface: np.ndarray, sid: int) -> None:
    """Slab test inside the box's image bounding box; writes nearer hits into z/axis/surface."""
    lo, hi = np.asarray(box.lo) - o, np.asarray(box.hi) - o
    if hi[2] <= 1e-3:
        return  # behind the camera
    zs = np.array([max(lo[2], 1e-3), hi[2]])
    # Image extent of the box: project the corners of its front and back faces.
    us = scene.cx + scene.fx * np.array([lo[0], hi[0]])[:, None] / zs[None, :]
    vs = scene.cy + scene.fy * np.array([lo[1], hi[1]])[:, None] / zs[None, :]
    x0, x1 = max(0, math.floor(us.min())), min(scene.width, math.ceil(us.max()) + 1)
    y0, y1 = max(0, math.floor(vs.min())), min(scene.height, math.ceil(vs.max()) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    rx, ry = dx[x0:x1][None, :], dy[y0:y1][:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        tx = np.sort(np.stack(np.broadcast_arrays(lo[0] / rx, hi[0] / rx)), axis=0)
        ty = np.sort(np.stack(np.broadcast_arrays(lo[1] / ry, hi[1] / ry)), axis=0)
    # A ray parallel to a slab misses it unless it starts inside (then that slab never limits).
    tx = np.where(np.isnan(tx), np.array([-np.inf, np.inf])[:, None, None], tx)
    ty = np.where(np.isnan(ty), np.array([-np.inf, np.inf])[:, None, None], ty)
    near = np.stack(np.broadcast_arrays(tx[0], ty[0], np.full(tx[0].shape, lo[2])))
    t_near = near.max(0)
    t_far = np.minimum(np.minimum(tx[1], ty[1]), hi[2])
    region = z[y0:y1, x0:x1]
    hit = (t_near <= t_far) & (t_near > 1e-3) & (t_near < region)
    region[hit] = t_near[hit]
    axis[y0:y1, x0:x1][hit] = near.argmax(0)[hit]
    surface[y0:y1, x0:x1][hit] = sid


def render_room(scene: RoomScene, t: float, camera: str = "left") -> tuple[np.ndarray, np.ndarray]:
    """Intensity (H, W) float32 in (0, 1] and depth (H, W) float32 metres at time ``t``."""
    hits = trace(scene, t, camera)
    z = hits.z.astype(np.float32)
    surfaces = (*scene.surfaces, *(b.surface for b in scene.boxes))
    # Per-surface parameters, one np.take per column (faster than one row gather of a table).
    table = np.array([(s.mean, s.contrast, 1.0 / s.texel_m, *s.offset) for s in surfaces], dtype=np.float32).T
    sid = hits.surface
    mean = np.take(table[0], sid)
    if scene.texture is None:
        img = mean
    else:
        o = hits.origin.astype(np.float32)
        rx, ry = hits.dx.astype(np.float32)[None, :], hits.dy.astype(np.float32)[:, None]
        wx, wy, wz = o[0] + rx * z, o[1] + ry * z, o[2] + z
        ax = hits.axis
        # Plane coordinates by the normal's axis: x-normal (Z, Y), y-normal (X, Z), z-normal (X, Y).
        u = np.where(ax == 0, wz, wx)
        v = np.where(ax == 1, wz, wy)
        # Pixel footprint on the surface, distance / (f * cos(incidence)), in texels.
        dn = np.where(ax == 0, np.abs(rx), np.where(ax == 1, np.abs(ry), np.float32(1.0)))
        f = np.float32(0.5 * (scene.fx + scene.fy))
        inv_texel = np.take(table[2], sid)
        footprint = z * (rx * rx + ry * ry + 1) * inv_texel / (f * np.maximum(dn, 1e-6))
        level = np.clip(np.log2(np.maximum(footprint, 1.0)), 0, scene.texture.levels - 1)
        log_tex = _sample_trilinear(scene.texture, u * inv_texel + np.take(table[3], sid),
                                    v * inv_texel + np.take(table[4], sid), level)
        img = mean * np.exp(np.take(table[1], sid) * log_tex)
    img = np.clip(_lens_blur(img), _I_MIN, 1.0)
    return img, z


def _sample_trilinear(tex: MipTexture, u: np.ndarray, v: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Bilinear lookups in the two mip levels around ``level``, blended by its fraction.

    Level constants come from closed forms of the atlas layout rather than table lookups:
    numpy's and torch's small-table gathers and ``mod`` cost more than the sampling itself.
    """
    n = np.float32(tex.sizes[0])
    # Every level repeats every n level-0 texels: wrap once here, the atlas border does the rest.
    u = u - n * np.floor(u * (1 / n)) + np.float32(0.5)
    v = v - n * np.floor(v * (1 / n)) + np.float32(0.5)
    l0 = np.floor(level)
    grid = np.empty((2, *u.shape, 2), dtype=np.float32)
    sx, sy = (float(c) for c in tex.to_grid)
    for k, lev in enumerate((l0, np.minimum(l0 + 1, np.float32(tex.levels - 1)))):
        inv = np.exp2(-lev)
        # Level 0 starts at (1, 1); level L >= 1 at column n + 3, row n*(1 - 2**(1-L)) + 2L - 1.
        col = np.where(lev == 0, np.float32(1), n + 3)
        row = np.where(lev == 0, np.float32(1), n * (1 - 2 * inv) + 2 * lev - 1)
        # Texel centres of level L sit at (i + 0.5) * 2**L - 0.5 in level-0 texels.
        grid[k, ..., 0] = (u * inv + (col - np.float32(0.5))) * sx - 1
        grid[k, ..., 1] = (v * inv + (row - np.float32(0.5))) * sy - 1
    out = F.grid_sample(tex.atlas.expand(2, -1, -1, -1), torch.from_numpy(grid), mode="bilinear",
                        align_corners=True)[:, 0].numpy()
    return out[0] + (level - l0) * (out[1] - out[0])


def _lens_blur(img: np.ndarray) -> np.ndarray:
    """Separable [1, 2, 1]/4 blur with replicated borders (the optics' point spread)."""
    p = np.pad(img, 1, mode="edge")
    h = 0.25 * p[:, :-2] + 0.5 * p[:, 1:-1] + 0.25 * p[:, 2:]
    return 0.25 * h[:-2] + 0.5 * h[1:-1] + 0.25 * h[2:]


def random_room(cfg, rng: np.random.Generator) -> RoomScene:
    """Draw a room, its furniture and the drone's flight from a ``SynthConfig``."""
    fx, fy, cx, cy = cfg.intrinsics
    cam_h = rng.uniform(*cfg.flight_height_m)  # rig height above the floor
    room_h = rng.uniform(*cfg.room_height_m)
    half_w = 0.5 * rng.uniform(*cfg.room_width_m)
    shift = rng.uniform(-0.3, 0.3) * half_w  # the rig is not always mid-room
    x_left, x_right = -half_w - shift, half_w - shift
    y_floor, y_ceiling = cam_h, cam_h - room_h
    z_back = rng.uniform(*cfg.room_depth_m)

    def surface(mean_range: tuple[float, float], texel_m: tuple[float, float]) -> Surface:
        return Surface(
            mean=float(rng.uniform(*mean_range)),
            contrast=float(rng.uniform(0.3, 0.6)),
            texel_m=float(rng.uniform(*texel_m)),
            offset=(float(rng.uniform(0, _TEX_SIZE)), float(rng.uniform(0, _TEX_SIZE))),
        )

    # Means leave headroom below 1 so textures do not saturate; texels are a few millimetres to
    # centimetres, i.e. about a pixel at a metre or two (fine detail makes texture events).
    room_texel = (0.01, 0.02)
    surfaces = (surface((0.15, 0.35), room_texel), surface((0.3, 0.5), room_texel), surface((0.2, 0.45), room_texel),
                surface((0.2, 0.45), room_texel), surface((0.2, 0.45), room_texel))
    boxes = []
    lo_n, hi_n = cfg.object_count_range
    for _ in range(int(rng.integers(lo_n, hi_n + 1))):
        w, h, d = (rng.uniform(*r) for r in (cfg.object_width_m, cfg.object_height_m, cfg.object_depth_m))
        zc = math.exp(rng.uniform(math.log(cfg.object_distance_m[0]), math.log(cfg.object_distance_m[1])))
        zc = min(zc, z_back - d / 2 - 0.05)
        # Mostly inside the field of view at its depth, never through a wall.
        xc = rng.uniform(-0.9, 0.9) * zc * cx / fx
        xc = float(np.clip(xc, x_left + w / 2 + 0.01, x_right - w / 2 - 0.01))
        if rng.uniform() < cfg.on_floor_fraction:
            y_hi = y_floor
        else:  # hovering: a lamp, a shelf, a flying object
            y_hi = rng.uniform(y_ceiling + h + 0.2, y_floor - 0.2) if y_floor - y_ceiling > h + 0.4 else y_floor
        boxes.append(Box((xc - w / 2, y_hi - h, zc - d / 2), (xc + w / 2, y_hi, zc + d / 2),
                         surface((0.08, 0.5), (0.004, 0.012))))

    # Flight: typical speed with +-10 % spread, any heading in the horizontal plane, climb small.
    speed = cfg.camera_speed_m_s * rng.uniform(0.9, 1.1)
    heading = rng.uniform(0, 2 * math.pi)
    climb = rng.uniform(-0.15, 0.15)
    v = np.array([math.cos(heading), climb, math.sin(heading)])
    v = speed * v / np.linalg.norm(v)
    side = np.array([-math.sin(heading), 0.0, math.cos(heading)])  # horizontal, perpendicular to v
    up = np.cross(v / speed, side)
    omegas = tuple(2 * math.pi * rng.uniform(0.5, 1.5, size=2))
    # Perpendicular velocity up to 30 % (sideways) and 10 % (vertical) of the speed.
    amps = (0.3 * speed / omegas[0] * rng.uniform(0.5, 1.0), 0.1 * speed / omegas[1] * rng.uniform(0.5, 1.0))
    motion = DroneMotion(
        p0=(0.0, 0.0, 0.0), velocity=tuple(float(c) for c in v), amps=amps, omegas=omegas,
        phases=tuple(float(p) for p in rng.uniform(0, 2 * math.pi, size=2)),
        dirs=(tuple(float(c) for c in side), tuple(float(c) for c in up)),
    )
    texture = MipTexture.from_tile(noise_tile(rng, _TEX_SIZE, cfg.texture_beta))
    return RoomScene(cfg.width, cfg.height, fx, fy, cx, cy, cfg.fx_baseline, x_left, x_right, y_ceiling, y_floor,
                     z_back, surfaces, tuple(boxes), motion, texture)
