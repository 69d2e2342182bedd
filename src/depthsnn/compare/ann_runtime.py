"""Load an ANN baseline as ONNX and run it in onnxruntime over data samples: metrics and latency.

``--ann`` may be a training checkpoint (exported to ONNX first, with the exporter's parity
check) or an ONNX file written by ``depthsnn export``. An ONNX file keeps its input size, T and
model configuration in ``depthsnn.*`` metadata but not the data options (depth normalisation,
window): those are taken from the spiking model it is compared with, which must share the
samples anyway.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.dataset import DataConfig, EventDepthDataset
from ..errors import ConfigError, DataError
from ..metrics import DepthMetrics


@dataclass
class AnnModel:
    """An ANN ready to run: its ONNX file, a DepthNet of the same shapes (for counting) and data options.

    ``model`` carries the trained weights when loaded from a checkpoint; from an ONNX file it is
    rebuilt from the stored configuration with untrained weights, which is enough to count MACs.
    """

    name: str
    source: Path
    onnx_path: Path
    model: torch.nn.Module
    input_hw: tuple[int, int]
    num_bins: int
    data: DataConfig | None
    to_metres: Callable[[torch.Tensor], torch.Tensor] | None
    export: dict[str, Any] | None = None  # the export's OnnxExportInfo when exported here

    @property
    def channels(self) -> int:
        return int(self.model.cfg.channels)

    @property
    def modality(self) -> str:
        return str(self.model.cfg.modality)


@dataclass
class AnnRun:
    """Result of :func:`run_ann`: metrics over the samples and the warm batch-1 latency."""

    metrics: dict[str, float]
    samples: int
    provider: str
    latency_s: float  # median of the timed runs
    latencies_s: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_ann(path: str | Path, out_dir: str | Path, fallback_data: DataConfig | None = None) -> AnnModel:
    """A checkpoint (exported to ``out_dir/<name>.onnx``) or an ``.onnx`` file -> :class:`AnnModel`.

    ``fallback_data``: data options for an ONNX file, which does not store them (T and the
    camera set are taken from the file). Non-ANN models are a :class:`ConfigError`.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("ANN model file not found", path)
    if path.suffix == ".onnx":
        return _from_onnx(path, fallback_data)
    from ..export.onnx_export import export_ann_onnx
    from ..train.checkpoint import model_from_checkpoint

    model, cfg, ckpt = model_from_checkpoint(path)
    if model.cfg.kind != "ann":
        raise ConfigError(f"--ann takes an ANN, this checkpoint is an {model.cfg.kind.upper()} (pass it as --snn)",
                          path)
    hw = tuple(int(v) for v in ckpt.get("input_hw") or (260, 346))
    name = str(ckpt.get("name") or cfg.model).replace("/", "_")
    info = export_ann_onnx(model, Path(out_dir) / f"{name}.onnx", hw, cfg.data.num_bins)
    return AnnModel(name, path, info.path, model, (hw[0], hw[1]), cfg.data.num_bins, cfg.data,
                    cfg.data.to_metres(), info.to_dict())


def _from_onnx(path: Path, fallback: DataConfig | None) -> AnnModel:
    from ..config import from_dict
    from ..export.onnx_export import check_onnx
    from ..models import DepthNet, ModelConfig

    proto = check_onnx(path)
    meta = {p.key.removeprefix("depthsnn."): p.value for p in proto.metadata_props if p.key.startswith("depthsnn.")}
    try:
        meta = {k: json.loads(v) for k, v in meta.items()}
    except json.JSONDecodeError:
        raise DataError("depthsnn metadata of the ONNX file is not valid JSON", path) from None
    if not {"form", "num_bins", "input_hw", "model_config"} <= set(meta):
        raise DataError("not a depthsnn ONNX export (no depthsnn.form/num_bins/input_hw/model_config metadata)", path)
    if meta["form"] != "ann":
        raise ConfigError(f"--ann takes an ANN, this ONNX file holds form {meta['form']!r} (a spiking network: "
                          "pass its checkpoint as --snn)", path)
    try:
        model = DepthNet(from_dict(ModelConfig, meta["model_config"])).eval()
    except ConfigError as exc:
        raise DataError(f"model configuration in the ONNX metadata is invalid: {exc}", path) from None
    hw = tuple(int(v) for v in meta["input_hw"])
    num_bins = int(meta["num_bins"])
    data = None
    if fallback is not None:
        data = dataclasses.replace(fallback, num_bins=num_bins, cameras=model.cfg.modality)
    return AnnModel(path.stem, path, path, model, (hw[0], hw[1]), num_bins, data, data.to_metres() if data is not None else None)


def open_session(path: str | Path):
    """onnxruntime session on the CUDA provider when onnxruntime offers it, else the CPU one.

    Returns ``(session, provider)``; :class:`DataError` when onnxruntime rejects the file.
    """
    from ..export.onnx_export import open_session as open_onnx

    session = open_onnx(path, prefer_cuda=True)
    return session, session.get_providers()[0]


def ann_dataset(ann: AnnModel, data_root: str | Path | None, split: str | None, subset: str) -> EventDepthDataset:
    """The ANN's data set: its data options with root/split overridable and the camera set it expects."""
    data = ann.data or DataConfig(root="data/synthetic", split="synthetic")
    changes: dict[str, Any] = {"cache_dir": None, "num_bins": ann.num_bins, "cameras": ann.modality}
    if data_root is not None:
        changes["root"] = str(data_root)
    if split is not None:
        changes["split"] = split
    return EventDepthDataset.from_config(dataclasses.replace(data, **changes), subset)


def run_ann(ann: AnnModel, dataset, indices: Sequence[int], repeats: int = 5, session=None) -> AnnRun:
    """Score ``ann`` on ``dataset[i]`` for ``indices`` (batch 1), then time it warm.

    Latency: the first sample is run once more as a warm-up, then ``repeats`` times; the median
    wall time is reported (onnxruntime on its provider, host-side timing).
    """
    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats}")
    if not indices:
        raise ConfigError("nothing to run: choose at least one sample")
    if session is None:
        session, provider = open_session(ann.onnx_path)
    else:
        provider = session.get_providers()[0]
    metrics = DepthMetrics(to_metres=ann.to_metres)
    first = None
    for i in indices:
        frames, depth, mask = dataset[int(i)]
        if tuple(frames.shape[-2:]) != ann.input_hw:
            raise DataError(f"data frames are {frames.shape[-2]}x{frames.shape[-1]} but the ANN takes "
                            f"{ann.input_hw[0]}x{ann.input_hw[1]}", ann.source)
        x = np.ascontiguousarray(frames[None].numpy(), dtype=np.float32)
        first = x if first is None else first
        pred = session.run(["depth"], {"frames": x})[0]
        metrics.update(torch.from_numpy(pred), depth[None], mask[None])
    session.run(["depth"], {"frames": first})  # warm-up (allocations, kernel selection)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        session.run(["depth"], {"frames": first})
        times.append(time.perf_counter() - t0)
    return AnnRun(metrics.compute(), len(indices), provider, statistics.median(times), times)
