"""Scene description: textured fronto-parallel planes moving in front of a background plane,
seen by a stereo rig that may itself translate (ego-motion, as the drone of MVSEC indoor_flying).

A scene is pure data (``Scene``); ``random_scene`` draws one from a ``SynthConfig`` and a
generator, and tests build known scenes by hand. Positions are given in the left rectified
camera's pixels, depths in metres; the right camera sees each plane shifted left by its
disparity fx*B/Z, which ``render`` applies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .config import SynthConfig

# Intensities stay in [_I_MIN, 1] so log intensity is finite and events stay balanced.
_I_MIN = 0.02


@dataclass(frozen=True)
class Trajectory:
    """Smooth motion: ``u, v`` (px, left camera) and depth ``z`` (m) as functions of time.

    ``u(t) = u0 + vx*t + sum_i amp_u[i]*sin(2*pi*freq[i]*t + phase_u[i])`` (same for ``v``);
    ``z(t) = z0 * exp(z_amp*sin(2*pi*z_freq*t + z_phase))``.
    """

    u0: float
    v0: float
    z0: float
    velocity: tuple[float, float] = (0.0, 0.0)
    freqs: tuple[float, ...] = ()
    amp_u: tuple[float, ...] = ()
    amp_v: tuple[float, ...] = ()
    phase_u: tuple[float, ...] = ()
    phase_v: tuple[float, ...] = ()
    z_amp: float = 0.0
    z_freq: float = 0.0
    z_phase: float = 0.0

    def at(self, t: float) -> tuple[float, float, float]:
        """Centre ``(u, v)`` in left-camera pixels and depth ``z`` at time ``t`` (seconds)."""
        w = 2 * math.pi * t
        u = self.u0 + self.velocity[0] * t
        v = self.v0 + self.velocity[1] * t
        components = zip(self.freqs, self.amp_u, self.amp_v, self.phase_u, self.phase_v, strict=True)
        for f, au, av, pu, pv in components:
            u += au * math.sin(w * f + pu)
            v += av * math.sin(w * f + pv)
        z = self.z0 * math.exp(self.z_amp * math.sin(w * self.z_freq + self.z_phase))
        return u, v, z


@dataclass(frozen=True)
class CameraMotion:
    """Translation of the stereo rig parallel to the image plane (metres, camera axes).

    ``X(t) = sum_i amp_x[i]*sin(2*pi*freq[i]*t + phase_x[i])`` (same for ``Y``): bounded, so
    near objects never drift out of long sequences. A point at depth Z then moves in the image
    by ``-fx*X(t)/Z``: motion parallax, image speed inversely proportional to depth, the
    monocular depth cue of a moving event camera.
    """

    freqs: tuple[float, ...] = ()
    amp_x: tuple[float, ...] = ()
    amp_y: tuple[float, ...] = ()
    phase_x: tuple[float, ...] = ()
    phase_y: tuple[float, ...] = ()

    def offset(self, t: float) -> tuple[float, float]:
        """Rig displacement ``(X, Y)`` in metres at time ``t`` (seconds)."""
        w = 2 * math.pi * t
        x = y = 0.0
        for f, ax, ay, px, py in zip(self.freqs, self.amp_x, self.amp_y, self.phase_x, self.phase_y, strict=True):
            x += ax * math.sin(w * f + px)
            y += ay * math.sin(w * f + py)
        return x, y


@dataclass(frozen=True)
class Layer:
    """One textured plane parallel to the image plane.

    ``texture`` is a periodic (tiling) intensity image in (0, 1]; one texel spans ``texel_m``
    (width, height) metres on the plane. ``shape`` is "rect", "disc" or "full" (an infinite plane: the
    background); ``half_size_m`` is the half width and half height of rect/disc in metres.
    """

    texture: np.ndarray
    texel_m: tuple[float, float]
    trajectory: Trajectory
    shape: str = "rect"
    half_size_m: tuple[float, float] = (math.inf, math.inf)


@dataclass(frozen=True)
class Scene:
    """Camera geometry and motion plus the background and the objects (any order; render sorts
    by depth). Object trajectories are their own motion in the image; ``camera`` adds parallax."""

    width: int
    height: int
    fx: float
    fy: float
    fx_baseline: float
    background: Layer
    objects: tuple[Layer, ...] = field(default_factory=tuple)
    camera: CameraMotion = field(default_factory=CameraMotion)


def make_texture(
    rng: np.random.Generator, shape: tuple[int, int], beta: float, mean: float, log_std: float
) -> np.ndarray:
    """Periodic noise with power spectrum ~ 1/f^(2*beta), as log-normal intensity.

    Filtering white noise in the Fourier domain makes the texture tile seamlessly, so planes
    can be sampled with wrap-around; ``beta`` ~ 1 is the statistics of natural images, with
    detail down to one texel so that moving texture (not only edges) produces events.
    """
    h, w = shape
    spectrum = np.fft.rfft2(rng.standard_normal(shape))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.hypot(fx, fy)
    f[0, 0] = np.inf  # drop the mean; brightness is set by ``mean``
    tex = np.fft.irfft2(spectrum * f**-beta, s=shape)
    tex /= tex.std() + 1e-12
    return np.clip(mean * np.exp(log_std * tex), _I_MIN, 1.0).astype(np.float32)


def random_scene(cfg: SynthConfig, rng: np.random.Generator) -> Scene:
    """Draw a background and ``cfg.n_objects`` moving textured rectangles/discs."""
    fx, fy = cfg.intrinsics[:2]
    w, h = cfg.width, cfg.height
    zb = cfg.background_depth
    # Background: one texel per pixel, tile larger than the view so the pan does not repeat soon.
    bg_tex = make_texture(rng, (_pow2(h * 2), _pow2(w * 2)), cfg.texture_beta, 0.35, 0.45)
    angle = rng.uniform(0, 2 * math.pi)
    bg_traj = Trajectory(
        u0=w / 2, v0=h / 2, z0=zb,
        velocity=(cfg.background_speed_px_s * math.cos(angle), cfg.background_speed_px_s * math.sin(angle)),
    )
    background = Layer(bg_tex, (zb / fx, zb / fy), bg_traj, "full")
    # Rig motion: two sinusoids per axis, each about speed/sqrt(2) m/s at its peak, mostly sideways.
    cam_freqs = tuple(rng.uniform(0.1, 0.4, size=2))
    cam_amps = [cfg.camera_speed_m_s / (2 * math.pi * f * math.sqrt(2)) for f in cam_freqs]
    camera = CameraMotion(
        freqs=cam_freqs,
        amp_x=tuple(a * rng.uniform(0.5, 1.0) for a in cam_amps),
        amp_y=tuple(a * rng.uniform(0.2, 0.6) for a in cam_amps),
        phase_x=tuple(rng.uniform(0, 2 * math.pi, size=2)),
        phase_y=tuple(rng.uniform(0, 2 * math.pi, size=2)),
    )

    lo, hi = cfg.object_count_range
    objects = []
    for _ in range(int(rng.integers(lo, hi + 1))):
        # Log-uniform depth; the oscillation amplitude is cut so depth stays inside depth_range.
        zlo, zhi = (math.log(z) for z in cfg.depth_range)
        zc = rng.uniform(zlo, zhi)
        z_amp = min(cfg.depth_change, zc - zlo, zhi - zc)
        size_px = rng.uniform(*cfg.object_size_px, size=2)
        half_m = (size_px[0] / 2 * math.exp(zc) / fx, size_px[1] / 2 * math.exp(zc) / fy)
        shape = str(cfg.shapes[int(rng.integers(len(cfg.shapes)))])
        if shape == "disc":
            half_m = (half_m[0], half_m[0] * fx / fy)  # round in the image
        # Two sinusoids per axis, each contributing about speed/sqrt(2) px/s of peak speed.
        freqs = tuple(rng.uniform(0.1, 0.5, size=2))
        amps = [cfg.speed_px_s / (2 * math.pi * f * math.sqrt(2)) for f in freqs]
        traj = Trajectory(
            u0=rng.uniform(0.15, 0.85) * w,
            v0=rng.uniform(0.15, 0.85) * h,
            z0=math.exp(zc),
            freqs=freqs,
            amp_u=tuple(a * rng.uniform(0.5, 1.0) for a in amps),
            amp_v=tuple(a * rng.uniform(0.3, 0.8) for a in amps),
            phase_u=tuple(rng.uniform(0, 2 * math.pi, size=2)),
            phase_v=tuple(rng.uniform(0, 2 * math.pi, size=2)),
            z_amp=z_amp,
            z_freq=rng.uniform(0.05, 0.25),
            z_phase=rng.uniform(0, 2 * math.pi),
        )
        # One texel per pixel at the central depth; the tile covers the object once.
        texel = (math.exp(zc) / fx, math.exp(zc) / fy)
        tex_shape = (_pow2(int(2 * half_m[1] / texel[1]) + 2), _pow2(int(2 * half_m[0] / texel[0]) + 2))
        tex = make_texture(rng, tex_shape, cfg.texture_beta, rng.uniform(0.15, 0.7), rng.uniform(0.35, 0.7))
        objects.append(Layer(tex, texel, traj, shape, half_m))
    return Scene(w, h, fx, fy, cfg.fx_baseline, background, tuple(objects), camera)


def _pow2(n: int) -> int:
    """Next power of two >= n: fast FFT sizes for textures."""
    return 1 << max(3, int(n - 1).bit_length())
