"""Evaluation: metrics and spike statistics of a trained model, results tables and figures."""

from .runner import EvalResult, evaluate_model

__all__ = ["EvalResult", "evaluate_model"]
