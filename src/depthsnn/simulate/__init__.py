"""Event-driven simulation of exported spiking networks (:class:`EventSimulator`) and its counts.

``EventSimulator(graph).run(x_seq)`` propagates only the events of each step through a
:class:`~depthsnn.export.graph.NetGraph`, agrees spike for spike with the dense
:class:`~depthsnn.export.executor.GraphExecutor`, and returns NeuroBench-style
:class:`SimCounts` for the energy model; :func:`quantize_graph` / :class:`QuantConfig` give the
fixed-point variant a chip would run.
"""

from .counts import LayerCounts, SimCounts
from .engine import EventSimulator, SimResult, simulate
from .quant_effect import quantization_effect
from .quantize import QuantConfig, quantize_graph, quantize_weights

__all__ = ["EventSimulator", "LayerCounts", "QuantConfig", "SimCounts", "SimResult", "quantization_effect", "quantize_graph",
           "quantize_weights", "simulate"]
