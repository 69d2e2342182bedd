"""The MVSEC indoor_flying file layout and camera constants (Zhu et al. 2018).

Shared by the reader (``mvsec``) and the synthetic generator, which writes the same layout so
that one reader serves both. Sources: ``shared/design.md`` section 2.
"""

from __future__ import annotations

WIDTH = 346
HEIGHT = 260
# |cam1.projection_matrix[0][3]| for indoor_flying: focal length (px) times baseline (m).
FX_BASELINE = 19.941772
# Left camera intrinsics after rectification (indoor_flying).
FX, FY, CX, CY = 226.38, 226.15, 173.65, 133.73
DEPTH_RATE_HZ = 20.0
CAMERAS = ("left", "right")

# <seq>_data.hdf5
EVENTS_KEY = "davis/{cam}/events"  # (N, 4) float64 rows [x, y, t_seconds, p], p in {-1, +1}
IMAGE_KEY = "davis/{cam}/image_raw"  # (N, 260, 346) uint8
IMAGE_TS_KEY = "davis/{cam}/image_raw_ts"
IMAGE_EVENT_INDS_KEY = "davis/{cam}/image_raw_event_inds"

# <seq>_gt.hdf5
DEPTH_RECT_KEY = "davis/{cam}/depth_image_rect"  # (N, 260, 346) float32 metres, NaN invalid
DEPTH_RECT_TS_KEY = "davis/{cam}/depth_image_rect_ts"
DEPTH_RAW_KEY = "davis/{cam}/depth_image_raw"
DEPTH_RAW_TS_KEY = "davis/{cam}/depth_image_raw_ts"

# Calibration folder <scene>_calib/ next to the sequences, e.g. indoor_flying_calib/
CALIB_DIR = "{scene}_calib"
CALIB_YAML = "camchain-imucam-{scene}.yaml"
RECT_MAP = "{scene}_{cam}_{axis}_map.txt"  # 260x346 text: rectified x (or y) of each raw pixel


def data_file(seq: str) -> str:
    """``indoor_flying1`` -> ``indoor_flying1_data.hdf5``."""
    return f"{seq}_data.hdf5"


def gt_file(seq: str) -> str:
    """``indoor_flying1`` -> ``indoor_flying1_gt.hdf5``."""
    return f"{seq}_gt.hdf5"


def scene_of(seq: str) -> str:
    """``indoor_flying1`` -> ``indoor_flying`` (the calibration scene); trailing digits removed."""
    return seq.rstrip("0123456789")
