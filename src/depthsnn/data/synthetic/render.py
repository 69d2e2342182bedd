"""Render a ``Scene`` for the left or right rectified camera: intensity and depth images.

Every layer is a fronto-parallel plane, i.e. one depth per layer, so painting layers from far
to near is an exact z-buffer (nearest surface wins). Texture lookup is separable bilinear with
wrap-around (plane coordinates are a scale and shift of pixel coordinates), and object borders
are anti-aliased by the pixel's covered area, so sub-pixel motion changes intensity smoothly
and events are not quantised to whole-pixel jumps.
"""

from __future__ import annotations

import math

import numpy as np

from .scene import Layer, Scene


def render(scene: Scene, t: float, camera: str = "left") -> tuple[np.ndarray, np.ndarray]:
    """Intensity (H, W) float32 in (0, 1] and true depth (H, W) float32 metres at time ``t``.

    In the right camera a point at depth Z appears at ``x_left - fx_baseline / Z``; a rig
    displaced by ``(X, Y)`` shifts it by ``(-fx*X/Z, -fy*Y/Z)`` in both cameras.
    """
    if camera not in ("left", "right"):
        raise ValueError(f"camera must be 'left' or 'right', got {camera!r}")
    img = np.empty((scene.height, scene.width), dtype=np.float32)
    depth = np.empty((scene.height, scene.width), dtype=np.float32)
    layers = [(layer, *layer.trajectory.at(t)) for layer in (scene.background, *scene.objects)]
    layers.sort(key=lambda item: -item[3])  # far to near: painter's order == z-buffer here
    cx, cy = scene.camera.offset(t)
    for i, (layer, u, v, z) in enumerate(layers):
        u -= scene.fx * cx / z  # parallax of the moving rig
        v -= scene.fy * cy / z
        if camera == "right":
            u -= scene.fx_baseline / z
        _paint(scene, layer, u, v, z, img, depth, first=i == 0)
    return img, depth


def _paint(scene: Scene, layer: Layer, u: float, v: float, z: float,
           img: np.ndarray, depth: np.ndarray, first: bool) -> None:
    h, w = img.shape
    if layer.shape == "full":
        x0, x1, y0, y1 = 0, w, 0, h
    else:
        hw, hh = scene.fx * layer.half_size_m[0] / z, scene.fy * layer.half_size_m[1] / z
        x0, x1 = max(0, math.ceil(u - hw - 0.5)), min(w, math.floor(u + hw + 0.5) + 1)
        y0, y1 = max(0, math.ceil(v - hh - 0.5)), min(h, math.floor(v + hh + 0.5) + 1)
        if x0 >= x1 or y0 >= y1:
            return
    xs = np.arange(x0, x1, dtype=np.float64)
    ys = np.arange(y0, y1, dtype=np.float64)
    th, tw = layer.texture.shape
    # Plane coordinates in texels, centred on the texture tile.
    tx = (xs - u) * (z / (scene.fx * layer.texel_m[0])) + tw / 2
    ty = (ys - v) * (z / (scene.fy * layer.texel_m[1])) + th / 2
    if abs(tx[-1] - tx[0] - (len(tx) - 1)) < 1e-6 and abs(ty[-1] - ty[0] - (len(ty) - 1)) < 1e-6:
        tex = _shift_wrap(layer.texture, tx[0], ty[0], len(tx), len(ty))  # one texel per pixel
    else:
        tex = _bilinear_wrap(layer.texture, tx, ty)
    if layer.shape == "full":
        if not first:
            raise ValueError("a 'full' layer hides everything behind it; only the farthest may be full")
        img[:] = tex
        depth[:] = z
        return
    cover = _coverage(layer.shape, xs, ys, u, v, hw, hh)
    region = img[y0:y1, x0:x1]
    region += cover * (tex - region)
    np.copyto(depth[y0:y1, x0:x1], np.float32(z), where=cover >= 0.5)


def _coverage(shape: str, xs: np.ndarray, ys: np.ndarray, u: float, v: float, hw: float, hh: float) -> np.ndarray:
    """Fraction of each pixel (unit square centred on integer coordinates) inside the shape."""
    if shape == "rect":
        cx = np.clip(np.minimum(xs + 0.5, u + hw) - np.maximum(xs - 0.5, u - hw), 0, 1)
        cy = np.clip(np.minimum(ys + 0.5, v + hh) - np.maximum(ys - 0.5, v - hh), 0, 1)
        return np.outer(cy, cx).astype(np.float32)
    if shape == "disc":
        # Signed distance to the ellipse border in pixels, turned into a one-pixel ramp.
        r = np.sqrt(((xs[None, :] - u) / hw) ** 2 + ((ys[:, None] - v) / hh) ** 2)
        return np.clip((1.0 - r) * min(hw, hh) + 0.5, 0, 1).astype(np.float32)
    raise ValueError(f"unknown shape {shape!r}")


def _bilinear_wrap(tex: np.ndarray, tx: np.ndarray, ty: np.ndarray) -> np.ndarray:
    """Sample periodic ``tex`` on the grid ``ty`` x ``tx`` (texel units), separably."""
    th, tw = tex.shape
    fx0, fy0 = np.floor(tx), np.floor(ty)
    wx, wy = (tx - fx0).astype(np.float32), (ty - fy0).astype(np.float32)
    ix0, iy0 = fx0.astype(np.int64) % tw, fy0.astype(np.int64) % th
    ix1, iy1 = (ix0 + 1) % tw, (iy0 + 1) % th
    # Cut out the texels actually needed (the tile can be much larger than the view), then
    # interpolate along y, then along x.
    cols, rows_ = np.unique(np.concatenate([ix0, ix1])), np.unique(np.concatenate([iy0, iy1]))
    sub = tex[np.ix_(rows_, cols)]
    jx0, jx1 = np.searchsorted(cols, ix0), np.searchsorted(cols, ix1)
    jy0, jy1 = np.searchsorted(rows_, iy0), np.searchsorted(rows_, iy1)
    rows = sub[jy0] * (1 - wy)[:, None] + sub[jy1] * wy[:, None]
    return rows[:, jx0] * (1 - wx) + rows[:, jx1] * wx


def _shift_wrap(tex: np.ndarray, tx0: float, ty0: float, nx: int, ny: int) -> np.ndarray:
    """Bilinear sampling at unit texel spacing (a pure sub-pixel shift): four slices, no gathers.

    The common case for the background, which is rendered at one texel per pixel.
    """
    th, tw = tex.shape
    ix, iy = math.floor(tx0), math.floor(ty0)
    wx, wy = np.float32(tx0 - ix), np.float32(ty0 - iy)
    ix, iy = ix % tw, iy % th
    win = tex
    if iy + ny + 1 > th:
        win = np.take(win, np.arange(iy, iy + ny + 1), axis=0, mode="wrap")
        iy = 0
    if ix + nx + 1 > tw:
        win = np.take(win, np.arange(ix, ix + nx + 1), axis=1, mode="wrap")
        ix = 0
    win = win[iy:iy + ny + 1, ix:ix + nx + 1]
    top = win[:-1, :-1] * (1 - wx) + win[:-1, 1:] * wx
    bottom = win[1:, :-1] * (1 - wx) + win[1:, 1:] * wx
    return top * (1 - wy) + bottom * wy


def log_intensity(img: np.ndarray) -> np.ndarray:
    """The event sensor's input: natural log of intensity (intensities are floored above 0)."""
    return np.log(img)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Intensity in [0, 1] -> 8-bit grey image as stored in ``image_raw``."""
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def depth_label(depth: np.ndarray, max_range: float) -> np.ndarray:
    """Ground truth as MVSEC stores it: float32 metres, NaN where beyond ``max_range``."""
    out = depth.astype(np.float32, copy=True)
    out[~(out <= max_range)] = np.nan
    return out
