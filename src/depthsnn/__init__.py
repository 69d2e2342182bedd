"""depthsnn: spiking neural networks for event-camera depth estimation.

Pipeline (data flows one way): ``data`` (events -> tensors) -> ``models`` -> ``train``
-> ``export`` (NIR, ONNX) -> ``simulate`` (event-driven) -> ``hw_profiles`` (energy report).
"""

__version__ = "0.1.0"
