"""Stereo event recordings without ground truth, in the formats event cameras write.

``open_recording(files, cameras)`` sniffs each file's format (``sniff``) and returns one
streaming :class:`CameraReader` per camera (``arrays`` for MVSEC / HDF5 / npz, ``camera_files``
for AEDAT4 / RAW / DAT / CSV through faery); ``validated`` enforces sorted timestamps and
``iter_windows`` cuts the streams into the windows a depth model consumes. ``writers`` writes
the same events in every format.
"""

from .base import CameraReader, PolarityCheck, seconds_from_us, validated
from .open import camera_readers, open_recording
from .sniff import FORMATS, sniff_format
from .windows import Window, iter_windows, window_count

__all__ = [
    "FORMATS",
    "CameraReader",
    "PolarityCheck",
    "Window",
    "camera_readers",
    "iter_windows",
    "open_recording",
    "seconds_from_us",
    "sniff_format",
    "validated",
    "window_count",
]
