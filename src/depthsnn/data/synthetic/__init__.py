"""Synthetic stereo event data in the exact MVSEC layout (``depthsnn data synth``).

Two worlds: a drone flying through a furnished room (``room``, the default) or textured
fronto-parallel planes in front of a background plane (``scene``, ``render``). Both
rectified cameras are rendered with the true disparity fx*B/Z; an ESIM-style
contrast-threshold model turns log-intensity frames into events (``esim``); sequences are
written as ``<seq>_data.hdf5`` / ``<seq>_gt.hdf5`` plus a calibration folder (``writer``,
``generate``), so the MVSEC reader reads them unchanged.
"""

from .config import SCENE, SynthConfig, sequence_name
from .esim import EventSimulator, sample_thresholds
from .generate import (
    MANIFEST,
    SequenceInfo,
    generate_dataset,
    generate_sequence,
    read_manifest,
    sequence_seeds,
    simulate_sequence,
)
from .render import depth_label, render
from .scene import Layer, Scene, Trajectory, make_texture, random_scene
from .writer import SequenceData, image_event_inds, write_sequence

__all__ = [
    "MANIFEST",
    "SCENE",
    "EventSimulator",
    "Layer",
    "Scene",
    "SequenceData",
    "SequenceInfo",
    "SynthConfig",
    "Trajectory",
    "depth_label",
    "generate_dataset",
    "generate_sequence",
    "image_event_inds",
    "make_texture",
    "random_scene",
    "read_manifest",
    "render",
    "sample_thresholds",
    "sequence_name",
    "sequence_seeds",
    "simulate_sequence",
    "write_sequence",
]
