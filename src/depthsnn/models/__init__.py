"""Depth networks: StereoSpike-style U-Net as SNN, HNN or ANN from one definition.

``build_model('snn-tiny', modality='binocular')`` returns a :class:`DepthNet`;
``model(frames[B, T, C, H, W])`` returns :class:`DepthOutput` ``(depth [B, H, W], heads)``.
"""

from .backend import available_backends, select_backend, use_backend
from .blocks import Integrator, is_spiking, make_activation, spiking_neuron
from .presets import ModelConfig, preset, preset_names, with_overrides
from .stats import LayerStats, SpikeRecorder, activation_layers
from .unet import DepthNet, DepthOutput, UNetCore, build_model, count_parameters

__all__ = [
    "DepthNet",
    "DepthOutput",
    "Integrator",
    "LayerStats",
    "ModelConfig",
    "SpikeRecorder",
    "UNetCore",
    "activation_layers",
    "available_backends",
    "build_model",
    "count_parameters",
    "is_spiking",
    "make_activation",
    "preset",
    "preset_names",
    "select_backend",
    "spiking_neuron",
    "use_backend",
    "with_overrides",
]
