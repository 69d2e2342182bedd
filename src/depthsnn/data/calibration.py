"""Stereo calibration of an MVSEC scene: the camchain yaml and the x/y rectification maps.

``indoor_flying_calib/camchain-imucam-indoor_flying.yaml`` holds ``cam0`` (left) and ``cam1``
(right) with ``intrinsics`` [fx, fy, cx, cy], ``resolution`` [W, H], ``projection_matrix`` and
``rectification_matrix``; ``indoor_flying_{left,right}_{x,y}_map.txt`` are 260x346 tables giving,
for each raw pixel (row y, column x), its rectified x (resp. y) coordinate.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from ..atomic import atomic_path, atomic_write_text
from ..errors import DataError
from . import layout

# Sensor sides a calibration may state (16-bit coordinates), the largest camchain yaml read
# (MVSEC's is 3 kB), and the bytes per value a rectification map's text may spend.
MAX_SIDE = 1 << 16
MAX_YAML_BYTES = 1 << 20
MAP_BYTES_PER_VALUE = 64


@dataclass(frozen=True)
class CameraCalibration:
    name: str  # "left" or "right"
    intrinsics: tuple[float, float, float, float]  # fx, fy, cx, cy
    resolution: tuple[int, int]  # width, height
    projection: np.ndarray  # (3, 4)
    x_map: np.ndarray  # (H, W) float32, rectified x of each raw pixel
    y_map: np.ndarray  # (H, W) float32, rectified y of each raw pixel


@dataclass(frozen=True)
class StereoCalibration:
    scene: str
    left: CameraCalibration
    right: CameraCalibration

    @property
    def fx_baseline(self) -> float:
        """Focal length times baseline (px*m): |right.projection[0, 3]|; depth = fx_baseline / disparity."""
        return float(abs(self.right.projection[0, 3]))

    def camera(self, name: str) -> CameraCalibration:
        return self.left if name == "left" else self.right


def calib_dir_for(root: str | Path, seq: str) -> Path:
    return Path(root) / layout.CALIB_DIR.format(scene=layout.scene_of(seq))


def load_calibration(calib_dir: str | Path, scene: str) -> StereoCalibration:
    """Read the yaml and the four rectification maps of ``scene`` from ``calib_dir``."""
    calib_dir = Path(calib_dir)
    if not calib_dir.is_dir():
        raise DataError("calibration folder not found", calib_dir)
    ypath = calib_dir / layout.CALIB_YAML.format(scene=scene)
    if not ypath.is_file():
        raise DataError("calibration yaml not found", ypath)
    if ypath.stat().st_size > MAX_YAML_BYTES:
        raise DataError(f"calibration yaml is {ypath.stat().st_size} bytes, over {MAX_YAML_BYTES}: not a camchain "
                        "file", ypath)
    try:
        doc = yaml.safe_load(ypath.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        raise DataError(f"not valid YAML ({type(exc).__name__})", ypath) from None
    cams = []
    for key, name in (("cam0", "left"), ("cam1", "right")):
        if not isinstance(doc, dict) or key not in doc:
            raise DataError(f"missing '{key}' ({name} camera) entry", ypath)
        c = doc[key]
        if not isinstance(c, dict):
            raise DataError(f"'{key}' ({name} camera) is not a mapping of fields", ypath)
        try:
            intr = tuple(_number(v) for v in _sequence(c["intrinsics"]))
            res = tuple(_number(v) for v in _sequence(c["resolution"]))
            proj = np.asarray(c.get("projection_matrix", _default_projection(intr)), dtype=np.float64)
        except KeyError as exc:
            raise DataError(f"{key}: missing field {exc}", ypath) from None
        except (TypeError, ValueError, OverflowError) as exc:
            raise DataError(f"{key}: malformed field ({' '.join(str(exc).split())[:120]})", ypath) from None
        if len(intr) != 4 or len(res) != 2 or proj.shape != (3, 4):
            raise DataError(f"{key}: intrinsics need 4 values, resolution 2, projection 3x4", ypath)
        if not (np.isfinite(intr).all() and np.isfinite(proj).all()):
            raise DataError(f"{key}: intrinsics or projection_matrix contain NaN or inf", ypath)
        if not all(float(v).is_integer() and 0 < v <= MAX_SIDE for v in res):
            raise DataError(f"{key}: resolution {list(res)} is not two integers in 1..{MAX_SIDE}", ypath)
        w, h = (int(v) for v in res)
        maps = [_load_map(calib_dir / layout.RECT_MAP.format(scene=scene, cam=name, axis=a), h, w) for a in "xy"]
        cams.append(CameraCalibration(name, intr, (w, h), proj, maps[0], maps[1]))
    return StereoCalibration(scene, cams[0], cams[1])


def _default_projection(intr: tuple[float, ...]) -> list[list[float]]:
    fx, fy, cx, cy = intr
    return [[fx, 0, cx, 0], [0, fy, cy, 0], [0, 0, 1, 0]]


def _sequence(v) -> list:
    if not isinstance(v, (list, tuple)):
        raise TypeError(f"expected a list, got {type(v).__name__}")
    return list(v)


def _number(v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"expected a number, got {' '.join(repr(v).split())[:40]}")
    return float(v)


def _load_map(path: Path, h: int, w: int) -> np.ndarray:
    if not path.is_file():
        raise DataError("rectification map not found", path)
    # A 260x346 map in "%.4f" is ~0.9 MB; a file far larger than its values need is refused
    # before parsing (parsing time and memory grow with the text).
    size = path.stat().st_size
    if size > MAP_BYTES_PER_VALUE * h * w + 4096:
        raise DataError(f"rectification map is {size} bytes, too large for a {h}x{w} table", path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": the shape check says it better
            m = np.loadtxt(path, dtype=np.float32, ndmin=2, encoding="utf-8")
    except (ValueError, OverflowError) as exc:
        msg = " ".join(str(exc).split())[:160]
        raise DataError(f"rectification map is not a numeric table ({msg})", path) from None
    if m.shape != (h, w):
        raise DataError(f"rectification map has shape {m.shape[0]}x{m.shape[1]}, expected {h}x{w}", path)
    if not np.isfinite(m).all():
        raise DataError("rectification map contains NaN or inf", path)
    return m


def write_calibration(
    calib_dir: str | Path,
    scene: str,
    intrinsics: tuple[float, float, float, float] = (layout.FX, layout.FY, layout.CX, layout.CY),
    fx_baseline: float = layout.FX_BASELINE,
    resolution: tuple[int, int] = (layout.WIDTH, layout.HEIGHT),
    maps: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Path:
    """Write a calibration folder in the MVSEC layout (identity maps unless ``maps`` is given).

    ``maps`` maps "left"/"right" to (x_map, y_map), each (H, W). Files are written under temporary
    names and renamed, so a crash never leaves a half-written map behind.
    """
    calib_dir = Path(calib_dir)
    calib_dir.mkdir(parents=True, exist_ok=True)
    w, h = resolution
    fx, fy, cx, cy = intrinsics
    doc = {}
    for key, name, tx in (("cam0", "left", 0.0), ("cam1", "right", -fx_baseline)):
        doc[key] = {
            "camera_model": "pinhole",
            "distortion_model": "equidistant",
            "distortion_coeffs": [0.0, 0.0, 0.0, 0.0],
            "intrinsics": [fx, fy, cx, cy],
            "resolution": [w, h],
            "projection_matrix": [[fx, 0.0, cx, tx], [0.0, fy, cy, 0.0], [0.0, 0.0, 1.0, 0.0]],
            "rectification_matrix": np.eye(3).tolist(),
            "rostopic": f"/davis/{name}/image_raw",
        }
    atomic_write_text(calib_dir / layout.CALIB_YAML.format(scene=scene), yaml.safe_dump(doc, sort_keys=False))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    for name in layout.CAMERAS:
        xm, ym = (maps or {}).get(name, (xs, ys))
        for axis, m in (("x", xm), ("y", ym)):
            if m.shape != (h, w):
                raise ValueError(f"{name} {axis} map has shape {m.shape}, expected {(h, w)}")
            path = calib_dir / layout.RECT_MAP.format(scene=scene, cam=name, axis=axis)
            with atomic_path(path) as tmp:
                np.savetxt(tmp, m, fmt="%.4f")
    return calib_dir
