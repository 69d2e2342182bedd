"""ANN baseline (ONNX Runtime) against spiking models (event-driven simulator) on the same samples.

- :mod:`.ann_runtime`: load an ANN checkpoint or ONNX file and run it in onnxruntime
  (:func:`run_ann`: depth metrics and warm latency).
- :mod:`.ops`: :func:`dense_macs`, the MACs of one ANN inference counted with conv hooks.
- :mod:`.api`: :func:`compare`, the side-by-side run, costed on hardware profiles.
- :mod:`.report`: terminal table, ``comparison.md``, ``comparison.json`` and the
  accuracy-vs-energy plot (:func:`write_outputs`).
"""

from .ann_runtime import AnnModel, AnnRun, load_ann, open_session, run_ann
from .api import DEFAULT_ANN_PROFILES, CompareRow, Comparison, compare, neuromorphic_profile_names
from .ops import MacCount, dense_macs
from .report import accuracy_energy_plot, markdown, terminal_table, write_outputs

__all__ = [
    "DEFAULT_ANN_PROFILES",
    "AnnModel",
    "AnnRun",
    "CompareRow",
    "Comparison",
    "MacCount",
    "accuracy_energy_plot",
    "compare",
    "dense_macs",
    "load_ann",
    "markdown",
    "neuromorphic_profile_names",
    "open_session",
    "run_ann",
    "terminal_table",
    "write_outputs",
]
