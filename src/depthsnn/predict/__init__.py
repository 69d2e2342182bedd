"""Depth maps from any stereo event recording, without ground truth (``depthsnn predict``).

``model``: a checkpoint or NIR file as a :class:`Predictor` (frames -> metres); ``api``: the
streaming pipeline recording -> windows -> frames -> depth file + video; ``output``: the HDF5
depth file written atomically.
"""

from .api import DEPTH_FILE, PredictOptions, PredictResult, predict_recording
from .model import ENGINES, InputSpec, Predictor, load_predictor
from .output import DEPTH_KEY, DEPTH_TS_KEY

__all__ = [
    "DEPTH_FILE",
    "DEPTH_KEY",
    "DEPTH_TS_KEY",
    "ENGINES",
    "InputSpec",
    "PredictOptions",
    "PredictResult",
    "Predictor",
    "load_predictor",
    "predict_recording",
]
