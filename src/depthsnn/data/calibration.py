"""Stereo calibration of an MVSEC scene: the camchain yaml and the x/y rectification maps.

``indoor_flying_calib/camchain-imucam-indoor_flying.yaml`` holds ``cam0`` (left) and ``cam1``
(right) with ``intrinsics`` [fx, fy, cx, cy], ``resolution`` [W, H], ``projection_matrix`` and
``rectification_matrix``; ``indoor_flying_{left,right}_{x,y}_map.txt`` are 260x346 tables giving,
for each raw pixel (row y, column x), its rectified x (resp. y) coordinate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from ..atomic import atomic_path, atomic_write_text
from ..errors import DataError
from . import layout


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
    try:
        doc = yaml.safe_load(ypath.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DataError(f"not valid YAML ({type(exc).__name__})", ypath) from None
    cams = []
    for key, name in (("cam0", "left"), ("cam1", "right")):
        if not isinstance(doc, dict) or key not in doc:
            raise DataError(f"missing '{key}' ({name} camera) entry", ypath)
        c = doc[key]
        try:
            intr = tuple(float(v) for v in c["intrinsics"])
            res = tuple(int(v) for v in c["resolution"])
            proj = np.asarray(c.get("projection_matrix", _default_projection(intr)), dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{key}: missing or malformed field {exc}", ypath) from None
        if len(intr) != 4 or len(res) != 2 or proj.shape != (3, 4):
            raise DataError(f"{key}: intrinsics need 4 values, resolution 2, projection 3x4", ypath)
        w, h = res
        maps = [_load_map(calib_dir / layout.RECT_MAP.format(scene=scene, cam=name, axis=a), h, w) for a in "xy"]
        cams.append(CameraCalibration(name, intr, (w, h), proj, maps[0], maps[1]))
    return StereoCalibration(scene, cams[0], cams[1])


def _default_projection(intr: tuple[float, ...]) -> list[list[float]]:
    fx, fy, cx, cy = intr
    return [[fx, 0, cx, 0], [0, fy, cy, 0], [0, 0, 1, 0]]


def _load_map(path: Path, h: int, w: int) -> np.ndarray:
    if not path.is_file():
        raise DataError("rectification map not found", path)
    try:
        m = np.loadtxt(path, dtype=np.float32, ndmin=2)
    except ValueError as exc:
        raise DataError(f"rectification map is not a numeric table ({exc})", path) from None
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
