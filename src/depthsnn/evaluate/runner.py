"""Re-export of :mod:`depthsnn.models.runner`, where running a model over batches lives (below both
``train`` and ``evaluate``, which share it); kept so that existing imports keep working."""

from ..models.runner import EvalResult, depth_in_metres, evaluate_model, predict_depth

__all__ = ["EvalResult", "depth_in_metres", "evaluate_model", "predict_depth"]
