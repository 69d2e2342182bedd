"""Re-export of :mod:`depthsnn.metrics`, where the depth metrics live (below every stage that
uses them); kept so that existing ``depthsnn.train.metrics`` imports keep working."""

from ..metrics import METRICS, MIN_DEPTH_M, DepthMetrics, frame_metrics

__all__ = ["METRICS", "MIN_DEPTH_M", "DepthMetrics", "frame_metrics"]
